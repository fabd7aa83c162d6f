"""Random-forest baselines of the GNN predictor's studies (thesis chapter 3, Tables 3.1 and 3.2),
with scikit-learn: on the flat one-hot graph vector, or on width and depth features of each cell.

The thesis leaves both features undefined. Here, on the hard graph read from the flat vector
(padding nodes left out): a node's *level* is the length (in edges) of the longest path from an
input node to it, input nodes at level 0; a cell's *depth* is the longest input-to-output path
in nodes (the highest level plus one) and its *width* the largest number of nodes on one level.
A space whose cells all have one topology (NB201: ops as nodes on a fixed DAG) gives every
architecture the same features, so there the forest can only predict the mean.
The thesis' fourth baseline, an RNN on one-hot node sequences (Liu et al. 2018), is left out.
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.ensemble import RandomForestRegressor

from nasgen.errors import ConfigError, DataError, choose
from nasgen.models.message_passing import real_nodes, unflatten
from nasgen.predictors.training import fit_weights
from nasgen.ranges import Int, ranges
from nasgen.spaces.base import GraphSpec

FEATURES = ("onehot", "widthdepth")


def width_depth(x: np.ndarray, graph: GraphSpec) -> np.ndarray:
    """``[B, 2 * cells]`` features of flat graph vectors ``[B, graph.vector_dim]``: each cell's
    depth and width (module docstring)."""
    node_features, adjacency = unflatten(torch.as_tensor(np.asarray(x), dtype=torch.float32), graph)
    mask = real_nodes(node_features, adjacency, graph)
    real = np.ones(node_features.shape[:2], dtype=bool) if mask is None else mask.numpy()
    edges = adjacency.numpy() > 0.5
    edges &= real[:, :, None] & real[:, None, :]
    nodes = graph.max_nodes
    level = np.zeros(real.shape, dtype=np.int64)
    for v in range(1, nodes):  # upper triangular: every predecessor of v comes before it
        level[:, v] = np.max(np.where(edges[:, :v, v], level[:, :v] + 1, 0), axis=1)
    depth = np.where(real, level, -1).max(1) + 1
    per_level = ((level[:, :, None] == np.arange(nodes)) & real[:, :, None]).sum(1)
    width = per_level.max(1)
    return np.stack([depth, width], axis=1).reshape(len(x), -1).astype(np.float64)


@ranges("predictor", n_estimators=Int(1), min_samples_leaf=Int(1), max_depth=Int(1, optional=True))
class RandomForestPredictor:
    """scikit-learn's random forest on the one-hot graph vector (``features=onehot``) or on the
    cells' width and depth (``widthdepth``, needs the space's ``graph``). Its seed is drawn
    from the ``generator`` of :meth:`fit`; sample weights are the forest's."""

    def __init__(self, graph: GraphSpec | None = None, features: str = "onehot", n_estimators: int = 100,
                 max_depth: int | None = None, min_samples_leaf: int = 1) -> None:
        choose("predictor.features", features, FEATURES)
        if features == "widthdepth" and graph is None:
            raise ConfigError("the width/depth random forest reads graphs: build it with the space's GraphSpec")
        self.graph, self.features = graph, features
        self.params = {"n_estimators": n_estimators, "max_depth": max_depth, "min_samples_leaf": min_samples_leaf}
        self.forest: RandomForestRegressor | None = None

    def _inputs(self, x: np.ndarray) -> np.ndarray:
        return width_depth(x, self.graph) if self.features == "widthdepth" else np.asarray(x, dtype=np.float32)

    def fit(self, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None,
            generator: torch.Generator | None = None) -> None:
        weights = fit_weights(type(self).__name__, x, y, weights)
        seed = 0 if generator is None else int(torch.randint(2**31, (1,), generator=generator))
        self.forest = RandomForestRegressor(**self.params, random_state=seed, n_jobs=1)
        self.forest.fit(self._inputs(x), np.asarray(y, dtype=np.float64), sample_weight=weights)

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.forest is None:
            raise DataError("RandomForestPredictor.predict called before fit")
        return self.forest.predict(self._inputs(x)).astype(np.float64)
