"""Performance-predictor quality on a tabular benchmark: rank correlation and error on
held-out cells against the number of training cells (the protocol of White et al., "How
powerful are performance predictors in NAS?", NeurIPS 2021).

The labelled architectures are the benchmark's (:meth:`TabularBenchmark.archs`). Per seed, one
random architecture of each of ``test_size`` random isomorphism classes (:meth:`SearchSpace.key`)
forms the test set; the training cells are drawn the same way from the remaining classes, so no
training cell is isomorphic to a test cell (or to another training cell). Training sets are
nested: the first ``n`` of one random order for every size ``n``.

Predictors (:func:`default_predictors`): AG-Net's MLP, XGBoost, the BANANAS ensemble,
DNGO and a GP, each on the encoding its search uses (binary vector, BANANAS: path encoding).
With ``features`` every predictor also reads those free metrics of ``feature_source`` (e.g.
``proxy/synflow`` of the proxy benchmark), standardised over the training cells
(:mod:`nasgen.predictors.features`; White et al. 2021 add zero-cost proxies the same way).
"""
from __future__ import annotations

import csv
import time
from collections import defaultdict
from dataclasses import dataclass
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Callable, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from scipy.stats import kendalltau, spearmanr  # noqa: E402

from nasgen.benchmarks.base import Benchmark, TabularBenchmark  # noqa: E402
from nasgen.build import build  # noqa: E402
from nasgen.errors import ConfigError, choose  # noqa: E402
from nasgen.paths import atomic_write  # noqa: E402
from nasgen.predictors.base import Predictor  # noqa: E402
from nasgen.predictors.features import check_features, with_features  # noqa: E402
from nasgen.predictors.mlp import MLPPredictor  # noqa: E402
from nasgen.predictors.xgb import XGBPredictor  # noqa: E402
from nasgen.reporting.report import _markdown  # noqa: E402
from nasgen.reporting.results import save_figure  # noqa: E402
from nasgen.spaces.base import Arch, PathEncodedSpace, SearchSpace  # noqa: E402

ENCODINGS = ("adjacency", "path")
METRICS = {"kendall_tau": "Kendall tau", "spearman_rho": "Spearman rho", "rmse": "RMSE"}


@dataclass(frozen=True)
class PredictorSpec:
    """A factory of fresh predictors and the encoding they read (``adjacency``: the binary
    vector of :meth:`SearchSpace.encode`; ``path``: :meth:`PathEncodedSpace.encode_paths`)."""

    make: Callable[[], Predictor]
    encoding: str = "adjacency"


def _from_search_config(name: str) -> PredictorSpec:
    """The surrogate and encoding of ``configs/search/<name>.yaml``, so both stay as the search uses them."""
    with resources.files("nasgen.configs").joinpath("search", f"{name}.yaml").open() as f:
        config = OmegaConf.load(f)
    return PredictorSpec(partial(build, config.surrogate, f"search/{name} surrogate", _convert_="all"),
                         config.encoding)


def default_predictors() -> dict[str, PredictorSpec]:
    return {"mlp": PredictorSpec(MLPPredictor), "xgb": PredictorSpec(XGBPredictor),
            "bananas": _from_search_config("bananas"), "dngo": _from_search_config("bo"),
            "gp": _from_search_config("gp_bo")}


def split(space: SearchSpace, archs: Sequence[Arch], values: np.ndarray, test_size: int, train_size: int,
          seed: int) -> tuple[list[Arch], list[Arch]]:
    """``(train, test)`` architectures of ``archs``, one per isomorphism class, the classes
    disjoint; architectures whose value is missing (NaN) are left out."""
    classes: dict = defaultdict(list)
    for index in np.flatnonzero(np.isfinite(values)):
        classes[space.key(archs[index])].append(archs[index])
    if test_size + train_size > len(classes):
        raise ConfigError(f"{test_size} test + {train_size} training cells need as many isomorphism classes, "
                          f"but the benchmark has {len(classes)}: use training sizes up to "
                          f"{len(classes) - test_size} or a smaller test set")
    rng = np.random.default_rng(seed)
    members = list(classes.values())
    chosen = [members[i] for i in rng.permutation(len(members))[: test_size + train_size]]
    cells = [group[int(rng.integers(len(group)))] for group in chosen]
    return cells[test_size:], cells[:test_size]


def _encode(space: SearchSpace, spec: PredictorSpec, archs: list[Arch]) -> np.ndarray:
    return space.encode_paths(archs) if spec.encoding == "path" else space.encode(archs)


