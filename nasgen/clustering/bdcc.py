r"""Benders decomposition for correlation clustering (BDCC, thesis ch. 8): vertex cover, subproblems, rows.

**Decomposition.** ``S`` is a vertex cover of the repulsive edges ``E-`` (an exact ILP by default, greedy
by maximum remaining degree as an option). Each ``E-`` edge goes to one root of ``S`` among its endpoints
(the lower node id when both are roots), giving ``E_s-``; ``E_s+`` are the attractive edges at the root
``s``. A root left with no ``E-`` edge, or only with ``E-`` edges whose ends no attractive path joins, has
``Q = 0`` for every ``x`` and gets no subproblem.

**Which subproblems run (Alg. 8 line 5).** Root ``s`` is solved when some ``(s, v)`` in ``E_s-`` has an
``x``-shortest path from ``s`` to ``v`` shorter than ``x_sv - 1e-6``. Paths run over attractive edges only
(the thesis says over ``E``): ``Q(s, x) > 0`` exactly when such an attractive path exists (the primal below
is feasible at cost 0 with ``m_v`` = attractive distance from ``s``), so a path through another repulsive
edge would trigger a subproblem whose row cannot cut ``x`` off. One scipy Dijkstra call from all roots
(bounded at length 1) does the check.

**Primal subproblem (8.7)** for root ``s`` at a master point ``x`` (``m_s = 0``; ``m_v = 1``: ``v`` is not in
``s``'s cluster; ``f``: repair of ``x``)::

    Q(s, x) = min  sum_{E+} phi_e f_e + sum_{E_s-} |phi_e| f_e      over m >= 0, f >= 0
      lam-_ij:  m_i - m_j <= x_ij + f_ij     (i, j) in E+ \ E_s+
      lam+_ij:  m_j - m_i <= x_ij + f_ij     (i, j) in E+ \ E_s+
      psi-_v:   x_sv - f_sv <= m_v           (s, v) in E_s-
      psi+_v:   m_v <= x_sv + f_sv           (s, v) in E_s+

**Dual subproblem (8.8), derived.** Write every row as ``>=`` (``-m_i + m_j + f_ij >= -x_ij``, ``m_i - m_j +
f_ij >= -x_ij``, ``m_v + f_sv >= x_sv``, ``-m_v + f_sv >= -x_sv``); the dual of ``min c.y, A y >= b, y >= 0`` is
``max b.u, A^T u <= c, u >= 0``. The column of ``f_e`` gives the bounds ``lam-_e + lam+_e <= phi_e``,
``psi-_v <= |phi_sv|``, ``psi+_v <= phi_sv``; the column of ``m_v`` (``v != s``, cost 0) gives, with ``lam-_e``
read as a flow ``i -> j`` and ``lam+_e`` as a flow ``j -> i`` on ``e = (i, j)``::

    psi-_v + inflow_v(lam) <= psi+_v + outflow_v(lam)        for every v != s
    max  sum_{E_s-} psi-_v x_sv - sum_{E_s+} psi+_v x_sv - sum_{E+ \ E_s+} (lam-_e + lam+_e) x_e

i.e. flow leaves the root over its repulsive edges (earning ``x_sv`` per unit, at most ``|phi_sv|``) and
returns to it over attractive edges (paying ``x_e`` per unit, at most ``phi_e``); nodes may emit but not
absorb flow. Its optimum is ``Q(s, x)`` (``tests/test_clustering_solvers.py`` checks primal = dual). Any dual
feasible point gives ``omega`` with ``omega.x' <= Q(s, x')`` for every ``x'``: ``omega_e = -(lam-_e + lam+_e)``
on ``E+ \ E_s+``, ``-psi+`` on ``E_s+``, ``+psi-`` on ``E_s-``, 0 elsewhere. A clustering has ``Q = 0``, so the
Benders row ``omega.x <= 0`` is valid and, for the optimal dual at ``x``, cuts ``x`` off whenever ``Q(s, x) > 0``.

Two reductions keep the programs small and exact. The flows ``lam-`` and ``lam+`` are bounded separately by
``phi_e`` (no coupling row): opposite flows on one edge cancel without changing any node balance, leaving
``|lam- - lam+| <= phi_e``, so the row is built from the cancelled flow, which only raises ``omega.x``.
And only the root's component of the attractive graph takes part: flow that cannot return to ``s`` over
attractive edges can only circulate, so the other edges and the ``E_s-`` edges into other components
carry none.

**Repair that costs (almost) nothing.** An attractive edge of weight 0 (or below the LP tolerance) on
the only violated paths makes ``Q(s, x)`` 0 (or tolerance-sized): the master point is "repaired" by
cutting that edge for free (thesis App. D.1), but no Benders row can say so, Alg. 8 would stop with an
``x`` that is no clustering, and its components would cost more than the bound. For such a root the
separator adds the violated cycle inequalities instead (``nasgen.clustering.cycles``; valid for every
clustering), and counts them as ``cycle_rows``.

**Magnanti-Wong rows (Sec. 8.4).** The same dual with one more row, ``dual objective at x >= tau Q(s, x)``
(8.9), and the objective ``max sum_e r_e omega_e``: ``r`` is a fresh random unit vector over the edges
(``mwr_objective="random"``) or ``r_e = 1 / (1e-4 + |phi_e|)`` (``"inverse_weight"``). The thesis calls this
vector negative. We use it positive, as Magnanti and Wong's core point (the row evaluated at an interior
point of the master's domain, where ``x > 0``): among the near-optimal duals it prefers much flow out over
the repulsive edges and little return flow. With a negative ``r``, ``max r.omega`` rewards return flow on
every attractive edge instead, also where it costs nothing at ``x`` (``x_e = 0``). Measured on 28x28 grid
instances, both signs beat no MWR by far and give rows of the same sparsity (12 nonzeros on average) in
about as many iterations, but with the negative sign the Magnanti-Wong LPs take much longer and BDCC was
2.4x and 3.3x slower (6.8 s vs 2.8 s, 17.1 s vs 5.3 s), so it was dropped.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra

from nasgen.clustering.instance import Instance
from nasgen.clustering.lp import INF, LinearProgram, LPBackend
from nasgen.errors import choose

VIOLATION_TOL = 1e-6
# A row is added only if it cuts the master point off by more than this (coefficients scaled to at most
# 1), as a cycle inequality is: a row violated by less than the LP's feasibility tolerance (1e-7) can come
# back violated by the same point, and the loop then adds such rows for ever (seen with lp_presolve on
# graphs with weights of 1e-8).
ROW_TOL = VIOLATION_TOL
# A row whose largest coefficient (a dual flow, bounded by the weights on its cycle) is this small is
# mostly LP tolerance (HiGHS: 1e-7) and, scaled up, could cut off clusterings: it is not used.
MIN_ROW_SCALE = 1e-5
INVERSE_WEIGHT_EPS = 1e-4


def attractive_graph(instance: Instance, x: np.ndarray) -> csr_matrix:
    """The attractive edges as a sparse matrix with weights ``x``. Zero weights stay explicit entries,
    which scipy's shortest paths treat as edges of length 0."""
    plus = ~instance.repulsive
    u, v = instance.edges[plus, 0], instance.edges[plus, 1]
    return csr_matrix((np.asarray(x, dtype=np.float64)[plus], (u, v)), shape=(instance.num_nodes,) * 2)


