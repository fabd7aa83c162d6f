"""The labelled architectures a study learns from: a tabular benchmark's cells, one per
isomorphism class (NASLib's 500 NB101 cells hold 292 classes), with their values of a metric."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from nasgen.benchmarks.base import Benchmark, TabularBenchmark
from nasgen.errors import ConfigError
from nasgen.evaluation.predictor_quality import split
from nasgen.generators.svge import cell_lengths
from nasgen.predictors.base import Predictor
from nasgen.spaces.base import Arch, GraphSpec, SearchSpace


def require_table(benchmark: Benchmark, study: str) -> None:
    """Refuse a benchmark that cannot list its labelled architectures."""
    if not isinstance(benchmark, TabularBenchmark):
        raise ConfigError(f"study {study} learns from the labelled architectures of a tabular benchmark; "
                          f"{type(benchmark).__name__} does not list them")


def labelled_archs(space: SearchSpace, benchmark: Benchmark, metric: str, limit: int | None = None,
                   seed: int = 0) -> tuple[list[Arch], np.ndarray]:
    """One architecture per isomorphism class the table labels (a random member, ``seed``), at
    most ``limit`` classes (a random subset; ``None``: all), and their values of ``metric``."""
    archs = benchmark.archs()
    values = np.asarray(benchmark.query(archs, metric), dtype=np.float64)
    classes = len({space.key(archs[i]) for i in np.flatnonzero(np.isfinite(values))})
    chosen, _ = split(space, archs, values, 0, classes if limit is None else min(limit, classes), seed)
    return chosen, np.asarray(benchmark.query(chosen, metric), dtype=np.float64)


def real_nodes(space: SearchSpace, arch: Arch) -> int:
    """Nodes of ``arch`` that are not padding: up to its first output node (graph view)."""
    types, _ = space.to_graph(arch)
    return int(cell_lengths(torch.as_tensor(np.asarray(types))[None], space.graph)[0])


def fit_predict(make_predictor: Callable[[GraphSpec], Predictor], graph: GraphSpec, x_train: np.ndarray,
                y_train: np.ndarray, x: np.ndarray, seed: int) -> list[float]:
    """Predictions for ``x`` of a predictor built for ``graph`` (the predictor group's contract)
    and fitted on the labelled vectors with seed ``seed``."""
    predictor = make_predictor(graph)
    predictor.fit(x_train, y_train, generator=torch.Generator().manual_seed(seed))
    return np.asarray(predictor.predict(x), dtype=np.float64).tolist()
