"""Separation of cycle inequalities (Andres et al. 2011; (8.1) in the thesis).

For a repulsive edge ``(u, v)`` and a master point ``x``, the shortest ``x``-path from ``u`` to ``v`` over
attractive edges closes the cycle whose inequality ``x_uv <= sum_{path} x_e`` is most violated; it is added
when the path is shorter than ``x_uv``. Paths run over attractive edges only: those are the cycles with
exactly one repulsive edge, and the others do not tighten the LP or the ILP (Yarkony et al. 2014, Lemma 1).
"""
from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from nasgen.clustering.bdcc import VIOLATION_TOL, attractive_graph
from nasgen.clustering.instance import Instance


def violated_cycles(instance: Instance, x: np.ndarray, among: np.ndarray | None = None) -> csr_matrix:
    """One most-violated cycle inequality per repulsive edge (of ``among``, edge indices, if given) that has
    one, as rows ``a`` with ``a . x <= 0`` (``+1`` on the repulsive edge, ``-1`` on its path)."""
    candidates = instance.repulsive & (x > VIOLATION_TOL)
    if among is not None:
        candidates &= np.isin(np.arange(instance.num_edges), among)
    minus = np.flatnonzero(candidates)
    if not len(minus):
        return csr_matrix((0, instance.num_edges))
    return _path_rows(instance, attractive_graph(instance, x), minus, x=x)


def _path_rows(instance: Instance, graph: csr_matrix, closing: np.ndarray, x: np.ndarray | None = None,
               unweighted: bool = False) -> csr_matrix:
    """Rows ``x_e - sum_{path} x <= 0`` for the edges ``closing`` and their shortest paths in ``graph``;
    with ``x``, only where the path is shorter than ``x_e``."""
    sources, which = np.unique(instance.edges[closing, 0], return_inverse=True)
    distance, previous = dijkstra(graph, directed=False, indices=sources, return_predecessors=True,
                                  unweighted=unweighted, limit=np.inf if x is None else 1.0 + 1e-9)
    targets = instance.edges[closing, 1]
    hits = np.isfinite(distance[which, targets])
    if x is not None:
        hits &= distance[which, targets] < x[closing] - VIOLATION_TOL
    edge_id = {(int(a), int(b)): e for e, (a, b) in enumerate(instance.edges)}
    indptr, indices, values = [0], [], []
    for e, source_row, target in zip(closing[hits], which[hits], targets[hits]):
        path, node = [], int(target)
        while node != instance.edges[e, 0]:
            parent = int(previous[source_row, node])
            path.append(edge_id[(min(parent, node), max(parent, node))])
            node = parent
        indices += [int(e)] + path
        values += [1.0] + [-1.0] * len(path)
        indptr.append(len(indices))
    return csr_matrix((values, indices, indptr), shape=(len(indptr) - 1, instance.num_edges))


def broken_cycles(instance: Instance, cut: np.ndarray) -> csr_matrix:
    """For a 0/1 ``cut`` that is no clustering: per cut edge whose ends stay joined by uncut edges, the
    cycle inequality of that edge and a shortest uncut path (edges of either sign; valid for every
    clustering, violated by 1 at ``cut``). Empty when ``cut`` is a clustering.

    Why: the master's optimum satisfies all cycle inequalities with one repulsive edge, and an exact
    optimum is then a clustering; but the LP/ILP solvers treat weights below their tolerances (1e-7) as 0,
    and such a near-optimum can keep a tiny repulsive edge uncut on the path around a cut one."""
    cut = np.round(np.asarray(cut)).astype(bool)
    component = instance.components(cut)
    inside = np.flatnonzero(cut & (component[instance.edges[:, 0]] == component[instance.edges[:, 1]]))
    if not len(inside):
        return csr_matrix((0, instance.num_edges))
    kept = np.flatnonzero(~cut)
    graph = csr_matrix((np.ones(len(kept)), (instance.edges[kept, 0], instance.edges[kept, 1])),
                       shape=(instance.num_nodes,) * 2)
    return _path_rows(instance, graph, inside, unweighted=True)