def vertex_cover(instance: Instance, method: str, backend: LPBackend, time_limit_s: float = INF) -> np.ndarray:
    """``[num_nodes]`` bool: a vertex cover of the repulsive edges, minimum (``"ilp"``) or greedy
    (``"greedy"``: repeatedly the node covering most uncovered edges, lowest id on ties). Any cover is a
    valid decomposition, so an ILP stopped by ``time_limit_s`` gives its best cover, or the greedy one."""
    choose("vertex_cover", method, ("ilp", "greedy"))
    minus = instance.edges[instance.repulsive]
    cover = np.zeros(instance.num_nodes, dtype=bool)
    if not len(minus):
        return cover
    if method == "ilp":
        rows = coo_matrix((np.ones(2 * len(minus)), (np.repeat(np.arange(len(minus)), 2), minus.reshape(-1))),
                          shape=(len(minus), instance.num_nodes)).tocsr()
        program = LinearProgram(np.ones(instance.num_nodes), np.zeros(instance.num_nodes),
                                np.ones(instance.num_nodes), rows, np.ones(len(minus)), np.full(len(minus), INF),
                                integral=True)
        result = backend.model(program).solve(time_limit_s)
        if result.x is not None:
            return np.round(result.x).astype(bool)
    uncovered = np.ones(len(minus), dtype=bool)
    while uncovered.any():
        degree = np.bincount(minus[uncovered].reshape(-1), minlength=instance.num_nodes)
        node = int(np.argmax(degree))
        cover[node] = True
        uncovered &= (minus[:, 0] != node) & (minus[:, 1] != node)
    return cover


