"""Summaries of one finished (or interrupted) search, written to its run directory."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from nasgen.paths import atomic_write  # noqa: E402
from nasgen.search.oracle import Oracle  # noqa: E402


def best_at(oracle: Oracle, checkpoints: Sequence[int]) -> dict[str, dict[str, Any] | None]:
    """The incumbent (best by search metric) after each number of queries in ``checkpoints``;
    under a cost constraint the best feasible one, ``None`` while no query was feasible."""
    objective = oracle.objective
    incumbents, feasible = oracle.incumbents(), oracle.feasible()
    result: dict[str, dict[str, Any] | None] = {}
    for n in list(checkpoints) + [oracle.spent]:
        if 0 < n <= oracle.spent:
            record = oracle.records[incumbents[n - 1]]
            result[str(n)] = {"arch": record["arch"], "index": record["index"], "found_at_query": record["query"],
                              **{m: record[m] for m in objective.metrics}} if feasible[incumbents[n - 1]] else None
    return result


def running_best(values: np.ndarray, feasible: np.ndarray, maximize: bool = True) -> np.ndarray:
    """Per query, the best of ``values`` over the queries so far that are ``feasible``; NaN while
    none is."""
    values = np.asarray(values, dtype=float)
    sign = 1.0 if maximize else -1.0
    scores = np.where(np.asarray(feasible, bool), sign * values, -np.inf)
    best = np.maximum.accumulate(scores) if len(scores) else scores
    return np.where(np.isfinite(best), sign * best, np.nan)


def max_over_queried(oracle: Oracle, checkpoints: Sequence[int]) -> dict[str, dict[str, float] | None]:
    """After each number of queries in ``checkpoints`` (and the queries spent): the best value of
    the search metric and, separately, the best value of the report metric over all queried
    architectures (over the feasible ones under a cost constraint; ``None`` while none is).

    The two are separate maxima (minima for a minimised objective) and usually belong to
    different architectures: the report metric's entry is ``max_test_over_queried``, the INN
    thesis' protocol (Chen 2023), which no single architecture need reach. :func:`best_at`
    gives ``test_of_best_valid``, the report metric of the one architecture that is best by the
    search metric: the protocol of every other nasgen result."""
    objective = oracle.objective
    feasible = oracle.feasible()
    curves = {m: running_best(oracle.values(m), feasible, objective.maximize)
              for m in (objective.search_metric, objective.report_metric)}
    result: dict[str, dict[str, float] | None] = {}
    for n in list(checkpoints) + [oracle.spent]:
        if 0 < n <= oracle.spent:
            reached = not np.isnan(curves[objective.search_metric][n - 1])
            result[str(n)] = {m: float(c[n - 1]) for m, c in curves.items()} if reached else None
    return result


def write_json(path: Path, payload: dict) -> None:
    with atomic_write(path, "w") as f:
        json.dump(payload, f, indent=2, default=_jsonable)


def write_table_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A report table as CSV, written atomically."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header, *rows])
    with atomic_write(path, "w") as f:
        f.write(buffer.getvalue())


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def settling_queries(queries: int) -> int:
    """How many first queries a plot may leave out of its y-range: the random start of a
    search (one bad first cell would otherwise squeeze the rest into a few pixels)."""
    return min(10, queries // 4)


def padded(low: float, high: float) -> tuple[float, float]:
    """``(low, high)`` widened by 5 % of the range on each side (a flat range by 1 % of its value)."""
    pad = 0.05 * (high - low) or 0.01 * abs(high) or 1.0
    return low - pad, high + pad


def focus_limits(curves: Sequence[np.ndarray], optima: Sequence[float | None] = ()) -> tuple[float, float] | None:
    """Y-limits for the interesting range of any-time curves: their values after
    :func:`settling_queries`, widened to include the optima, padded; ``None`` without any
    finite value.

    Failed design: the 5 % quantile of those values as the lower limit hid the searched curve's
    first steps after the random start (a line appearing from below the axis)."""
    settled = np.concatenate([np.asarray(c, float)[settling_queries(len(c)):] for c in curves] or [[]])
    settled = settled[np.isfinite(settled)]
    if not len(settled):
        return None
    known = [float(o) for o in optima if o is not None and np.isfinite(o)]
    return padded(min([float(settled.min()), *known]), max([float(settled.max()), *known]))


def plot_search_curve(oracle: Oracle, path: Path, optima: dict[str, float | None]) -> None:
    """Best-so-far search metric and the report metric of that incumbent, over queries; the
    y-range shows the curves after the first few (random) queries and the optima."""
    objective = oracle.objective
    incumbents = oracle.incumbents()
    queries = np.arange(1, oracle.spent + 1)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    curves = []
    for metric, style in ((objective.search_metric, "-"), (objective.report_metric, "--")):
        curves.append(oracle.values(metric)[incumbents])
        label = f"{metric} ({'searched' if metric == objective.search_metric else 'reported'})"
        line, = ax.plot(queries, curves[-1], style, label=label)
        if optima.get(metric) is not None:
            ax.axhline(optima[metric], color=line.get_color(), lw=0.8, ls=":", label=f"optimum {metric}")
    limits = focus_limits(curves, list(optima.values()))
    if limits is not None:
        ax.set_ylim(*limits)
    ax.set_xlabel("queries")
    ax.set_ylabel("accuracy of the best-so-far architecture (%)")
    ax.set_title("best architecture by searched metric")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def save_figure(fig: plt.Figure, path: Path) -> None:
    """Write ``fig`` as a PNG atomically and release it."""
    fig.tight_layout()
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=120)
    plt.close(fig)
