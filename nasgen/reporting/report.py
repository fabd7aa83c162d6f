"""``nasgen report``: turn run directories (single runs, sweeps, partial or finished)
into a paper-style table and any-time curves.

Every run directory holding a ``history.csv`` counts, finished or not: incumbents are
recomputed from the history, so a sweep that is still running or was interrupted is
reported with the seeds it has so far (the table says how many per cell).
"""
from __future__ import annotations

import csv
import io
import json
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402

from nasgen.errors import DataError  # noqa: E402
from nasgen.paths import atomic_write  # noqa: E402
from nasgen.reporting.references import FOOTNOTE, ONESHOT_REFERENCES, REFERENCES  # noqa: E402
from nasgen.reporting.results import focus_limits, padded, running_best, save_figure, settling_queries  # noqa: E402
from nasgen.search.oracle import incumbent_positions  # noqa: E402

if TYPE_CHECKING:
    from omegaconf import DictConfig

# Overrides that do not make a different method: they vary inside one table cell
# (seed), have their own column (dataset, budget) or only change bookkeeping.
_NOT_METHOD = {"seed", "benchmark.dataset", "search", "experiment", "resume", "budget", "name", "data_root",
               "device", "torch_threads", "hardware", "hardware.device", "hardware.limit_ms", "objective.cost_metric",
               "objective.cost_limit", "variant"}
_NOT_METHOD_PREFIXES = ("hydra", "evaluation")


@dataclass
class Run:
    path: Path
    method: str
    label: str
    dataset: str
    search_metric: str
    report_metric: str
    maximize: bool
    seed: int | None = None
    budget: int | None = None
    report_at: tuple[int, ...] = ()  # the run's evaluation.summary.report_at query counts
    optimum: dict[str, float] = field(default_factory=dict)
    searched: np.ndarray = field(default_factory=lambda: np.empty(0))
    reported: np.ndarray = field(default_factory=lambda: np.empty(0))
    robustness: dict = field(default_factory=dict)  # the robustness suite's summary, if it ran
    cost_metric: str | None = None
    cost_limit: float | None = None
    costs: np.ndarray = field(default_factory=lambda: np.empty(0))
    hardware: dict = field(default_factory=dict)  # the hardware suite's summary, if it ran

    @property
    def constraint(self) -> str:
        """The cost constraint in words ("" without a cost)."""
        if not self.cost_metric:
            return ""
        return f"{self.cost_metric} <= {self.cost_limit:g}" if self.cost_limit is not None else self.cost_metric

    def feasible(self) -> np.ndarray:
        return self.costs <= self.cost_limit if self.cost_limit is not None else np.ones(len(self.searched), bool)

    def incumbent_positions(self) -> np.ndarray:
        """Per query, the position of the best (feasible, under a constraint) architecture so far."""
        scores = self.searched if self.maximize else -self.searched
        return incumbent_positions(np.where(self.feasible(), scores, -np.inf))

    def incumbent_curves(self) -> tuple[np.ndarray, np.ndarray]:
        """Per query: best searched value so far, and the reported value of that architecture
        (NaN while no queried architecture satisfies the constraint)."""
        positions = self.incumbent_positions()
        reached = np.maximum.accumulate(self.feasible())
        return (np.where(reached, self.searched[positions], np.nan),
                np.where(reached, self.reported[positions], np.nan))

    def running_maxima(self) -> tuple[np.ndarray, np.ndarray]:
        """Per query: the best searched value and, separately, the best reported value over the
        (feasible) queries so far, usually of different architectures (the INN thesis' protocol)."""
        feasible = self.feasible()
        return (running_best(self.searched, feasible, self.maximize),
                running_best(self.reported, feasible, self.maximize))


def _benchmark_label(benchmark: "DictConfig") -> str:
    """A benchmark without a dataset setting by its class and source: ``nb301/yahpo``."""
    label = str(benchmark.get("_target_", "")).rsplit(".", 1)[-1].removesuffix("Benchmark").lower()
    return f"{label}/{benchmark.source}" if benchmark.get("source") else label


def _final_budget(run_dir: Path, budget: int | None) -> int | None:
    """The run's budget, or the queries it paid when it completed with fewer (a search that ran
    out of new architectures, e.g. latent BO whose batches decode to queried cells): the table then
    has a column where the run ended instead of one it never reaches."""
    results = run_dir / "results.json"
    if budget is None or not results.is_file():
        return budget
    summary = json.loads(results.read_text())
    complete = summary.get("status") == "complete" and isinstance(summary.get("queries"), int)
    return min(budget, summary["queries"]) if complete else budget


