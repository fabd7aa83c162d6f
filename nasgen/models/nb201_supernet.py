"""The one-shot supernet of the NAS-Bench-201 space (DARTS-PT / DrNAS search network).

The macro skeleton is :class:`~nasgen.models.nb201_network.NB201Network`'s (3x3 conv stem,
three stages of ``N`` cells at ``C``, ``2C``, ``4C`` channels joined by stride-2 residual blocks,
BN-ReLU, global pooling, linear); every cell edge is a *mixed op*: the sum over the op set's
candidate ops of ``w[edge, op] * op(x)``, with the mixing weights ``w`` passed to
:meth:`NB201Supernet.forward` (one ``[6, ops]`` tensor shared by all cells). The cells' convs use
batch norm without affine parameters (as the NB201 search network of DARTS/darts-pt does), so
the mixing weights are the only per-op scale. The op sets (``full`` and the reduced spaces
s2, s3, s10, s4) are :data:`nasgen.spaces.nb201.OP_SETS`.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from nasgen.errors import ConfigError, choose
from nasgen.models.nb201_network import Zero, classifier_head, make_op, skeleton
from nasgen.oneshot.base import CellChoices, Noise, Supernet, SupernetBuilder
from nasgen.ranges import Int, ranges
from nasgen.spaces.nb201 import EDGES, NOISE, OP_SETS, OPS, NB201Arch


class AvgPool3x3(nn.Module):
    """``avg_pool_3x3`` (stride 1, padding 1, padded pixels not counted) as a depthwise box-sum
    convolution divided by the count of real pixels: equal to ``nn.AvgPool2d(3, 1, 1,
    count_include_pad=False)`` up to float rounding and, on a CPU, 1.2-3x faster forward and
    backward at the supernet's small feature maps."""

    def __init__(self) -> None:
        super().__init__()
        self._counts: dict[tuple, torch.Tensor] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels, height, width = x.shape[1:]
        key = (height, width, x.device, x.dtype)
        if key not in self._counts:
            ones = torch.ones(1, 1, height, width, device=x.device, dtype=x.dtype)
            self._counts[key] = F.conv2d(ones, torch.ones(1, 1, 3, 3, device=x.device, dtype=x.dtype), padding=1)
        kernel = x.new_ones(channels, 1, 3, 3)
        return F.conv2d(x, kernel, padding=1, groups=channels) / self._counts[key]


def _search_op(name: str, channels: int) -> nn.Module:
    if name == NOISE:
        return Noise()
    if name == "avg_pool_3x3":
        return AvgPool3x3()
    return make_op(name, channels, affine=False)


