"""``nasgen report`` over one-shot runs (``study=oneshot``: a supernet search with selection rules).

A one-shot run directory holds ``results.json`` and ``trajectory.csv`` (one row per search epoch
at which a selection rule derived a cell, with the table's accuracies of that cell). Runs are
grouped by (op set, supernet, selection rule of the run, search dataset); within a group each
rule of the trajectory (``magnitude`` is derived in every run, ``pt`` where the run selects with
it) is a row: mean ± std and best over seeds of the final cell's accuracies, the seeds, how many
final cells are dominated by parameter-free ops, and which cells they were. The trajectory plot
is the layout of Wang (2021) Fig. 3.1: accuracy of each rule's cell over search epochs, the mean
over seeds, one panel per dataset (and a row of panels per group).

A run whose supernet never learns alpha (``supernet=fix_alpha``, ``protocol.alpha_learned`` false)
has no magnitude cell worth a row: with equal weights argmax takes the first op of every edge (the
all-skip cell in s2, all-``none`` elsewhere), which is no search result, and in s2 it even equals
the DARTS collapse number of the papers (54.30). Its magnitude rule is left out of table and plot.

A run that is still going or was killed counts in the trajectory plot with the epochs it has, and
in the table only once it is complete (its final cell is the one of the last selection epoch).
"""
from __future__ import annotations

import csv
import json
import math
import re
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from nasgen.benchmarks.nb201 import DATASETS, metric_name  # noqa: E402
from nasgen.paths import atomic_write  # noqa: E402
from nasgen.reporting.references import ONESHOT_FOOTNOTE, ONESHOT_REFERENCES  # noqa: E402
from nasgen.reporting.report import _markdown  # noqa: E402
from nasgen.reporting.results import save_figure, write_table_csv  # noqa: E402
from nasgen.spaces import darts_genotype, nb201  # noqa: E402

# Columns of trajectory.csv that are no accuracy of the derived cell.
_NOT_METRIC = {"epoch", "rule", "arch", "index", "genotype", "seconds", "cell"}
# Op names of the spaces with a one-shot supernet (the supernet-only `noise` op of s4/S4 included)
# and those of them without weights.
_OP_NAMES = frozenset({*nb201.OPS, *darts_genotype.OPS_WITH_NONE, "noise"})
PARAMETER_FREE = nb201.PARAMETER_FREE_OPS | darts_genotype.PARAMETER_FREE_OPS
MAGNITUDE = "magnitude"
RULE_ORDER = (MAGNITUDE, "pt")
GROUP_FIELDS = ("op_set", "supernet", "selection", "search_dataset")


@dataclass
class OneShotRun:
    path: Path
    seed: int | None
    group: tuple[str, str, str, str]  # GROUP_FIELDS
    complete: bool
    trajectory: list[dict[str, str]] = field(default_factory=list)
    alpha_learned: bool = True

    def rules(self) -> list[str]:
        """The rules with cells worth reporting (see the module docstring on fixed alpha)."""
        return _ordered({row["rule"] for row in self.trajectory if self.alpha_learned or row["rule"] != MAGNITUDE})

    def curve(self, rule: str, metric: str) -> dict[int, float]:
        """Epoch -> ``metric`` of the rule's cell (NaN where the cell is not in the table)."""
        return {int(float(row["epoch"])): _number(row.get(metric)) for row in self.trajectory if row["rule"] == rule}

    def final(self, rule: str) -> dict[str, str] | None:
        """The trajectory row of the rule's final cell (its last selection epoch); ``None`` while the
        run is not complete."""
        rows = [row for row in self.trajectory if row["rule"] == rule]
        return max(rows, key=lambda row: float(row["epoch"])) if rows and self.complete else None


def _ordered(rules: set[str]) -> list[str]:
    return sorted(rules, key=lambda r: (RULE_ORDER.index(r) if r in RULE_ORDER else len(RULE_ORDER), r))


