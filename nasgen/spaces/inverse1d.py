"""The two search spaces of the 1-D inverse-problem study (Lukasik's thesis, chapter 6).

An architecture is a tuple of op ids, one per *slot* (a decision of the search), indexing
:attr:`Inverse1DSpace.op_names`:

- ``sequential`` (thesis Fig. 6.1): ``layers`` (10) successive layers, one slot each; the
  network adds the last layer's output to a residual branch (the initial estimate). Size
  ``|ops| ** layers``: 4**10 with all operations, 2**10 with the good ones.
- ``nonsequential`` (Fig. 6.2): ``cells`` (2) cells in succession, each with its input state
  ``s_0`` and ``states`` (5) computed states; state ``s_j`` sums one operation applied to each
  earlier state ``s_i`` (``i < j``), so a cell has ``1 + 2 + ... + states`` edges, one slot each
  (slot order: cell by cell, and in a cell ``(0,1), (0,2), (1,2), (0,3), ...``: by target, then
  source). The cell's output is a 1x1 convolution of its last two states (concatenated). The
  op set adds ``zero`` (no connection), first.

*"Up to 15 connections"*: the thesis' cell has 5 states with arbitrary forward connections
"resulting in up to 15 operational connections". Five states among themselves have only
``C(5, 2) = 10`` forward pairs; counting the cell input as a source, state ``j`` has ``j`` inputs
and ``1 + 2 + 3 + 4 + 5 = 15`` -- exactly the thesis' number, and "up to" because ``zero``
removes connections. So the cell input is a state that the 5 computed states may read, as in
DARTS, and two cells have 10 computed nodes, the depth the thesis compares to 10 layers.

Operations: ``gradient`` (learnable gradient step), ``cnn`` (2-layer CNN), and the harmful
``roll`` and ``noise``; ``ops=good`` keeps the first two (:mod:`nasgen.models.inverse1d`).

Isomorphism (``key``): in the sequential space every architecture computes its own function
(the key is the architecture). In the non-sequential space a computed state that reaches
neither of the two output states (all its outgoing edges ``zero``) is dead: its incoming ops
change nothing, so the key sets them to ``zero`` (:meth:`Inverse1DSpace.canonical`, also the
form the networks are built from, so twins train identically). A state whose inputs are all
``zero`` is *not* dead: a gradient step from a zero state still reads the measurements.

Graph view (as NB201's, operations as nodes): sequential, one graph ``input -> layer 1 -> ...
-> layer L -> output`` plus the residual edge ``input -> output``; non-sequential, per cell the
input node, one node per edge and the output node, with a fixed adjacency (an edge node ``i ->
j`` reads the input node if ``i = 0``, else every edge node into ``s_i``, whose sum ``s_i`` is;
the output reads the edge nodes into the last two states). ``encode`` is the graph's one-hot
flattening. There is no path encoding: a sequential path is the whole architecture
(``4**10`` bits).
"""
from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np

from nasgen.errors import ConfigError, choose
from nasgen.spaces.base import GraphSpec

GOOD_OPS: tuple[str, ...] = ("gradient", "cnn")
ALL_OPS: tuple[str, ...] = (*GOOD_OPS, "roll", "noise")
OP_SETS: dict[str, tuple[str, ...]] = {"good": GOOD_OPS, "all": ALL_OPS}
ZERO = "zero"
LAYOUTS = ("sequential", "nonsequential")

Inverse1DArch = tuple[int, ...]


def cell_edges(states: int) -> tuple[tuple[int, int], ...]:
    """The ``(source, target)`` state pairs of one non-sequential cell, in slot order."""
    return tuple((source, target) for target in range(1, states + 1) for source in range(target))


