"""Exact correlation-clustering solvers: BDCC (Benders + Magnanti-Wong rows), the cycle cutting plane
and brute force, all returning a :class:`Solution` with an anytime bounds trace.

BDCC and the cutting plane share one loop (thesis Alg. 8 and Andres et al. 2011 alike): solve the master
over the rows so far as an LP until no violated row is found, then as an ILP until its integral solution
violates none. After every master solve the master value is a lower bound, a rounding of its point gives an
upper bound, and a :class:`TracePoint` goes to ``on_trace``. The loop stops early once the bounds meet, and
cleanly at the time limit with the best bounds so far.
"""
from __future__ import annotations

import math
import multiprocessing
import time
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Protocol, runtime_checkable

import numpy as np
from scipy.sparse import csr_matrix, vstack

from nasgen.clustering import lp
from nasgen.clustering.bdcc import (
    Decomposition,
    SubproblemResult,
    mwr_direction,
    solve_subproblem,
    vertex_cover,
)
from nasgen.clustering.cycles import broken_cycles, violated_cycles
from nasgen.clustering.instance import Instance
from nasgen.clustering.rounding import MinCutRounding, Rounding, ThresholdRounding
from nasgen.errors import ConfigError, choose

GAP_TOL = 1e-6
INTEGRAL_TOL = 1e-6


@dataclass(frozen=True)
class TracePoint:
    """Bounds after one master solve, in the non-negative objective's units."""

    seconds: float            # serial wall-clock since start
    parallel_seconds: float   # simulated parallel time: per iteration master + slowest subproblem (+ the rest)
    lower_bound: float        # this master LP/ILP value (if the time limit interrupted it: the best bound so far)
    upper_bound: float        # best feasible (rounded) objective so far
    rows: int                 # Benders / cycle rows in the master so far
    phase: str                # "lp" | "ilp"


@dataclass
class Solution:
    partition: np.ndarray     # [num_nodes] component label per node
    cut: np.ndarray           # [E] 0/1
    objective: float          # = instance.objective(cut)
    lower_bound: float        # best lower bound found
    optimal: bool             # gap closed (<= 1e-6 relative) within the limit
    trace: list[TracePoint]
    stats: dict = field(default_factory=dict)


@runtime_checkable
class Solver(Protocol):
    name: str

    def solve(self, instance: Instance, time_limit_s: float, rng: np.random.Generator,
              on_trace: Callable[[TracePoint], None] | None = None) -> Solution: ...


def closed(upper: float, lower: float) -> bool:
    """Whether a gap counts as closed: ``upper - lower <= 1e-6 max(1, |upper|)``."""
    return upper - lower <= GAP_TOL * max(1.0, abs(upper))


# ---------------------------------------------------------------------------------------------------------
# brute force


@lru_cache(maxsize=16)
def set_partitions(n: int) -> np.ndarray:
    """``[Bell(n), n]`` int8: every partition of ``n`` items as a restricted growth string (item 0 in block 0,
    each next item in an existing block or the next new one)."""
    strings = np.zeros((1, 1), dtype=np.int8)
    for _ in range(1, n):
        blocks = strings.max(axis=1) + 2  # choices for the next item
        parent = np.repeat(np.arange(len(strings)), blocks)
        offsets = np.arange(len(parent)) - np.repeat(np.cumsum(blocks) - blocks, blocks)
        strings = np.concatenate([strings[parent], offsets[:, None].astype(np.int8)], axis=1)
    strings.setflags(write=False)
    return strings


class BruteForce:
    """Evaluates every partition of the nodes (Bell(10) = 115,975); the exactness reference."""

    name = "brute_force"

    def __init__(self, max_nodes: int = 10):
        if not 1 <= max_nodes <= 12:
            raise ConfigError(f"brute_force.max_nodes must lie in [1, 12] (Bell(12) = 4.2M partitions), "
                              f"got {max_nodes}")
        self.max_nodes = max_nodes

    def solve(self, instance: Instance, time_limit_s: float, rng: np.random.Generator,
              on_trace: Callable[[TracePoint], None] | None = None) -> Solution:
        if instance.num_nodes > self.max_nodes:
            raise ConfigError(f"brute_force enumerates partitions of at most {self.max_nodes} nodes; instance "
                              f"{instance.name!r} has {instance.num_nodes}: use the bdcc or cycle_cutting_plane solver")
        start = time.perf_counter()
        strings = set_partitions(instance.num_nodes)
        u, v = instance.edges[:, 0], instance.edges[:, 1]
        cuts = strings[:, u] != strings[:, v]
        costs = cuts @ instance.weights - instance.weights[instance.repulsive].sum()
        best = int(np.argmin(costs))
        partition = strings[best].astype(np.int64)
        cut = instance.cut_of(partition)
        value = instance.objective(cut)
        seconds = time.perf_counter() - start
        point = TracePoint(seconds, seconds, value, value, 0, "ilp")
        if on_trace is not None:
            on_trace(point)
        return Solution(partition, cut, value, value, True, [point], {"partitions": len(strings)})