def _number(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


def op_names(arch: str) -> list[str]:
    """The op names in a cell's text (an NB201 arch string or a DARTS genotype), in order."""
    return [token for token in re.findall(r"[a-z][a-z0-9_]*", arch) if token in _OP_NAMES]


def parameter_free_share(arch: str) -> float:
    """Share of the cell's ops that have no weights (NaN for a text without op names)."""
    ops = op_names(arch)
    return sum(op in PARAMETER_FREE for op in ops) / len(ops) if ops else math.nan


def _group_of(run_dir: Path, results: dict) -> tuple[str, str, str, str]:
    """(op set, supernet, selection, search dataset): the run's ``supernet`` and ``selection``
    config-group choices (darts, fix_alpha, drnas; magnitude, pt) where Hydra recorded them, else
    ``results.json``'s protocol (the relaxation's and the rule's names), else its composed config."""
    protocol, config = results.get("protocol") or {}, results.get("config") or {}
    study = config.get("study") or {}
    hydra_file = run_dir / ".hydra" / "hydra.yaml"
    choices = ((yaml.safe_load(hydra_file.read_text()) or {}).get("hydra", {}).get("runtime", {})
               .get("choices", {})) if hydra_file.is_file() else {}
    fallback = {"op_set": (study.get("network") or {}).get("op_set"),
                "supernet": _target_name((study.get("supernet") or {}).get("relaxation")),
                "selection": _target_name(study.get("selection")),
                "search_dataset": study.get("dataset")}
    return tuple(str(choices.get(key) or protocol.get(key) or fallback[key] or "?")  # type: ignore[return-value]
                 for key in GROUP_FIELDS)


def _target_name(node: dict | None) -> str | None:
    target = (node or {}).get("_target_") if isinstance(node, dict) else None
    return target.rsplit(".", 1)[-1] if target else None


def load_oneshot_run(run_dir: Path) -> OneShotRun | None:
    results_file, trajectory_file = run_dir / "results.json", run_dir / "trajectory.csv"
    if not (results_file.is_file() and trajectory_file.is_file()):
        return None
    results = json.loads(results_file.read_text())
    with open(trajectory_file, newline="") as f:
        rows = [row for row in csv.DictReader(f) if row.get("rule") and row.get("epoch")]
    alpha_learned = bool((results.get("protocol") or {}).get("alpha_learned", True))
    return OneShotRun(run_dir, results.get("seed"), _group_of(run_dir, results), results.get("status") == "complete",
                      rows, alpha_learned)


def find_oneshot_runs(paths: Sequence["str | Path"]) -> list[OneShotRun]:
    """Every one-shot run directory (``results.json`` next to ``trajectory.csv``) at or under
    ``paths`` (a run, a ``-m`` multirun folder, a folder of them)."""
    runs = []
    for path in map(Path, paths):
        trajectories = [path / "trajectory.csv"] if (path / "trajectory.csv").is_file() else \
            sorted(path.rglob("trajectory.csv"))
        runs += [run for run in (load_oneshot_run(t.parent) for t in trajectories) if run is not None]
    return runs


def reported_metrics(runs: Sequence[OneShotRun]) -> list[str]:
    """The test accuracies the trajectories hold (NB201: ``<dataset>/test_acc@200`` of the three
    table datasets, in the table's order); any other numeric column where there is no test one."""
    columns = list(dict.fromkeys(c for run in runs for row in run.trajectory[:1] for c in row))
    longest: dict[str, tuple[int, str]] = {}  # per dataset the test accuracy after the most epochs
    for column in columns:
        match = re.fullmatch(r"(?P<dataset>.+)/test_acc@(?P<epochs>\d+)", column)
        if match and int(match["epochs"]) >= longest.get(match["dataset"], (-1, ""))[0]:
            longest[match["dataset"]] = (int(match["epochs"]), column)
    metrics = [column for _, column in longest.values()]
    if not metrics:
        metrics = [c for c in columns if c not in _NOT_METRIC and "/" in c]
    order = {name: i for i, name in enumerate(DATASETS)}
    return sorted(metrics, key=lambda m: (order.get(m.split("/")[0], len(order)), m))


def _cells(values: list[float]) -> tuple[str, str]:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return "-", "-"
    return f"{np.mean(values):.2f} ± {np.std(values):.2f}", f"{max(values):.2f}"


def oneshot_table(runs: Sequence[OneShotRun], references: Sequence[str] = ()) -> tuple[list[str], list[list[str]]]:
    """Rows per group and rule (see the module docstring), then the NB201 reference rows of
    ``references`` (names in :data:`ONESHOT_REFERENCES`)."""
    metrics = reported_metrics(runs)
    header = [*GROUP_FIELDS, "rule", "seeds", "partial runs"]
    for metric in metrics:
        header += [f"{metric} mean ± std", f"{metric} best"]
    header += ["final epoch", "parameter-free share", "parameter-free dominated", "final cells"]
    groups: dict[tuple[str, ...], list[OneShotRun]] = defaultdict(list)
    for run in runs:
        groups[run.group].append(run)
    rows = []
    for group, members in sorted(groups.items()):
        for rule in _ordered({r for run in members for r in run.rules()}):
            finals = [(run, final) for run in members for final in [run.final(rule)] if final is not None]
            partial = sum(1 for run in members if not run.complete and rule in run.rules())
            row = [*group, rule, str(len({run.seed for run, _ in finals})), str(partial)]
            for metric in metrics:
                row += list(_cells([_number(final.get(metric)) for _, final in finals]))
            shares = [parameter_free_share(final.get("arch", "")) for _, final in finals]
            known = [s for s in shares if not math.isnan(s)]
            epochs = sorted({int(float(final["epoch"])) for _, final in finals})
            names = [final.get("index") or final.get("arch") or "(no cell)" for _, final in finals]
            counts = ", ".join(f"{name} x{names.count(name)}" if names.count(name) > 1 else str(name)
                               for name in dict.fromkeys(names))
            row += ["/".join(map(str, epochs)) or "-",
                    f"{np.mean(known):.2f}" if known else "-",
                    f"{sum(s > 0.5 for s in known)}/{len(known)}" if known else "-",
                    counts or "-"]
            rows.append(row)
    for name in references:
        for reference in ONESHOT_REFERENCES[name][0]:
            cells = {"op_set": "full (NB201)", "supernet": "-", "selection": "-", "search_dataset": "per dataset",
                     "rule": reference.label, "seeds": "not stated", "partial runs": "-"}
            for dataset, value in zip(DATASETS, reference.accuracies):
                column = f"{metric_name(dataset, 'test', 200)} mean ± std"
                cells[column] = value or "-"
            rows.append([cells.get(column, "-") for column in header])
    return header, rows


def darts_space_table(references: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    header = ["source", "space", "dataset", "method", "test error (%)"]
    rows = [[r.source, r.space, r.dataset, r.method, r.test_error] for name in references
            for r in ONESHOT_REFERENCES[name][1]]
    return header, rows


def plot_trajectories(runs: Sequence[OneShotRun], path: Path) -> None:
    """Wang (2021) Fig. 3.1 layout: per group a row of panels, one per reported dataset; per rule
    the mean over seeds (±1 std band) of its cell's accuracy at each selection epoch."""
    metrics = reported_metrics(runs)
    groups = sorted({run.group for run in runs})
    if not metrics or not groups:
        return
    fig, axes = plt.subplots(len(groups), len(metrics), figsize=(4.4 * len(metrics), 3.4 * len(groups)),
                             squeeze=False)
    for row, group in enumerate(groups):
        members = [run for run in runs if run.group == group]
        for column, metric in enumerate(metrics):
            ax = axes[row][column]
            for rule in _ordered({r for run in members for r in run.rules()}):
                curves = [run.curve(rule, metric) for run in members if rule in run.rules()]
                epochs = sorted({e for curve in curves for e in curve})
                values = np.array([[curve.get(e, math.nan) for e in epochs] for curve in curves])
                with warnings.catch_warnings():  # an epoch whose cells are all outside the table
                    warnings.simplefilter("ignore", RuntimeWarning)
                    mean, std = np.nanmean(values, 0), np.nanstd(values, 0)
                line, = ax.plot(epochs, mean, marker="o", ms=3, label=f"{rule} (n={len(curves)})")
                ax.fill_between(epochs, mean - std, mean + std, color=line.get_color(), alpha=0.2)
            ax.set_title(f"{metric}\n{', '.join(group)}", fontsize=8)
            ax.set_xlabel("search epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel("test accuracy of the derived cell (%)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    save_figure(fig, path)


TABLE_NOTE = ("Final cell of each rule (the last selection epoch) of complete runs, looked up in the table: mean "
              "± std over seeds and the best seed, per column. The supernets searched on `search_dataset`, so the "
              "table's accuracies measure how the cells transfer. `parameter-free share`: mean share of ops without "
              f"weights ({', '.join(sorted(PARAMETER_FREE))}) in the final cells; `dominated`: cells where they are "
              "more than half. `final cells`: NB201 index (or the cell) per seed; 1835 is the all-skip cell.")


def write_oneshot_report(runs: Sequence[OneShotRun], out: Path, references: Sequence[str] = ()) -> str:
    """Write ``oneshot.md``, ``oneshot.csv``, ``oneshot_trajectory.png`` (and, with references,
    ``oneshot_darts_space_references.csv``) to ``out``; return the markdown."""
    out = Path(out)
    header, rows = oneshot_table(runs, references)
    write_table_csv(out / "oneshot.csv", header, rows)
    markdown = f"One-shot NAS: {len(runs)} runs\n\n{TABLE_NOTE}\n\n{_markdown(header, rows)}"
    darts_header, darts_rows = darts_space_table(references)
    if darts_rows:
        write_table_csv(out / "oneshot_darts_space_references.csv", darts_header, darts_rows)
        markdown += ("\n\nPublished DARTS-space results (search on the dataset itself, 600-epoch retraining; "
                     f"reference only)\n\n{_markdown(darts_header, darts_rows)}")
    if references:
        markdown += f"\n\n{ONESHOT_FOOTNOTE}"
    with atomic_write(out / "oneshot.md", "w") as f:
        f.write(f"# nasgen one-shot report\n\n{markdown}\n")
    plot_trajectories(runs, out / "oneshot_trajectory.png")
    return markdown
