"""Reproduce the NAS-Bench-201 search results of AG-Net's Table 2 with nasgen.

    python scripts/reproduce_nb201.py ag_net_nb201 --seeds 10 --jobs 2     # AG-Net alone
    python scripts/reproduce_nb201.py compare_nb201 --seeds 10 --jobs 2    # every method
    python scripts/reproduce_nb201.py compare_nb201 --summarize-only outputs/reproduce/compare_nb201

Runs ``nasgen run -m experiment=<experiment>`` over the three datasets and the seeds
(Hydra's joblib launcher when ``--jobs > 1``), writes ``nasgen report`` into the sweep
folder and prints the reported (200-epoch test) accuracy of the best architecture by
200-epoch validation accuracy at 96 and 192 queries next to the published numbers.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from nasgen.reporting.report import find_runs, write_report
from nasgen.sweeps import launch_sweep

DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
BUDGETS = (96, 192)
# Lukasik, Jung, Keuper (ECCV 2022), Table 2: mean test accuracy over 10 trials.
PAPER = {
    ("ag_net", 96): (94.24, 73.12, 46.20),
    ("ag_net", 192): (94.37, 73.51, 46.43),
    ("random", 192): (93.89, 72.07, 45.98),
    ("bananas", 192): (94.30, 73.50, 46.51),
    ("bo", 192): (94.22, 73.22, 46.40),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment", choices=["ag_net_nb201", "compare_nb201"])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2, help="parallel runs (one core each)")
    parser.add_argument("--out", help="sweep folder (default outputs/reproduce/<experiment>)")
    parser.add_argument("--summarize-only", metavar="DIR", help="only summarise an existing sweep folder")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides, e.g. search=ag_net,random")
    args = parser.parse_intermixed_args()

    out = Path(args.summarize_only or args.out or f"outputs/reproduce/{args.experiment}")
    if not args.summarize_only:
        launch_sweep([f"experiment={args.experiment}", f"benchmark.dataset={','.join(DATASETS)}",
                      f"seed=range({args.seeds})", *args.overrides], out, args.jobs)

    print(write_report([out], out / "report", BUDGETS))
    runs = find_runs([out])
    print("\nreported test accuracy at the searched-best architecture, nasgen (mean ± std) vs paper:")
    for method in sorted({r.method for r in runs}):
        for budget in BUDGETS:
            cells = []
            for i, dataset in enumerate(DATASETS):
                reached = [r.incumbent_curves()[1][budget - 1] for r in runs
                           if r.method == method and r.dataset == dataset and len(r.searched) >= budget]
                paper = PAPER.get((method, budget))
                ours = f"{np.mean(reached):.2f} ± {np.std(reached):.2f} (n={len(reached)})" if reached else "-"
                cells.append(f"{dataset} {ours}" + (f" [paper {paper[i]:.2f}]" if paper else ""))
            print(f"  {method:>10} @{budget}: " + " | ".join(cells))


if __name__ == "__main__":
    sys.exit(main())
