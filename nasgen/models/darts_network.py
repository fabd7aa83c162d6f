"""The network of a DARTS genotype (Liu, Simonyan, Yang: "DARTS", ICLR 2019), written from the
paper's description of its evaluation networks.

A stem, then ``layers`` cells; the cells at ``layers // 3`` and ``2 * layers // 3`` are reduction
cells (stride 2, channels doubled), the others normal cells. Every cell reads the outputs of the
two cells before it (``s0 = c_{k-2}``, ``s1 = c_{k-1}``), maps both to the cell's width ``C`` (a
ReLU-1x1 conv-BN, or a factorized reduction for ``s0`` when the previous cell halved the
resolution), computes intermediate nodes 2..5 as the sum of their two ops and outputs the channel
concatenation of the four (``4C`` channels). In a reduction cell the ops reading the inputs 0 and
1 have stride 2. The CIFAR network has a 3x3 conv stem to ``3C`` channels; the ImageNet (mobile)
network three stride-2 convs. A global average pool and a linear layer classify.

Training extras of the DARTS recipe: drop-path (each non-identity op's output of a sample is
zeroed with probability :attr:`DartsNetwork.drop_path_prob`, the rest rescaled) and an
auxiliary classifier after the second reduction cell, whose logits come with the main ones in
training mode only.

Parameters are counted as DARTS' train scripts log them: without the auxiliary head
(:func:`nasgen.models.base.inference_params_M`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nasgen.errors import ConfigError, choose
from nasgen.models.base import override_settings
from nasgen.spaces.darts_genotype import CONCAT, NUM_INPUTS, OPS_WITH_NONE, Cell, DartsGenotype

STEMS = ("cifar", "imagenet")
_MULTIPLIER = len(CONCAT)   # a cell outputs the concatenation of its 4 intermediate nodes
_AUXILIARY_WIDTHS = (128, 768)


class ReLUConvBN(nn.Sequential):
    """ReLU, conv without bias, batch norm: the cells' input preprocessing."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int = 1, affine: bool = True) -> None:
        super().__init__(nn.ReLU(), nn.Conv2d(c_in, c_out, kernel_size, stride, kernel_size // 2, bias=False),
                         nn.BatchNorm2d(c_out, affine=affine))


class DilatedConv(nn.Sequential):
    """ReLU, depthwise conv (dilation ``dilation``), pointwise conv, batch norm: ``dil_conv_*``
    (and, with dilation 1, each half of a separable conv)."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int, dilation: int,
                 affine: bool = True) -> None:
        super().__init__(
            nn.ReLU(),
            nn.Conv2d(c_in, c_in, kernel_size, stride, dilation * (kernel_size // 2), dilation=dilation,
                      groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class SeparableConv(nn.Sequential):
    """``sep_conv_*``: the ReLU-depthwise-pointwise-BN block twice; only the first one strides."""

    def __init__(self, channels: int, kernel_size: int, stride: int, affine: bool = True) -> None:
        super().__init__(DilatedConv(channels, channels, kernel_size, stride, 1, affine),
                         DilatedConv(channels, channels, kernel_size, 1, 1, affine))


class FactorizedReduce(nn.Module):
    """Halves the resolution without losing every other pixel: two stride-2 1x1 convs, one on the
    input and one on the input shifted by a pixel, each giving half the output channels.

    The shifted copy is zero-padded at its far edge, so both halves have ``ceil(H / 2)`` rows
    (like every other stride-2 op) also for odd sizes; for even sizes the padding is never read."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True) -> None:
        super().__init__()
        if c_out % 2:
            raise ConfigError(f"a factorized reduction needs an even number of output channels, got {c_out}")
        self.relu = nn.ReLU()
        self.conv_even = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_odd = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_even(x), self.conv_odd(shifted)], dim=1))


