"""NAS-Bench-201 cell space (Dong & Yang, ICLR 2020).

A cell has 4 feature-map nodes and 6 edges, each edge carrying one of 5 operations,
so 5**6 = 15,625 cells. Architectures are tuples of 6 op ids in the official edge
order of the arch string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``, i.e. edges
(0->1), (0->2), (1->2), (0->3), (1->3), (2->3).

Graph view (as in AG-Net / arch2vec): each edge operation becomes a node, giving an
8-node DAG  input -> 6 op nodes -> output  with a fixed adjacency.
"""
from __future__ import annotations

import itertools
from functools import cached_property
from importlib import resources
from typing import Sequence

import numpy as np

from nasgen.errors import ConfigError
from nasgen.spaces.base import GraphSpec

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# (source cell node, target cell node) of the 6 edges, in arch-string order.
EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
NODE_TYPES: tuple[str, ...] = ("input", *OPS, "output")
INPUT, OUTPUT = 0, len(NODE_TYPES) - 1
NUM_ARCHS = len(OPS) ** len(EDGES)
# Isomorphism classes (distinct ``NB201Space.key``) among the 15,625 cells, as NAS-Bench-201 counts
# them; a constant because recounting takes 0.3 s per space (tests/test_space_nb201.py recounts).
NUM_DISTINCT_ARCHS = 6466

NB201Arch = tuple[int, int, int, int, int, int]

# Candidate ops per edge of the one-shot supernets (``supernet.network.op_set``): the full space
# and the reduced spaces of darts-pt's NB201 experiments (analogues of RobustDARTS' S2-S4, plus
# s3). Every cell of s2, s3 and s10 is an NB201 cell, so its accuracy is a table lookup; ``noise``
# (s4: the edge outputs N(0, 1) noise of its input's shape) is no NB201 op, so an s4 cell with a
# noise edge has no table entry.
NOISE = "noise"
OP_SETS: dict[str, tuple[str, ...]] = {
    "full": OPS,
    "s2": ("skip_connect", "nor_conv_3x3"),
    "s3": ("none", "skip_connect", "nor_conv_3x3"),
    "s10": ("none", "nor_conv_3x3"),
    "s4": (NOISE, "nor_conv_3x3"),
}


# NASLib's NB201 encoding (its zero-cost tables, NAS-Bench-Suite-Zero): a tuple of 6 op codes
# (0 skip, 1 none, 2 conv3x3, 3 conv1x1, 4 avgpool) on the edges (0->1), (0->2), (0->3), (1->2),
# (1->3), (2->3). Its tables' "idx" field is not the NB201 index (NASLib's 534 is cell 4811, whose
# parameter count NASLib reports; the tuple decides).
NASLIB_OPS: tuple[str, ...] = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
NASLIB_EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))


def arch_from_naslib(key: "str | Sequence[int]") -> NB201Arch:
    """The cell of a NASLib op tuple (or its string, e.g. ``"(0, 2, 3, 2, 3, 1)"``)."""
    try:
        codes = [int(v) for v in (key.strip("()").split(",") if isinstance(key, str) else key)]
        by_edge = dict(zip(NASLIB_EDGES, (OPS.index(NASLIB_OPS[code]) for code in codes)))
        if len(codes) != len(EDGES) or min(codes) < 0:
            raise ValueError
        return tuple(by_edge[edge] for edge in EDGES)  # type: ignore[return-value]
    except (ValueError, IndexError):
        raise ConfigError(f"{key!r} is no NASLib NB201 op tuple (6 codes in 0..4)") from None


def _op_node_adjacency() -> np.ndarray:
    """Fixed 8x8 adjacency of the op-as-node view: op node k = edge k + 1."""
    n = len(EDGES) + 2
    adj = np.zeros((n, n), dtype=np.uint8)
    for k, (src, dst) in enumerate(EDGES):
        node = k + 1
        if src == 0:
            adj[0, node] = 1
        for j, (src2, _) in enumerate(EDGES):
            if src2 == dst:  # output of edge k feeds every edge leaving its target
                adj[node, j + 1] = 1
        if dst == 3:
            adj[node, n - 1] = 1
    return adj


ADJACENCY = _op_node_adjacency()
# Edge indices along each input-to-output route of the cell: 0->3, 0->1->3, 0->2->3, 0->1->2->3.
_ROUTES = ((3,), (0, 4), (1, 5), (0, 2, 5))