@dataclass(frozen=True)
class Subproblem:
    """The dual subproblem (8.8) of one root: its program's constraint matrix and bounds do not depend on
    ``x``, only its objective does. Columns: ``lam-`` and ``lam+`` per ``flow`` edge, ``psi-`` per ``out``
    edge, ``psi+`` per ``back`` edge (all indices into the instance's edges)."""

    root: int
    flow: np.ndarray   # E+ \ E_s+ inside the root's attractive component
    out: np.ndarray    # E_s- whose other end is in that component
    back: np.ndarray   # E_s+
    rows: csr_matrix   # one row per node of the component except the root
    upper: np.ndarray  # column upper bounds

    @property
    def edges(self) -> np.ndarray:
        """The instance edges of the columns, in column order (flow edges twice)."""
        return np.concatenate([self.flow, self.flow, self.out, self.back])

    def signs(self) -> np.ndarray:
        """``omega`` per unit of each column: -1 for flows and ``psi+``, +1 for ``psi-``."""
        return np.concatenate([-np.ones(2 * len(self.flow)), np.ones(len(self.out)), -np.ones(len(self.back))])

    def program(self, x: np.ndarray) -> LinearProgram:
        """(8.8) at master point ``x``: maximise ``omega(columns) . x``."""
        cost = self.signs() * np.asarray(x)[self.edges]
        return LinearProgram(cost, np.zeros(len(cost)), self.upper, self.rows, np.full(self.rows.shape[0], -INF),
                             np.zeros(self.rows.shape[0]), maximize=True)

    def omega(self, solution: np.ndarray, num_edges: int) -> np.ndarray:
        """``[E]`` row coefficients of a dual solution, opposite flows cancelled (see module doc)."""
        k, o = len(self.flow), len(self.out)
        omega = np.zeros(num_edges)
        omega[self.flow] = -np.abs(solution[:k] - solution[k:2 * k])
        omega[self.out] = solution[2 * k:2 * k + o]
        omega[self.back] = -solution[2 * k + o:]
        return omega


@dataclass(frozen=True)
class Decomposition:
    """Roots (``S`` minus roots without repulsive edges) and their subproblems, in node order."""

    roots: np.ndarray
    owned: list[np.ndarray]          # E_s- per root (edge indices)
    subproblems: list[Subproblem]    # per root; ``None``-free: a root whose E_s- cannot be violated is dropped

    @staticmethod
    def build(instance: Instance, cover: np.ndarray) -> "Decomposition":
        minus = np.flatnonzero(instance.repulsive)
        u, v = instance.edges[minus, 0], instance.edges[minus, 1]
        owner = np.where(cover[u], u, v)  # u < v: the lower id when both are roots
        plus_graph = attractive_graph(instance, np.ones(instance.num_edges))
        _, component = connected_components(plus_graph, directed=False)
        plus = np.flatnonzero(~instance.repulsive)
        roots, owned, subproblems = [], [], []
        for root in np.unique(owner):
            mine = minus[owner == root]
            other = np.where(instance.edges[mine, 0] == root, instance.edges[mine, 1], instance.edges[mine, 0])
            mine = mine[component[other] == component[root]]
            if not len(mine):
                continue  # no attractive path can close a cycle through these edges: never violated
            roots.append(int(root))
            owned.append(mine)
            subproblems.append(_subproblem(instance, int(root), mine, plus, component))
        return Decomposition(np.array(roots, dtype=np.int64), owned, subproblems)

    def violated(self, instance: Instance, x: np.ndarray) -> np.ndarray:
        """Indices of the roots with an ``E_s-`` edge ``(s, v)`` whose attractive ``x``-distance is below
        ``x_sv`` (Alg. 8 line 5; paths over attractive edges only, the cycles of (8.1))."""
        if not len(self.roots):
            return np.zeros(0, dtype=np.int64)
        distance = dijkstra(attractive_graph(instance, x), directed=False, indices=self.roots, limit=1.0 + 1e-9)
        hits = []
        for i, (root, mine) in enumerate(zip(self.roots, self.owned)):
            other = np.where(instance.edges[mine, 0] == root, instance.edges[mine, 1], instance.edges[mine, 0])
            if np.any(distance[i, other] < x[mine] - VIOLATION_TOL):
                hits.append(i)
        return np.array(hits, dtype=np.int64)


