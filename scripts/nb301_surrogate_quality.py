"""How well does the YAHPO NB301 surrogate rank and predict real NB301 results?

    NASGEN_DATA=../shared/benchmarks python scripts/nb301_surrogate_quality.py
    python scripts/nb301_surrogate_quality.py --data-root /data --epochs 98 50

Compares the surrogate's predicted validation accuracy (``benchmark=nb301 source=yahpo``, at each
``--epochs``) with the measured 100-epoch validation accuracy of NASLib's NB301 cells
(``source=naslib_zc``, 500 trained architectures of the NB301 data): Kendall tau, Spearman rho,
mean / max absolute error and mean signed error (prediction - measurement), in accuracy points.
Caveat: the surrogate was fitted to the NB301 data, which most likely contains these cells, so this
measures how faithfully it reproduces them, not how it generalises to unseen cells.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
from scipy.stats import kendalltau, spearmanr

from nasgen.benchmarks import NB301Benchmark
from nasgen.errors import NasgenError

MEASURED = "nb301_data/cifar10/valid_acc@100"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", help="folder holding nb301/ (default $NASGEN_DATA)")
    parser.add_argument("--epochs", type=int, nargs="+", default=[98], help="surrogate epochs to compare (1..98)")
    args = parser.parse_args()
    try:
        table = NB301Benchmark(source="naslib_zc", data_root_dir=args.data_root)
        archs, measured = table.archs(), table.column(MEASURED)
        print(f"{len(archs)} NASLib NB301 cells, measured {MEASURED}: mean {measured.mean():.2f}, "
              f"range {measured.min():.2f} .. {measured.max():.2f}\n")
        print("| surrogate metric | Kendall tau | Spearman rho | mean abs error | max abs error | mean error |")
        print("|---|---|---|---|---|---|")
        for epoch in args.epochs:
            surrogate = NB301Benchmark(source="yahpo", epoch=epoch, data_root_dir=args.data_root)
            metric = f"nb301_yahpo/cifar10/valid_acc@{epoch}"
            predicted = surrogate.query(archs, metric)
            error = predicted - measured
            print(f"| {metric} | {kendalltau(predicted, measured)[0]:.3f} | {spearmanr(predicted, measured)[0]:.3f} | "
                  f"{np.abs(error).mean():.3f} | {np.abs(error).max():.3f} | {error.mean():+.3f} |")
    except NasgenError as exc:
        sys.exit(f"nb301_surrogate_quality: error: {exc}")


if __name__ == "__main__":
    main()