class NB201Space:
    """The NAS-Bench-201 topology search space with official index order."""

    name = "nb201"
    graph = GraphSpec(node_types=NODE_TYPES, max_nodes=len(EDGES) + 2)

    # -- identity and conversions -------------------------------------------------
    @cached_property
    def _index_ops(self) -> np.ndarray:
        """``[15625, 6]`` op ids in the official NB201 / NATS-Bench ``tss`` index order."""
        with resources.files("nasgen.spaces.data").joinpath("nb201_index_ops.npy").open("rb") as f:
            return np.load(f)

    @cached_property
    def _index_of(self) -> dict[NB201Arch, int]:
        return {tuple(int(o) for o in row): i for i, row in enumerate(self._index_ops)}

    def __len__(self) -> int:
        return NUM_ARCHS

    @property
    def distinct_architectures(self) -> int:
        return NUM_DISTINCT_ARCHS

    def index(self, arch: NB201Arch) -> int:
        try:
            return self._index_of[tuple(arch)]
        except KeyError:
            raise ConfigError(f"{arch!r} is not an NB201 architecture (6 op ids in 0..{len(OPS) - 1})") from None

    def from_index(self, index: int) -> NB201Arch:
        if not 0 <= index < NUM_ARCHS:
            raise ConfigError(f"NB201 index {index} out of range 0..{NUM_ARCHS - 1}")
        return tuple(int(o) for o in self._index_ops[index])  # type: ignore[return-value]

    def enumerate(self) -> list[NB201Arch]:
        """All 15,625 cells in official index order."""
        return [tuple(int(o) for o in row) for row in self._index_ops]  # type: ignore[misc]

    def to_str(self, arch: NB201Arch) -> str:
        ops = [f"{OPS[op]}~{src}" for op, (src, _) in zip(arch, EDGES)]
        return f"|{ops[0]}|+|{ops[1]}|{ops[2]}|+|{ops[3]}|{ops[4]}|{ops[5]}|"

    def from_str(self, text: str) -> NB201Arch:
        ops: list[int] = []
        try:
            nodes = text.strip().split("+")
            expected = [[src for src, dst in EDGES if dst == d] for d in (1, 2, 3)]
            if len(nodes) != 3:
                raise ValueError
            for node, sources in zip(nodes, expected):
                parts = [p for p in node.split("|") if p]
                if [int(p.split("~")[1]) for p in parts] != sources:
                    raise ValueError
                ops.extend(OPS.index(p.split("~")[0]) for p in parts)
        except (ValueError, IndexError):
            raise ConfigError(
                f"not a NAS-Bench-201 arch string: {text!r}; expected "
                f"'|op~0|+|op~0|op~1|+|op~0|op~1|op~2|' with op in {', '.join(OPS)}"
            ) from None
        return tuple(ops)  # type: ignore[return-value]

    def parse(self, value: "str | int | Sequence[int]") -> NB201Arch:
        """An arch from an arch string, an NB201 index or a sequence of 6 op ids."""
        if isinstance(value, str):
            return self.index_or_str(value)
        if isinstance(value, (int, np.integer)):
            return self.from_index(int(value))
        ops = tuple(int(v) for v in value)
        if len(ops) != len(EDGES) or not all(0 <= o < len(OPS) for o in ops):
            raise ConfigError(f"an NB201 arch needs 6 op ids in 0..{len(OPS) - 1}, got {value!r}")
        return ops  # type: ignore[return-value]

    def index_or_str(self, text: str) -> NB201Arch:
        return self.from_index(int(text)) if text.strip().isdigit() else self.from_str(text)

    # -- isomorphism ----------------------------------------------------------------
    @cached_property
    def _keys(self) -> dict[NB201Arch, str]:
        return {}

    def key(self, arch: NB201Arch) -> str:
        """Isomorphism class: NAS-Bench-201's ``UniqueString`` (6,466 classes).

        Each cell node is described by the sorted sum of its incoming terms: a ``none``
        edge or an all-zero source contributes ``#``, a skip connection passes the
        source's description through, any other op wraps it as ``(source)@op``.
        Remembered per cell (at most 15,625): searches ask for the keys of the same
        decoded cells again and again.
        """
        key = self._keys.get(arch)
        if key is None:
            key = self._keys[arch] = self._describe(arch)
        return key

    def _describe(self, arch: NB201Arch) -> str:
        described = {0: "0"}
        for node in (1, 2, 3):
            terms = []
            for op, (src, dst) in zip(arch, EDGES):
                if dst != node:
                    continue
                name, source = OPS[op], described[src]
                if name == "none" or source == "#":
                    terms.append("#")
                elif name == "skip_connect":
                    terms.append(source)
                else:
                    terms.append(f"({source})@{name}")
            described[node] = "+".join(sorted(terms))
        return described[3]

    # -- graph view and encodings --------------------------------------------------
    def to_graph(self, arch: NB201Arch) -> tuple[np.ndarray, np.ndarray]:
        node_types = np.array([INPUT, *(op + 1 for op in arch), OUTPUT], dtype=np.int64)
        return node_types, ADJACENCY.copy()

    def from_graph(self, node_types: np.ndarray, adjacency: np.ndarray) -> NB201Arch | None:
        return self.from_graphs(np.asarray(node_types)[None], np.asarray(adjacency)[None])[0]

    def from_graphs(self, node_types: np.ndarray, adjacency: np.ndarray) -> list[NB201Arch | None]:
        """Valid graphs: input node first, output node last, op nodes between, and exactly the
        fixed op-node adjacency, checked for the whole batch at once (for 10,000 graphs 0.04 s
        CPU instead of 0.11 s one graph at a time; the generator's forward pass takes 1.1 s)."""
        types, adjacency = np.asarray(node_types), np.asarray(adjacency)
        if types.ndim != 2 or types.shape[1] != self.graph.max_nodes or adjacency.shape[1:] != ADJACENCY.shape:
            return [None] * len(types)
        ops = types[:, 1:-1]
        valid = ((types[:, 0] == INPUT) & (types[:, -1] == OUTPUT) & ((ops > INPUT) & (ops < OUTPUT)).all(1)
                 & (adjacency == ADJACENCY).all((1, 2)))
        return [tuple(row) if ok else None for row, ok in zip((ops - 1).tolist(), valid.tolist())]

    def encode(self, archs: Sequence[NB201Arch]) -> np.ndarray:
        ops = np.asarray(archs, dtype=np.int64).reshape(-1, len(EDGES))
        node_types = np.concatenate(
            [np.full((len(ops), 1), INPUT), ops + 1, np.full((len(ops), 1), OUTPUT)], axis=1
        )
        adjacency = np.broadcast_to(ADJACENCY, (len(ops), *ADJACENCY.shape))
        return self.graph.flatten(node_types, adjacency)

    def encode_paths(self, archs: Sequence[NB201Arch]) -> np.ndarray:
        """Path encoding (BANANAS): one bit per sequence of operations along some
        input-to-output path of the cell. Paths through a ``none`` edge carry nothing and
        are left out, so each of the 4 + 16 + 64 = 84 bits is a sequence of 1-3 ops from
        {skip, 1x1 conv, 3x3 conv, 3x3 avg pool}."""
        live = len(OPS) - 1
        offsets = {1: 0, 2: live, 3: live + live**2}
        encoding = np.zeros((len(archs), live + live**2 + live**3), dtype=np.float32)
        for row, arch in enumerate(archs):
            for route in _ROUTES:
                ops = [arch[edge] - 1 for edge in route]  # op ids without 'none'
                if min(ops) < 0:
                    continue
                index = 0
                for op in ops:
                    index = index * live + op
                encoding[row, offsets[len(route)] + index] = 1.0
        return encoding

    # -- sampling and moves ------------------------------------------------------------
    def sample(self, n: int, rng: np.random.Generator) -> list[NB201Arch]:
        ops = rng.integers(0, len(OPS), size=(n, len(EDGES)))
        return [tuple(int(o) for o in row) for row in ops]  # type: ignore[misc]

    def neighbours(self, arch: NB201Arch) -> list[NB201Arch]:
        """All cells at edit distance 1 (one edge's op changed): 24 per cell."""
        result = []
        for edge, op in itertools.product(range(len(EDGES)), range(len(OPS))):
            if arch[edge] != op:
                result.append(arch[:edge] + (op,) + arch[edge + 1:])
        return result  # type: ignore[return-value]

    def mutate(self, arch: NB201Arch, rng: np.random.Generator) -> NB201Arch:
        neighbours = self.neighbours(arch)
        return neighbours[int(rng.integers(len(neighbours)))]

    def crossover(self, first: NB201Arch, second: NB201Arch, rng: np.random.Generator) -> NB201Arch:
        """Uniform crossover: each edge's op from either parent (every child is valid)."""
        take = rng.random(len(first)) < 0.5
        return tuple(a if t else b for a, b, t in zip(first, second, take))  # type: ignore[return-value]


# Ops without weights (``none`` deletes the edge): a cell made mostly of them is the degenerate
# result of magnitude selection in differentiable NAS (the all-skip cell, index 1835). ``noise``
# is the parameter-free op of the reduced space s4 (not an op of the table's cells).
PARAMETER_FREE_OPS: frozenset[str] = frozenset({"none", "skip_connect", "avg_pool_3x3", "noise"})
