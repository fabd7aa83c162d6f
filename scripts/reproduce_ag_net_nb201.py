"""Reproduce AG-Net on NAS-Bench-201 (paper Table 2) with nasgen's default settings.

    python scripts/reproduce_ag_net_nb201.py --seeds 10 --jobs 2
    python scripts/reproduce_ag_net_nb201.py --summarize-only outputs/reproduce/ag_net_nb201

Runs ``nasgen run -m experiment=ag_net_nb201`` over the three datasets and the seeds
(Hydra's joblib launcher for ``--jobs > 1``), then prints mean ± std over seeds of the
searched (200-epoch validation) and reported (200-epoch test) accuracy of the best
architecture at 96 and 192 queries, next to the published numbers.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from nasgen.reporting.aggregate import load_results, markdown_table, summarize

DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
# Lukasik et al., ECCV 2022, Table 2 (mean test accuracy over 10 trials).
PAPER_TEST = {96: {"cifar10": 94.24, "cifar100": 73.12, "ImageNet16-120": 46.20},
              192: {"cifar10": 94.37, "cifar100": 73.51, "ImageNet16-120": 46.43}}
CHECKPOINTS = (96, 192)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2, help="parallel runs (one core each)")
    parser.add_argument("--out", default="outputs/reproduce/ag_net_nb201")
    parser.add_argument("--summarize-only", metavar="DIR", help="only summarise an existing sweep directory")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides, e.g. search.epochs=10")
    args = parser.parse_args()

    out = Path(args.summarize_only or args.out)
    if not args.summarize_only:
        command = ["nasgen", "run", "-m", "experiment=ag_net_nb201", f"benchmark.dataset={','.join(DATASETS)}",
                   f"seed=range({args.seeds})", f"hydra.sweep.dir={out}", *args.overrides]
        if args.jobs > 1:
            command += ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={args.jobs}"]
        print(" ".join(command), flush=True)
        start = time.perf_counter()
        subprocess.run(command, check=True)
        print(f"sweep wall-clock: {time.perf_counter() - start:.0f} s with {args.jobs} parallel job(s)")

    results = load_results([out])
    rows = summarize(results, CHECKPOINTS)
    print(markdown_table(rows, CHECKPOINTS))
    print("\nreported metric vs paper (Table 2, test accuracy):")
    for row in rows:
        for n in CHECKPOINTS:
            ours = row[f"report@{n}"]
            if ours:
                paper = PAPER_TEST[n][row["dataset"]]
                print(f"  {row['dataset']:>15} @{n}: nasgen {ours[0]:.2f} ± {ours[1]:.2f}   paper {paper:.2f}")
    pretrain = [r["search_stats"]["pretrain"] for r in results if not r["search_stats"]["pretrain"].get("cached")]
    walls = [r["wall_time_s"] for r in results]
    if walls:
        print(f"\nper-run wall-clock: mean {sum(walls) / len(walls):.0f} s (incl. pretraining when not cached)")
    if pretrain:
        print(f"pretraining: {sum(p['seconds'] for p in pretrain) / len(pretrain):.0f} s per seed, "
              f"validity {min(p['validity'] for p in pretrain):.4f}-{max(p['validity'] for p in pretrain):.4f}")


if __name__ == "__main__":
    sys.exit(main())