class MixedCell(nn.Module):
    """A 4-node NB201 cell whose 6 edges each carry every candidate op of ``ops``."""

    def __init__(self, ops: Sequence[str], channels: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(nn.ModuleList(_search_op(name, channels) for name in ops) for _ in EDGES)
        # ``none`` contributes exact zeros whatever its weight: leaving it out of the sum changes
        # no output and no gradient, and saves a tensor per edge.
        self.live = [[k for k, op in enumerate(edge) if not isinstance(op, Zero)] for edge in self.edges]
        # ops without weights or randomness give every edge leaving a node the same output:
        # computed once per node (exact; halves the pooling cost)
        self.shared = [k for k, name in enumerate(ops) if name in ("skip_connect", "avg_pool_3x3")]

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        rows = weights.unbind(0)
        cache: dict[tuple[int, int], torch.Tensor] = {}
        for node in (1, 2, 3):
            total = None
            for edge, (src, dst) in enumerate(EDGES):
                if dst != node:
                    continue
                row, ops, source = rows[edge].unbind(0), self.edges[edge], nodes[src]
                for k in self.live[edge]:
                    if k in self.shared:
                        out = cache.get((src, k))
                        if out is None:
                            out = cache[(src, k)] = ops[k](source)
                    else:
                        out = ops[k](source)
                    term = row[k] * out
                    total = term if total is None else total + term
            nodes.append(total if total is not None else torch.zeros_like(x))
        return nodes[3]


class NB201Cells(Supernet):
    """What every NB201 search network shares: the op set, its single cell type and the genotype."""

    def __init__(self, ops: Sequence[str]) -> None:
        super().__init__()
        self.ops = tuple(ops)
        self.choices = (CellChoices("cell", (self.ops,) * len(EDGES)),)

    def genotype(self, ops: Sequence[Sequence[int]], kept: Sequence[Sequence[int]] | None = None) -> NB201Arch | None:
        """The NB201 arch (6 op ids of :data:`~nasgen.spaces.nb201.OPS`) with op ``ops[0][e]`` of
        the op set on edge ``e``; None with a ``noise`` edge (no NB201 cell). ``kept`` is unused:
        an NB201 cell keeps every edge (its ``none`` op deletes one)."""
        (cell,) = ops
        if len(cell) != len(EDGES):
            raise ValueError(f"an NB201 cell needs {len(EDGES)} op choices, got {len(cell)}")
        names = [self.ops[int(k)] for k in cell]
        if NOISE in names:
            return None
        return tuple(OPS.index(name) for name in names)  # type: ignore[return-value]


class NB201Supernet(NB201Cells):
    """The NB201 search network over the op set ``ops`` (see the module docstring)."""

    def __init__(self, ops: Sequence[str], num_classes: int, channels: int = 16, cells_per_stage: int = 5,
                 in_channels: int = 3) -> None:
        super().__init__(ops)
        stem, layers, head, classifier = skeleton(
            lambda width: MixedCell(self.ops, width), num_classes, channels, cells_per_stage, in_channels)
        # registered in forward order (the order of parameters(): gradient-norm sums, checkpoints)
        self.stem, self.layers, self.head, self.classifier = stem, nn.ModuleList(layers), head, classifier

    def forward(self, images: torch.Tensor, mixing: Sequence[torch.Tensor]) -> torch.Tensor:
        (weights,) = mixing
        x = self.stem(images)
        for layer in self.layers:
            x = layer(x, weights) if isinstance(layer, MixedCell) else layer(x)
        return self.classifier(self.head(x))


class NB201ThinCell(NB201Cells):
    """TE-NAS's "thin" network for counting linear regions (its ``model_config_thin``: C=1, N=1,
    depth 1, no stem): one mixed cell straight on the ``in_channels``-channel input, then
    BN-ReLU, global pooling and a linear layer. Tiny inputs (TE-NAS: 1x3x3 patches) make its
    ReLU patterns coincide often enough for their count to discriminate."""

    def __init__(self, ops: Sequence[str], num_classes: int, in_channels: int = 1) -> None:
        super().__init__(ops)
        self.cell = MixedCell(self.ops, in_channels)
        self.head, self.classifier = classifier_head(in_channels, num_classes)

    def forward(self, images: torch.Tensor, mixing: Sequence[torch.Tensor]) -> torch.Tensor:
        (weights,) = mixing
        return self.classifier(self.head(self.cell(images, weights)))


@ranges("study.network", channels=Int(1), cells_per_stage=Int(1))
class NB201Supernets(SupernetBuilder):
    """Builds :class:`NB201Supernet` s (config node ``study.network``). ``op_set`` is the op set
    this run searches (``build`` may be asked for any of :meth:`op_sets`)."""

    space_name = "nb201"

    def __init__(self, op_set: str = "full", channels: int = 16, cells_per_stage: int = 5) -> None:
        choose("NB201 op set (study.network.op_set)", op_set, tuple(OP_SETS))
        self.op_set, self.channels, self.cells_per_stage = op_set, channels, cells_per_stage

    def op_sets(self) -> tuple[str, ...]:
        return tuple(OP_SETS)

    def settings(self) -> dict:
        return {"space": self.space_name, "op_set": self.op_set, "channels": self.channels,
                "cells_per_stage": self.cells_per_stage}

    def build(self, op_set: str, num_classes: int, input_shape: tuple[int, int, int]) -> NB201Supernet:
        choose("NB201 op set (study.network.op_set)", op_set, tuple(OP_SETS))
        in_channels, height, width = input_shape
        if height % 4 or width % 4:
            raise ConfigError(f"the NB201 supernet halves the resolution twice and needs height and width "
                              f"divisible by 4; the dataset's images are {in_channels}x{height}x{width}")
        return NB201Supernet(OP_SETS[op_set], num_classes, self.channels, self.cells_per_stage, in_channels)

    def build_thin(self, op_set: str, num_classes: int, in_channels: int) -> NB201ThinCell:
        """TE-NAS's linear-region network of the op set (:class:`NB201ThinCell`)."""
        choose("NB201 op set (study.network.op_set)", op_set, tuple(OP_SETS))
        return NB201ThinCell(OP_SETS[op_set], num_classes, in_channels)