class Zero(nn.Module):
    """The ``none`` op of supernets: zeros of the output's shape."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, ::self.stride, ::self.stride].mul(0.0)


def make_op(name: str, channels: int, stride: int = 1, affine: bool = True) -> nn.Module:
    """One DARTS operation (``channels`` in and out, ``stride`` 1 or 2) by its name in
    :data:`~nasgen.spaces.darts_genotype.OPS_WITH_NONE`. ``affine=False`` gives the batch norms of
    DARTS' search supernet."""
    choose("DARTS op", name, OPS_WITH_NONE)
    if name == "none":
        return Zero(stride)
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(channels, channels, affine)
    if name == "max_pool_3x3":
        return nn.MaxPool2d(3, stride, padding=1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride, padding=1, count_include_pad=False)
    kind, size = name.rsplit("_", 1)  # sep_conv / dil_conv, "3x3" / "5x5"
    kernel_size = int(size.split("x")[0])
    if kind == "sep_conv":
        return SeparableConv(channels, kernel_size, stride, affine)
    return DilatedConv(channels, channels, kernel_size, stride, 2, affine)


def drop_path(x: torch.Tensor, prob: float) -> torch.Tensor:
    """Zero each sample's ``x`` with probability ``prob`` and scale the kept ones by
    ``1 / (1 - prob)``, so the expectation is unchanged."""
    keep = 1.0 - prob
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x * mask / keep


class DartsCell(nn.Module):
    """One normal or reduction cell of ``genotype_cell`` (8 ``(op, input node)`` pairs) at width
    ``channels``; ``c_prev_prev`` / ``c_prev`` are the widths of its two inputs."""

    def __init__(self, genotype_cell: Cell, c_prev_prev: int, c_prev: int, channels: int, reduction: bool,
                 reduction_prev: bool) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = (FactorizedReduce(c_prev_prev, channels) if reduction_prev
                            else ReLUConvBN(c_prev_prev, channels, 1))
        self.preprocess1 = ReLUConvBN(c_prev, channels, 1)
        self.inputs = tuple(node for _, node in genotype_cell)
        self.ops = nn.ModuleList(make_op(op, channels, 2 if reduction and node < NUM_INPUTS else 1)
                                 for op, node in genotype_cell)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_path_prob: float = 0.0) -> torch.Tensor:
        nodes = [self.preprocess0(s0), self.preprocess1(s1)]
        for first in range(0, len(self.ops), 2):
            total = 0
            for op, node in zip(self.ops[first:first + 2], self.inputs[first:first + 2]):
                out = op(nodes[node])
                if self.training and drop_path_prob > 0 and not isinstance(op, nn.Identity):
                    out = drop_path(out, drop_path_prob)
                total = total + out
            nodes.append(total)
        return torch.cat([nodes[i] for i in CONCAT], dim=1)


