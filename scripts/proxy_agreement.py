"""Our zero-cost proxy values on NB201 cells next to NASLib's published per-cell values.

    python scripts/proxy_agreement.py --cells 30 --datasets cifar10 --out outputs/proxy_agreement.csv
    python scripts/proxy_agreement.py --input gaussian --proxies synflow,params_M,flops_M

``naslib_zc_nb201_subset.json`` (NAS-Bench-Suite-Zero, early version; see the benchmarks'
PROVENANCE.md) holds, for about 724 cells per dataset, the 200-epoch validation accuracy and
NASLib's proxy values, keyed by NASLib's op tuple, which :func:`nasgen.spaces.nb201.arch_from_naslib`
maps to nasgen's arch. (Its ``idx`` field is not the NB201 index, whatever PROVENANCE.md says:
the parameter counts at ``idx`` disagree with the published ones, those of the op tuples agree
exactly.)
For every dataset column (its input shape and class count: CIFAR-10 32x32/10, CIFAR-100
32x32/100, ImageNet16-120 16x16/120) and proxy, over the first ``--cells`` cells (by NB201 index),
the script prints and writes (``--out``, CSV):

- ``rho_published``: Spearman of our values with the published ones (their agreement);
- ``rho_ours_acc`` and ``rho_published_acc``: Spearman with the validation accuracy of our values
  and of the published ones, on the same cells (raw values: a proxy whose declared sign is
  lower-is-better should come out negative);
- ``max_abs_diff`` for params and FLOPs (about 0 when our networks equal NATS-Bench's);
- ``seconds_per_cell`` and ``cpu_seconds_per_cell``: mean wall-clock and process CPU time of one
  proxy on one cell (copy of the network included); on a shared machine the CPU time is the
  figure to plan with.

The published values were computed on real CIFAR-10/100 and ImageNet16-120 training batches;
here the batch is ``--input data`` (the first ``--batch-size`` training images of ``--dataset``,
resized to the column's shape) or ``--input gaussian``, so data-dependent proxies can only agree
in rank, not in value. Network: NB201 with ``--channels`` and ``--cells-per-stage`` (16 and 5, the
benchmark's), initialised from ``--seed`` (PyTorch's default initialisation; NASLib's may differ).
Set ``OMP_NUM_THREADS`` / ``--threads`` for comparable timings.

Observed (first 30 cells, CIFAR-10 shape, digits batch): the published synflow is the natural
log of the raw value (ours, log10, times ln 10 agrees within about 0.1); the published FLOPs exceed
NATS-Bench's count (which ours equals) by 2-5 M, so they agree in rank only.
"""
from __future__ import annotations

import argparse
import ast
import csv
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr
from tqdm import tqdm

from nasgen.errors import ConfigError
from nasgen.models.nb201_network import NB201Network
from nasgen.paths import atomic_write
from nasgen.proxies.base import score_network
from nasgen.proxies.inputs import proxy_batch
from nasgen.proxies.measures import PROXIES
from nasgen.spaces.nb201 import NB201Space, arch_from_naslib

COLUMNS = {"cifar10": ((3, 32, 32), 10), "cifar100": ((3, 32, 32), 100), "ImageNet16-120": ((3, 16, 16), 120)}
# our proxy -> the published key
PUBLISHED = {"synflow": "synflow", "snip": "snip", "grasp": "grasp", "fisher": "fisher", "grad_norm": "grad_norm",
             "jacov": "jacov", "nwot": "nwot", "l2_norm": "l2_norm", "plain": "plain", "params_M": "params",
             "flops_M": "flops"}
EXACT = ("params_M", "flops_M")  # counts: the values themselves should agree
FIELDS = ("dataset", "proxy", "higher_is_better", "cells", "rho_published", "rho_ours_acc", "rho_published_acc",
          "max_abs_diff", "seconds_per_cell", "cpu_seconds_per_cell")


def spearman(first: np.ndarray, second: np.ndarray) -> float:
    """Spearman rho over the pairs where neither value is NaN (-inf ranks lowest)."""
    keep = ~(np.isnan(first) | np.isnan(second))
    return float(spearmanr(first[keep], second[keep])[0]) if keep.sum() > 2 else float("nan")