# ---------------------------------------------------------------------------------------------------------
# the shared cutting-plane loop


@dataclass(frozen=True)
class Separation:
    """New rows (each ``row . x <= 0``) and how long their search took: ``seconds`` is the wall-clock of the
    whole separation, ``unit_seconds`` the times of the independent units (BDCC subproblems) that one CPU
    each would run at once, and ``units_wall`` the wall-clock spent running them (their sum when serial)."""

    rows: csr_matrix
    seconds: float
    unit_seconds: tuple[float, ...] = ()
    units_wall: float = 0.0
    mwr_rows: int = 0


class Separator(Protocol):
    def separate(self, x: np.ndarray, deadline: float) -> Separation: ...


def master_program(instance: Instance) -> lp.LinearProgram:
    """(CC3) without rows: ``min sum_{E+} phi x + sum_{E-} |phi| (1 - x)`` over ``x in [0, 1]^E``."""
    repulsive = instance.repulsive
    return lp.LinearProgram(instance.weights.copy(), np.zeros(instance.num_edges), np.ones(instance.num_edges),
                            offset=float(-instance.weights[repulsive].sum()))


def cutting_plane(instance: Instance, backend: lp.LPBackend, separator: Separator, rounding: Rounding,
                  time_limit_s: float, on_trace: Callable[[TracePoint], None] | None, start: float,
                  stats: dict) -> Solution:
    """Alg. 8's loop around any separator; ``start`` is the solve's ``perf_counter`` origin (set-up such
    as BDCC's vertex cover counts towards the time limit and the trace).

    ``stats`` gets: ``iterations`` (``lp_iterations`` + ``ilp_iterations``), ``rows`` added, ``mwr_rows`` among
    them, ``master_seconds`` (master solves and roundings), ``separation_seconds`` (wall-clock of the
    separations), ``subproblem_seconds`` (CPU-side sum over BDCC subproblems; 0 for the cutting plane),
    ``broken_cycle_rows`` (see :func:`nasgen.clustering.cycles.broken_cycles`)."""
    deadline = start + time_limit_s
    model = backend.model(master_program(instance))
    best_cut = rounding.round(instance, np.zeros(instance.num_edges))
    upper, lower = instance.objective(best_cut), -math.inf
    trace: list[TracePoint] = []
    parallel = time.perf_counter() - start  # set-up is serial
    rows = iterations = 0
    integral_phase = False
    stats.update(master_seconds=0.0, separation_seconds=0.0, subproblem_seconds=0.0, lp_iterations=0,
                 ilp_iterations=0, mwr_rows=0, broken_cycle_rows=0)
    while True:
        began = time.perf_counter()
        if began >= deadline and trace:
            break  # (the first master, without rows, is solved in any case: instant, and a finite bound)
        model.set_integral(integral_phase)
        result = model.solve(deadline - began if trace else math.inf, start=best_cut if integral_phase else None)
        iterations += 1
        stats["ilp_iterations" if integral_phase else "lp_iterations"] += 1
        lower = max(lower, result.bound)
        if result.x is not None:
            x = np.clip(result.x, 0.0, 1.0)
            if integral_phase:
                x = np.round(x)
            candidate = rounding.round(instance, x)
            value = instance.objective(candidate)
            if value < upper:
                best_cut, upper = candidate, value
        solved = time.perf_counter()
        stats["master_seconds"] += solved - began
        parallel += solved - began
        point = TracePoint(solved - start, parallel, result.bound if result.optimal else lower, upper, rows,
                           "ilp" if integral_phase else "lp")
        trace.append(point)
        if on_trace is not None:
            on_trace(point)
        if closed(upper, lower) or not result.optimal:
            break  # proven optimal, or the master ran out of time
        separation = separator.separate(x, deadline)
        stats["separation_seconds"] += separation.seconds
        stats["mwr_rows"] += separation.mwr_rows
        units = separation.unit_seconds
        stats["subproblem_seconds"] += sum(units)
        parallel += separation.seconds - separation.units_wall + (max(units) if units else 0.0)
        if time.perf_counter() >= deadline:
            break
        if separation.rows.shape[0]:
            model.add_rows(separation.rows, np.full(separation.rows.shape[0], -math.inf),
                           np.zeros(separation.rows.shape[0]))
            rows += separation.rows.shape[0]
        elif np.all(np.abs(x - np.round(x)) <= INTEGRAL_TOL):
            # integral and no violated row: a clustering (then optimal), unless solver tolerances let a tiny
            # weight break a cycle of mixed signs (see cycles.broken_cycles), whose inequalities come next
            broken = broken_cycles(instance, x)
            if not broken.shape[0]:
                if instance.objective(x) < upper:
                    best_cut, upper = np.round(x).astype(np.int8), instance.objective(x)
                break
            model.add_rows(broken, np.full(broken.shape[0], -math.inf), np.zeros(broken.shape[0]))
            rows += broken.shape[0]
            stats["broken_cycle_rows"] += broken.shape[0]
        else:
            integral_phase = True
    stats.update(iterations=iterations, rows=rows)
    partition = instance.components(best_cut)
    return Solution(partition, best_cut, upper, lower, closed(upper, lower), trace, stats)


