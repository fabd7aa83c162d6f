"""Spearman correlation of each stored proxy with NB201 200-epoch test accuracy, next to the
published values, and agreement with NASLib's published per-cell values.

    python scripts/proxy_correlations.py [--out DIR] [--bootstrap 1000] [--sample N [--sample-seed S]]
                                         [hydra overrides of benchmark=proxy]

Reads whatever cells the proxy store holds (with ``--sample N``: only those of the random sample
``nasgen data score-proxies --sample N --seed S`` scores, so a store that also holds a part of the
space in index order, which is no random sample, gives unbiased correlations) and the NB201
table of the benchmark's base. ``nasgen data score-proxies`` fills the store; the overrides select
the same settings, hence the same store folders. For each proxy and each of cifar10, cifar100,
ImageNet16-120: rho of the value *as stored*
(never ``abs()``: zero-cost-nas issue 4) against ``{dataset}/test_acc@200``, the number of cells,
a bootstrap 95% interval (cells resampled with replacement) and the proxy's declared sign (a
good proxy has rho > 0 if higher is better, rho < 0 if lower is better), next to the values of the
zero-cost-nas notebook (Abdelfattah et al., ICLR 2021, all 15,625 cells, CIFAR-10 / CIFAR-100 /
ImageNet16-120 images). Then, for the cells also in NASLib's zero-cost table
(``<data_root>/nb201/naslib_zc_nb201_subset.json``, NAS-Bench-Suite-Zero), rho between our values
and NASLib's per dataset (NASLib scores each dataset's own images; ours one fixed batch).

Writes ``proxy_correlations.md``, ``proxy_correlations.csv`` and ``proxy_correlations.png``.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import rankdata, spearmanr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nasgen.benchmarks.base import TabularBenchmark  # noqa: E402
from nasgen.benchmarks.proxy_cli import architectures, composed_benchmark  # noqa: E402
from nasgen.errors import ConfigError, DataError  # noqa: E402
from nasgen.paths import atomic_write, data_root  # noqa: E402
from nasgen.spaces.base import arch_id  # noqa: E402
from nasgen.spaces.nb201 import arch_from_naslib  # noqa: E402

DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
# zero-cost-nas notebook (github.com/SamsungLabs/zero-cost-nas), Spearman rho over all NB201 cells.
PUBLISHED = {"synflow": (0.737, 0.763, 0.751), "jacov": (0.731, 0.704, 0.701), "snip": (0.596, 0.637, 0.578),
             "grasp": (0.514, 0.547, 0.549), "fisher": (0.36, 0.385, 0.327)}
# our proxy -> NASLib's name in its zero-cost table
NASLIB_NAMES = {"synflow": "synflow", "jacov": "jacov", "nwot": "nwot", "snip": "snip", "grasp": "grasp",
                "fisher": "fisher", "grad_norm": "grad_norm", "params_M": "params", "flops_M": "flops",
                "l2_norm": "l2_norm", "plain": "plain"}


def bootstrap_interval(x: np.ndarray, y: np.ndarray, samples: int, rng: np.random.Generator) -> tuple[float, float]:
    """95% percentile interval of Spearman rho over ``samples`` resamplings of the pairs."""
    rhos = np.empty(samples)
    for b in range(samples):
        pick = rng.integers(len(x), size=len(x))
        rx, ry = rankdata(x[pick]), rankdata(y[pick])
        rhos[b] = np.corrcoef(rx, ry)[0, 1]
    low, high = np.nanpercentile(rhos, [2.5, 97.5])
    return float(low), float(high)


def naslib_agreement(proxy: str, ours: dict[int, float], space, path: Path) -> dict[str, tuple[int, float]]:
    """Per dataset: (cells in both, Spearman rho of our values with NASLib's)."""
    if proxy not in NASLIB_NAMES or not path.is_file():
        return {}
    table = json.loads(path.read_text())
    agreement = {}
    for dataset in DATASETS:
        pairs = [(ours[i], entry[NASLIB_NAMES[proxy]]["score"]) for key, entry in table.get(dataset, {}).items()
                 if (i := space.index(arch_from_naslib(key))) in ours and NASLIB_NAMES[proxy] in entry]
        values = np.array(pairs, dtype=float).reshape(-1, 2)
        keep = ~np.isnan(values).any(axis=1)
        rho = float(spearmanr(values[keep, 0], values[keep, 1])[0]) if keep.sum() > 2 else float("nan")
        agreement[dataset] = (int(keep.sum()), rho)
    return agreement


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "proxy_correlations")
    parser.add_argument("--proxies", help="comma-separated (default: the benchmark's)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="resamplings for the 95%% interval")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--naslib", type=Path, help="NASLib's NB201 zero-cost table "
                                                     "(default: <data_root>/nb201/naslib_zc_nb201_subset.json)")
    parser.add_argument("--sample", type=int, help="only the cells of score-proxies' --sample N")
    parser.add_argument("--sample-seed", type=int, default=0, help="score-proxies' --seed of that sample")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    benchmark = composed_benchmark(args.overrides)
    sample = None if args.sample is None else \
        {arch_id(benchmark.space, a) for a in architectures(benchmark, args.sample, args.sample_seed, None)}
    if not isinstance(benchmark.base, TabularBenchmark):
        raise ConfigError("the proxy benchmark's base must be a table holding every cell (benchmark=proxy's NB201)")
    root = data_root(benchmark.data_root_dir)
    naslib = args.naslib or (root / "nb201" / "naslib_zc_nb201_subset.json" if root else Path("missing"))
    rng = np.random.default_rng(args.seed)
    rows = []
    for proxy in (args.proxies.split(",") if args.proxies else benchmark.plans):
        plan = benchmark.plans[proxy]
        ours = {i: v for i, v in plan.store.values().items() if sample is None or i in sample}
        if not ours:
            print(f"proxy/{proxy}: nothing stored in {plan.store.folder}; run nasgen data score-proxies")
            continue
        index = np.fromiter(ours, dtype=np.int64)
        values = np.fromiter(ours.values(), dtype=np.float64)
        agreement = naslib_agreement(proxy, ours, benchmark.space, naslib)
        for d, dataset in enumerate(DATASETS):
            accuracy = benchmark.base.column(f"{dataset}/test_acc@200")[index]
            keep = ~(np.isnan(values) | np.isnan(accuracy))
            rho = float(spearmanr(values[keep], accuracy[keep])[0]) if keep.sum() > 2 else float("nan")
            low, high = bootstrap_interval(values[keep], accuracy[keep], args.bootstrap, rng) \
                if keep.sum() > 2 else (float("nan"), float("nan"))
            n_naslib, rho_naslib = agreement.get(dataset, (0, float("nan")))
            rows.append({"proxy": proxy, "better": "higher" if plan.proxy.info.higher_is_better else "lower",
                         "dataset": dataset, "cells": int(keep.sum()), "nan_cells": int((~keep).sum()),
                         "rho": rho, "ci_low": low, "ci_high": high,
                         "published_rho": PUBLISHED.get(proxy, (float("nan"),) * 3)[d],
                         "naslib_cells": n_naslib, "rho_vs_naslib": rho_naslib})
    if not rows:
        raise DataError("no proxy values stored for these settings; run `nasgen data score-proxies` first")
    write(rows, args.out)


