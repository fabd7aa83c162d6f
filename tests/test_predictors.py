"""The predictor contract: every predictor fits with and without sample weights, predicts one
value per input, and declares exactly the capabilities it has; searches refuse what a predictor
cannot do."""
from __future__ import annotations

from typing import Callable

import numpy as np
import pytest
import torch

from nasgen.benchmarks import NB201Benchmark
from nasgen.errors import ConfigError
from nasgen.objective import Objective
from nasgen.predictors import (
    DifferentiablePredictor,
    LogExpectedImprovement,
    MLPPredictor,
    Predictor,
    RankLossPredictor,
    UncertainPredictor,
    XGBPredictor,
    XGBRankingPredictor,
)
from nasgen.predictors.dngo import DNGO
from nasgen.predictors.ensemble import MLPEnsemble
from nasgen.predictors.gp import GaussianProcess
from nasgen.predictors.oracle import BenchmarkPredictor
from nasgen.search.model_based import ModelBasedSearch
from nasgen.spaces import NB201Space

SPACE = NB201Space()
BENCHMARK = NB201Benchmark("cifar10")
METRIC = "cifar10/valid_acc@200"


def bound_benchmark_predictor() -> BenchmarkPredictor:
    predictor = BenchmarkPredictor()
    predictor.bind(SPACE, lambda archs: BENCHMARK.query(archs, METRIC))
    return predictor


# name -> (small factory, capabilities it must declare, whether it honours sample weights)
PREDICTORS: dict[str, tuple[Callable[[], Predictor], set, bool]] = {
    "mlp": (lambda: MLPPredictor(epochs=30), {DifferentiablePredictor}, True),
    "xgb": (lambda: XGBPredictor(num_boost_round=20), set(), True),
    "xgb_ranking": (lambda: XGBRankingPredictor(num_boost_round=20), {RankLossPredictor}, True),
    "ensemble": (lambda: MLPEnsemble(size=2, layers=2, width=16, epochs=20), {UncertainPredictor}, True),
    "dngo": (lambda: DNGO(hidden=(16,), epochs=30), {UncertainPredictor}, True),
    "gp": (GaussianProcess, {UncertainPredictor, LogExpectedImprovement}, False),
    "benchmark": (bound_benchmark_predictor, set(), False),
}
CAPABILITIES = (UncertainPredictor, DifferentiablePredictor, LogExpectedImprovement, RankLossPredictor)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    archs = SPACE.sample(80, np.random.default_rng(0))
    return SPACE.encode(archs), BENCHMARK.query(archs, METRIC), np.linspace(1.0, 0.0, 60) ** 4


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def fitted(name: str, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> Predictor:
    predictor = PREDICTORS[name][0]()
    predictor.fit(x, y, weights, generator=torch.Generator().manual_seed(3))
    return predictor


@pytest.mark.parametrize("name", PREDICTORS)
def test_fit_predict_and_declared_capabilities(name: str, data):
    x, y, _ = data
    predictor = fitted(name, x[:60], y[:60], np.full(60, 0.5))
    assert isinstance(predictor, Predictor)
    assert {c for c in CAPABILITIES if isinstance(predictor, c)} == PREDICTORS[name][1]
    mean = predictor.predict(x[60:])
    assert mean.shape == (20,) and mean.dtype == np.float64 and np.isfinite(mean).all()
    # same seed, same fit; equal weights are exactly no weights
    assert np.array_equal(fitted(name, x[:60], y[:60]).predict(x[60:]), mean)
    if isinstance(predictor, UncertainPredictor):
        same, std = predictor.predict_distribution(x[60:])
        assert np.allclose(same, mean) and std.shape == (20,) and (std > 0).all()
    if isinstance(predictor, LogExpectedImprovement):
        assert np.isfinite(predictor.log_expected_improvement(x[60:])).all()
    if isinstance(predictor, DifferentiablePredictor):
        inputs = torch.as_tensor(x[60:], dtype=torch.float32).requires_grad_()
        output = predictor(inputs)
        output.sum().backward()
        assert output.shape == (20,) and inputs.grad.abs().sum() > 0


@pytest.mark.parametrize("name", PREDICTORS)
def test_sample_weights_change_the_fit_where_honoured(name: str, data):
    x, y, weights = data
    if name == "gp":  # refused before any fitting; equal weights are accepted (the capability test fits it)
        with pytest.raises(ConfigError, match="GaussianProcess cannot weight its samples"):
            fitted(name, x[:60], y[:60], weights)
        return
    uniform = fitted(name, x[:60], y[:60]).predict(x[60:])
    weighted = fitted(name, x[:60], y[:60], weights).predict(x[60:])
    assert (not np.allclose(weighted, uniform)) == PREDICTORS[name][2]


def test_mlp_predictor_is_unit_agnostic(data):
    """Targets are standardised inside fit: a change of unit changes the predictions alike."""
    x, y, _ = data
    in_percent = fitted("mlp", x[:60], y[:60]).predict(x[60:])
    as_fraction = fitted("mlp", x[:60], y[:60] / 100 + 1).predict(x[60:])
    assert np.allclose(as_fraction, in_percent / 100 + 1, atol=1e-5)
    assert np.sqrt(np.mean((in_percent - y[60:]) ** 2)) < 2 * np.std(y[60:])


def test_benchmark_predictor_predicts_the_benchmark_values_once_bound(data):
    x, y, _ = data
    assert np.array_equal(fitted("benchmark", x, y).predict(x), y)
    with pytest.raises(ConfigError, match="no benchmark to look values up in"):
        BenchmarkPredictor().predict(x)


def test_acquisitions_need_the_capability_they_use():
    objective = Objective(METRIC, METRIC)
    ModelBasedSearch(DNGO(), acquisition="ei").check(SPACE, objective)
    for acquisition in ("its", "ucb", "ei"):
        with pytest.raises(ConfigError, match=f"acquisition={acquisition} needs a predictor with uncertainty"):
            ModelBasedSearch(XGBPredictor(), acquisition=acquisition).check(SPACE, objective)
    with pytest.raises(ConfigError, match="logei"):
        ModelBasedSearch(DNGO(), acquisition="logei")
