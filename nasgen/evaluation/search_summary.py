"""The default evaluation suite: incumbents at chosen query counts, optimum and regret,
and the search curve plot. Under a cost constraint the optimum is the best feasible
architecture of the table, the one the search can reach.

Two protocols at the same query counts: ``best_at`` holds the incumbent, the architecture best
by the search metric, with its report metric (``test_of_best_valid``, the protocol of every
nasgen result); ``max_over_queried`` holds the best search-metric value and the best
report-metric value over all queried architectures, each maximised separately
(``max_test_over_queried``, the INN thesis' protocol; see
:func:`nasgen.reporting.results.max_over_queried`)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from nasgen.benchmarks.base import Benchmark
from nasgen.evaluation.hardware import constrained_optimum
from nasgen.reporting.results import best_at, max_over_queried, plot_search_curve
from nasgen.search.oracle import Oracle


class SearchSummary:
    def __init__(self, report_at: Sequence[int] = (96, 192), plot: bool = True) -> None:
        self.report_at, self.plot = list(report_at), plot

    def __call__(self, oracle: Oracle, benchmark: Benchmark, run_dir: Path) -> dict:
        objective = oracle.objective
        if objective.constrained:
            best_feasible = constrained_optimum(objective, benchmark) or {}
            optima = {m: best_feasible.get(m) for m in (objective.search_metric, objective.report_metric)}
        else:
            optima = {m: benchmark.optimum(m, objective.maximize)
                      for m in (objective.search_metric, objective.report_metric)}
        incumbents = best_at(oracle, self.report_at)
        summary: dict = {"best": incumbents.get(str(oracle.spent)), "best_at": incumbents,
                         "max_over_queried": max_over_queried(oracle, self.report_at), "optimum": optima}
        if summary["best"] is not None:
            summary["regret"] = {m: abs(optima[m] - summary["best"][m]) for m in optima if optima[m] is not None}
        if self.plot and oracle.spent:
            plot_search_curve(oracle, run_dir / "search_curve.png", optima)
        return summary
