"""The benchmark as AG-Net's "predictor": an upper-bound ablation (thesis Sec. 5.4).

Candidates are ranked by their true search-metric values, looked up without paying for them
(:meth:`nasgen.search.oracle.Oracle.peek`); only the ``top_k`` chosen ones are queried. The
generator is retrained on the weighted reconstruction loss, as with any predictor that is not
differentiable.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from nasgen.errors import ConfigError, DataError
from nasgen.spaces.base import Arch, GraphSpec, SearchSpace

Lookup = Callable[[Sequence[Arch]], np.ndarray]


class BenchmarkPredictor:
    """A :class:`~nasgen.predictors.base.Predictor` whose predictions are the benchmark's values:
    :meth:`predict` turns each vector of :meth:`SearchSpace.encode` back into its architecture
    and looks it up with the ``lookup`` that the search owning the benchmark :meth:`bind` s.
    Nothing to learn: :meth:`fit` does nothing."""

    def __init__(self, graph: GraphSpec | None = None) -> None:
        """``graph``: the space's graph, which a factory of the ``predictor`` group is given;
        unused, since :meth:`bind` brings the space."""
        self.space: SearchSpace | None = None
        self.lookup: Lookup | None = None

    def bind(self, space: SearchSpace, lookup: Lookup) -> None:
        """Predict with ``lookup(archs)`` for vectors of ``space``'s binary encoding."""
        if space.graph.cells != 1:
            raise ConfigError(f"the benchmark predictor reads one-cell encodings; {space.name} has "
                              f"{space.graph.cells} cells per architecture")
        self.space, self.lookup = space, lookup

    def fit(self, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None,
            generator: torch.Generator | None = None) -> None:
        """Nothing to learn: the benchmark already knows every value."""

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.space is None or self.lookup is None:
            raise ConfigError("the benchmark predictor has no benchmark to look values up in: only a search "
                              "that owns one binds it (AG-Net's predictor=oracle)")
        graph = self.space.graph
        x = np.asarray(x)
        node_types = x[:, : graph.max_nodes * graph.num_types].reshape(len(x), graph.max_nodes, -1).argmax(-1)
        adjacency = np.zeros((len(x), graph.max_nodes, graph.max_nodes), dtype=np.int64)
        rows, cols = np.triu_indices(graph.max_nodes, k=1)
        adjacency[:, rows, cols] = x[:, graph.max_nodes * graph.num_types:] > 0.5
        archs = self.space.from_graphs(node_types, adjacency)
        if any(arch is None for arch in archs):
            raise DataError("the benchmark predictor was given a vector that encodes no valid architecture")
        return np.asarray(self.lookup(archs), dtype=np.float64)