def score_column(column: str, records: list[dict], proxies: list[str], args: argparse.Namespace,
                 space: NB201Space) -> tuple[list[dict], list[dict]]:
    """Score every cell of one dataset column; the summary rows and the per-cell rows."""
    shape, classes = COLUMNS[column]
    batch = proxy_batch(args.input, args.dataset, args.batch_size, shape, classes, args.seed)
    ours = {name: [] for name in proxies}
    seconds = {name: 0.0 for name in proxies}
    cpu_seconds = {name: 0.0 for name in proxies}
    cells = []
    for record in tqdm(records, desc=f"{column} ({len(records)} cells)", leave=False):
        arch = arch_from_naslib(ast.literal_eval(record["arch"]))
        torch.manual_seed(args.seed)
        network = NB201Network(arch, classes, args.channels, args.cells_per_stage, shape[0])
        cell = {"dataset": column, "index": space.index(arch), "arch": space.to_str(arch),
                "val_acc": record["val_accuracy"]}
        for name in proxies:
            start, cpu_start = time.perf_counter(), time.process_time()
            value = score_network(network, [PROXIES[name]], batch, args.seed)[PROXIES[name].info.metric]
            seconds[name] += time.perf_counter() - start
            cpu_seconds[name] += time.process_time() - cpu_start
            ours[name].append(value)
            cell[name] = value
            if name in PUBLISHED:
                cell[f"published_{name}"] = record[PUBLISHED[name]]["score"]
        cells.append(cell)
    accuracy = np.array([r["val_accuracy"] for r in records], dtype=float)
    rows = []
    for name in proxies:
        mine = np.array(ours[name], dtype=float)
        published = (np.array([r[PUBLISHED[name]]["score"] for r in records], dtype=float)
                     if name in PUBLISHED else np.full(len(records), np.nan))
        rows.append({
            "dataset": column, "proxy": name, "higher_is_better": PROXIES[name].info.higher_is_better,
            "cells": len(records), "rho_published": spearman(mine, published), "rho_ours_acc": spearman(mine, accuracy),
            "rho_published_acc": spearman(published, accuracy),
            "max_abs_diff": float(np.nanmax(np.abs(mine - published))) if name in EXACT else float("nan"),
            "seconds_per_cell": seconds[name] / len(records), "cpu_seconds_per_cell": cpu_seconds[name] / len(records),
        })
    return rows, cells


def write_csv(path: Path, rows: list[dict], fields: "tuple[str, ...] | list[str]") -> None:
    with atomic_write(path, "w") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(fields))
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_path = Path(os.environ.get("NASGEN_DATA", "../shared/benchmarks")) / "nb201" / "naslib_zc_nb201_subset.json"
    parser.add_argument("--path", type=Path, default=default_path, help="NASLib's per-cell NB201 proxy values")
    parser.add_argument("--cells", type=int, default=None, help="the first N cells by NB201 index (default: all)")
    parser.add_argument("--datasets", default=",".join(COLUMNS), help=f"comma-separated, of {', '.join(COLUMNS)}")
    parser.add_argument("--proxies", default=",".join(PUBLISHED), help=f"comma-separated, of {', '.join(PROXIES)}")
    parser.add_argument("--input", choices=("data", "gaussian"), default="data")
    parser.add_argument("--dataset", choices=("digits", "fashion_mnist", "cifar10"), default="digits",
                        help="images of the batch with --input data")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--cells-per-stage", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("outputs/proxy_agreement.csv"))
    parser.add_argument("--values", type=Path, default=None, help="also write every cell's values to this CSV")
    args = parser.parse_args()

    datasets = [d for d in args.datasets.split(",") if d]
    proxies = [p for p in args.proxies.split(",") if p]
    for what, chosen, valid in (("dataset", datasets, COLUMNS), ("proxy", proxies, PROXIES)):
        unknown = sorted(set(chosen) - set(valid))
        if unknown:
            raise ConfigError(f"unknown {what} {', '.join(unknown)}; valid choices: {', '.join(valid)}")
    if not args.path.is_file():
        raise ConfigError(f"{args.path} not found: pass --path to NASLib's naslib_zc_nb201_subset.json")
    torch.set_num_threads(args.threads)
    table = json.loads(args.path.read_text())
    space = NB201Space()
    summary, cells = [], []
    for column in datasets:
        records = sorted(table[column].values(),
                         key=lambda r: space.index(arch_from_naslib(ast.literal_eval(r["arch"]))))[:args.cells]
        rows, values = score_column(column, records, proxies, args, space)
        summary.extend(rows)
        cells.extend(values)
        write_csv(args.out, summary, FIELDS)  # incrementally: a finished column is never lost
    print(f"{'dataset':15} {'proxy':15} {'better':>6} {'cells':>5} {'rho pub':>8} {'rho acc':>8} "
          f"{'pub acc':>8} {'max|d|':>8} {'s/cell':>8} {'cpu s':>8}")
    for row in summary:
        better = "higher" if row["higher_is_better"] else "lower"
        print(f"{row['dataset']:15} {row['proxy']:15} {better:>6} {row['cells']:5d} {row['rho_published']:8.3f} "
              f"{row['rho_ours_acc']:8.3f} {row['rho_published_acc']:8.3f} {row['max_abs_diff']:8.2g} "
              f"{row['seconds_per_cell']:8.3f} {row['cpu_seconds_per_cell']:8.3f}")
    if args.values:
        write_csv(args.values, cells, list(dict.fromkeys(k for cell in cells for k in cell)))
    print(f"wrote {args.out}" + (f" and {args.values}" if args.values else ""))


if __name__ == "__main__":
    main()