def _subproblem(instance: Instance, root: int, out: np.ndarray, plus: np.ndarray,
                component: np.ndarray) -> Subproblem:
    edges = instance.edges
    inside = plus[component[edges[plus, 0]] == component[root]]
    at_root = (edges[inside, 0] == root) | (edges[inside, 1] == root)
    flow, back = inside[~at_root], inside[at_root]
    nodes = np.flatnonzero(component == component[root])
    nodes = nodes[nodes != root]
    row_of = np.full(instance.num_nodes, -1)
    row_of[nodes] = np.arange(len(nodes))
    k = len(flow)
    a, b = row_of[edges[flow, 0]], row_of[edges[flow, 1]]
    out_node = row_of[np.where(edges[out, 0] == root, edges[out, 1], edges[out, 0])]
    back_node = row_of[np.where(edges[back, 0] == root, edges[back, 1], edges[back, 0])]
    cols = np.arange(2 * k + len(out) + len(back))
    # lam-_e (flow a -> b): outflow at a, inflow at b; lam+_e the reverse; psi- inflow, psi+ outflow
    row_idx = np.concatenate([a, b, a, b, out_node, back_node])
    col_idx = np.concatenate([cols[:k], cols[:k], cols[k:2 * k], cols[k:2 * k], cols[2 * k:2 * k + len(out)],
                              cols[2 * k + len(out):]])
    values = np.concatenate([-np.ones(k), np.ones(k), np.ones(k), -np.ones(k), np.ones(len(out)),
                             -np.ones(len(back))])
    rows = coo_matrix((values, (row_idx, col_idx)), shape=(len(nodes), len(cols))).tocsr()
    phi = instance.weights
    upper = np.concatenate([phi[flow], phi[flow], -phi[out], phi[back]])
    return Subproblem(root, flow, out, back, rows, upper)


@dataclass(frozen=True)
class SubproblemResult:
    """The rows one subproblem adds (``[k, E]`` coefficients, each ``row . x <= 0``; ``mwr_rows`` of them
    Magnanti-Wong rows), its ``Q(s, x)`` and the seconds it took."""

    rows: np.ndarray
    value: float
    seconds: float
    mwr_rows: int = 0


def solve_subproblem(subproblem: Subproblem, x: np.ndarray, backend: LPBackend, num_edges: int,
                     tau: float, mwr_direction: np.ndarray | None) -> SubproblemResult:
    """The Benders row of the optimal dual at ``x`` and, when ``tau > 0``, the Magnanti-Wong row that
    maximises ``mwr_direction . omega`` among duals within ``tau`` of optimal at ``x``. Rows are scaled to
    a largest coefficient of 1 and kept only if they cut ``x`` off and are not made of tolerance-sized
    flows (``MIN_ROW_SCALE``; the caller falls back to cycle inequalities then)."""
    start = time.perf_counter()
    program = subproblem.program(x)
    model = backend.model(program)
    result = model.solve()
    rows = [subproblem.omega(result.x, num_edges)]  # the Benders row, then the Magnanti-Wong row
    if tau > 0 and mwr_direction is not None and result.value > 0:
        # (8.9): the original dual objective at x stays within tau of Q(s, x)
        model.add_rows(csr_matrix(program.cost[None, :]), np.array([tau * result.value]), np.array([INF]))
        model.set_cost(subproblem.signs() * mwr_direction[subproblem.edges], maximize=True)
        mwr = model.solve()
        if mwr.x is not None:
            rows.append(subproblem.omega(mwr.x, num_edges))
    kept, mwr_rows = [], 0
    for k, omega in enumerate(rows):
        scale = np.abs(omega).max()
        if scale >= MIN_ROW_SCALE and omega @ x > ROW_TOL * scale:
            kept.append(omega / scale)
            mwr_rows += k > 0
    return SubproblemResult(np.array(kept).reshape(-1, num_edges), float(result.value),
                            time.perf_counter() - start, mwr_rows)


def mwr_direction(kind: str, instance: Instance, rng: np.random.Generator) -> np.ndarray:
    """The Magnanti-Wong objective over edges (positive, see module doc): a fresh random unit vector or
    the inverse weight magnitudes."""
    if kind == "inverse_weight":
        return 1.0 / (INVERSE_WEIGHT_EPS + np.abs(instance.weights))
    direction = np.abs(rng.standard_normal(instance.num_edges))
    return direction / np.linalg.norm(direction)
