"""A correlation-clustering (multicut) instance and the two views of a clustering: node labels and edge cuts.

Sign convention (thesis ch. 8, kept everywhere in ``nasgen.clustering``): ``x_e = 1`` means edge ``e`` is cut
(its endpoints lie in different clusters); ``phi_e >= 0`` is attractive (``E+``), ``phi_e < 0`` repulsive
(``E-``). The objective is the non-negative form ``sum_{E+} phi_e x_e + sum_{E-} |phi_e| (1 - x_e)``: it pays
for cutting attractive edges and for keeping repulsive ones, so gaps (upper minus lower bound) are absolute
in the same units as the thesis' Table 8.1 tolerances.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from nasgen.errors import DataError


def _frozen(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@dataclass(frozen=True)
class Instance:
    """A correlation-clustering (multicut) instance: an undirected simple graph with signed edge weights.

    ``edges`` is ``[E, 2]`` int64 with ``u < v`` and no duplicates, sorted; ``weights`` is ``[E]`` float64.
    Build one with :meth:`from_edges`, which normalises arbitrary edge lists; the constructor only checks
    that its arguments already are in that canonical form. Arrays are read-only.
    """

    name: str
    num_nodes: int
    edges: np.ndarray
    weights: np.ndarray
    labels: np.ndarray | None = None
    coordinates: np.ndarray | None = None

    def __post_init__(self) -> None:
        edges, weights = self.edges, self.weights
        if self.num_nodes < 1:
            raise DataError(f"instance {self.name!r}: needs at least one node, got {self.num_nodes}")
        if edges.ndim != 2 or edges.shape[1] != 2 or edges.dtype != np.int64:
            raise DataError(f"instance {self.name!r}: edges must be an [E, 2] int64 array, got {edges.shape} "
                            f"{edges.dtype}; build it with Instance.from_edges")
        if weights.shape != (len(edges),) or weights.dtype != np.float64:
            raise DataError(f"instance {self.name!r}: weights must be [E]={len(edges)} float64, got "
                            f"{weights.shape} {weights.dtype}")
        if len(edges) and not (np.all(edges[:, 0] < edges[:, 1]) and edges.min() >= 0
                               and edges.max() < self.num_nodes):
            raise DataError(f"instance {self.name!r}: edges must satisfy 0 <= u < v < {self.num_nodes}; "
                            "build it with Instance.from_edges")
        keys = edges[:, 0] * self.num_nodes + edges[:, 1]
        if len(keys) > 1 and not np.all(np.diff(keys) > 0):
            raise DataError(f"instance {self.name!r}: edges must be sorted without duplicates; "
                            "build it with Instance.from_edges")
        if self.labels is not None and self.labels.shape != (self.num_nodes,):
            raise DataError(f"instance {self.name!r}: labels must have one entry per node "
                            f"({self.num_nodes}), got shape {self.labels.shape}")
        if self.coordinates is not None and self.coordinates.shape != (self.num_nodes, 2):
            raise DataError(f"instance {self.name!r}: coordinates must be [{self.num_nodes}, 2], got "
                            f"{self.coordinates.shape}")
        for array in (edges, weights, self.labels, self.coordinates):
            if array is not None:
                _frozen(array)

    @staticmethod
    def from_edges(name: str, num_nodes: int, edges, weights, labels=None, coordinates=None) -> "Instance":
        """Validate and normalise an edge list: orient ``u < v``, drop self-loops, merge duplicate
        (also reversed) edges by summing their weights, sort. Raises a one-line :class:`DataError`
        for a malformed input (wrong shapes, node ids out of range, non-finite weights)."""
        num_nodes = int(num_nodes)
        if num_nodes < 1:
            raise DataError(f"instance {name!r}: needs at least one node, got {num_nodes}")
        edges = np.asarray(edges)
        weights = np.asarray(weights, dtype=np.float64)
        if edges.size == 0:
            edges = edges.reshape(0, 2)
        if edges.ndim != 2 or edges.shape[1] != 2:
            raise DataError(f"instance {name!r}: edges must be pairs of node ids, got shape {edges.shape}")
        if not np.issubdtype(edges.dtype, np.integer):
            if not np.all(np.mod(edges, 1) == 0):
                raise DataError(f"instance {name!r}: node ids must be integers")
        edges = edges.astype(np.int64)
        if weights.shape != (len(edges),):
            raise DataError(f"instance {name!r}: {len(edges)} edges but weights of shape {weights.shape}")
        if not np.all(np.isfinite(weights)):
            raise DataError(f"instance {name!r}: edge weights must be finite")
        if len(edges) and (edges.min() < 0 or edges.max() >= num_nodes):
            raise DataError(f"instance {name!r}: node ids must lie in [0, {num_nodes}), got "
                            f"[{edges.min()}, {edges.max()}]")
        keep = edges[:, 0] != edges[:, 1]
        edges, weights = np.sort(edges[keep], axis=1), weights[keep]
        keys, inverse = np.unique(edges[:, 0] * num_nodes + edges[:, 1], return_inverse=True)
        merged = np.zeros(len(keys), dtype=np.float64)
        np.add.at(merged, inverse.reshape(-1), weights)
        canonical = np.stack([keys // num_nodes, keys % num_nodes], axis=1).astype(np.int64)
        if labels is not None:
            labels = np.array(labels)
            if labels.shape != (num_nodes,):
                raise DataError(f"instance {name!r}: labels must have one entry per node ({num_nodes}), "
                                f"got shape {labels.shape}")
        if coordinates is not None:
            coordinates = np.array(coordinates, dtype=np.float64)
        return Instance(name, num_nodes, canonical, merged, labels, coordinates)

    @property
    def num_edges(self) -> int:
        return len(self.edges)

    @property
    def repulsive(self) -> np.ndarray:
        """``[E]`` bool: the edges of ``E-`` (``phi < 0``)."""
        return self.weights < 0

    def objective(self, cut: np.ndarray) -> float:
        """The non-negative cost of an edge labelling ``cut`` (``[E]``, 1 = cut; fractional values give
        the LP objective): ``sum_{E+} phi x + sum_{E-} |phi| (1 - x)``."""
        cut = self._check_cut(cut)
        attractive = ~self.repulsive
        return float(self.weights[attractive] @ cut[attractive]
                     - self.weights[~attractive] @ (1.0 - cut[~attractive]))

    def cut_of(self, partition: np.ndarray) -> np.ndarray:
        """``[E]`` 0/1 int8: 1 where the endpoints of an edge carry different node labels."""
        partition = np.asarray(partition)
        if partition.shape != (self.num_nodes,):
            raise DataError(f"instance {self.name!r}: a partition needs one label per node ({self.num_nodes}), "
                            f"got shape {partition.shape}")
        return (partition[self.edges[:, 0]] != partition[self.edges[:, 1]]).astype(np.int8)

    def components(self, cut: np.ndarray) -> np.ndarray:
        """``[num_nodes]`` labels ``0..k-1`` of the connected components of the graph without the cut edges
        (``cut > 0.5`` counts as cut). ``cut_of(components(cut))`` is the nearest feasible clustering that
        cuts no more edges than ``cut``; it equals ``cut`` exactly when ``cut`` is a valid multicut."""
        cut = self._check_cut(cut)
        kept = self.edges[cut <= 0.5]
        graph = coo_matrix((np.ones(len(kept)), (kept[:, 0], kept[:, 1])), shape=(self.num_nodes,) * 2)
        return connected_components(graph, directed=False)[1].astype(np.int64)

    def is_multicut(self, cut: np.ndarray) -> bool:
        """Whether a 0/1 ``cut`` is a valid clustering: no cut edge joins two nodes of one component."""
        cut = self._check_cut(cut)
        return bool(np.array_equal(self.cut_of(self.components(cut)), np.round(cut).astype(np.int8)))

    def _check_cut(self, cut: np.ndarray) -> np.ndarray:
        cut = np.asarray(cut, dtype=np.float64)
        if cut.shape != (self.num_edges,):
            raise DataError(f"instance {self.name!r}: an edge labelling needs one value per edge "
                            f"({self.num_edges}), got shape {cut.shape}")
        return cut


def random_instance(rng: np.random.Generator, num_nodes: int, edge_probability: float, mean_weight: float = 0.3,
                    name: str = "random") -> Instance:
    """An Erdos-Renyi graph with weights drawn from ``N(mean_weight, 1)`` (both signs occur): the random
    instances of the exactness checks (tests and ``scripts/clustering_exactness.py``)."""
    pairs = np.array([(i, j) for i in range(num_nodes) for j in range(i + 1, num_nodes)], dtype=np.int64)
    pairs = pairs.reshape(-1, 2)[rng.random(len(pairs)) < edge_probability]
    return Instance.from_edges(name, num_nodes, pairs, rng.normal(mean_weight, 1.0, len(pairs)))


def blob_grid_instance(rng: np.random.Generator, side: int, regions: int = 6, noise: float = 0.35,
                       name: str | None = None) -> Instance:
    """A 4-neighbour pixel grid of a noisy piecewise-constant image (Voronoi regions of random grey levels),
    ``phi = log((1 - p) / p)`` with boundary probability ``p = sigmoid(8 |step| - 3)``: image-segmentation-like
    instances with many repulsive edges for the solver checks, with the regions as ``labels``. The real
    image instances are in ``nasgen.clustering.instances``."""
    centres = rng.random((regions, 2)) * side
    yy, xx = np.mgrid[0:side, 0:side]
    points = np.stack([yy.ravel(), xx.ravel()], 1)
    region = np.argmin(((points[:, None, :] - centres[None]) ** 2).sum(-1), 1)
    image = rng.random(regions)[region] + noise * rng.standard_normal(side * side)
    ids = np.arange(side * side).reshape(side, side)
    edges = np.concatenate([np.stack([ids[:, :-1].ravel(), ids[:, 1:].ravel()], 1),
                            np.stack([ids[:-1].ravel(), ids[1:].ravel()], 1)])
    step = np.abs(image[edges[:, 0]] - image[edges[:, 1]])
    p = np.clip(1.0 / (1.0 + np.exp(-(8.0 * step - 3.0))), 1e-3, 1 - 1e-3)
    return Instance.from_edges(name or f"blobs{side}", side * side, edges, np.log((1 - p) / p), labels=region,
                               coordinates=points.astype(np.float64))