def predictor_quality(predictors: Mapping[str, "PredictorSpec | Callable[[], Predictor]"], space: SearchSpace,
                      benchmark: "Benchmark | TabularBenchmark", metric: str,
                      train_sizes: Sequence[int] = (16, 32, 64, 128, 256, 512, 1024), test_size: int = 1000,
                      seeds: Sequence[int] = (0, 1, 2), features: Sequence[str] = (),
                      feature_source: Benchmark | None = None) -> list[dict]:
    """One row per predictor, training-set size and seed: ``kendall_tau``, ``spearman_rho`` and
    ``rmse`` (in the metric's unit) on the test cells, and ``fit_seconds``. A bare factory in
    ``predictors`` reads the binary vector; ``features`` (free metrics of ``feature_source``,
    default ``benchmark``) are appended to every predictor's input."""
    if not train_sizes or min(train_sizes) < 1 or test_size < 2:
        raise ConfigError(f"training sizes must be positive and the test set needs 2 cells or more; got sizes "
                          f"{list(train_sizes)}, test_size {test_size}")
    if not isinstance(benchmark, TabularBenchmark):
        raise ConfigError(f"predictor quality needs a tabular benchmark (one that lists its labelled "
                          f"architectures); {type(benchmark).__name__} is not")
    specs = {name: p if isinstance(p, PredictorSpec) else PredictorSpec(p) for name, p in predictors.items()}
    for name, spec in specs.items():
        choose(f"encoding of predictor {name}", spec.encoding, ENCODINGS)
        if spec.encoding == "path" and not isinstance(space, PathEncodedSpace):
            raise ConfigError(f"predictor {name} reads the path encoding, which {space.name} lacks")
    source = benchmark if feature_source is None else feature_source
    check_features(source, features)
    archs = benchmark.archs()
    values = benchmark.query(archs, metric)
    rows = []
    for seed in seeds:
        train, test = split(space, archs, values, test_size, max(train_sizes), seed)
        y_train, y_test = benchmark.query(train, metric), benchmark.query(test, metric)
        extra = [np.stack([source.query(cells, m) for m in features], 1) if features else None
                 for cells in (train, test)]
        for name, spec in specs.items():
            x_train, x_test = _encode(space, spec, train), _encode(space, spec, test)
            if features:  # standardised over the largest training set; smaller ones are its prefixes
                x_train, x_test = with_features(x_train, extra[0], extra[0]), with_features(x_test, extra[1], extra[0])
            for size in train_sizes:
                predictor = spec.make()
                started = time.perf_counter()
                predictor.fit(x_train[:size], y_train[:size], generator=torch.Generator().manual_seed(seed))
                fit_seconds = time.perf_counter() - started
                predicted = np.asarray(predictor.predict(x_test), dtype=np.float64)
                rows.append({"predictor": name, "train_size": size, "seed": seed,
                             **regression_metrics(predicted, y_test), "fit_seconds": fit_seconds})
    return rows


def regression_metrics(predicted: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """Kendall tau, Spearman rho and RMSE (in the unit of ``true``) of predictions of ``true``."""
    predicted, true = np.asarray(predicted, dtype=np.float64), np.asarray(true, dtype=np.float64)
    return {"kendall_tau": float(kendalltau(predicted, true)[0]), "spearman_rho": float(spearmanr(predicted, true)[0]),
            "rmse": float(np.sqrt(np.mean((predicted - true) ** 2)))}


def summarise(rows: Sequence[dict]) -> dict[tuple[str, int], dict[str, tuple[float, float]]]:
    """``(predictor, train_size) -> {measure: (mean, std over seeds)}``, in the rows' order."""
    groups: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["predictor"], row["train_size"])].append(row)
    return {group: {m: (float(np.mean([r[m] for r in members])), float(np.std([r[m] for r in members])))
                    for m in (*METRICS, "fit_seconds")}
            for group, members in groups.items()}


def markdown_table(rows: Sequence[dict]) -> str:
    """One table per measure: a row per predictor, a column per training-set size, mean ± std."""
    summary = summarise(rows)
    predictors = list(dict.fromkeys(p for p, _ in summary))
    sizes = sorted({s for _, s in summary})
    sections = []
    for measure, title in (*METRICS.items(), ("fit_seconds", "fit time (s)")):
        digits = 2 if measure in ("rmse", "fit_seconds") else 3
        body = [[name] + [f"{summary[(name, s)][measure][0]:.{digits}f} ± {summary[(name, s)][measure][1]:.{digits}f}"
                          if (name, s) in summary else "-" for s in sizes] for name in predictors]
        sections.append(f"### {title}\n\n" + _markdown(["predictor", *map(str, sizes)], body))
    return "\n\n".join(sections) + "\n"


def write_csv(rows: Sequence[dict], path: Path) -> None:
    """The per-seed rows as CSV."""
    with atomic_write(path, "w") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def plot_predictor_quality(rows: Sequence[dict], path: Path) -> None:
    """Kendall tau, Spearman rho and RMSE against training-set size (log scale), mean ± std
    over seeds, one line per predictor."""
    summary = summarise(rows)
    fig, axes = plt.subplots(1, len(METRICS), figsize=(5.0 * len(METRICS), 3.8))
    for ax, (measure, title) in zip(axes, METRICS.items()):
        for name in dict.fromkeys(p for p, _ in summary):
            sizes = sorted(s for p, s in summary if p == name)
            mean, std = np.array([summary[(name, s)][measure] for s in sizes]).T
            line, = ax.plot(sizes, mean, marker="o", ms=3, label=name)
            ax.fill_between(sizes, mean - std, mean + std, color=line.get_color(), alpha=0.2)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("training cells")
        ax.set_ylabel(title)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    save_figure(fig, path)
