"""Performance-predictor quality on a tabular benchmark: Kendall tau, Spearman rho and RMSE on
held-out cells against the number of training cells.

    python scripts/predictor_quality.py --seeds 3
    python scripts/predictor_quality.py --dataset cifar100 --sizes 16 64 256 --predictors mlp,xgb
    python scripts/predictor_quality.py --benchmark nb101 --seeds 3 --out /tmp/pq_nb101

Compares AG-Net's MLP, XGBoost, the BANANAS ensemble (path encoding), DNGO and a GP
(:mod:`nasgen.evaluation.predictor_quality`) on the labelled architectures of the benchmark:
``nb201`` (the bundled table; ``--dataset``, metric ``valid_acc@200``, sizes 16-1024, 1,000 test
cells) or ``nb101`` (NASLib's zero-cost table of 292 distinct labelled cells,
``nb101/naslib_zc_nb101_subset.json`` under $NASGEN_DATA or ``--path``; metric
``cifar10/valid_acc@108``, sizes 16-192, 100 test cells). Writes ``<out>/predictor_quality.csv``
(one row per predictor, size and seed), ``predictor_quality.md`` (mean ± std over seeds) and
``predictor_quality.png``, and prints the markdown tables.

``--features proxy/synflow,proxy/params_M`` appends training-free proxies to every predictor's
input (standardised over the training cells; :mod:`nasgen.predictors.features`), read from the
proxy benchmark ``benchmark=proxy`` composes with the trailing Hydra overrides (NB201 only; cells
the store lacks are scored first: fill it with ``nasgen data score-proxies`` to pay that once):

    python scripts/predictor_quality.py --predictors mlp,xgb --features proxy/synflow,proxy/params_M \\
        --out /tmp/pq_features
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from nasgen.benchmarks import NB101Benchmark, NB201Benchmark
from nasgen.benchmarks.proxy_cli import composed_benchmark
from nasgen.errors import NasgenError, choose
from nasgen.evaluation.predictor_quality import (
    default_predictors,
    markdown_table,
    plot_predictor_quality,
    predictor_quality,
    write_csv,
)
from nasgen.paths import atomic_write

# Per benchmark: metric after '<dataset>/', training sizes, test cells, output folder.
DEFAULTS = {"nb201": ("valid_acc@200", [16, 32, 64, 128, 256, 512, 1024], 1000, "outputs/quality/predictors"),
            "nb101": ("valid_acc@108", [16, 32, 64, 128, 192], 100, "outputs/quality/predictors_nb101")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--benchmark", default="nb201", help="nb201 | nb101")
    parser.add_argument("--path", help="nb101: the NASLib zero-cost file (default $NASGEN_DATA/nb101/...)")
    parser.add_argument("--dataset", default="cifar10", help="nb201: cifar10 | cifar100 | ImageNet16-120")
    parser.add_argument("--metric", help="metric after '<dataset>/' (nb201: valid_acc@200, nb101: valid_acc@108)")
    parser.add_argument("--sizes", type=int, nargs="+", help="training-set sizes (nb201: 16 .. 1024, nb101: 16 .. 192)")
    parser.add_argument("--test-size", type=int, help="test cells (nb201: 1000, nb101: 100)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1")
    parser.add_argument("--predictors", default="mlp,xgb,bananas,dngo,gp")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", help="output folder (nb201: outputs/quality/predictors, "
                                      "nb101: outputs/quality/predictors_nb101)")
    parser.add_argument("--features", default="", help="comma-separated proxies appended to the encodings "
                                                        "(nb201), e.g. proxy/synflow,proxy/params_M")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of benchmark=proxy (with --features)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    try:
        choose("--benchmark", args.benchmark, list(DEFAULTS))
        metric_default, sizes_default, test_default, out_default = DEFAULTS[args.benchmark]
        if args.benchmark == "nb101":
            choose("--dataset of nb101", args.dataset, ["cifar10"])
            benchmark = NB101Benchmark(source="naslib_zc", path=args.path)
        else:
            benchmark = NB201Benchmark(args.dataset)
        metric = f"{args.dataset}/{args.metric or metric_default}"
        test_size = args.test_size or test_default
        available = default_predictors()
        names = args.predictors.split(",")
        for name in names:
            choose("predictor", name, list(available))
        features = [f for f in args.features.split(",") if f]
        if features and args.benchmark != "nb201":
            raise NasgenError("--features reads the NB201 proxy benchmark; drop it with --benchmark nb101")
        source = composed_benchmark(args.overrides) if features else None
        rows = predictor_quality({name: available[name] for name in names}, benchmark.space, benchmark, metric,
                                 args.sizes or sizes_default, test_size, range(args.seeds), features, source)
    except NasgenError as exc:
        sys.exit(f"error: {exc}")
    out = Path(args.out or out_default)
    write_csv(rows, out / "predictor_quality.csv")
    markdown = markdown_table(rows)
    with atomic_write(out / "predictor_quality.md", "w") as f:
        extra = f", features {', '.join(features)}" if features else ""
        f.write(f"# Predictor quality: {metric}, {test_size} test cells, {args.seeds} seeds{extra}\n\n{markdown}")
    plot_predictor_quality(rows, out / "predictor_quality.png")
    print(markdown)
    print(f"written {out}/predictor_quality.{{csv,md,png}}")


if __name__ == "__main__":
    main()
