"""What a training-free measure is: a score of a freshly initialised network on one fixed batch.

Every measure declares its sign (``higher_is_better``: which direction predicts a *better*
architecture), whether its stored value is a base-10 logarithm (raw values that span tens of
decades, e.g. synflow's 1e32-1e61 on NB201, lose nothing under a monotone map and stay
readable and summable), and which inputs it needs. Metric names are ``proxy/<name>``.

Correlations are computed on the stored, signed-as-declared value: never on ``abs()`` of it
(zero-cost-nas issue 4: taking the absolute value of a signed proxy silently flips the rank of
the architectures whose score is negative).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Protocol, Sequence, runtime_checkable

import torch
from torch import nn

PREFIX = "proxy/"
# What a measure needs as input:
#   "images": real images and their labels (a loss, or the data distribution, is part of it)
#   "inputs": any inputs of the right shape (Gaussian inputs allowed; labels unused)
#   "none":   the architecture alone (counts of parameters or operations)
INPUT_KINDS = ("images", "inputs", "none")


@dataclass(frozen=True)
class ProxyInfo:
    name: str               # the metric is PREFIX + name
    higher_is_better: bool  # the sign: which direction predicts a better architecture
    log_scale: bool         # the stored value is log10 of the raw measure
    needs: str              # one of INPUT_KINDS
    summary: str            # one line: what it measures and who proposed it

    @property
    def metric(self) -> str:
        return PREFIX + self.name


@dataclass(frozen=True)
class ProxyBatch:
    """The fixed batch every architecture is scored on: normalised inputs ``(B, C, H, W)``,
    int64 labels ``(B,)`` (random labels for Gaussian inputs) and the number of classes."""

    inputs: torch.Tensor
    targets: torch.Tensor
    num_classes: int
    source: str  # "gaussian" or the dataset's name, recorded in every result's protocol

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.inputs.shape[1:])  # type: ignore[return-value]


@runtime_checkable
class Proxy(Protocol):
    """A training-free measure. :meth:`score` may change ``network`` (synflow replaces its
    weights by their absolute values): callers hand it a copy they do not reuse."""

    info: ProxyInfo

    def score(self, network: nn.Module, batch: ProxyBatch) -> float:
        """The stored value (log10 of the raw measure when ``info.log_scale``); NaN when the
        measure is undefined for this network (e.g. no parameter receives a gradient)."""


def score_network(network: nn.Module, proxies: Sequence[Proxy], batch: ProxyBatch,
                  seed: int) -> dict[str, float]:
    """Every proxy's value on a copy of the freshly initialised ``network`` (``proxy/<name>`` ->
    value). Each proxy starts from the same weights and from the same torch RNG state
    (``seed``), so a value depends only on the network, the batch and the seed, not on which
    other proxies were scored before it."""
    values = {}
    for proxy in proxies:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            values[proxy.info.metric] = float(proxy.score(copy.deepcopy(network), batch))
    return values
