"""Hardware-aware evaluation suite: how a search did on accuracy versus a hardware cost.

Reports the best feasible architecture with its cost, the feasibility ratio of all queried
architectures (AG-Net Table 5 "Feas."), the true constrained optimum of the table and whether
the search found it, and the hypervolume of the found accuracy/cost Pareto front against the
table's true front, plus a plot of the search in the accuracy/cost plane.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nasgen.benchmarks.base import Benchmark, TabularBenchmark
from nasgen.errors import ConfigError
from nasgen.objective import Objective
from nasgen.pareto import hypervolume, pareto_front_2d
from nasgen.reporting.results import plt, save_figure
from nasgen.search.oracle import Oracle
from nasgen.spaces.base import IndexedSpace

# Tolerance for "found the optimum": the tables store float32 values.
OPTIMUM_TOLERANCE = 1e-4


def constrained_optimum(objective: Objective, benchmark: Benchmark) -> dict[str, Any] | None:
    """The best architecture of the whole table by the search metric among those satisfying the
    cost constraint, with its metrics; ``None`` for benchmarks that are not tables (real training)."""
    if not isinstance(benchmark, TabularBenchmark):
        return None
    column = benchmark.column
    scores = objective.scores(column(objective.search_metric),
                              column(objective.cost_metric) if objective.constrained else None)
    scores = np.where(np.isnan(scores), -np.inf, scores)
    if not np.isfinite(scores).any():
        return None
    row = int(np.argmax(scores))
    arch = benchmark.arch_at(row)
    record: dict[str, Any] = {"index": benchmark.space.index(arch) if isinstance(benchmark.space, IndexedSpace)
                              else "", "arch": benchmark.space.to_str(arch)}
    for metric in dict.fromkeys([objective.search_metric, objective.report_metric, objective.cost_metric]):
        if metric:
            record[metric] = float(column(metric)[row])
    return record


class HardwareSummary:
    """``evaluation.hardware``: needs an objective with a ``cost_metric``."""

    def __init__(self, plot: bool = True) -> None:
        self.plot = plot

    def check(self, objective: Objective, benchmark: Benchmark) -> None:
        if not objective.cost_metric:
            raise ConfigError("evaluation.hardware needs objective.cost_metric (e.g. objective=nb201_hw)")

    def __call__(self, oracle: Oracle, benchmark: Benchmark, run_dir: Path) -> dict:
        objective = oracle.objective
        search, cost = objective.search_metric, objective.cost_metric
        values, costs, feasible = oracle.values(search), oracle.values(cost), oracle.feasible()
        summary: dict[str, Any] = {
            "cost_metric": cost, "cost_limit": objective.cost_limit,
            "feasibility_ratio": float(feasible.mean()) if oracle.spent else None,
            "feasible_queries": int(feasible.sum()),
        }
        best = None
        if feasible.any():
            record = oracle.records[oracle.incumbents()[-1]]
            best = {k: record[k] for k in ("arch", "index", "query", *objective.metrics)}
        summary["best_feasible"] = best
        found_front = [int(i) for i in pareto_front_2d(values[feasible], costs[feasible], objective.maximize)]
        feasible_records = [r for r, ok in zip(oracle.records, feasible) if ok]
        summary["found_front"] = [{"index": feasible_records[i]["index"], search: feasible_records[i][search],
                                   cost: feasible_records[i][cost]} for i in found_front]

        column = benchmark.column if isinstance(benchmark, TabularBenchmark) else None
        optimum = constrained_optimum(objective, benchmark)  # None when no architecture is feasible
        summary["optimum"] = optimum
        true_front = None
        if column is not None:
            all_values, all_costs = column(search), column(cost)
            known = ~(np.isnan(all_values) | np.isnan(all_costs))
            all_values, all_costs = all_values[known], all_costs[known]
            in_limit = objective.feasible(all_costs)
            summary["feasible_fraction_of_space"] = float(in_limit.mean())
        if column is not None and optimum is not None:
            sign = 1.0 if objective.maximize else -1.0
            summary["optimum_found"] = bool(best is not None
                                            and sign * best[search] >= sign * optimum[search] - OPTIMUM_TOLERANCE)
            # Reference point: the worst accuracy in the table and the cost limit (or the largest cost).
            reference = np.array([np.min(sign * all_values),
                                  -(objective.cost_limit if objective.constrained else np.max(all_costs))])
            true_front = pareto_front_2d(all_values[in_limit], all_costs[in_limit], objective.maximize)
            true_points = np.stack([sign * all_values[in_limit][true_front], -all_costs[in_limit][true_front]], 1)
            found_points = np.stack([sign * values[feasible], -costs[feasible]], 1)
            true_hv, found_hv = hypervolume(true_points, reference), hypervolume(found_points, reference)
            summary["hypervolume"] = {"found": found_hv, "true": true_hv,
                                      "ratio": found_hv / true_hv if true_hv > 0 else None,
                                      "reference": {search: sign * reference[0], cost: -reference[1]}}
            summary["true_front_size"] = len(true_front)
            true_front = (all_values[in_limit][true_front], all_costs[in_limit][true_front],
                          all_values, all_costs)
        if self.plot and oracle.spent:
            self._plot(oracle, run_dir / "hardware_search.png", true_front, best)
        return {"hardware": summary}

    @staticmethod
    def _plot(oracle: Oracle, path: Path, true_front: tuple | None, best: dict | None) -> None:
        objective = oracle.objective
        search, cost = objective.search_metric, objective.cost_metric
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        if true_front is not None:
            front_values, front_costs, all_values, all_costs = true_front
            ax.scatter(all_costs, all_values, s=1, c="0.8", label="all architectures", rasterized=True)
            ax.step(front_costs, front_values, where="post", color="k", lw=1, label="true Pareto front")
        queried = ax.scatter(oracle.values(cost), oracle.values(search), s=10, c=np.arange(1, oracle.spent + 1),
                             cmap="viridis", label="queried")
        fig.colorbar(queried, ax=ax, label="query")
        if best is not None:
            ax.scatter([best[cost]], [best[search]], marker="*", s=160, c="red", label="best feasible")
        if objective.constrained:
            ax.axvline(objective.cost_limit, color="red", ls="--", lw=0.8, label=f"limit {objective.cost_limit:g}")
        values = oracle.values(search)
        ax.set_ylim(np.percentile(values, 5) - 1, max(values.max(), best[search] if best else -np.inf) + 0.5)
        ax.set_xlabel(cost)
        ax.set_ylabel(search)
        ax.set_title("search in the accuracy / cost plane")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
        save_figure(fig, path)
