"""Reproduce AG-Net's hardware-aware NAS-Bench-201 experiment (paper Table 5) with nasgen.

    python scripts/reproduce_hw_nb201.py --seeds 10 --jobs 2
    python scripts/reproduce_hw_nb201.py --summarize-only outputs/reproduce/hw_nb201

Runs ``nasgen run -m experiment=hw_nb201`` (AG-Net Joint=0 and Joint=1, random search,
local search from 1 and from 16 architectures and NSGA-II, on every device/limit pair of
the experiment, 200 queries), writes ``nasgen report`` into the sweep folder and prints,
per task, the best-of-seeds and mean accuracy, the feasibility ratio and the number of runs
that found the constrained optimum, AG-Net next to random search.

Our accuracies are CIFAR-10 ones and the latencies HW-NAS-Bench's CIFAR-10 ones, the data
shipped with nasgen; the paper used ImageNet16-120 accuracies with ImageNet16-120 latencies
from the full HW-NAS-Bench pickle (``benchmark.costs=[hwnasbench]``), so the numbers are
not comparable one to one: compare methods within a row.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nasgen.reporting.report import find_runs, hardware_table, write_report
from nasgen.sweeps import add_sweep_arguments, launch_sweep

BUDGETS = (100, 200)
# AG-Net found the constrained optimum in 15 of 20 tasks, random search in none (paper Sec. 4.3).
METHODS = ("ag_net_hw", "ag_net_hw_joint", "random", "local", "local_init1", "nsga2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_sweep_arguments(parser, "outputs/reproduce/hw_nb201", "search=ag_net_hw,random")
    args = parser.parse_intermixed_args()

    out = Path(args.summarize_only or args.out)
    if not args.summarize_only:
        launch_sweep(["experiment=hw_nb201", f"seed=range({args.first_seed},{args.seeds})", *args.overrides], out,
                     args.jobs)
    write_report([out], out / "report", BUDGETS)
    header, rows = hardware_table(find_runs([out]))
    column = {name: i for i, name in enumerate(header)}
    by_task: dict[str, dict[str, list[str]]] = {}
    for row in rows:
        by_task.setdefault(row[column["constraint"]], {})[row[column["method"]]] = row
    methods = [m for m in METHODS if any(m in cells for cells in by_task.values())]
    print("per task: best of seeds searched (reported) @cost | mean searched | feasibility | optimum found")
    for task, cells in by_task.items():
        optimum = next(iter(cells.values()))
        print(f"\n{task}  (optimum {optimum[column['optimum: searched']]} / {optimum[column['optimum: reported']]} "
              f"@{optimum[column['optimum: cost']]})")
        for method in methods:
            if method in cells:
                c = cells[method]
                print(f"  {method:>16}: {c[column['best: searched']]} ({c[column['best: reported']]}) "
                      f"@{c[column['best: cost']]} | {c[column['mean searched']]} | {c[column['feasibility']]} | "
                      f"{c[column['optimum found']]}")
    hits = {m: sum(int(cells[m][column["optimum found"]].split("/")[0]) > 0 for cells in by_task.values()
                   if m in cells and cells[m][column["optimum found"]] != "-") for m in methods}
    print(f"\ntasks where at least one run found the constrained optimum (of {len(by_task)}): "
          + ", ".join(f"{m} {n}" for m, n in hits.items()))
    print(f"report: {out / 'report' / 'report.md'}")


if __name__ == "__main__":
    sys.exit(main())