def write(rows: list[dict], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    with atomic_write(out / "proxy_correlations.csv", "w") as handle:
        handle.write(text.getvalue())
    lines = ["| proxy | better | dataset | cells | Spearman rho (95% CI) | published | rho vs NASLib (cells) |",
             "|---|---|---|---:|---|---:|---|"]
    for r in rows:
        published = "" if np.isnan(r["published_rho"]) else f"{r['published_rho']:.3f}"
        naslib = "" if not r["naslib_cells"] else f"{r['rho_vs_naslib']:.3f} ({r['naslib_cells']})"
        lines.append(f"| {r['proxy']} | {r['better']} | {r['dataset']} | {r['cells']} | {r['rho']:.3f} "
                     f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}] | {published} | {naslib} |")
    lines.append("\nrho of the stored value (no abs): a predictive proxy has rho > 0 when higher is better, "
                 "rho < 0 when lower is better. Published: zero-cost-nas notebook, all 15,625 cells.")
    with atomic_write(out / "proxy_correlations.md", "w") as handle:
        handle.write("\n".join(lines) + "\n")
    plot(rows, out / "proxy_correlations.png")
    print("\n".join(lines))
    print(f"\nwrote proxy_correlations.{{md,csv,png}} to {out}")


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    proxies = list(dict.fromkeys(r["proxy"] for r in rows))
    fig, axes = plt.subplots(1, len(DATASETS), figsize=(4 * len(DATASETS), 0.45 * len(proxies) + 1.5), sharey=True)
    for ax, dataset in zip(axes, DATASETS):
        by_proxy = {r["proxy"]: r for r in rows if r["dataset"] == dataset}
        y = np.arange(len(proxies))
        ours = np.array([by_proxy[p]["rho"] if p in by_proxy else np.nan for p in proxies])
        low = np.array([by_proxy[p]["ci_low"] if p in by_proxy else np.nan for p in proxies])
        high = np.array([by_proxy[p]["ci_high"] if p in by_proxy else np.nan for p in proxies])
        ax.barh(y - 0.2, ours, height=0.4, xerr=[ours - low, high - ours], label="ours (as stored)")
        ax.barh(y + 0.2, [by_proxy[p]["published_rho"] if p in by_proxy else np.nan for p in proxies], height=0.4,
                label="zero-cost-nas")
        ax.axvline(0, color="black", linewidth=0.5)
        ax.set_title(dataset)
        ax.set_xlabel("Spearman rho with test_acc@200")
    axes[0].set_yticks(np.arange(len(proxies)), proxies)
    axes[0].legend(loc="best", fontsize=8)
    fig.tight_layout()
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
