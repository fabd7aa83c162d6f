"""What the training benchmark needs from a space's networks, as declared protocols."""
from __future__ import annotations

from typing import Any, Mapping, Protocol, runtime_checkable

from torch import nn

from nasgen.errors import ConfigError
from nasgen.spaces.base import Arch


@runtime_checkable
class NetworkBuilder(Protocol):
    """Builds the trainable network of an architecture of one search space (a config node with
    ``_target_``, e.g. ``benchmark.network`` of ``benchmark=train_darts``)."""

    space_name: str  # the name of the space whose architectures it builds

    def settings(self) -> dict[str, Any]:
        """Everything that changes the network (a checkpoint made with other settings is refused)."""

    def build(self, arch: Arch, num_classes: int, in_channels: int) -> nn.Module:
        """The network of ``arch``, mapping normalised images to class logits."""


@runtime_checkable
class ResizableNetworks(Protocol):
    """A builder that can make the same kind of network with other constructor settings, e.g. the
    one-channel, one-cell copy on which TE-NAS counts linear regions (the proxy benchmark's
    per-proxy ``network`` overrides)."""

    def resized(self, **overrides: Any) -> NetworkBuilder:
        """A builder of this class whose constructor settings are this one's, ``overrides`` replacing
        some (an unknown key is refused in one line listing the valid ones)."""


def override_settings(kind: str, current: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``current`` constructor settings with ``overrides`` replacing some, for :meth:`ResizableNetworks.resized`."""
    unknown = sorted(set(overrides) - set(current))
    if unknown:
        raise ConfigError(f"{kind} has no setting {', '.join(unknown)}; valid settings: {', '.join(current)}")
    return {**current, **overrides}


@runtime_checkable
class AuxiliaryNetwork(Protocol):
    """A network that may carry an auxiliary classifier: when ``auxiliary_head`` is not None its
    forward in training mode returns ``(logits, auxiliary logits)``."""

    auxiliary_head: nn.Module | None


@runtime_checkable
class DropPathNetwork(Protocol):
    """A network that drops whole op outputs per sample in training with this probability,
    which the training loop ramps over the epochs."""

    drop_path_prob: float


def has_auxiliary_head(network: nn.Module) -> bool:
    return isinstance(network, AuxiliaryNetwork) and network.auxiliary_head is not None


def inference_params_M(network: nn.Module) -> float:
    """Parameters in millions without an auxiliary head (which only helps training), as DARTS'
    train scripts report them; all parameters of a network without one."""
    total = sum(p.numel() for p in network.parameters())
    if has_auxiliary_head(network):
        total -= sum(p.numel() for p in network.auxiliary_head.parameters())  # type: ignore[attr-defined]
    return total / 1e6
