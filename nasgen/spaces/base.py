"""The search-space interface every component talks to."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Hashable, Protocol, Sequence, runtime_checkable

import numpy as np

Arch = Hashable


@dataclass(frozen=True)
class GraphSpec:
    """Shape of the node-labelled DAG view shared by generators, encoders and predictors.

    A graph is ``(node_types, adjacency)``: ``node_types`` an int array of length ``max_nodes``
    indexing ``node_types`` names, ``adjacency`` a strictly upper triangular 0/1 matrix (edge
    ``i -> j`` only for ``i < j``). What differs between spaces is said here, so that no
    generator or predictor needs to know which space it has:

    - ``input_types``: the types of the given input nodes, which occupy the first positions in
      this order (NB101/NB201: one input; DARTS: two). Generators do not generate them.
    - ``output_type``: the type of the output node (default: the last type).
    - ``pad_type``: spaces whose graphs have fewer than ``max_nodes`` nodes (NB101: 2-7) pad them
      at the end with nodes of this type and no edges (AG-Net pads with the output type);
      ``None``: every graph has exactly ``max_nodes`` nodes (NB201).
    - ``cells``: graphs per architecture (DARTS: a normal and a reduction cell). With
      ``cells > 1`` every graph array has a leading cell axis after the batch axis: one
      architecture's graph is ``node_types [cells, N]`` / ``adjacency [cells, N, N]``, a batch
      ``[B, cells, N]`` / ``[B, cells, N, N]``, and its flat vector is its cells' vectors one
      after the other. ``max_nodes``, the types and the edge counts describe one cell.
    """

    node_types: tuple[str, ...]
    max_nodes: int
    input_types: tuple[int, ...] = (0,)
    output_type: int = -1
    pad_type: int | None = None
    cells: int = 1

    def __post_init__(self) -> None:
        if self.output_type < 0:  # -1: the last type, spelt out so that specs compare equal
            object.__setattr__(self, "output_type", self.num_types + self.output_type)

    @property
    def num_types(self) -> int:
        return len(self.node_types)

    @property
    def num_inputs(self) -> int:
        return len(self.input_types)

    @property
    def operation_types(self) -> tuple[int, ...]:
        """Node types a generator may choose for an inner node: neither input nor output."""
        return tuple(t for t in range(self.num_types) if t not in self.input_types and t != self.output_type)

    @property
    def num_edges(self) -> int:
        return self.max_nodes * (self.max_nodes - 1) // 2

    @property
    def cell_vector_dim(self) -> int:
        """Length of one cell's flat encoding: one-hot node types + upper-triangular adjacency."""
        return self.max_nodes * self.num_types + self.num_edges

    @property
    def vector_dim(self) -> int:
        """Length of an architecture's flat encoding (all its cells)."""
        return self.cells * self.cell_vector_dim

    def flatten(self, node_types: np.ndarray, adjacency: np.ndarray) -> np.ndarray:
        """Batch of cell graphs ``[B, N]`` / ``[B, N, N]`` -> flat float32 vectors ``[B, cell_vector_dim]``;
        with a cell axis (``[B, cells, N]`` / ``[B, cells, N, N]``) -> ``[B, cells * cell_vector_dim]``."""
        if node_types.ndim == 3:
            batch, cells = node_types.shape[:2]
            return self.flatten(node_types.reshape(batch * cells, -1),
                                adjacency.reshape(batch * cells, *adjacency.shape[2:])).reshape(batch, -1)
        onehot = np.eye(self.num_types, dtype=np.float32)[node_types]
        rows, cols = np.triu_indices(self.max_nodes, k=1)
        edges = adjacency[:, rows, cols].astype(np.float32)
        return np.concatenate([onehot.reshape(len(node_types), -1), edges], axis=1)


@runtime_checkable
class SearchSpace(Protocol):
    """What an architecture is: sampling, validity, encodings and neighbourhoods."""

    name: str
    graph: GraphSpec

    @property
    def distinct_architectures(self) -> int:
        """Number of isomorphism classes (distinct ``key`` values): the most queries a search
        can pay for, since isomorphic repeats are served without a query."""

    def sample(self, n: int, rng: np.random.Generator) -> list[Arch]: ...

    def key(self, arch: Arch) -> Hashable:
        """Isomorphism-invariant identity: two archs with the same key compute the same function."""

    def to_str(self, arch: Arch) -> str: ...

    def from_str(self, text: str) -> Arch: ...

    def to_graph(self, arch: Arch) -> tuple[np.ndarray, np.ndarray]: ...

    def from_graph(self, node_types: np.ndarray, adjacency: np.ndarray) -> Arch | None:
        """The architecture a graph describes, or ``None`` if it is not valid in this space."""

    def from_graphs(self, node_types: np.ndarray, adjacency: np.ndarray) -> list[Arch | None]:
        """:meth:`from_graph` for a batch ``[B, N]`` / ``[B, N, N]`` (generators decode thousands at once)."""

    def encode(self, archs: Sequence[Arch]) -> np.ndarray:
        """Flat float32 vectors ``[len(archs), graph.vector_dim]``."""

    def neighbours(self, arch: Arch) -> list[Arch]: ...

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch: ...


