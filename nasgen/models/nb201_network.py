"""The NAS-Bench-201 network (Dong & Yang, ICLR 2020), written from the paper's description.

Macro skeleton: a 3x3 conv stem, three stages of ``N`` cells with ``C``, ``2C`` and ``4C``
channels joined by stride-2 residual blocks, then BN-ReLU, global average pooling and a
linear classifier. A cell has 4 feature-map nodes; node ``j`` sums ``op(node i)`` over its
incoming edges, in the edge order of :data:`nasgen.spaces.nb201.EDGES`.

:func:`model_size` counts parameters and FLOPs the way NATS-Bench reports them (``params``
and ``flop`` of its records), so the numbers can be checked against the benchmark.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from nasgen.errors import ConfigError, choose
from nasgen.models.base import override_settings
from nasgen.spaces.nb201 import EDGES, OPS, NB201Arch


class ReLUConvBN(nn.Sequential):
    """ReLU, conv without bias, batch norm: the ``nor_conv`` ops and the residual block halves.
    ``affine=False``: a batch norm without scale and shift (the cells of a one-shot supernet,
    where the mixing weights are the only per-op scale)."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int = 1, affine: bool = True) -> None:
        super().__init__(
            nn.ReLU(),
            nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class Zero(nn.Module):
    """The ``none`` op: the edge is dropped, it contributes zeros."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


def make_op(name: str, channels: int, affine: bool = True) -> nn.Module:
    """One cell edge operation by its NB201 name (stride 1, channels preserved); ``affine``: see
    :class:`ReLUConvBN`."""
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, affine=affine)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, affine=affine)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ConfigError(f"unknown NB201 op {name!r}; valid choices: {', '.join(OPS)}")


class Cell(nn.Module):
    """A 4-node NB201 cell; ``arch`` holds one op id per edge."""

    def __init__(self, arch: Sequence[int], channels: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(make_op(OPS[op], channels) for op in arch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for node in (1, 2, 3):
            nodes.append(sum(op(nodes[src]) for op, (src, dst) in zip(self.edges, EDGES) if dst == node))
        return nodes[3]


class ResidualReduction(nn.Module):
    """ResNet basic block with stride 2 between stages: halves resolution, changes width."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, stride=2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


def skeleton(cell: Callable[[int], nn.Module], num_classes: int, channels: int, cells_per_stage: int,
             in_channels: int) -> tuple[nn.Module, list[nn.Module], nn.Module, nn.Linear]:
    """The NB201 macro around cells made by ``cell(width)``: the stem, the layers of the three
    stages (``cells_per_stage`` cells at ``C``, ``2C``, ``4C`` channels, residual reductions
    between), the head (BN, ReLU, global pooling) and the classifier."""
    stem = nn.Sequential(nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))
    layers: list[nn.Module] = []
    for stage, width in enumerate((channels, 2 * channels, 4 * channels)):
        if stage > 0:
            layers.append(ResidualReduction(width // 2, width))
        layers.extend(cell(width) for _ in range(cells_per_stage))
    return (stem, layers, *classifier_head(4 * channels, num_classes))


def classifier_head(channels: int, num_classes: int) -> tuple[nn.Module, nn.Linear]:
    """BN, ReLU, global pooling (the head) and the linear classifier after the last cell."""
    head = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return head, nn.Linear(channels, num_classes)


class NB201Network(nn.Module):
    """The NB201 network for one cell ``arch`` (6 op ids in edge order); maps
    normalised images ``(B, in_channels, H, W)`` to class logits."""

    def __init__(self, arch: NB201Arch, num_classes: int, channels: int = 16, cells_per_stage: int = 5,
                 in_channels: int = 3) -> None:
        super().__init__()
        if len(arch) != len(EDGES) or not all(0 <= int(op) < len(OPS) for op in arch):
            raise ConfigError(f"an NB201 arch needs {len(EDGES)} op ids in 0..{len(OPS) - 1}, got {arch!r}")
        if min(num_classes, channels, cells_per_stage, in_channels) < 1:
            raise ConfigError("NB201Network needs positive num_classes, channels, cells_per_stage and in_channels")
        self.arch = tuple(int(op) for op in arch)
        stem, layers, head, classifier = skeleton(
            lambda width: Cell(self.arch, width), num_classes, channels, cells_per_stage, in_channels)
        # registered in forward order (the order of parameters(): gradient-norm sums, checkpoints)
        self.stem, self.cells, self.head, self.classifier = stem, nn.Sequential(*layers), head, classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(self.cells(self.stem(x))))


class NB201ThinNetwork(nn.Module):
    """TE-NAS's "thin" network of one cell (its ``model_config_thin``): the cell straight on the
    ``in_channels``-channel input (no stem, no stages), then the classifier head. On tiny inputs
    (3x3 patches of one channel) its ReLU patterns coincide often enough for their number, the
    ``linear_regions`` measure, to tell cells apart. The discrete twin of the pruning study's
    mixed :class:`~nasgen.models.nb201_supernet.NB201ThinCell`."""

    def __init__(self, arch: NB201Arch, num_classes: int, in_channels: int = 1) -> None:
        super().__init__()
        self.arch = tuple(int(op) for op in arch)
        self.cell = Cell(self.arch, in_channels)
        self.head, self.classifier = classifier_head(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(self.cell(x)))


LAYOUTS = ("full", "thin")


class NB201Networks:
    """Builds the network of a cell (a :class:`~nasgen.models.base.NetworkBuilder`): ``layout=full``
    the :class:`NB201Network` of ``channels`` and ``cells_per_stage``, ``layout=thin`` TE-NAS's
    :class:`NB201ThinNetwork` (one cell on the input; the two sizes do not apply)."""

    space_name = "nb201"

    def __init__(self, channels: int = 16, cells_per_stage: int = 5, layout: str = "full") -> None:
        for key, value in {"channels": channels, "cells_per_stage": cells_per_stage}.items():
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"benchmark.{key} must be a positive integer, got {value!r}")
        choose("NB201 network layout", layout, LAYOUTS)
        self.layout, self.channels, self.cells_per_stage = layout, channels, cells_per_stage

    def settings(self) -> dict[str, "int | str"]:
        # The full layout's settings leave the layout out: proxy stores are named by a hash of these
        # settings, and the stores made before the thin layout existed keep their names.
        if self.layout == "thin":
            return {"layout": self.layout}
        return {"channels": self.channels, "cells_per_stage": self.cells_per_stage}

    def resized(self, **overrides: "int | str") -> NB201Networks:
        """A :class:`~nasgen.models.base.ResizableNetworks` builder (settings() are the constructor's)."""
        current = {"channels": self.channels, "cells_per_stage": self.cells_per_stage, "layout": self.layout}
        return NB201Networks(**override_settings("the NB201 network", current, overrides))

    def build(self, arch: NB201Arch, num_classes: int, in_channels: int) -> nn.Module:
        if self.layout == "thin":
            return NB201ThinNetwork(arch, num_classes, in_channels)
        return NB201Network(arch, num_classes, self.channels, self.cells_per_stage, in_channels)


