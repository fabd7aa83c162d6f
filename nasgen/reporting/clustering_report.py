"""The ``nasgen report`` section of correlation-clustering runs (``nasgen cluster``; thesis chapter 8).

A run is a folder with ``summary.json`` and ``bounds_trace.csv`` (``nasgen/clustering/run.py``); a ``-m``
sweep is a folder of them. The section writes ``clustering.md``/``.csv`` (one row per run: instance and
size, solver with the settings the run overrode, objective, lower bound, gap, optimality, serial and
simulated parallel seconds, clusters, and Rand index / variation of information where the nodes have
labels) and ``clustering_gap_vs_time.png`` (thesis Fig. 8.1's layout: one panel per instance, one curve
per run). A solve still going or killed counts with the trace it has written; its row says ``running``.
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from omegaconf import OmegaConf

from nasgen.clustering.report import TRACE_COLUMNS, plot_gap_vs_time
from nasgen.paths import atomic_write
from nasgen.reporting.report import _markdown
from nasgen.reporting.results import write_table_csv

TRACE_FILE, SUMMARY_FILE = "bounds_trace.csv", "summary.json"
SOLVER_OVERRIDES = ("clustering.solver.", "seed=", "time_limit_s=")  # the option itself is the label's solver
COLOURS = ("red", "blue", "green", "orange", "purple", "brown", "black", "grey")
HEADER = ("run", "instance", "nodes", "edges", "solver", "status", "objective", "lower_bound", "gap",
          "seconds", "parallel_seconds", "clusters", "rand_index", "variation_of_information")


@dataclass
class ClusterRun:
    path: Path
    label: str             # the solver and the settings of it the run overrode, e.g. "bdcc tau=0"
    summary: dict | None   # None while the solve runs (or after it was killed)
    trace: list[dict]


def read_trace(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return [{key: value if key == "phase" else float(value) for key, value in row.items()}
                for row in csv.DictReader(f)]


def _label(run_dir: Path, solver: str) -> str:
    overrides_file = run_dir / ".hydra" / "overrides.yaml"
    overrides = OmegaConf.to_container(OmegaConf.load(overrides_file)) if overrides_file.is_file() else []
    settings = [o.removeprefix("clustering.solver.") for o in overrides if o.startswith(SOLVER_OVERRIDES)]
    return " ".join([solver, *settings])


def load_cluster_run(run_dir: Path) -> ClusterRun | None:
    """The ``nasgen cluster`` run in ``run_dir``, or None if it is none."""
    trace_file, summary_file = run_dir / TRACE_FILE, run_dir / SUMMARY_FILE
    config_file = run_dir / ".hydra" / "config.yaml"
    if not (trace_file.is_file() and config_file.is_file()):
        return None
    summary = json.loads(summary_file.read_text()) if summary_file.is_file() else None
    solver = summary["solver"] if summary else str(OmegaConf.load(config_file).clustering.solver._target_)
    return ClusterRun(run_dir, _label(run_dir, solver.rsplit(".", 1)[-1]), summary, read_trace(trace_file))


def find_cluster_runs(paths: Sequence["str | Path"]) -> list[ClusterRun]:
    """Every ``nasgen cluster`` run at or under ``paths``, each once, in path order."""
    folders: dict[Path, None] = {}
    for path in map(Path, paths):
        found = [path / TRACE_FILE] if (path / TRACE_FILE).is_file() else sorted(path.rglob(TRACE_FILE))
        folders.update((f.parent.resolve(), None) for f in found)
    return [run for run in map(load_cluster_run, folders) if run is not None]


def _row(run: ClusterRun, root: Path) -> list:
    name = run.path.relative_to(root)
    s = run.summary
    if s is None:
        last = run.trace[-1] if run.trace else dict.fromkeys(TRACE_COLUMNS)
        return [str(name), "?", "", "", run.label, "running", last["upper"], last["lower"], last["gap"],
                last["seconds"], last["parallel_seconds"], "", "", ""]
    size = s["instance"]
    return [str(name), size["name"], size["nodes"], size["edges"], run.label,
            "optimal" if s["optimal"] else "time limit", s["objective"], s["lower_bound"], s["gap"], s["seconds"],
            s["parallel_seconds"], s["clusters"], s.get("rand_index", ""), s.get("variation_of_information", "")]


def _cell(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def write_cluster_report(runs: Sequence[ClusterRun], out: Path) -> str:
    """Write ``clustering.md``/``.csv`` and ``clustering_gap_vs_time.png`` to ``out``; return the markdown."""
    out = Path(out)
    root = runs[0].path.parent if len(runs) == 1 else Path(os.path.commonpath([r.path for r in runs]))
    rows = [_row(run, root) for run in runs]
    write_table_csv(out / "clustering.csv", HEADER, rows)
    panels: dict[str, list] = {}
    for run, row in zip(runs, rows):
        curves = panels.setdefault(f"{row[1]} ({row[2]} nodes, {row[3]} edges)", [])
        curves.append((f"{run.label} ({row[0]})", COLOURS[len(curves) % len(COLOURS)], run.trace))
    plot_gap_vs_time(list(panels.items()), out / "clustering_gap_vs_time.png")
    markdown = (f"Correlation clustering (`nasgen cluster`, thesis ch. 8): {len(runs)} runs under {root}; "
                "seconds: serial wall-clock, parallel_seconds: the simulated parallel time (per iteration the "
                "master and the slowest subproblem); gap = objective - lower bound; Rand index and variation of "
                "information (nats) against the nodes' labels where the instance has them. Gap over time: "
                f"`clustering_gap_vs_time.png`.\n\n{_markdown(HEADER, [[_cell(v) for v in row] for row in rows])}")
    with atomic_write(out / "clustering.md", "w") as f:
        f.write(f"# nasgen report: correlation clustering\n\n{markdown}\n")
    return markdown

