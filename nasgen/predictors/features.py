"""Extra predictor features: free metrics of a benchmark (training-free proxies) appended to an
architecture's encoding.

"Any predictor can take proxies as extra features" (issue 21; White et al., "How powerful are
performance predictors in NAS?", NeurIPS 2021, add zero-cost proxies to the encodings of
model-based predictors). A predictor reads one flat vector per architecture; with features it
reads ``[encoding, z_1, ..., z_k]``, ``z_j`` the value of metric ``j`` standardised by the mean and
standard deviation over the predictor's *training* architectures (the candidates are scaled the
same way, so a candidate's feature says where it lies among the training cells). Proxies are
stored as declared (log10 where raw values span decades), so a standardised value is well scaled;
an undefined value (NaN: e.g. no parameter received a gradient) becomes 0, the training mean.

The values come from the run's benchmark through :meth:`Oracle.free_values
<nasgen.search.oracle.Oracle.free_values>`: only metrics the benchmark declares free
(:class:`~nasgen.benchmarks.base.FreeMetrics`), never counted against the budget.

Where the features are configured: one top-level key, ``predictor_features`` (``config.yaml``),
read by every search whose predictor reads an encoding (``search=bananas``, ``bo``, ``gp_bo``:
``features: ${predictor_features}``); a search that cannot take them is refused by the pipeline
(AG-Net: its differentiable predictor scores the generator's graph output, for which no proxy
value exists). A per-search key was the first design; it made the same request spelled
differently per search, and a search without the key ignored it silently or failed with Hydra's
"key not in struct".
"""
from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from nasgen.benchmarks.base import Benchmark, FreeMetrics
from nasgen.errors import ConfigError


@runtime_checkable
class FeatureSearch(Protocol):
    """A search whose predictor reads an encoding and can append free metrics to it."""

    features: list[str]


def check_features(benchmark: Benchmark, metrics: Sequence[str]) -> None:
    """Refuse, in one line, ``metrics`` that ``benchmark`` cannot give for free."""
    if not metrics:
        return
    if not isinstance(benchmark, FreeMetrics):
        raise ConfigError(f"predictor_features={list(metrics)} need a benchmark with free metrics (training-free "
                          f"proxies: benchmark=proxy or proxy_darts); benchmark {benchmark.name} has none")
    missing = [m for m in metrics if m not in benchmark.free_metrics]
    if missing:
        raise ConfigError(f"predictor_features {', '.join(missing)} are not free metrics of benchmark "
                          f"{benchmark.name}; its free metrics: {', '.join(benchmark.free_metrics) or 'none'}")


def standardised(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``values`` ``[N, k]`` standardised per column by the mean and std of ``reference`` ``[M, k]``
    (NaN ignored; a constant column gets std 1); NaN -> 0."""
    values, reference = np.asarray(values, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    finite = np.isfinite(reference)
    count = finite.sum(axis=0)
    mean = np.where(count > 0, np.where(finite, reference, 0.0).sum(axis=0) / np.maximum(count, 1), 0.0)
    spread = np.sqrt(np.where(finite, (reference - mean) ** 2, 0.0).sum(axis=0) / np.maximum(count, 1))
    spread = np.where(spread > 0, spread, 1.0)
    return np.nan_to_num((values - mean) / spread, nan=0.0, posinf=0.0, neginf=0.0)


def with_features(x: np.ndarray, values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``x`` ``[N, D]`` with the :func:`standardised` ``values`` ``[N, k]`` appended: ``[N, D + k]``."""
    return np.concatenate([np.asarray(x, dtype=np.float64), standardised(values, reference)], axis=1)
