"""Linear and integer programs in matrix form, solved by CBC (through PuLP) or HiGHS (through highspy).

Every program the clustering solvers pose (the master over edge cuts, the Benders dual subproblems and
their Magnanti-Wong variants, the vertex cover) is built as numpy arrays and a sparse row matrix and
handed to an :class:`LPModel`. A model can grow by rows, change its objective and become integral, which
is all the cutting-plane loops need; HiGHS keeps one solver object per model, so adding rows re-solves an
LP from the previous basis; CBC gets the best known clustering as a MIP start.

Design record: ``scripts/clustering_lp_speed.py`` compares CBC through PuLP, HiGHS through PuLP
(``pulp.HiGHS``) and HiGHS through highspy with whole arrays. A 2-variable LP costs 12.8 / 1.0 / 0.6 ms per
solve (PuLP runs CBC as a subprocess on a written model); a BDCC dual subproblem of a 28x28 grid (1.1k
columns, 450 rows) 78 / 61 / 6 ms: building the PuLP model from Python is the bottleneck, and PuLP's HiGHS
interface adds one column and row at a time; the master ILP of that grid 272 / 167 / 106 ms. Whole BDCC
solves (tau 0.5) of 12x12 / 20x20 / 28x28 grids took 1.9 / 14.3 / 45.3 s with CBC and 0.17 / 1.0 / 2.5 s with
HiGHS. So ``highs`` is highspy directly and the default; ``cbc`` (the design card's solver) stays as an option.
"""
from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Callable, Protocol

import numpy as np
from scipy.sparse import csr_matrix

from nasgen.errors import ConfigError, choose

INF = math.inf


@dataclass(frozen=True)
class LinearProgram:
    """``min`` (or ``max``) ``cost @ x + offset`` s.t. ``row_lower <= rows @ x <= row_upper`` and
    ``col_lower <= x <= col_upper``; all columns integer when ``integral``."""

    cost: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    rows: csr_matrix = field(default_factory=lambda: csr_matrix((0, 0)))
    row_lower: np.ndarray = field(default_factory=lambda: np.zeros(0))
    row_upper: np.ndarray = field(default_factory=lambda: np.zeros(0))
    maximize: bool = False
    integral: bool = False
    offset: float = 0.0

    @property
    def num_cols(self) -> int:
        return len(self.cost)

    def with_rows(self, rows: csr_matrix, lower: np.ndarray, upper: np.ndarray) -> "LinearProgram":
        """This program with ``rows`` appended (``lower <= rows @ x <= upper``)."""
        from scipy.sparse import vstack

        current = self.rows if self.rows.shape[0] else csr_matrix((0, self.num_cols))
        return replace(self, rows=vstack([current, csr_matrix(rows)], format="csr"),
                       row_lower=np.concatenate([self.row_lower, lower]),
                       row_upper=np.concatenate([self.row_upper, upper]))


@dataclass(frozen=True)
class LPResult:
    """A solve's outcome: ``x`` and its objective ``value`` (``None``/``nan`` when the solver found no
    solution in time), ``bound`` the best proven bound on the optimum (= ``value`` when ``optimal``;
    ``-inf``/``+inf`` for a minimisation/maximisation whose bound the solver does not report)."""

    x: np.ndarray | None
    value: float
    bound: float
    optimal: bool


class LPModel(Protocol):
    """A program held by a solver; rows, objective and integrality can change between solves."""

    def add_rows(self, rows: csr_matrix, lower: np.ndarray, upper: np.ndarray) -> None: ...

    def set_cost(self, cost: np.ndarray, maximize: bool) -> None: ...

    def set_integral(self, integral: bool) -> None: ...

    def solve(self, time_limit_s: float = INF, start: np.ndarray | None = None) -> LPResult:
        """Solve; ``start`` is a feasible integral point an integral solve may begin from (a hint)."""
        ...


class LPBackend(Protocol):
    name: str

    def model(self, program: LinearProgram) -> LPModel: ...