def _load_run(history: Path) -> Run | None:
    run_dir = history.parent
    config_file, hydra_file = run_dir / ".hydra" / "config.yaml", run_dir / ".hydra" / "hydra.yaml"
    if not config_file.is_file():
        return None
    from omegaconf import OmegaConf

    config = OmegaConf.load(config_file)
    objective = OmegaConf.to_container(config.objective, resolve=True)
    dataset = str(config.benchmark.get("dataset") or _benchmark_label(config.benchmark))
    overrides = yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text()) or [] \
        if (run_dir / ".hydra" / "overrides.yaml").is_file() else []
    method = "?"
    if hydra_file.is_file():
        choices = yaml.safe_load(hydra_file.read_text())["hydra"]["runtime"]["choices"]
        method = choices.get("variant") or choices.get("search", "?")  # an AG-Net variant names the method
    keys = {o: o.split("=")[0].lstrip("+~") for o in overrides}
    extra = sorted(o for o, key in keys.items() if key not in _NOT_METHOD and not key.startswith(_NOT_METHOD_PREFIXES))
    with open(history, newline="") as f:
        rows = list(csv.DictReader(f))
    run = Run(run_dir, method, " ".join([method, *extra]), dataset, objective["search_metric"],
              objective["report_metric"], bool(objective.get("maximize", True)), seed=config.get("seed"),
              budget=_final_budget(run_dir, config.get("budget")),
              report_at=tuple(OmegaConf.select(config, "evaluation.summary.report_at", default=None) or ()))
    run.searched = np.array([float(r[run.search_metric]) for r in rows])
    run.reported = np.array([float(r[run.report_metric]) for r in rows])
    if objective.get("cost_metric"):
        run.cost_metric, run.cost_limit = objective["cost_metric"], objective.get("cost_limit")
        run.costs = np.array([float(r[run.cost_metric]) for r in rows])
    results = run_dir / "results.json"
    if results.is_file():
        import json

        finished = json.loads(results.read_text())
        run.optimum = {k: v for k, v in finished.get("optimum", {}).items() if v is not None}
        run.robustness = finished.get("robustness") or {}
        run.hardware = finished.get("hardware") or {}
    return run


def find_runs(paths: Sequence["str | Path"], required: bool = True) -> list[Run]:
    """The search runs (folders with ``history.csv`` and ``.hydra/``) at or under ``paths``;
    ``required``: none is an error."""
    runs = []
    for path in map(Path, paths):
        if not path.exists():
            raise DataError(f"{path} does not exist")
        histories = [path / "history.csv"] if (path / "history.csv").is_file() else sorted(path.rglob("history.csv"))
        runs += [r for r in map(_load_run, histories) if r is not None and len(r.searched)]
    if not runs and required:
        raise DataError(f"no nasgen runs (folders with history.csv and .hydra/) under {', '.join(map(str, paths))}")
    return runs


def _cell(values: list[float]) -> str:
    values = [v for v in values if not np.isnan(v)]
    return f"{np.mean(values):.2f} ± {np.std(values):.2f}" if values else "-"


def _groups(runs: Sequence[Run]) -> dict[tuple[str, str, str], list[Run]]:
    """Runs by (dataset, constraint, method label): the cells of every table."""
    groups: dict[tuple[str, str, str], list[Run]] = defaultdict(list)
    for run in runs:
        groups[(run.dataset, run.constraint, run.label)].append(run)
    return dict(sorted(groups.items(), key=lambda item: (item[0][0], _constraint_order(item[1][0]), item[0][2])))


def _constraint_order(run: Run) -> tuple[str, float]:
    return run.cost_metric or "", run.cost_limit if run.cost_limit is not None else np.inf


def default_budgets(runs: Sequence[Run]) -> list[int]:
    """The query counts the runs themselves report at: their ``evaluation.summary.report_at``
    values and their budgets."""
    return sorted({int(b) for run in runs for b in (*run.report_at, run.budget) if b is not None})