@runtime_checkable
class PathEncodedSpace(Protocol):
    """A space with the path encoding of BANANAS (one bit per op sequence along an input-to-output path)."""

    def encode_paths(self, archs: Sequence[Arch]) -> np.ndarray: ...


@runtime_checkable
class IndexedSpace(Protocol):
    """A space small enough to list: every architecture has an index ``0..len(space)-1``
    (NB201: the official NAS-Bench-201 index), and tables are stored in that order."""

    def __len__(self) -> int: ...

    def index(self, arch: Arch) -> int: ...

    def from_index(self, index: int) -> Arch: ...

    def enumerate(self) -> list[Arch]:
        """All architectures in index order."""


@runtime_checkable
class CellwiseSpace(Protocol):
    """A space whose architectures are made of several cell types (DARTS: normal and reduction)
    and that can be searched one cell type at a time, the others held fixed (AG-Net on NB301,
    :mod:`nasgen.search.cell_by_cell`)."""

    cell_types: tuple[str, ...]

    def cell_view(self, cell_type: str, fixed: Arch) -> SearchSpace:
        """The space of architectures equal to ``fixed`` except in their ``cell_type`` cell: its
        graph view and encodings show that cell only, its keys are those of this space."""


@runtime_checkable
class StructuredDecoding(Protocol):
    """A space whose valid graphs are not a product of independent edges (DARTS: each op node
    takes exactly one of several source groups), so that edges drawn one by one from a
    generator's scores almost never form one. It decodes the edge scores itself: the edges drawn
    (or the most probable) conditioned on forming a valid structure; node types come decoded."""

    def decode_edges(self, node_types: np.ndarray, edge_logits: np.ndarray, sample: bool,
                     rng: np.random.Generator) -> list[Arch | None]:
        """Architectures of types ``[B, N]`` and edge logits ``[B, E]`` (upper triangular,
        row-major); ``None`` where the types do not fit the space."""


@runtime_checkable
class ExpandableSpace(Protocol):
    """A space whose architectures can grow by one node into a larger space that the benchmark
    does not cover (NB101: 8-node cells, the zero-shot extrapolation of SVGe, thesis Table 4.4).
    Models that read graphs of any size (message passing) can rank the grown architectures."""

    max_edges: int | None  # the space's edge limit (NB101: 9), which expansions may exceed

    def expanded_space(self) -> SearchSpace:
        """The space of this space's architectures and of their one-node expansions (its graph
        view has one node more; this space's architectures encode in it padded)."""

    def expansions(self, arch: Arch, rule: str) -> list[Arch]:
        """The distinct architectures of :meth:`expanded_space` made from ``arch`` by adding one
        node, as ``rule`` (one of the space's rules) adds it."""


@runtime_checkable
class CrossoverSpace(Protocol):
    """A space that can recombine two parents (NSGA-II)."""

    def crossover(self, first: Arch, second: Arch, rng: np.random.Generator) -> Arch | None:
        """A child with parts of both parents, or ``None`` when this draw gives no valid child."""


def one_cell_space(space: SearchSpace) -> SearchSpace:
    """The space a one-cell generator learns: ``space`` itself, or for a space of several cell types
    its view of the first type (its generator does not distinguish cell types, thesis appendix A.3;
    the views share their name, so one pretrained generator serves every cell type)."""
    if space.graph.cells == 1 or not isinstance(space, CellwiseSpace):
        return space
    return space.cell_view(space.cell_types[0], space.sample(1, np.random.default_rng(0))[0])


def arch_id(space: SearchSpace, arch: Arch) -> int:
    """A stable integer name of ``arch`` (checkpoints, stored proxy values, per-architecture seeds):
    its index in an indexed space (NB201), else the first 64 bits of the SHA-256 of the ``repr`` of
    its isomorphism key (the spaces' keys are tuples of strings and ints, whose repr is stable), so
    that isomorphic forms of an architecture share it."""
    if isinstance(space, IndexedSpace):
        return space.index(arch)
    return int.from_bytes(hashlib.sha256(repr(space.key(arch)).encode()).digest()[:8], "big")