class PulpModel:
    """A program solved through PuLP: each solve builds the PuLP problem and hands it to ``solver``
    (``pulp_solver(time_limit_s, integral, warm_start) -> a PuLP solver``). The ``cbc`` backend; PuLP's
    HiGHS interface is only measured (``scripts/clustering_lp_speed.py``)."""

    def __init__(self, program: LinearProgram, pulp_solver: Callable[[float, bool, bool], object]):
        self.program = program
        self.pulp_solver = pulp_solver

    def add_rows(self, rows: csr_matrix, lower: np.ndarray, upper: np.ndarray) -> None:
        self.program = self.program.with_rows(rows, lower, upper)

    def set_cost(self, cost: np.ndarray, maximize: bool) -> None:
        self.program = replace(self.program, cost=np.asarray(cost, dtype=np.float64), maximize=maximize)

    def set_integral(self, integral: bool) -> None:
        self.program = replace(self.program, integral=integral)

    def solve(self, time_limit_s: float = INF, start: np.ndarray | None = None) -> LPResult:
        import pulp

        p = self.program
        problem = pulp.LpProblem("nasgen", pulp.LpMaximize if p.maximize else pulp.LpMinimize)
        category = pulp.LpInteger if p.integral else pulp.LpContinuous
        xs = [problem.add_variable(f"x{j}", _finite(p.col_lower[j]), _finite(p.col_upper[j]), category)
              for j in range(p.num_cols)]
        problem += pulp.LpAffineExpression(zip(xs, p.cost.tolist()), constant=p.offset)
        for r in range(p.rows.shape[0]):
            lo, hi = p.rows.indptr[r], p.rows.indptr[r + 1]
            expr = pulp.LpAffineExpression(zip([xs[j] for j in p.rows.indices[lo:hi]],
                                               p.rows.data[lo:hi].tolist()))
            if p.row_lower[r] == p.row_upper[r]:
                problem += pulp.LpConstraint(expr, pulp.LpConstraintEQ, rhs=float(p.row_upper[r]))
                continue
            if np.isfinite(p.row_upper[r]):
                problem += pulp.LpConstraint(expr, pulp.LpConstraintLE, rhs=float(p.row_upper[r]))
            if np.isfinite(p.row_lower[r]):
                problem += pulp.LpConstraint(expr, pulp.LpConstraintGE, rhs=float(p.row_lower[r]))
        warm = start is not None and p.integral
        if warm:
            for var, value in zip(xs, start):
                var.setInitialValue(float(value))
        problem.solve(self.pulp_solver(time_limit_s, p.integral, warm))
        optimal = problem.sol_status == pulp.LpSolutionOptimal
        if problem.sol_status not in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
            return LPResult(None, math.nan, -INF if not p.maximize else INF, False)
        x = np.array([v.varValue or 0.0 for v in xs])
        value = float(p.cost @ x + p.offset)
        return LPResult(x, value, value if optimal else (INF if p.maximize else -INF), optimal)


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def cbc(time_limit_s: float, integral: bool, warm_start: bool, lp_presolve: bool = False):
    """PuLP's bundled CBC, exact (no relative or absolute MIP gap), wall-clock limit (at least 1 s);
    ``lp_presolve`` for LPs (ILPs always presolve)."""
    import pulp

    return pulp.PULP_CBC_CMD(msg=False, gapRel=0.0, gapAbs=0.0, warmStart=warm_start, timeMode="elapsed",
                             presolve=None if integral else lp_presolve,
                             timeLimit=None if math.isinf(time_limit_s) else max(1.0, time_limit_s))


class CbcBackend:
    name = "cbc"

    def __init__(self, lp_presolve: bool = False):
        self.lp_presolve = lp_presolve

    def model(self, program: LinearProgram) -> PulpModel:
        return PulpModel(program, partial(cbc, lp_presolve=self.lp_presolve))