class Normalize(nn.Module):
    """Per-channel ``(x - mean) / std`` with fixed statistics, so a model takes raw [0, 1]
    images (adversarial attacks perturb and clip in pixel space)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        if len(mean) != len(std) or min(std) <= 0:
            raise ConfigError(f"Normalize needs one positive std per mean, got mean={mean}, std={std}")
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def count_params(model: nn.Module) -> float:
    """Trainable parameters in millions (NATS-Bench ``params``)."""
    return sum(p.numel() for p in model.parameters()) / 1e6


def _layer_flops(module: nn.Module, output: torch.Tensor) -> int:
    """Multiply-accumulates of one layer per image, counted as NATS-Bench does: only
    convolutions and linear layers (plus their bias). Its records leave pooling, batch norm,
    activations, additions, identity and zero ops out; counting the pools would add e.g.
    1.32 MFLOPs for arch 0 on CIFAR-10 (15 cell avg-pools + 2 shortcut pools + the global pool)."""
    if isinstance(module, nn.Conv2d):
        per_position = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
        return output[0].numel() * (per_position + (module.bias is not None))
    if isinstance(module, nn.Linear):
        return output[0].numel() * (module.in_features + (module.bias is not None))
    return 0


def model_size(model: nn.Module, input_shape: Sequence[int]) -> tuple[float, float]:
    """``(params_M, flops_M)`` of ``model`` for one input image of shape ``(C, H, W)``."""
    total = 0

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        total += _layer_flops(module, output)

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return count_params(model), total / 1e6
