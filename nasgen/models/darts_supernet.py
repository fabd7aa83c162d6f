"""The DARTS search network (supernet) of the DARTS space and its reduced op sets (RobustDARTS S1-S4).

Macro structure as DARTS' search network: a 3x3 conv stem to ``stem_multiplier * C`` channels
with a batch norm, ``layers`` cells, the cells at ``layers // 3`` and ``2 * layers // 3`` reduction
cells (stride 2, width doubled), a global average pool and a linear classifier. A cell maps its
two inputs (the outputs of the two cells before it) to width ``C`` (ReLU-1x1 conv-BN, or a
factorized reduction of ``c_{k-2}`` after a reduction cell), then computes the intermediate nodes
2..5, node ``j`` the sum over its ``j`` incoming *edges* (:data:`SUPERNET_EDGES`: 14 per cell),
and outputs the channel concatenation of nodes 2..5. Every edge is a mixed op: the weighted sum
of its candidate ops, the weights being row ``e`` of the cell type's ``[14, ops]`` mixing tensor
(one per cell type, normal and reduce, shared by every cell of that type). In reduction cells the
edges from the two inputs have stride 2.

As in DARTS' supernet every batch norm inside the cells has no affine parameters (the mixing
weights scale the ops), and the parameter-free pools are followed by one so that their output
scale matches the convs'. ``none`` is zeros of the output shape; ``noise`` (S4) a standard-normal
tensor of it.

An op whose mixing weight is exactly 0 is not computed (``none`` never is: it adds zeros). That
is what makes a discretised edge (a one-hot row of :class:`~nasgen.oneshot.base.Decisions`) or a
removed edge cost one op or nothing; it drops only the gradient of a weight that is exactly 0,
which for rows fixed by decisions or masks does not reach alpha anyway.

Topology: the derived DARTS cell keeps 2 incoming edges per intermediate node, so both cell
types' :class:`~nasgen.oneshot.base.CellChoices` list ``node_inputs`` = the edges entering nodes
2, 3, 4, 5 and ``keep_inputs = 2``. Node 2 has only 2 inputs, so it offers no choice; it is
listed so that ``node_inputs[k]`` is node ``k + 2`` (a selection rule skips nodes with no more
than ``keep_inputs`` edges).

``none`` and the genotype: a DARTS/NB301 cell has no ``none`` op, so a kept edge must not carry
it. DARTS' rule picks each edge's op excluding ``none`` in cells that choose topology; a rule that
lets ``none`` win an edge (perturbation selection can: masking ``none`` is a no-op, so it wins
only if removing every other op helps) is fine when the topology step later removes that edge.
:meth:`DartsSupernet.genotype` returns None (and logs why) when a kept edge carries ``none`` or
``noise``.
"""
from __future__ import annotations

import logging
from typing import Sequence

import torch
from torch import nn

from nasgen.errors import ConfigError
from nasgen.models.darts_network import FactorizedReduce, ReLUConvBN, make_op
from nasgen.oneshot.base import CellChoices, Noise, Supernet, SupernetBuilder
from nasgen.ranges import Int, ranges
from nasgen.spaces.darts_genotype import (
    CELL_TYPES,
    CONCAT,
    EDGES_PER_NODE,
    NODE_EDGES,
    NOISE,
    NUM_INPUTS,
    OPS,
    SUPERNET_EDGES,
    SUPERNET_OP_SETS,
    DartsGenotype,
    supernet_edge_ops,
)

log = logging.getLogger(__name__)


def supernet_op(name: str, channels: int, stride: int) -> nn.Module:
    """One candidate op of a supernet edge: the DARTS op with batch norms without affine
    parameters, a pool followed by such a batch norm, or the ``noise`` op."""
    if name == NOISE:
        return Noise(stride)
    op = make_op(name, channels, stride, affine=False)
    if name.endswith("pool_3x3"):
        return nn.Sequential(op, nn.BatchNorm2d(channels, affine=False))
    return op


