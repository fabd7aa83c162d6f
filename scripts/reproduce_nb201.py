"""Reproduce the NAS-Bench-201 search results of AG-Net's Table 2 and its ablations with nasgen.

    python scripts/reproduce_nb201.py ag_net_nb201 --seeds 10 --jobs 2     # AG-Net alone
    python scripts/reproduce_nb201.py compare_nb201 --seeds 10 --jobs 2    # every method
    python scripts/reproduce_nb201.py ablations_nb201 --seeds 10 --jobs 2  # variants and ablations
    python scripts/reproduce_nb201.py compare_nb201 --summarize-only outputs/reproduce/compare_nb201

Runs ``nasgen run -m experiment=<experiment>`` over the three datasets and the seeds
(Hydra's joblib launcher when ``--jobs > 1``), writes ``nasgen report`` into the sweep
folder and prints the reported (200-epoch test) accuracy of the best architecture by
200-epoch validation accuracy at 96 and 192 queries (and at every budget the paper gives a
number for, e.g. 100 for ``top_k=1``, 300 for the latent-space ablations, 400) next to the
published numbers.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from nasgen.reporting.report import find_runs, write_report
from nasgen.sweeps import add_sweep_arguments, launch_sweep

DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
BUDGETS = (96, 192)
# Mean test accuracy over 10 trials (CIFAR-10, CIFAR-100, ImageNet16-120): Lukasik, Jung, Keuper
# (ECCV 2022) Table 2 (methods, XGB variants, top_k=1 at 100 and the 400-query setting) and Table 6
# (w/o LSO, w/o backprop); Lukasik's thesis Table 5.8 (search in the generator's latent space, 300).
PAPER = {
    ("ag_net", 96): (94.24, 73.12, 46.20),
    ("ag_net", 192): (94.37, 73.51, 46.43),
    ("ag_net", 300): (94.37, 73.51, 46.22),
    ("random", 192): (93.89, 72.07, 45.98),
    ("bananas", 192): (94.30, 73.50, 46.51),
    ("bo", 192): (94.22, 73.22, 46.40),
    ("ag_net_xgb", 192): (94.34, 72.93, 46.08),
    ("ag_net_xgb_ranking", 192): (94.25, 73.24, 46.16),
    ("ag_net_topk1", 100): (94.16, 73.15, 46.43),
    ("ag_net_400", 400): (94.37, 73.51, 46.42),
    ("ag_net_wo_lso", 192): (93.84, 71.83, 45.04),
    ("ag_net_wo_bp", 192): (94.30, 73.22, 46.13),
    ("latent_random", 300): (93.92, 72.49, 46.05),
    ("latent_local", 300): (94.01, 72.59, 46.07),
    ("latent_bo", 300): (93.99, 72.35, 46.01),
    ("latent_random_lso", 300): (94.37, 73.51, 45.47),
    ("latent_local_lso", 300): (93.96, 72.58, 45.95),
    ("latent_bo_lso", 300): (94.17, 72.67, 45.91),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment", choices=["ag_net_nb201", "compare_nb201", "ablations_nb201"])
    add_sweep_arguments(parser, None, "search=ag_net,random")
    args = parser.parse_intermixed_args()

    out = Path(args.summarize_only or args.out or f"outputs/reproduce/{args.experiment}")
    if not args.summarize_only:
        launch_sweep([f"experiment={args.experiment}", f"benchmark.dataset={','.join(DATASETS)}",
                      f"seed=range({args.first_seed},{args.seeds})", *args.overrides], out, args.jobs)

    runs = find_runs([out])
    budgets = sorted({*BUDGETS, *(b for m, b in PAPER if any(r.method == m for r in runs))})
    print(write_report([out], out / "report", budgets))
    print("\nreported test accuracy at the searched-best architecture, nasgen (mean ± std) vs paper:")
    for method in sorted({r.method for r in runs}):
        budget_cap = max(len(r.searched) for r in runs if r.method == method)
        for budget in (b for b in budgets if b <= budget_cap and (b in BUDGETS or (method, b) in PAPER)):
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