def table(runs: Sequence[Run], budgets: Sequence[int],
          curves: Callable[[Run], tuple[np.ndarray, np.ndarray]] = Run.incumbent_curves,
          ) -> tuple[list[str], list[list[str]]]:
    """Rows per (dataset, [constraint,] method label): mean ± std of the reported and searched
    metric at each budget, with the number of runs that reached it (and, under a constraint, had
    a feasible architecture by then). ``curves`` gives a run's searched and reported value per
    query: by default the incumbent's (``test_of_best_valid``), :meth:`Run.running_maxima` for
    the separate maxima. ``seeds`` counts distinct seeds; a ``runs`` column follows where some
    cell holds more runs than seeds (a seed run twice)."""
    constrained = any(run.constraint for run in runs)
    groups = _groups(runs)
    seeds = {key: len({r.seed for r in members}) for key, members in groups.items()}
    repeated = any(len(members) != seeds[key] for key, members in groups.items())
    header = ["dataset", *(["constraint"] if constrained else []), "method", "searched metric", "reported metric",
              "seeds", *(["runs"] if repeated else [])]
    for budget in budgets:
        header += [f"reported @{budget}", f"searched @{budget}", f"n @{budget}"]
    rows = []
    for (dataset, constraint, label), members in groups.items():
        row = [dataset, *([constraint] if constrained else []), label, members[0].search_metric,
               members[0].report_metric, str(seeds[(dataset, constraint, label)]),
               *([str(len(members))] if repeated else [])]
        for budget in budgets:
            reached = [curves(r) for r in members if len(r.searched) >= budget]
            reached = [(s, rep) for s, rep in reached if not np.isnan(s[budget - 1])]
            row += [_cell([rep[budget - 1] for _, rep in reached]), _cell([s[budget - 1] for s, _ in reached]),
                    str(len(reached))]
        rows.append(row)
    return header, rows


def max_over_queried_table(runs: Sequence[Run], budgets: Sequence[int], references: Sequence[str] = (),
                           ) -> tuple[list[str], list[list[str]]]:
    """:func:`table` of the best searched and the best reported value over all queried
    architectures, each maximised separately (``max_test_over_queried``), with the published
    rows of ``references`` (names in :data:`REFERENCES`) beside the runs of their dataset. The
    budgets grow by the reference rows' query counts (e.g. 190 beside 192); a reference row fills
    only the columns of its own query count (the optimum's row fills every column)."""
    rows_of = [row for name in references for row in REFERENCES[name]]
    budgets = sorted({*budgets, *(row.queries for row in rows_of if row.queries is not None)})
    header, rows = table(runs, budgets, Run.running_maxima)
    for reference in rows_of:
        cells = {"dataset": reference.dataset, "constraint": "", "method": reference.label,
                 "searched metric": "validation accuracy", "reported metric": "test accuracy", "seeds": "10"}
        for budget in budgets:
            filled = reference.queries in (None, budget)
            cells |= {f"reported @{budget}": reference.reported if filled else "-",
                      f"searched @{budget}": reference.searched if filled else "-",
                      f"n @{budget}": "10" if filled else "0"}
        rows.append([cells.get(column, "-") for column in header])
    order = {dataset: i for i, dataset in enumerate(dict.fromkeys(row[0] for row in rows))}
    return header, sorted(rows, key=lambda row: order[row[0]])


def hardware_table(runs: Sequence[Run]) -> tuple[list[str], list[list[str]]]:
    """AG-Net Table 5 per (dataset, constraint, method) for runs with a cost: the best run's
    architecture (by searched metric) with its reported metric and cost, the mean over runs,
    the feasibility ratio of all queried architectures, how many runs found the constrained
    optimum, the hypervolume ratio to the true front and the optimum itself."""
    header = ["dataset", "constraint", "method", "runs", "best: searched", "best: reported", "best: cost",
              "mean searched", "mean reported", "feasibility", "optimum found", "hypervolume ratio",
              "optimum: searched", "optimum: reported", "optimum: cost"]
    rows = []
    for (dataset, constraint, label), members in _groups(runs).items():
        if not constraint:
            continue
        finals = []  # (searched, reported, cost) of each run's final incumbent, if feasible
        for run in members:
            position = run.incumbent_positions()[-1]
            if run.feasible()[position]:
                finals.append((run.searched[position], run.reported[position], run.costs[position]))
        sign = 1.0 if members[0].maximize else -1.0
        best = max(finals, key=lambda f: sign * f[0]) if finals else None
        optimum = next((r.hardware["optimum"] for r in members if r.hardware.get("optimum")), None)
        found = [r.hardware["optimum_found"] for r in members if "optimum_found" in r.hardware]
        ratios = [r.hardware["hypervolume"]["ratio"] for r in members
                  if (r.hardware.get("hypervolume") or {}).get("ratio") is not None]
        metrics = (members[0].search_metric, members[0].report_metric, members[0].cost_metric)
        rows.append([
            dataset, constraint, label, str(len(members)),
            *([f"{v:.2f}" for v in best] if best else ["-"] * 3),
            _cell([f[0] for f in finals]), _cell([f[1] for f in finals]) + f" (n={len(finals)})",
            _cell([float(r.feasible().mean()) for r in members]),
            f"{sum(found)}/{len(found)}" if found else "-",
            _cell(ratios),
            *([f"{optimum[m]:.2f}" for m in metrics] if optimum else ["-"] * 3),
        ])
    return header, rows


