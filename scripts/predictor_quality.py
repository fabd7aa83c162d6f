"""Performance-predictor quality on NAS-Bench-201: Kendall tau, Spearman rho and RMSE on
held-out cells against the number of training cells.

    python scripts/predictor_quality.py --seeds 3
    python scripts/predictor_quality.py --dataset cifar100 --sizes 16 64 256 --predictors mlp,xgb

Compares AG-Net's MLP, XGBoost, the BANANAS ensemble (path encoding), DNGO and a GP
(:mod:`nasgen.evaluation.predictor_quality`) on the bundled benchmark. Writes
``<out>/predictor_quality.csv`` (one row per predictor, size and seed),
``predictor_quality.md`` (mean ± std over seeds) and ``predictor_quality.png``, and prints the
markdown tables.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from nasgen.benchmarks import NB201Benchmark
from nasgen.errors import NasgenError, choose
from nasgen.evaluation.predictor_quality import (
    default_predictors,
    markdown_table,
    plot_predictor_quality,
    predictor_quality,
    write_csv,
)
from nasgen.paths import atomic_write


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="cifar10", help="cifar10 | cifar100 | ImageNet16-120")
    parser.add_argument("--metric", default="valid_acc@200", help="metric after '<dataset>/' (default valid_acc@200)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64, 128, 256, 512, 1024],
                        help="training-set sizes")
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1")
    parser.add_argument("--predictors", default="mlp,xgb,bananas,dngo,gp")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", default="outputs/quality/predictors")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    try:
        available = default_predictors()
        names = args.predictors.split(",")
        for name in names:
            choose("predictor", name, list(available))
        rows = predictor_quality({name: available[name] for name in names}, NB201Benchmark(args.dataset),
                                 f"{args.dataset}/{args.metric}", args.sizes, args.test_size, range(args.seeds))
    except NasgenError as exc:
        sys.exit(f"error: {exc}")
    out = Path(args.out)
    write_csv(rows, out / "predictor_quality.csv")
    markdown = markdown_table(rows)
    with atomic_write(out / "predictor_quality.md", "w") as f:
        f.write(f"# Predictor quality: {args.dataset}/{args.metric}, {args.test_size} test cells, "
                f"{args.seeds} seeds\n\n{markdown}")
    plot_predictor_quality(rows, out / "predictor_quality.png")
    print(markdown)
    print(f"written {out}/predictor_quality.{{csv,md,png}}")


if __name__ == "__main__":
    main()
