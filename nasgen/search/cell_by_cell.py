"""Cell-by-cell search: one cell type after the other (AG-Net on NAS-Bench-301, thesis Sec. 5.3.2).

A generator that builds one cell graph cannot search a two-cell space (DARTS: normal and
reduction cell) directly. The thesis' protocol searches one cell type while the other stays
fixed, then fixes the best cell found and searches the other type:

1. draw one random cell of the second type (the thesis starts from a random reduction cell and
   searches normal cells first: ``first_cell: normal``);
2. run the inner search on the space's *cell view* of the first type (complete architectures
   whose other cell is the fixed one) for ``first_share`` of the budget (thesis: 155 of 310);
3. fix the first-type cell of the best architecture found, and run a fresh inner search on the
   cell view of the second type for the rest of the budget.

Every query goes through the run's one oracle, so ``history.csv`` holds both phases in order and
a killed run resumes like any other (the same seed draws the same fixed cell and replays phase 1).

With ``first_others: k > 1`` phase 1 holds ``k`` random cells of the second type instead of one,
and a first-type cell is worth the mean of its ``k`` values (:meth:`Oracle.averaged_over`; one
query of the budget, ``k`` benchmark evaluations, recorded under the combination with the first of
the ``k`` cells). AG-Net's training-free search on DARTS (thesis Sec. 5.3.3, Table 5.4) does this:
3 random normal cells, reduction cells searched first, each scored by its mean TE-NAS joint rank
over the 3, because the NTK condition number of one minibatch is noisy. Phase 2 fixes the best
first-type cell and pairs it with single second-type cells, as before. One overlap is accepted, not
handled: should phase 2 propose exactly the first of the ``k`` cells as its second-type cell, the
oracle finds that combination already paid for in phase 1 and answers with the phase-1 mean over
``k``, not its single value (a replay, no new query). Handling it would need a second record per
architecture, breaking the oracle's one-record-per-key history and resume; in the DARTS space
(~1e9 cells per type) the chance is nil, and in a small space the answer is still a measured
value of the same first-type cell.
"""
from __future__ import annotations

import logging
from contextlib import nullcontext
from typing import Callable

import numpy as np

from nasgen.benchmarks.base import PartialBenchmark
from nasgen.errors import ConfigError, choose
from nasgen.objective import Objective
from nasgen.ranges import Float, Int, ranges
from nasgen.search.base import CheckedSearch, ReportingSearch, SearchLoop
from nasgen.search.oracle import BudgetExhausted, Oracle
from nasgen.spaces.base import Arch, CellwiseSpace, SearchSpace

log = logging.getLogger(__name__)


@ranges("cell_search", first_share=Float(0.0, 1.0, above=True), first_others=Int(1))
class CellByCellSearch:
    """Runs ``inner`` (a factory of search loops: one fresh loop per phase) cell type by cell type.

    Args:
        inner: builds a fresh search loop for each phase (`nasgen run`: from the run's search config).
        first_cell: the cell type searched first; the other one starts as a random cell.
        first_share: the part of the budget the first phase may spend (the rest is the second's).
        first_others: random cells of the other type held in the first phase; a first-type cell's
            value is its mean over them (1: the plain protocol).
    """

    def __init__(self, inner: Callable[[], SearchLoop], first_cell: str = "normal", first_share: float = 0.5,
                 first_others: int = 1) -> None:
        self.make_inner, self.first_cell, self.first_share = inner, first_cell, first_share
        self.first_others = first_others
        self.stats: dict = {"phases": []}

    def _cell_order(self, space: SearchSpace) -> tuple[str, str]:
        if not isinstance(space, CellwiseSpace) or len(space.cell_types) != 2:
            raise ConfigError(f"cell-by-cell search needs a space of two cell types (search_space=darts); "
                              f"{space.name} has one cell")
        choose("cell_search.first_cell", self.first_cell, space.cell_types)
        return self.first_cell, next(t for t in space.cell_types if t != self.first_cell)

    def check(self, space: SearchSpace, objective: Objective) -> None:
        first, _ = self._cell_order(space)
        inner = self.make_inner()
        if isinstance(inner, CheckedSearch):
            # Any fixed cell gives the view its shape; a fixed seed keeps the run's stream untouched.
            inner.check(space.cell_view(first, space.sample(1, np.random.default_rng(0))[0]), objective)

    def run(self, space: SearchSpace, oracle: Oracle, rng: np.random.Generator) -> None:
        first, second = self._cell_order(space)
        benchmark = oracle.benchmark
        if isinstance(benchmark, PartialBenchmark) and benchmark.skip_missing:
            raise ConfigError(f"cell-by-cell search builds new cell combinations, which a partial table that skips "
                              f"what it lacks ({benchmark.name}) cannot answer; use a benchmark of the whole space")
        self.stats["phases"] = []
        others = space.sample(self.first_others, rng)
        fixed = others[0]
        first_budget = max(1, int(round(self.first_share * oracle.remaining)))
        for cell_type, budget in ((first, first_budget), (second, None)):
            view = space.cell_view(cell_type, fixed)
            start = oracle.spent
            inner = self.make_inner()
            averaged = cell_type == first and len(others) > 1
            log.info("cell-by-cell: searching %s cells (%s queries) with the other cell fixed: %s", cell_type,
                     budget if budget is not None else oracle.remaining,
                     f"mean over {len(others)} random cells" if averaged else space.to_str(fixed))
            scoring = oracle.averaged_over(_with_each(space, cell_type, view, others)) if averaged else nullcontext()
            with scoring, oracle.budget_cap(budget if budget is not None else oracle.remaining):
                try:
                    inner.run(view, oracle, rng)
                except BudgetExhausted:
                    pass
            if oracle.spent > start:
                fixed = space.from_str(oracle.records[start + _best_position(oracle, start)]["arch"])
            self.stats["phases"].append({"cell_type": cell_type, "queries": oracle.spent - start,
                                         "best_arch": space.to_str(fixed),
                                         **({"averaged_over": [space.to_str(o) for o in others]} if averaged else {}),
                                         **(inner.stats if isinstance(inner, ReportingSearch) else {})})


def _with_each(space: SearchSpace, cell_type: str, view: SearchSpace,
               others: list[Arch]) -> Callable[[Arch], list[Arch]]:
    """``arch`` of ``view`` (its ``cell_type`` cell searched) -> the architectures with that cell and
    each of ``others``' other cells: the cell's graph rebuilt in the view that holds each one."""
    views = [space.cell_view(cell_type, other) for other in others]
    return lambda arch: [other_view.from_graph(*view.to_graph(arch)) for other_view in views]


def _best_position(oracle: Oracle, start: int) -> int:
    """Offset (from ``start``) of the best query since ``start`` by the objective's scores."""
    objective = oracle.objective
    values = oracle.values(objective.search_metric)[start:]
    costs = oracle.values(objective.cost_metric)[start:] if objective.constrained else None
    return int(np.argmax(objective.scores(values, costs)))
