"""Reproduce "NAS on robustness" (Lukasik thesis 2023, Table 7.1) with nasgen.

    python scripts/reproduce_robust_nb201.py --seeds 10 --jobs 2
    python scripts/reproduce_robust_nb201.py --seeds 3 --methods random,local,evolution
    python scripts/reproduce_robust_nb201.py --summarize-only outputs/reproduce/robust_nb201

Runs ``nasgen run -m experiment=robust_nb201`` over the search methods, the two objectives
(search clean accuracy / FGSM accuracy at eps = 1/255) and the seeds, 300 queries each, on
the NB201 robustness dataset (CIFAR-10; set ``data_root`` / ``$NASGEN_DATA``). Then prints,
per objective and method, the mean over seeds of the best-found architecture's clean, FGSM,
PGD, APGD-CE and Square accuracy (eps = 1/255) and CIFAR-10-C mean accuracy, next to the
thesis' numbers (mean over 100 runs there), and writes ``table.md`` and ``nasgen report``
into the sweep folder.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from nasgen.benchmarks.robustness import RobustnessBenchmark
from nasgen.paths import atomic_write
from nasgen.reporting.report import find_runs, write_report
from nasgen.sweeps import launch_sweep

METHODS = ("random", "local", "evolution", "bananas", "ag_net")
OBJECTIVES = ("robust_clean", "robust_fgsm")
BUDGET = 300
# Table columns: header -> metric suffix after robust/<dataset>/.
COLUMNS = {"Clean": "clean", "FGSM": "fgsm@eps=1", "PGD": "pgd@eps=1", "APGD": "apgd_ce@eps=1",
           "Square": "square@eps=1", "C-mean": "corruption_mean"}
# Lukasik, "Neural architecture search: ... robustness" (PhD thesis, 2023), Table 7.1 (also
# Jung, Lukasik, Keuper, ICLR 2023): CIFAR-10, 300 queries, mean over 100 runs; columns as COLUMNS.
PAPER = {
    ("optimum", ""): (94.68, 69.24, 58.85, 54.02, 73.61, 58.55),
    ("clean", "bananas"): (94.21, 64.25, 41.10, 18.62, 68.69, 55.52),
    ("clean", "local"): (94.65, 63.95, 41.17, 18.74, 69.59, 56.90),
    ("clean", "random"): (94.22, 63.38, 40.09, 17.84, 68.40, 55.60),
    ("clean", "evolution"): (94.53, 63.30, 40.23, 18.11, 68.92, 56.21),
    ("fgsm@eps=1", "bananas"): (93.52, 66.35, 45.59, 20.72, 68.01, 54.88),
    ("fgsm@eps=1", "local"): (93.86, 69.10, 48.27, 23.18, 69.47, 56.57),
    ("fgsm@eps=1", "random"): (93.57, 67.25, 46.15, 20.93, 68.44, 55.10),
    ("fgsm@eps=1", "evolution"): (93.77, 68.82, 47.99, 22.59, 69.20, 56.11),
}


def best_row(history: Path, search_metric: str, budget: int) -> dict[str, str] | None:
    """The history row of the best architecture by ``search_metric`` within the first
    ``budget`` queries (the earliest on ties, as the oracle's incumbent); None if unfinished."""
    with open(history, newline="") as f:
        rows = list(csv.DictReader(f))[:budget]
    if len(rows) < budget:
        return None
    return max(rows, key=lambda row: float(row[search_metric]))


def _cell(values: list[float], paper: float | None) -> str:
    ours = f"{np.mean(values):.2f} ± {np.std(values):.2f}" if values else "-"
    return ours + (f" [{paper:.2f}]" if paper is not None else "")


def summarize(out: Path, budget: int) -> str:
    """Table 7.1 for the runs under ``out`` as markdown (paper values in brackets)."""
    runs = find_runs([out])
    groups: dict[tuple[str, str, str], list[dict[str, str]]] = defaultdict(list)
    unfinished = 0
    for run in runs:
        row = best_row(run.path / "history.csv", run.search_metric, budget)
        if row is None:
            unfinished += 1
            continue
        objective = run.search_metric.split("/", 2)[-1]
        groups[(run.dataset, objective, run.method)].append(row)
    header = ["dataset", "searched", "method", "runs", *COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for dataset in sorted({key[0] for key in groups}):
        optimum = _optimum_row(runs, dataset)
        if optimum:
            paper = PAPER[("optimum", "")] if dataset == "cifar10" else [None] * len(COLUMNS)
            lines.append(f"| {dataset} | optimum | | | " + " | ".join(
                f"{v:.2f}" + (f" [{p:.2f}]" if p is not None else "") for v, p in zip(optimum, paper)) + " |")
        for (ds, objective, method), rows in sorted(groups.items()):
            if ds != dataset:
                continue
            paper = PAPER.get((objective, method)) if dataset == "cifar10" else None
            cells = [_cell([float(r[f"robust/{dataset}/{suffix}"]) for r in rows], paper[i] if paper else None)
                     for i, suffix in enumerate(COLUMNS.values())]
            lines.append(f"| {dataset} | {objective} | {method} | {len(rows)} | " + " | ".join(cells) + " |")
    note = (f"\nmean ± std over seeds of the best architecture (by the searched metric) after {budget} queries; "
            "[thesis Table 7.1, mean over 100 runs]")
    if unfinished:
        note += f"\n{unfinished} run(s) with fewer than {budget} queries left out"
    return "\n".join(lines) + note


def _optimum_row(runs, dataset: str) -> list[float] | None:
    """The benchmark optimum of each column, from the resolved config of a run on ``dataset``."""
    for run in runs:
        results = run.path / "results.json"
        if run.dataset != dataset or not results.is_file():
            continue
        config = json.loads(results.read_text())["config"]["benchmark"]
        benchmark = RobustnessBenchmark(dataset, config.get("path"), config.get("data_root_dir"))
        return [benchmark.optimum(f"robust/{dataset}/{suffix}") for suffix in COLUMNS.values()]
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2, help="parallel runs (one core each)")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma list of search methods ({METHODS})")
    parser.add_argument("--out", default="outputs/reproduce/robust_nb201", help="sweep folder")
    parser.add_argument("--summarize-only", metavar="DIR", help="only summarise an existing sweep folder")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides, e.g. data_root=../shared/benchmarks")
    args = parser.parse_intermixed_args()

    out = Path(args.summarize_only or args.out)
    if not args.summarize_only:
        launch_sweep(["experiment=robust_nb201", f"search={args.methods}", f"objective={','.join(OBJECTIVES)}",
                      f"seed=range({args.seeds})", f"budget={BUDGET}", *args.overrides], out, args.jobs)

    write_report([out], out / "report", (100, 200, BUDGET))
    table = summarize(out, BUDGET)
    with atomic_write(out / "table.md", "w") as f:
        f.write(f"# NAS on robustness (thesis Table 7.1)\n\n{table}\n")
    print(table)


if __name__ == "__main__":
    sys.exit(main())