class MixedOp(nn.Module):
    """One supernet edge: ``sum_o w[o] * op_o(x)`` over the ops whose weight is not 0."""

    def __init__(self, names: Sequence[str], channels: int, stride: int) -> None:
        super().__init__()
        self.ops = nn.ModuleList(supernet_op(name, channels, stride) for name in names)
        self.stride = stride
        # `none` adds zeros whatever its weight: never computed
        self.computed = tuple(o for o, name in enumerate(names) if name != "none")

    def forward(self, x: torch.Tensor, weights: torch.Tensor, nonzero: Sequence[bool]) -> torch.Tensor | None:
        """The mixture, or None where every computed op's weight is 0 (the edge adds nothing)."""
        out = None
        for o in self.computed:
            if nonzero[o]:
                term = weights[o] * self.ops[o](x)
                out = term if out is None else out + term
        return out


class SearchCell(nn.Module):
    """A normal or reduction cell of the supernet (see the module docstring)."""

    def __init__(self, edge_ops: Sequence[Sequence[str]], c_prev_prev: int, c_prev: int, channels: int,
                 reduction: bool, reduction_prev: bool) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = (FactorizedReduce(c_prev_prev, channels, affine=False) if reduction_prev
                            else ReLUConvBN(c_prev_prev, channels, 1, affine=False))
        self.preprocess1 = ReLUConvBN(c_prev, channels, 1, affine=False)
        self.edges = nn.ModuleList(
            MixedOp(names, channels, 2 if reduction and source < NUM_INPUTS else 1)
            for names, (source, _) in zip(edge_ops, SUPERNET_EDGES))

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor,
                nonzero: Sequence[Sequence[bool]]) -> torch.Tensor:
        nodes = [self.preprocess0(s0), self.preprocess1(s1)]
        for node_edges in NODE_EDGES:
            total = None
            for e in node_edges:
                out = self.edges[e](nodes[SUPERNET_EDGES[e][0]], weights[e], nonzero[e])
                if out is not None:
                    total = out if total is None else total + out
            if total is None:  # every incoming edge removed or zero-weighted
                stride = 2 if self.reduction else 1
                total = torch.zeros_like(nodes[1][:, :, ::stride, ::stride])
            nodes.append(total)
        return torch.cat([nodes[i] for i in CONCAT], dim=1)


def _cell_choices(op_set: str) -> tuple[CellChoices, ...]:
    edge_ops = supernet_edge_ops(op_set)
    return tuple(CellChoices(name=cell_type, edge_ops=edge_ops[cell_type], node_inputs=NODE_EDGES,
                             keep_inputs=EDGES_PER_NODE) for cell_type in CELL_TYPES)


