"""The contract between supernets, relaxations, the bilevel trainer and selection rules.

A supernet holds every candidate operation of every edge of every cell type (NB201: one cell
type, 6 edges; DARTS: a normal and a reduction cell, 14 edges each) and mixes them with
*mixing weights*, one ``[edges, ops]`` tensor per cell type, that the caller passes to
``forward``. Who makes the mixing weights:

- a :class:`Relaxation` turns the architecture parameters alpha into them (DARTS: softmax;
  fixed alpha: uniform; DrNAS: a Dirichlet sample while training, its mean otherwise);
- :class:`Decisions` (what a selection rule has fixed so far) overrides decided edges with a
  one-hot row and removed edges with zeros;
- a selection rule masks single operations (a zeroed entry, not renormalised) to measure them.

Keeping the weights outside the network is what lets one supernet serve training, masked
evaluation and discretisation without hooks or per-edge state.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import nn

from nasgen.spaces.base import Arch


@dataclass(frozen=True)
class CellChoices:
    """What one cell type of a supernet leaves to choose.

    ``edge_ops[e]`` are the candidate op names of edge ``e`` (the same count on every edge of a
    cell type; reduced spaces such as RobustDARTS' S1 give different names per edge). Where the
    cell's topology is chosen too (DARTS: each intermediate node keeps its 2 strongest inputs),
    ``node_inputs[k]`` lists the edge ids entering the k-th node with a choice and
    ``keep_inputs`` how many of them stay; ``keep_inputs == 0``: every edge stays (NB201, where
    the ``none`` op deletes an edge)."""

    name: str
    edge_ops: tuple[tuple[str, ...], ...]
    node_inputs: tuple[tuple[int, ...], ...] = ()
    keep_inputs: int = 0

    def __post_init__(self) -> None:
        if len({len(ops) for ops in self.edge_ops}) != 1:
            raise ValueError(f"cell {self.name}: every edge needs the same number of candidate ops")

    @property
    def num_edges(self) -> int:
        return len(self.edge_ops)

    @property
    def num_ops(self) -> int:
        return len(self.edge_ops[0])

    @property
    def chooses_topology(self) -> bool:
        return self.keep_inputs > 0


@dataclass
class Decisions:
    """What selection has fixed so far, per cell type: an op index per decided edge and the edges
    a topology step removed. JSON-able through :meth:`to_dict` (checkpoints, logs)."""

    ops: list[dict[int, int]]
    removed: list[set[int]] = field(default_factory=list)

    @classmethod
    def empty(cls, choices: Sequence[CellChoices]) -> "Decisions":
        return cls([{} for _ in choices], [set() for _ in choices])

    def apply(self, weights: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """``weights`` (one ``[edges, ops]`` tensor per cell type) with each decided edge's row
        replaced by its one-hot op (magnitude 1, as DARTS-PT discretises) and each removed
        edge's row by zeros. Differentiable in the undecided rows."""
        mixed = []
        for cell, w in enumerate(weights):
            if not self.ops[cell] and not self.removed[cell]:
                mixed.append(w)
                continue
            override = torch.zeros_like(w)
            keep = torch.ones(w.shape[0], 1, dtype=w.dtype, device=w.device)
            for edge, op in self.ops[cell].items():
                override[edge, op] = 1.0
                keep[edge] = 0.0
            for edge in self.removed[cell]:
                override[edge] = 0.0
                keep[edge] = 0.0
            mixed.append(w * keep + override)
        return mixed

    def to_dict(self) -> dict:
        return {"ops": [{str(e): o for e, o in sorted(c.items())} for c in self.ops],
                "removed": [sorted(c) for c in self.removed]}

    @classmethod
    def from_dict(cls, data: dict) -> "Decisions":
        return cls([{int(e): int(o) for e, o in c.items()} for c in data["ops"]],
                   [set(map(int, c)) for c in data["removed"]])


class Supernet(nn.Module, ABC):
    """A weight-sharing network over every candidate op of a space's cells (see the module
    docstring). Built by a :class:`SupernetBuilder` for a dataset's input shape and classes."""

    choices: tuple[CellChoices, ...]

    @abstractmethod
    def forward(self, images: torch.Tensor, mixing: Sequence[torch.Tensor]) -> torch.Tensor:
        """Class logits of normalised ``images``; ``mixing[c]`` is cell type c's ``[edges, ops]``
        weights (shared by every cell of that type)."""

    @abstractmethod
    def genotype(self, ops: Sequence[Sequence[int]], kept: Sequence[Sequence[int]] | None = None) -> Arch | None:
        """The space's architecture with op ``ops[c][e]`` (an index into ``choices[c].edge_ops[e]``)
        on edge ``e`` of cell type ``c`` and, where the cell chooses its topology, only the edges
        ``kept[c]``; None where the result is no architecture of the space (an op the space lacks,
        such as the ``noise`` op of the reduced spaces S4)."""


class SupernetBuilder(ABC):
    """Builds the supernet of one space (config node ``supernet.network``). ``op_set`` names the
    candidate ops (the full space or one of its reduced spaces); the op sets are properties of
    the space (``spaces/``), so the builder only looks them up."""

    space_name: str
    op_set: str  # the op set this run searches (``full`` or a reduced space of :meth:`op_sets`)

    @abstractmethod
    def op_sets(self) -> tuple[str, ...]:
        """The op-set names the space offers (``full`` first)."""

    @abstractmethod
    def build(self, op_set: str, num_classes: int, input_shape: tuple[int, int, int]) -> Supernet: ...

    @abstractmethod
    def settings(self) -> dict:
        """Everything that changes the network (recorded; a checkpoint made with other settings is refused)."""


class Relaxation(ABC):
    """How architecture parameters alpha (one ``[edges, ops]`` tensor per cell type) become
    mixing weights, and what magnitude selection reads as an op's strength."""

    name: str
    learns_alpha: bool  # False: alpha never moves (fixed-alpha / blank supernet)

    @abstractmethod
    def training_weights(self, alpha: torch.Tensor) -> torch.Tensor:
        """Mixing weights of one forward pass in training (may be stochastic: DrNAS samples a
        Dirichlet with the global torch RNG, which the trainer checkpoints)."""

    @abstractmethod
    def strengths(self, alpha: torch.Tensor) -> torch.Tensor:
        """Deterministic mixing weights (evaluation, masked evaluation) = the magnitudes that the
        magnitude rule ranks (softmax; Dirichlet mean; uniform)."""


class Noise(nn.Module):
    """The ``noise`` op of the reduced spaces S4 (RobustDARTS; darts-pt's NB201 s4): N(0, 1) noise
    of the input's shape (every ``stride``-th pixel where the edge reduces), drawn from the global
    torch RNG (which the trainer checkpoints); the input itself does not reach the output."""

    def __init__(self, stride: int = 1) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, ::self.stride, ::self.stride]
        return torch.randn_like(x)
