"""The search-space interface every component talks to."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Protocol, Sequence, runtime_checkable

import numpy as np

Arch = Hashable


@dataclass(frozen=True)
class GraphSpec:
    """Shape of the node-labelled DAG view shared by generators and encoders.

    A graph is ``(node_types, adjacency)``: ``node_types`` int array of length
    ``max_nodes`` indexing ``node_types`` names, ``adjacency`` a strictly upper
    triangular 0/1 matrix (edge ``i -> j`` only for ``i < j``).
    """

    node_types: tuple[str, ...]
    max_nodes: int

    @property
    def num_types(self) -> int:
        return len(self.node_types)

    @property
    def num_edges(self) -> int:
        return self.max_nodes * (self.max_nodes - 1) // 2

    @property
    def vector_dim(self) -> int:
        """Length of the flat encoding: one-hot node types + upper-triangular adjacency."""
        return self.max_nodes * self.num_types + self.num_edges

    def flatten(self, node_types: np.ndarray, adjacency: np.ndarray) -> np.ndarray:
        """Batch of graphs ``[B, N]`` / ``[B, N, N]`` -> flat float32 vectors ``[B, vector_dim]``."""
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