class Inverse1DSpace:
    """The sequential or non-sequential space of the 1-D inverse-problem study (module docstring)."""

    def __init__(self, layout: str = "sequential", ops: str = "all", layers: int = 10, cells: int = 2,
                 states: int = 5) -> None:
        choose("search_space.layout", layout, LAYOUTS)
        choose("search_space.ops", ops, tuple(OP_SETS))
        for setting, value, low in (("layers", layers, 1), ("cells", cells, 1), ("states", states, 2)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"search_space.{setting} must be an integer >= {low}, got {value!r}")
        self.layout, self.ops = layout, ops
        self.name = f"inverse1d_{layout}"
        self.sequential = layout == "sequential"
        self.op_names: tuple[str, ...] = OP_SETS[ops] if self.sequential else (ZERO, *OP_SETS[ops])
        node_types = ("input", *self.op_names, "output")
        if self.sequential:
            self.layers, self.cells, self.states = layers, 1, 0
            self.edges: tuple[tuple[int, int], ...] = ()
            self.num_slots = layers
            self.graph = GraphSpec(node_types=node_types, max_nodes=layers + 2)
        else:
            self.layers, self.cells, self.states = 0, cells, states
            self.edges = cell_edges(states)
            self.num_slots = cells * len(self.edges)
            self.graph = GraphSpec(node_types=node_types, max_nodes=len(self.edges) + 2, cells=cells)
        self._adjacency = self._fixed_adjacency()

    def settings(self) -> dict:
        """The constructor settings that define the space (recorded with results)."""
        shape = {"layers": self.layers} if self.sequential else {"cells": self.cells, "states": self.states}
        return {"layout": self.layout, "ops": self.ops, **shape}

    # -- structure ------------------------------------------------------------------------
    @property
    def slots_per_cell(self) -> int:
        return self.num_slots if self.sequential else len(self.edges)

    @property
    def output_states(self) -> tuple[int, int]:
        """The two states of a non-sequential cell whose concatenation is the cell's output."""
        return self.states - 1, self.states

    def _fixed_adjacency(self) -> np.ndarray:
        n = self.graph.max_nodes
        adjacency = np.zeros((n, n), dtype=np.uint8)
        if self.sequential:
            for node in range(n - 1):
                adjacency[node, node + 1] = 1
            adjacency[0, n - 1] = 1  # the residual branch
            return adjacency
        for k, (source, target) in enumerate(self.edges):
            node = k + 1
            if source == 0:
                adjacency[0, node] = 1
            for j, (source2, _) in enumerate(self.edges):
                if source2 == target:
                    adjacency[node, j + 1] = 1
            if target in self.output_states:
                adjacency[node, n - 1] = 1
        return adjacency

    # -- the SearchSpace protocol: size and identity -----------------------------------------
    @property
    def distinct_architectures(self) -> int:
        """``|ops| ** layers`` (sequential); non-sequential: the canonical cells (every dead state's
        inputs ``zero``) to the power ``cells``, counted per set of live states among the states
        that are not outputs: the cell input's edges into live states are free, and a live
        state's are free except all ``zero`` (which would make it dead)."""
        if self.sequential:
            return len(self.op_names) ** self.layers
        k, inner = len(self.op_names), range(1, self.states - 1)
        per_cell = 0
        for mask in itertools.product((False, True), repeat=len(inner)):
            live = {s for s, alive in zip(inner, mask) if alive} | set(self.output_states)
            count = k ** sum(1 for t in live if t > 0)  # the cell input feeds every live state
            for source in sorted(live):
                targets = sum(1 for t in live if t > source)
                count *= k ** targets - 1 if source not in self.output_states else k ** targets
            per_cell += count
        return per_cell ** self.cells

    def canonical(self, arch: Inverse1DArch) -> Inverse1DArch:
        """``arch`` with the inputs of every dead state set to ``zero`` (module docstring); the
        architecture itself in the sequential space."""
        arch = self.parse(arch)
        if self.sequential:
            return arch
        ops, per = list(arch), len(self.edges)
        for cell in range(self.cells):
            live = set(self.output_states)
            for state in range(self.states - 2, 0, -1):  # backwards: a state lives through later live states
                if any(ops[cell * per + k] != 0 for k, (s, t) in enumerate(self.edges) if s == state and t in live):
                    live.add(state)
            for k, (_, target) in enumerate(self.edges):
                if target not in live:
                    ops[cell * per + k] = 0
        return tuple(ops)

    def key(self, arch: Inverse1DArch) -> Inverse1DArch:
        return self.canonical(arch)

    # -- strings and op lists -------------------------------------------------------------------
    def op_list(self, arch: Inverse1DArch) -> list[str]:
        """The op name of every slot."""
        return [self.op_names[op] for op in self.parse(arch)]

    def uniform(self, op: str) -> Inverse1DArch:
        """Every slot the same op (the "learnable gradient only" and "nets only" baselines)."""
        choose("operation", op, self.op_names)
        return (self.op_names.index(op),) * self.num_slots

    def to_str(self, arch: Inverse1DArch) -> str:
        """The op names joined by ``-`` (slot order, see the module docstring)."""
        return "-".join(self.op_list(arch))

    def from_str(self, text: str) -> Inverse1DArch:
        names = text.strip().split("-")
        if len(names) != self.num_slots or any(name not in self.op_names for name in names):
            raise ConfigError(f"not an {self.name} architecture ({self.ops} ops): {text!r}; expected "
                              f"{self.num_slots} op names from {', '.join(self.op_names)} joined by '-'")
        return tuple(self.op_names.index(name) for name in names)

    def parse(self, value: "str | Sequence[int]") -> Inverse1DArch:
        """An architecture from its string or a sequence of op ids (checked)."""
        if isinstance(value, str):
            return self.from_str(value)
        ops = tuple(int(v) for v in value)
        if len(ops) != self.num_slots or not all(0 <= op < len(self.op_names) for op in ops):
            raise ConfigError(f"an {self.name} architecture ({self.ops} ops) needs {self.num_slots} op ids in "
                              f"0..{len(self.op_names) - 1}, got {value!r}")
        return ops

    # -- graph view and encodings ------------------------------------------------------------
    def _graphs(self, archs: Sequence[Inverse1DArch]) -> tuple[np.ndarray, np.ndarray]:
        ops = np.asarray(archs, dtype=np.int64).reshape(len(archs), self.cells, self.slots_per_cell)
        ends = np.ones((len(archs), self.cells, 1), dtype=np.int64)
        types = np.concatenate([0 * ends, ops + 1, (self.graph.num_types - 1) * ends], axis=2)
        adjacency = np.broadcast_to(self._adjacency, (len(archs), self.cells, *self._adjacency.shape)).copy()
        if self.sequential:
            return types[:, 0], adjacency[:, 0]
        return types, adjacency

    def to_graph(self, arch: Inverse1DArch) -> tuple[np.ndarray, np.ndarray]:
        types, adjacency = self._graphs([self.parse(arch)])
        return types[0], adjacency[0]

    def from_graph(self, node_types: np.ndarray, adjacency: np.ndarray) -> Inverse1DArch | None:
        return self.from_graphs(np.asarray(node_types)[None], np.asarray(adjacency)[None])[0]

    def from_graphs(self, node_types: np.ndarray, adjacency: np.ndarray) -> list[Inverse1DArch | None]:
        """Valid graphs: input first, output last, op nodes between and exactly the fixed adjacency
        in every cell, checked for the whole batch at once."""
        types, adjacency = np.asarray(node_types), np.asarray(adjacency)
        cell_axis = () if self.sequential else (self.cells,)
        n = self.graph.max_nodes
        if types.shape[1:] != (*cell_axis, n) or adjacency.shape[1:] != (*cell_axis, n, n):
            return [None] * len(types)
        output = self.graph.num_types - 1
        ops = types[..., 1:-1]
        valid = ((types[..., 0] == 0) & (types[..., -1] == output) & ((ops > 0) & (ops < output)).all(-1)
                 & (adjacency == self._adjacency).all((-2, -1)))
        if not self.sequential:
            valid = valid.all(-1)
        flat = (ops - 1).reshape(len(types), -1)
        return [tuple(row) if ok else None for row, ok in zip(flat.tolist(), valid.tolist())]

    def encode(self, archs: Sequence[Inverse1DArch]) -> np.ndarray:
        """The one-hot flattening of the graph view, ``[len(archs), graph.vector_dim]``."""
        return self.graph.flatten(*self._graphs(archs))

    # -- sampling and moves ----------------------------------------------------------------------
    def sample(self, n: int, rng: np.random.Generator) -> list[Inverse1DArch]:
        """Each slot's op uniformly at random (the thesis' random sampling)."""
        ops = rng.integers(0, len(self.op_names), size=(n, self.num_slots))
        return [tuple(int(o) for o in row) for row in ops]

    def neighbours(self, arch: Inverse1DArch) -> list[Inverse1DArch]:
        """Every architecture with one slot's op changed."""
        return [arch[:slot] + (op,) + arch[slot + 1:]
                for slot, op in itertools.product(range(self.num_slots), range(len(self.op_names)))
                if arch[slot] != op]

    def mutate(self, arch: Inverse1DArch, rng: np.random.Generator) -> Inverse1DArch:
        neighbours = self.neighbours(arch)
        return neighbours[int(rng.integers(len(neighbours)))]

    def crossover(self, first: Inverse1DArch, second: Inverse1DArch, rng: np.random.Generator) -> Inverse1DArch:
        """Uniform crossover: each slot's op from either parent (every child is valid)."""
        take = rng.random(len(first)) < 0.5
        return tuple(a if t else b for a, b, t in zip(first, second, take))