# ---------------------------------------------------------------------------------------------------------
# the cycle cutting plane


class CycleSeparator:
    def __init__(self, instance: Instance):
        self.instance = instance

    def separate(self, x: np.ndarray, deadline: float) -> Separation:
        began = time.perf_counter()
        rows = violated_cycles(self.instance, x)
        return Separation(rows, time.perf_counter() - began)


class CycleCuttingPlane:
    """Andres et al. (2011): the master over cycle inequalities, LP then ILP; rounding by threshold.
    It has no subproblems, so its parallel time equals its serial time."""

    name = "cycle_cutting_plane"

    def __init__(self, lp_solver: str = "highs"):
        lp.backend(lp_solver)
        self.lp_solver = lp_solver

    def solve(self, instance: Instance, time_limit_s: float, rng: np.random.Generator,
              on_trace: Callable[[TracePoint], None] | None = None) -> Solution:
        start = time.perf_counter()
        return cutting_plane(instance, lp.backend(self.lp_solver), CycleSeparator(instance), ThresholdRounding(),
                             time_limit_s, on_trace, start, {})


# ---------------------------------------------------------------------------------------------------------
# BDCC

_WORKER: dict = {}


def _worker_init(instance: Instance, decomposition: Decomposition, backend: lp.LPBackend, tau: float) -> None:
    _WORKER.update(instance=instance, decomposition=decomposition, backend=backend, tau=tau)


def _worker_solve(index: int, x: np.ndarray, direction: np.ndarray | None) -> SubproblemResult:
    w = _WORKER
    return solve_subproblem(w["decomposition"].subproblems[index], x, w["backend"], w["instance"].num_edges,
                            w["tau"], direction)


class BendersSeparator:
    """Alg. 8 lines 4-11: for each root with a violated cycle, the Benders row of its dual subproblem and a
    Magnanti-Wong row; serially or in a process pool, in root order either way."""

    def __init__(self, instance: Instance, decomposition: Decomposition, backend: lp.LPBackend, tau: float,
                 mwr_objective: str, rng: np.random.Generator, pool: ProcessPoolExecutor | None):
        self.instance, self.decomposition, self.backend = instance, decomposition, backend
        self.tau, self.mwr_objective, self.rng, self.pool = tau, mwr_objective, rng, pool
        self.subproblems_solved = self.cycle_rows = 0

    def separate(self, x: np.ndarray, deadline: float) -> Separation:
        began = time.perf_counter()
        hits = self.decomposition.violated(self.instance, x)
        directions = [mwr_direction(self.mwr_objective, self.instance, self.rng) if self.tau > 0 else None
                      for _ in hits]
        units_began = time.perf_counter()
        solved: list[tuple[int, SubproblemResult]] = []  # (root index, result), in root order
        if self.pool is None:
            for index, direction in zip(hits, directions):
                if time.perf_counter() >= deadline:
                    break
                solved.append((index, solve_subproblem(self.decomposition.subproblems[index], x, self.backend,
                                                       self.instance.num_edges, self.tau, direction)))
        else:
            futures = [self.pool.submit(_worker_solve, int(i), x, d) for i, d in zip(hits, directions)]
            done, pending = wait(futures, timeout=max(0.0, deadline - time.perf_counter()),
                                 return_when=FIRST_EXCEPTION)
            for future in pending:
                future.cancel()
            solved = [(i, f.result()) for i, f in zip(hits, futures) if f in done]
        units_wall = time.perf_counter() - units_began
        results = [r for _, r in solved]
        self.subproblems_solved += len(results)
        matrices = [csr_matrix(r.rows) for r in results if len(r.rows)]
        # roots whose violation no Benders row can express (free repair, see bdcc): their cycle inequalities
        silent = [self.decomposition.owned[i] for i, r in solved if not len(r.rows)]
        cycle_rows = violated_cycles(self.instance, x, np.concatenate(silent)) if silent else None
        if cycle_rows is not None and cycle_rows.shape[0]:
            matrices.append(cycle_rows)
            self.cycle_rows += cycle_rows.shape[0]
        rows = vstack(matrices, format="csr") if matrices else csr_matrix((0, self.instance.num_edges))
        mwr_rows = sum(r.mwr_rows for r in results)
        return Separation(rows, time.perf_counter() - began, tuple(r.seconds for r in results), units_wall, mwr_rows)