def robustness_table(runs: Sequence[Run], epsilon: str = "1") -> tuple[list[str], list[list[str]]]:
    """Rows per (dataset, method) for runs whose best architecture went through the robustness
    suite: mean ± std over seeds of clean accuracy, each attack at ``epsilon`` (in 1/255), the
    mean corruption accuracy (all in %) and the training-free measures."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for run in runs:
        if run.robustness:
            groups[(run.dataset, run.label)].append(run.robustness)
    attacks = sorted({a for members in groups.values() for r in members for a in r.get("attacks", {})})
    header = ["dataset", "method", "runs", "clean", *(f"{a} @eps={epsilon}" for a in attacks), "corruption mean",
              "jacobian norm", "hessian eigenvalue"]
    rows = []
    for (dataset, label), members in sorted(groups.items()):
        def percent(values: list) -> str:
            return _cell([100 * v for v in values if v is not None])

        row = [dataset, label, str(len(members)), percent([r.get("clean_accuracy") for r in members])]
        row += [percent([r.get("attacks", {}).get(a, {}).get(epsilon) for r in members]) for a in attacks]
        row.append(percent([r.get("corruption_mean_accuracy") for r in members]))
        for measure in ("jacobian_norm", "hessian_max_eigenvalue"):
            values = [r["measures"][measure] for r in members if measure in r.get("measures", {})]
            row.append(f"{np.mean(values):.3g} ± {np.std(values):.2g}" if values else "-")
        rows.append(row)
    return header, rows


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
                      *("| " + " | ".join(r) + " |" for r in rows)])


def _panel_grid(count: int, width: float = 5.2, height: float = 4.0) -> tuple[plt.Figure, list[plt.Axes]]:
    """A figure with ``count`` panels, at most five per row."""
    columns = min(count, 5)
    rows = -(-count // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, height * rows), squeeze=False)
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:count])


def _mean_curves(members: Sequence[Run]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per method label: mean and std over its runs of the incumbent's reported metric per query."""
    curves = {}
    for label in sorted({r.label for r in members}):
        runs = [r.incumbent_curves()[1] for r in members if r.label == label]
        padded_runs = np.full((len(runs), max(len(c) for c in runs)), np.nan)
        for i, c in enumerate(runs):
            padded_runs[i, : len(c)] = c
        with warnings.catch_warnings():  # queries before any run had a feasible architecture
            warnings.simplefilter("ignore", RuntimeWarning)
            curves[f"{label} (n={len(runs)})"] = np.nanmean(padded_runs, 0), np.nanstd(padded_runs, 0)
    return curves


def _draw_curves(ax: plt.Axes, curves: dict[str, tuple[np.ndarray, np.ndarray]], optimum: float | None,
                 legend: bool) -> None:
    for label, (mean, std) in curves.items():
        x = np.arange(1, len(mean) + 1)
        ax.plot(x, mean, label=label if legend else None)
        ax.fill_between(x, mean - std, mean + std, alpha=0.2)
    if optimum is not None:
        ax.axhline(optimum, color="k", ls=":", lw=0.8, label="optimum" if legend else None)
    ax.grid(alpha=0.3)


