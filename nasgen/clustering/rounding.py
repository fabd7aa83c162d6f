"""Feasible clusterings from a (fractional, possibly infeasible) master point: the anytime upper bound.

``threshold`` (Sec. 8.3.1): cut the edges with ``x > 1/2``, then cut exactly the edges between the
connected components of what is left. ``mincut`` (App. D.3, Alg. 10): with ``kappa = phi (1 - x)`` on
attractive and ``phi x`` on repulsive edges, visit the roots in order; for each, find the minimum cut that
separates the root from the far ends of its repulsive edges (paying ``kappa`` for each attractive edge cut and
``|kappa|`` for each repulsive edge left uncut), cut the boundary of the root's side, and make every edge cut
so far free. The union of those boundaries is a clustering (each boundary splits the graph in two; the
common refinement of bipartitions is a partition whose cut is their union).
"""
from __future__ import annotations

from typing import Protocol

import networkx as nx
import numpy as np

from nasgen.clustering.bdcc import Decomposition
from nasgen.clustering.instance import Instance

SINK = -1


class Rounding(Protocol):
    name: str

    def round(self, instance: Instance, x: np.ndarray) -> np.ndarray:
        """A feasible ``[E]`` 0/1 cut near ``x``."""
        ...


class ThresholdRounding:
    name = "threshold"

    def round(self, instance: Instance, x: np.ndarray) -> np.ndarray:
        return instance.cut_of(instance.components(np.asarray(x) > 0.5))


class MinCutRounding:
    """Alg. 10 with networkx max-flow (the thesis used the QPBO solver of Rother et al. 2007 as a plain
    min-cut solver); needs the BDCC decomposition."""

    name = "mincut"

    def __init__(self, decomposition: Decomposition):
        self.decomposition = decomposition

    def round(self, instance: Instance, x: np.ndarray) -> np.ndarray:
        x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
        phi = instance.weights
        kappa = np.where(instance.repulsive, phi * x, phi * (1.0 - x))
        cut = np.zeros(instance.num_edges, dtype=np.int8)
        edges = instance.edges
        for sub in self.decomposition.subproblems:
            graph = nx.DiGraph()
            graph.add_node(sub.root)
            for e in np.concatenate([sub.flow, sub.back]):
                if kappa[e] > 0:
                    i, j = int(edges[e, 0]), int(edges[e, 1])
                    graph.add_edge(i, j, capacity=float(kappa[e]))
                    graph.add_edge(j, i, capacity=float(kappa[e]))
            for e in sub.out:
                if kappa[e] < 0:
                    far = int(edges[e, 1] if edges[e, 0] == sub.root else edges[e, 0])
                    graph.add_edge(far, SINK, capacity=float(-kappa[e]))
            if SINK not in graph:
                continue
            _, (side, _) = nx.minimum_cut(graph, sub.root, SINK)
            inside = np.zeros(instance.num_nodes, dtype=bool)
            inside[list(side)] = True
            cut |= (inside[edges[:, 0]] != inside[edges[:, 1]]).astype(np.int8)
            kappa = kappa * (1 - cut)
        return instance.cut_of(instance.components(cut))