def _pool_context() -> multiprocessing.context.BaseContext:
    # forkserver: workers fork from a server that imported the solver once, instead of re-importing scipy
    # and highspy per worker (spawn) or forking a parent that may run threads (fork)
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["nasgen.clustering.solvers"])
        return context
    return multiprocessing.get_context("spawn")


class BendersSolver:
    """BDCC (thesis Alg. 8): vertex cover of the repulsive edges, one dual subproblem per root, Benders rows
    plus Magnanti-Wong rows (``tau > 0``; ``tau = 0`` adds none), master LP then ILP, anytime bounds.

    ``parallel="processes"`` solves an iteration's subproblems in a pool of ``workers`` processes; the
    simulated parallel time (master + slowest subproblem per iteration, as in the thesis) is recorded in
    every mode.

    ``lp_presolve`` decides which optimal dual a subproblem returns, and with it how much the
    Magnanti-Wong rows matter (measured on blob grids of 20x20 to 36x36 nodes, 60 s limit). Without
    presolve (default) the simplex starts from zero flow and returns a minimal one, the plain Benders row is
    about a sum of cycle inequalities, and ``tau = 0`` solved all four in 5-8 master iterations, in 0.6-5.7 s,
    while ``tau = 0.5`` (twice the rows per violated root, one more LP each) took 4-6 iterations and
    1.1-8.1 s. With presolve the duals come back with flow on edges the master leaves uncut (free at ``x``),
    the rows are weak, and ``tau = 0`` had not closed the gap after 60 s on any of the four (gaps 266-727)
    while ``tau = 0.5`` solved each in 5-8 iterations: the regime of the thesis' Table 8.1 and Fig. 8.1
    (CPLEX presolves by default).

    The pool's processes come from a forkserver (see ``_pool_context``), so, as for any
    non-fork multiprocessing, a script that calls it must guard its entry with ``if __name__ == "__main__"``.
    """

    name = "bdcc"

    def __init__(self, tau: float = 0.5, mwr_objective: str = "random", parallel: str = "none", workers: int = 2,
                 lp_solver: str = "highs", vertex_cover: str = "ilp", rounding: str = "threshold",
                 lp_presolve: bool = False):
        if not 0.0 <= tau <= 1.0:
            raise ConfigError(f"bdcc.tau must lie in [0, 1] (0: no Magnanti-Wong rows; 1: among optimal duals), "
                              f"got {tau}")
        choose("bdcc.mwr_objective", mwr_objective, ("random", "inverse_weight"))
        choose("bdcc.parallel", parallel, ("none", "processes"))
        choose("bdcc.vertex_cover", vertex_cover, ("ilp", "greedy"))
        choose("bdcc.rounding", rounding, ("threshold", "mincut"))
        if workers < 1:
            raise ConfigError(f"bdcc.workers must be at least 1, got {workers}")
        lp.backend(lp_solver)
        self.tau, self.mwr_objective, self.parallel, self.workers = tau, mwr_objective, parallel, workers
        self.lp_solver, self.vertex_cover, self.rounding = lp_solver, vertex_cover, rounding
        self.lp_presolve = lp_presolve

    def solve(self, instance: Instance, time_limit_s: float, rng: np.random.Generator,
              on_trace: Callable[[TracePoint], None] | None = None) -> Solution:
        start = time.perf_counter()
        backend = lp.backend(self.lp_solver, self.lp_presolve)
        cover = vertex_cover(instance, self.vertex_cover, backend, time_limit_s)
        decomposition = Decomposition.build(instance, cover)
        # stats: cutting_plane's, plus the cover size, the subproblems (roots with repulsive edges that
        # attractive paths can close into cycles), their solves, and the vertex cover's seconds
        stats = {"cover_size": int(cover.sum()), "subproblems": len(decomposition.roots),
                 "cover_seconds": time.perf_counter() - start}
        rounding = MinCutRounding(decomposition) if self.rounding == "mincut" else ThresholdRounding()
        pool = (ProcessPoolExecutor(self.workers, mp_context=_pool_context(), initializer=_worker_init,
                                    initargs=(instance, decomposition, backend, self.tau))
                if self.parallel == "processes" and len(decomposition.roots) else None)
        separator = BendersSeparator(instance, decomposition, backend, self.tau, self.mwr_objective, rng, pool)
        try:
            solution = cutting_plane(instance, backend, separator, rounding, time_limit_s, on_trace, start, stats)
        finally:
            if pool is not None:
                # a subproblem still running at the time limit must not hold the result back
                pool.shutdown(wait=False, cancel_futures=True)
        solution.stats.update(subproblems_solved=separator.subproblems_solved, cycle_rows=separator.cycle_rows)
        return solution