class AuxiliaryHead(nn.Sequential):
    """The auxiliary classifier on the output of the second reduction cell.

    DARTS pools its CIFAR 8x8 map with a 5x5 window at stride 3 (and its ImageNet 7x7 map at
    stride 2) to 2x2; an adaptive pool to 2x2 is used here for every input size (on 8x8 it averages
    4x4 blocks instead of overlapping 5x5 windows: same parameters, slightly other features). Small
    inputs (8x8 digits: a 2x2 map) would not fit a fixed 5x5 window at all."""

    def __init__(self, c_in: int, num_classes: int) -> None:
        hidden, features = _AUXILIARY_WIDTHS
        super().__init__(
            nn.ReLU(), nn.AdaptiveAvgPool2d(2),
            nn.Conv2d(c_in, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(),
            nn.Conv2d(hidden, features, 2, bias=False), nn.BatchNorm2d(features), nn.ReLU(),
            nn.Flatten(), nn.Linear(features, num_classes),
        )


def check_sizes(channels: int, layers: int, stem: str) -> None:
    """Refuse sizes no DARTS network has: fewer than 2 layers (the two reduction cells), or odd
    ``channels`` with the ImageNet stem (it halves them, and its first cell factorizes ``s0``)."""
    choose("DARTS network stem", stem, STEMS)
    if not isinstance(channels, int) or not isinstance(layers, int) or channels < 1 or layers < 2:
        raise ConfigError(f"a DARTS network needs integer channels >= 1 and layers >= 2 (the two reduction cells), "
                          f"got channels={channels!r}, layers={layers!r}")
    if stem == "imagenet" and channels % 2:
        raise ConfigError(f"the ImageNet stem halves the channels: they must be even, got {channels}")


def _stem(stem: str, in_channels: int, channels: int) -> tuple[nn.Module, nn.Module | None, int, bool]:
    """The stem layers, the width of their output and whether they reduced like a reduction cell
    (then the first cell factorizes its ``s0``): CIFAR one 3x3 conv to ``3C`` feeding both inputs
    of the first cell; ImageNet two stride-2 convs (to ``C/2``, ``C``) giving ``s0`` and a third
    giving ``s1``."""
    if stem == "cifar":
        return (nn.Sequential(nn.Conv2d(in_channels, 3 * channels, 3, padding=1, bias=False),
                              nn.BatchNorm2d(3 * channels)), None, 3 * channels, False)
    first = nn.Sequential(
        nn.Conv2d(in_channels, channels // 2, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(channels // 2),
        nn.ReLU(), nn.Conv2d(channels // 2, channels, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(channels))
    second = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 3, stride=2, padding=1, bias=False),
                           nn.BatchNorm2d(channels))
    return first, second, channels, True


class DartsNetwork(nn.Module):
    """The evaluation network of ``genotype`` (see the module docstring); maps normalised images
    ``(B, in_channels, H, W)`` to class logits, and in training mode with ``auxiliary`` to
    ``(logits, auxiliary logits)``. DARTS on CIFAR-10: ``channels=36, layers=20``; on ImageNet
    (mobile setting): ``channels=48, layers=14, stem="imagenet"``."""

    def __init__(self, genotype: DartsGenotype, num_classes: int, channels: int = 36, layers: int = 20,
                 auxiliary: bool = False, in_channels: int = 3, stem: str = "cifar",
                 drop_path_prob: float = 0.0) -> None:
        super().__init__()
        check_sizes(channels, layers, stem)
        if min(num_classes, in_channels) < 1:
            raise ConfigError(f"a DARTS network needs positive num_classes and in_channels, got {num_classes}, "
                              f"{in_channels}")
        self.genotype = genotype
        self.drop_path_prob = float(drop_path_prob)
        self.stem, self.stem_s1, c_stem, reduction_prev = _stem(stem, in_channels, channels)
        self.reduction_layers = (layers // 3, 2 * layers // 3)
        c_prev_prev, c_prev, width = c_stem, c_stem, channels
        self.cells = nn.ModuleList()
        self.auxiliary_head: AuxiliaryHead | None = None
        for layer in range(layers):
            reduction = layer in self.reduction_layers
            width *= 2 if reduction else 1
            self.cells.append(DartsCell(genotype.reduce if reduction else genotype.normal, c_prev_prev, c_prev,
                                        width, reduction, reduction_prev))
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, _MULTIPLIER * width
            if auxiliary and layer == self.reduction_layers[1]:
                self.auxiliary_head = AuxiliaryHead(c_prev, num_classes)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor) -> "torch.Tensor | tuple[torch.Tensor, torch.Tensor]":
        s0 = self.stem(x)
        s1 = s0 if self.stem_s1 is None else self.stem_s1(s0)
        auxiliary_logits = None
        for layer, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if self.auxiliary_head is not None and self.training and layer == self.reduction_layers[1]:
                auxiliary_logits = self.auxiliary_head(s1)
        logits = self.classifier(self.pool(s1))
        return logits if auxiliary_logits is None else (logits, auxiliary_logits)



class DartsNetworks:
    """Builds the :class:`DartsNetwork` of a genotype (a :class:`~nasgen.models.base.NetworkBuilder`;
    the ``benchmark.network`` of ``benchmark=train_darts``)."""

    space_name = "darts"

    def __init__(self, channels: int = 36, layers: int = 20, auxiliary: bool = False, stem: str = "cifar") -> None:
        check_sizes(channels, layers, stem)
        self.channels, self.layers, self.auxiliary, self.stem = channels, layers, bool(auxiliary), stem

    def settings(self) -> dict[str, object]:
        return {"network": "darts", "channels": self.channels, "layers": self.layers, "auxiliary": self.auxiliary,
                "stem": self.stem}

    def resized(self, **overrides: object) -> DartsNetworks:
        """A :class:`~nasgen.models.base.ResizableNetworks` builder (the constructor's settings:
        settings() without its "network" tag)."""
        current = {"channels": self.channels, "layers": self.layers, "auxiliary": self.auxiliary, "stem": self.stem}
        return DartsNetworks(**override_settings("the DARTS network", current, overrides))  # type: ignore[arg-type]

    def build(self, arch: DartsGenotype, num_classes: int, in_channels: int) -> DartsNetwork:
        return DartsNetwork(arch, num_classes, self.channels, self.layers, self.auxiliary, in_channels, self.stem)