def plot_curves(runs: Sequence[Run], path: Path) -> None:
    """Mean and ±1 std band of the incumbent's reported metric over queries, one panel per
    dataset, constraint and reported metric, one line per method; the (constrained) optimum
    as a dotted line. Each panel's y-range holds all of its curves and bands; where the first
    (random) queries squeeze the rest, an inset zooms on the range after them.

    Failed design: y-limits fitted to the curves after the first 16 queries cut off real data
    (the early queries and their bands) without saying so."""
    panels = sorted({(r.dataset, r.constraint, r.report_metric) for r in runs})
    fig, axes = _panel_grid(len(panels))
    for ax, (dataset, constraint, report_metric) in zip(axes, panels):
        members = [r for r in runs if (r.dataset, r.constraint, r.report_metric) == (dataset, constraint,
                                                                                     report_metric)]
        curves = _mean_curves(members)
        optimum = next((r.optimum.get(r.report_metric) for r in members if r.optimum), None)
        _draw_curves(ax, curves, optimum, legend=True)
        bands = [band for mean, std in curves.values() for band in (mean - std, mean + std)]
        values = np.concatenate([*bands, [optimum] if optimum is not None else []])
        values = values[np.isfinite(values)]
        legend_place: dict = {"loc": "best"}
        if len(values):
            low, high = padded(float(values.min()), float(values.max()))
            ax.set_ylim(low, high)
            focus = focus_limits(bands, [optimum])
            if focus is not None and focus[1] - focus[0] < (high - low) / 3:
                zoom = ax.inset_axes([0.42, 0.06, 0.55, 0.5])
                _draw_curves(zoom, curves, optimum, legend=False)
                length = max(len(mean) for mean, _ in curves.values())
                zoom.set_xlim(settling_queries(length) + 1, length)
                zoom.set_ylim(*focus)
                zoom.tick_params(labelsize=7)
                zoom.set_title(f"after query {settling_queries(length)}", fontsize=7)
                ax.indicate_inset_zoom(zoom, edgecolor="0.5")
                legend_place = {"loc": "lower left", "bbox_to_anchor": (0.1, 0.02)}  # beside the inset
        title = f"{dataset}{', ' + constraint if constraint else ''}"
        searched = members[0].search_metric
        ax.set_title(f"{title}\n" + (f"best {report_metric}" if searched == report_metric else
                                     f"{report_metric} of the best by {searched}"), fontsize=9)
        ax.set_xlabel("queries")
        ax.set_ylabel(report_metric)
        ax.legend(fontsize=7, **legend_place)
    save_figure(fig, path)