class DartsSupernet(Supernet):
    """The DARTS search network over the op set ``op_set`` (see the module docstring); maps
    normalised images ``(B, C_in, H, W)`` to class logits under the given mixing weights."""

    def __init__(self, op_set: str, num_classes: int, input_shape: Sequence[int], channels: int = 16,
                 layers: int = 8, stem_multiplier: int = 3) -> None:
        super().__init__()
        check_input_shape(num_classes, input_shape)
        self.op_set = op_set
        self.choices = _cell_choices(op_set)
        in_channels = int(input_shape[0])
        c_stem = stem_multiplier * channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c_stem, 3, padding=1, bias=False), nn.BatchNorm2d(c_stem))
        self.reduction_layers = (layers // 3, 2 * layers // 3)
        c_prev_prev, c_prev, width, reduction_prev = c_stem, c_stem, channels, False
        self.cells = nn.ModuleList()
        for layer in range(layers):
            reduction = layer in self.reduction_layers
            width *= 2 if reduction else 1
            cell_type = 1 if reduction else 0
            self.cells.append(SearchCell(self.choices[cell_type].edge_ops, c_prev_prev, c_prev, width, reduction,
                                         reduction_prev))
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, len(CONCAT) * width
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, images: torch.Tensor, mixing: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(mixing) != len(self.choices) or any(
                tuple(w.shape) != (choice.num_edges, choice.num_ops) for w, choice in zip(mixing, self.choices)):
            raise ValueError(f"mixing weights of shapes {[tuple(w.shape) for w in mixing]}; this supernet needs "
                             f"{[(c.num_edges, c.num_ops) for c in self.choices]} (normal, reduce)")
        # one host copy per forward decides which ops run (a device sync on GPU, not one per op)
        nonzero = [(w.detach() != 0).cpu().tolist() for w in mixing]
        s0 = s1 = self.stem(images)
        for cell in self.cells:
            cell_type = 1 if cell.reduction else 0
            s0, s1 = s1, cell(s0, s1, mixing[cell_type], nonzero[cell_type])
        return self.classifier(self.pool(s1))

    def genotype(self, ops: Sequence[Sequence[int]], kept: Sequence[Sequence[int]] | None = None
                 ) -> DartsGenotype | None:
        """The DARTS genotype keeping the edges ``kept[c]`` (2 per intermediate node) with the ops
        ``ops[c][e]`` (indices into ``choices[c].edge_ops[e]``; only kept edges are read); None
        (logged) where a kept edge carries an op NB301 lacks (``none``, ``noise``)."""
        if kept is None:
            raise ValueError("a DARTS cell chooses its topology: genotype() needs the kept edges of each cell type")
        cells = []
        for c, choice in enumerate(self.choices):
            kept_edges = set(kept[c])
            pairs = []
            for node, node_edges in zip(CONCAT, NODE_EDGES):
                chosen = [e for e in node_edges if e in kept_edges]
                if len(chosen) != EDGES_PER_NODE:
                    raise ValueError(f"{choice.name} cell: node {node} keeps edges {chosen}; a DARTS node keeps "
                                     f"{EDGES_PER_NODE} of {list(node_edges)}")
                for e in chosen:
                    name = choice.edge_ops[e][ops[c][e]]
                    if name not in OPS:
                        log.warning("%s cell: kept edge %d (%d -> %d) carries %r, which no DARTS/NB301 cell has: "
                                    "no genotype", choice.name, e, SUPERNET_EDGES[e][0], node, name)
                        return None
                    pairs.append((name, SUPERNET_EDGES[e][0]))
            cells.append(tuple(pairs))
        return DartsGenotype(normal=cells[0], reduce=cells[1])


def check_input_shape(num_classes: int, input_shape: Sequence[int]) -> None:
    """Refuse, in one line, what no DARTS supernet classifies. Every op pads so that a stride-2
    op gives ``ceil(H / 2)``, so any image of at least 1x1 runs (8x8 digits: 8 -> 4 -> 2; 28x28
    Fashion-MNIST: 28 -> 14 -> 7)."""
    if num_classes < 1 or len(input_shape) != 3 or min(input_shape) < 1:
        raise ConfigError(f"a DARTS supernet needs images (channels, height, width) and classes >= 1, got input "
                          f"shape {tuple(input_shape)}, {num_classes} classes")


@ranges("study.network", channels=Int(1), cells_per_stage=Int(1), stem_multiplier=Int(1))
class DartsSupernets(SupernetBuilder):
    """Builds :class:`DartsSupernet` (the ``study.network`` of DARTS-space one-shot runs);
    ``op_set`` is the op set this run searches (:data:`SUPERNET_OP_SETS`; ``build`` may be asked
    for any).

    Depth as NB201's builder counts it, ``cells_per_stage`` normal cells in each of the three
    stages that the two reduction cells separate: ``layers = 3 * cells_per_stage + 2`` cells, the
    reductions at ``layers // 3`` and ``2 * layers // 3`` as DARTS places them. DARTS' search
    network: ``channels=16, cells_per_stage=2`` (8 cells), ``stem_multiplier=3``; at least 1 (5 cells),
    or no cell would use the normal cell's weights."""

    space_name = "darts"

    def __init__(self, op_set: str = "full", channels: int = 16, cells_per_stage: int = 2,
                 stem_multiplier: int = 3) -> None:
        supernet_edge_ops(op_set)  # refuses an unknown op set in one line
        self.op_set, self.channels, self.cells_per_stage = op_set, channels, cells_per_stage
        self.stem_multiplier = stem_multiplier

    @property
    def layers(self) -> int:
        return 3 * self.cells_per_stage + 2

    def op_sets(self) -> tuple[str, ...]:
        return tuple(SUPERNET_OP_SETS)

    def build(self, op_set: str, num_classes: int, input_shape: tuple[int, int, int]) -> DartsSupernet:
        supernet_edge_ops(op_set)
        return DartsSupernet(op_set, num_classes, tuple(input_shape), self.channels, self.layers,
                             self.stem_multiplier)

    def settings(self) -> dict:
        return {"space": self.space_name, "op_set": self.op_set, "channels": self.channels,
                "cells_per_stage": self.cells_per_stage, "layers": self.layers,
                "stem_multiplier": self.stem_multiplier}