class HighsModel:
    """One ``highspy.Highs`` object per model: rows are appended in place, so an LP re-solve starts from
    the previous optimal basis."""

    def __init__(self, program: LinearProgram, lp_presolve: bool = False):
        import highspy

        self.lp_presolve = lp_presolve

        self._highspy = highspy
        self.highs = _new_highs(highspy)
        self.highs.setOptionValue("output_flag", False)
        # one thread: the solvers' parallelism is across subproblem processes, and the tests compare
        # deterministic trajectories
        self.highs.setOptionValue("threads", 1)
        self.highs.setOptionValue("mip_rel_gap", 0.0)
        self.highs.setOptionValue("mip_abs_gap", 0.0)
        lp = highspy.HighsLp()
        lp.num_col_ = program.num_cols
        lp.num_row_ = 0
        lp.col_cost_ = np.asarray(program.cost, dtype=np.float64)
        lp.col_lower_ = np.asarray(program.col_lower, dtype=np.float64)
        lp.col_upper_ = np.asarray(program.col_upper, dtype=np.float64)
        lp.offset_ = float(program.offset)
        lp.sense_ = highspy.ObjSense.kMaximize if program.maximize else highspy.ObjSense.kMinimize
        self.highs.passModel(lp)
        self.maximize = program.maximize
        self.num_cols = program.num_cols
        if program.rows.shape[0]:
            self.add_rows(program.rows, program.row_lower, program.row_upper)
        self.integral = False
        self.set_integral(program.integral)
        # HiGHS' time_limit counts its own clock, which fell 2x behind the wall clock on a loaded machine
        # (a 22 s limit took 58 s): the MIP also stops at a wall-clock deadline through its interrupt callback
        self.deadline = INF
        self.highs.cbMipInterrupt += self._interrupt

    def _interrupt(self, event) -> None:
        if time.perf_counter() >= self.deadline:
            event.interrupt()

    def add_rows(self, rows: csr_matrix, lower: np.ndarray, upper: np.ndarray) -> None:
        rows = csr_matrix(rows)
        self.highs.addRows(rows.shape[0], np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64),
                           rows.nnz, rows.indptr[:-1].astype(np.int32), rows.indices.astype(np.int32),
                           rows.data.astype(np.float64))

    def set_cost(self, cost: np.ndarray, maximize: bool) -> None:
        self.highs.changeColsCost(self.num_cols, np.arange(self.num_cols, dtype=np.int32),
                                  np.asarray(cost, dtype=np.float64))
        sense = self._highspy.ObjSense
        self.highs.changeObjectiveSense(sense.kMaximize if maximize else sense.kMinimize)
        self.maximize = maximize

    def set_integral(self, integral: bool) -> None:
        if integral == self.integral:
            return
        kind = self._highspy.HighsVarType.kInteger if integral else self._highspy.HighsVarType.kContinuous
        self.highs.changeColsIntegrality(self.num_cols, np.arange(self.num_cols, dtype=np.int32),
                                         np.full(self.num_cols, int(kind), dtype=np.uint8))
        self.integral = integral

    def solve(self, time_limit_s: float = INF, start: np.ndarray | None = None) -> LPResult:
        status_kind = self._highspy.HighsModelStatus
        self.deadline = time.perf_counter() + time_limit_s
        # HiGHS compares time_limit with the object's total run time, not this call's
        self.highs.setOptionValue("time_limit", self.highs.getRunTime() + time_limit_s
                                  if math.isfinite(time_limit_s) else INF)
        # ``start`` is not passed on: with a MIP start (setSolution) HiGHS 1.16 returned the start's columns
        # together with a smaller "optimal" objective than the true optimum on a 784-node grid master, i.e. a
        # wrong lower bound; without the start (or without presolve) it is right
        # LPs: primal simplex and, unless lp_presolve, no presolve; on the subproblem duals and the
        # warm-started master this was 3x faster than HiGHS' defaults (28x28 grid, BDCC tau=0.5: 9.0 s ->
        # 2.7 s, same optimum), and without presolve the dual subproblems come back as minimal flows (see
        # the solvers' lp_presolve). MIPs need presolve.
        self.highs.setOptionValue("presolve", "choose" if self.integral or self.lp_presolve else "off")
        self.highs.setOptionValue("simplex_strategy", 1 if self.integral else 4)
        self.highs.run()
        status = self.highs.getModelStatus()
        info = self.highs.getInfo()
        unknown = INF if self.maximize else -INF
        if status == status_kind.kModelEmpty:  # no columns (a graph without edges): nothing to decide
            offset = self.highs.getObjectiveOffset()[1]
            return LPResult(np.zeros(0), offset, offset, True)
        optimal = status == status_kind.kOptimal
        has_solution = info.primal_solution_status == 2  # kSolutionStatusFeasible
        if not has_solution:
            return LPResult(None, math.nan, unknown, False)
        x = np.array(self.highs.getSolution().col_value)
        value = float(info.objective_function_value)
        bound = value if optimal else (float(info.mip_dual_bound) if self.integral else unknown)
        return LPResult(x, value, bound, optimal)


_FIRST_HIGHS = True


def _new_highs(highspy):
    """A ``highspy.Highs``; the first one of a process prints a banner to the C-level stdout (before any
    option can silence it), which would land in ``nasgen cluster``'s output once per worker process."""
    global _FIRST_HIGHS
    if not _FIRST_HIGHS:
        return highspy.Highs()
    _FIRST_HIGHS = False
    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        return highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


class HighsBackend:
    name = "highs"

    def __init__(self, lp_presolve: bool = False):
        self.lp_presolve = lp_presolve

    def model(self, program: LinearProgram) -> HighsModel:
        return HighsModel(program, self.lp_presolve)


BACKENDS = {"cbc": CbcBackend, "highs": HighsBackend}


def backend(name: str, lp_presolve: bool = False) -> LPBackend:
    """The LP/ILP backend called ``name`` (``cbc`` or ``highs``), presolving LPs if ``lp_presolve``;
    one-line error if it is unknown or its solver is not installed."""
    choose("lp_solver", name, tuple(BACKENDS))
    if name == "highs":
        try:
            import highspy  # noqa: F401
        except ImportError as error:
            raise ConfigError("lp_solver=highs needs the highspy package (pip install highspy)") from error
    return BACKENDS[name](lp_presolve)