def plot_hardware(runs: Sequence[Run], path: Path) -> None:
    """The accuracy/cost plane per dataset and constraint: each run's best feasible architecture
    (one marker per method), the constrained optimum (star) and the limit (dashed)."""
    constrained = sorted((r for r in runs if r.cost_limit is not None), key=lambda r: (r.dataset, _constraint_order(r)))
    panels = list(dict.fromkeys((r.dataset, r.constraint) for r in constrained))
    fig, axes = _panel_grid(len(panels), width=4.4, height=3.6)
    markers = "os^vDP<>Xh"
    for ax, (dataset, constraint) in zip(axes, panels):
        members = [r for r in constrained if (r.dataset, r.constraint) == (dataset, constraint)]
        for marker, label in zip(markers * 10, sorted({r.label for r in members})):
            finals = [(r.costs[i], r.searched[i]) for r in members if r.label == label
                      for i in [r.incumbent_positions()[-1]] if r.feasible()[i]]
            if finals:
                ax.scatter(*zip(*finals), marker=marker, s=22, alpha=0.7, label=label)
        optimum = next((r.hardware["optimum"] for r in members if r.hardware.get("optimum")), None)
        if optimum is not None:
            ax.scatter([optimum[members[0].cost_metric]], [optimum[members[0].search_metric]], marker="*", s=150,
                       c="k", label="constrained optimum", zorder=3)
        ax.axvline(members[0].cost_limit, color="red", ls="--", lw=0.8)
        ax.set_title(f"{dataset}, {constraint}", fontsize=9)
        ax.set_xlabel(members[0].cost_metric)
        ax.set_ylabel(members[0].search_metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    save_figure(fig, path)


MAIN_TABLE = ("Reported metric of the best architecture by the searched metric (one architecture per run: "
              "`test_of_best_valid`, the protocol of every nasgen result)")
MAX_TABLE = ("Best value of each metric over all queried architectures (each maximised separately; the INN "
             "thesis' protocol: `max_test_over_queried`)")


def write_report(paths: Sequence["str | Path"], out: "str | Path", budgets: Sequence[int] | None = None,
                 references: Sequence[str] = ()) -> str:
    """Write ``report.md``, ``report.csv`` (:data:`MAIN_TABLE`), ``max_over_queried.csv``
    (:data:`MAX_TABLE`, with the published rows of ``references``), ``curves.png`` and, for runs
    with a cost constraint, ``hardware.csv`` and ``hardware.png``, for runs with the robustness
    suite ``robustness.csv``, to ``out``; return the markdown. ``budgets``: the query counts of
    the tables (default: those the runs report at, :func:`default_budgets`).

    One-shot runs (``study=oneshot``) among ``paths`` get their own table and trajectory plot
    (:func:`~nasgen.reporting.oneshot_report.write_oneshot_report`: ``oneshot.md``, ...), in
    ``report.md`` too; ``references`` may name rows of either kind. Runs of the 1-D inverse-problem
    study (``study=das_inverse``) get theirs with the thesis' cells beside them
    (:func:`~nasgen.reporting.das_inverse_report.write_das_inverse_report`: ``das_inverse_table.md``, ...).
    ``nasgen cluster`` runs get a table of their bounds and a gap-vs-time plot
    (:func:`~nasgen.reporting.clustering_report.write_cluster_report`: ``clustering.md``, ...).

    Failed design: fixed default budgets (96, 192, 300) left the table of a 32-query run empty."""
    # these modules use this one's helpers
    from nasgen.reporting.clustering_report import find_cluster_runs, write_cluster_report
    from nasgen.reporting.das_inverse_report import find_das_inverse_runs, write_das_inverse_report
    from nasgen.reporting.oneshot_report import find_oneshot_runs, write_oneshot_report

    out = Path(out)
    oneshot, inverse, clustering = find_oneshot_runs(paths), find_das_inverse_runs(paths), find_cluster_runs(paths)
    runs = find_runs(paths, required=not (oneshot or inverse or clustering))
    oneshot_markdown = write_oneshot_report(oneshot, out, [r for r in references if r in ONESHOT_REFERENCES]) \
        if oneshot else ""
    study_markdown = "\n\n".join(m for m in (oneshot_markdown,
                                               write_das_inverse_report(inverse, out) if inverse else "",
                                               write_cluster_report(clustering, out) if clustering else "") if m)
    references = [r for r in references if r in REFERENCES]
    if not runs:
        counts = ", ".join(f"{n} {kind} runs" for n, kind in ((len(oneshot), "one-shot"),
                                                               (len(inverse), "1-D inverse-problem"),
                                                               (len(clustering), "correlation-clustering")) if n)
        with atomic_write(out / "report.md", "w") as f:
            f.write(f"# nasgen report\n\n{counts} from {', '.join(map(str, paths))}\n\n{study_markdown}\n")
        return study_markdown
    budgets = default_budgets(runs) if budgets is None else budgets
    tables = {"report.csv": table(runs, budgets), "max_over_queried.csv": max_over_queried_table(runs, budgets,
                                                                                                  references)}
    markdown = f"{MAIN_TABLE}\n\n{_markdown(*tables['report.csv'])}"
    markdown += f"\n\n{MAX_TABLE}\n\n{_markdown(*tables['max_over_queried.csv'])}"
    if references:
        markdown += f"\n\n{FOOTNOTE}"
    hardware_header, hardware_rows = hardware_table(runs)
    if hardware_rows:
        tables["hardware.csv"] = (hardware_header, hardware_rows)
        markdown += ("\n\nHardware-aware search: best of all runs, means over runs (of runs with a feasible "
                     "architecture), feasibility = share of queried architectures within the limit\n\n")
        markdown += _markdown(hardware_header, hardware_rows)
        plot_hardware(runs, out / "hardware.png")
    robust_header, robust_rows = robustness_table(runs)
    if robust_rows:
        tables["robustness.csv"] = (robust_header, robust_rows)
        markdown += "\n\nRobustness of the best architectures (accuracy in %)\n\n"
        markdown += _markdown(robust_header, robust_rows)
    if study_markdown:
        markdown += f"\n\n{study_markdown}"
    for name, (header, rows) in tables.items():
        buffer = io.StringIO()
        csv.writer(buffer).writerows([header, *rows])
        with atomic_write(out / name, "w") as f:
            f.write(buffer.getvalue())
    with atomic_write(out / "report.md", "w") as f:
        f.write(f"# nasgen report\n\n{len(runs)} runs from {', '.join(map(str, paths))}\n\n{markdown}\n")
    plot_curves(runs, out / "curves.png")
    return markdown
