"""Baseline search loops on the real NB201 table: budget, no repeats, determinism, and
each method's defining move."""
from __future__ import annotations

import numpy as np
import pytest

from nasgen.benchmarks import NB201Benchmark
from nasgen.objective import Objective
from nasgen.predictors.dngo import DNGO, BayesianLinearRegression
from nasgen.predictors.ensemble import MLPEnsemble
from nasgen.predictors.gp import GaussianProcess
from nasgen.search.acquisition import acquisition_scores
from nasgen.search.evolution import RegularizedEvolution
from nasgen.search.local_search import LocalSearch
from nasgen.search.model_based import ModelBasedSearch
from nasgen.search.oracle import Oracle
from nasgen.search.random_search import RandomSearch
from nasgen.spaces import NB201Space
from nasgen.utils import torch_generator

SPACE = NB201Space()
BENCHMARK = NB201Benchmark("cifar10")
OBJECTIVE = Objective("cifar10/valid_acc@200", "cifar10/test_acc@200")
BUDGET = 48

FACTORIES = {
    "random": lambda: RandomSearch(),
    "local": lambda: LocalSearch(initial_samples=16),
    "evolution": lambda: RegularizedEvolution(population_size=20, sample_size=5, initial_samples=16),
    "bananas": lambda: ModelBasedSearch(MLPEnsemble(size=3, layers=3, epochs=30), acquisition="its",
                                        encoding="path"),
    "bo": lambda: ModelBasedSearch(DNGO(epochs=50), acquisition="ei", random_candidates=50),
    "gp_bo": lambda: ModelBasedSearch(GaussianProcess(), acquisition="logei", random_candidates=50),
}


def run(name: str, seed: int = 0, budget: int = BUDGET) -> Oracle:
    oracle = Oracle(SPACE, BENCHMARK, OBJECTIVE, budget=budget)
    FACTORIES[name]().run(SPACE, oracle, np.random.default_rng(seed))
    return oracle


@pytest.mark.parametrize("name", FACTORIES)
def test_search_spends_the_budget_on_distinct_cells_and_is_deterministic(name):
    first, again = run(name), run(name)
    archs = [r["arch"] for r in first.records]
    assert len(archs) == BUDGET
    assert len({SPACE.key(SPACE.from_str(a)) for a in archs}) == BUDGET
    assert archs == [r["arch"] for r in again.records]
    valid = first.values("cifar10/valid_acc@200")
    assert valid.max() > np.nanmedian(BENCHMARK.table.column("cifar10/valid_acc@200"))


def test_local_search_from_one_cell_queries_its_neighbourhood():
    oracle = Oracle(SPACE, BENCHMARK, OBJECTIVE, budget=20)
    LocalSearch(initial_samples=1).run(SPACE, oracle, np.random.default_rng(1))
    start = SPACE.from_str(oracle.records[0]["arch"])
    neighbour_keys = {SPACE.key(n) for n in SPACE.neighbours(start)} - {SPACE.key(start)}
    first_steps = [SPACE.key(SPACE.from_str(r["arch"])) for r in oracle.records[1: 1 + len(neighbour_keys)]]
    assert set(first_steps) == neighbour_keys


def test_evolution_children_are_mutations_of_earlier_cells():
    oracle = run("evolution", budget=40)
    archs = [SPACE.from_str(r["arch"]) for r in oracle.records]
    for i, child in enumerate(archs[16:], start=16):
        assert any(sum(a != b for a, b in zip(child, parent)) == 1 for parent in archs[:i])


def test_path_encoding_marks_live_operation_sequences():
    arch = SPACE.from_str("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|")
    # live paths: 0->3 (avg pool) and 0->1->2->3 (3x3 conv, skip, 1x1 conv); the rest cross a `none`
    assert np.flatnonzero(SPACE.encode_paths([arch])[0]).tolist() == [3, 4 + 16 + (2 * 4 + 0) * 4 + 1]
    assert SPACE.encode_paths([SPACE.from_str("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")]).sum() == 0


def test_expected_improvement_prefers_higher_mean_and_more_uncertainty():
    rng = np.random.default_rng(0)
    mean, std = np.array([0.0, 1.0, 1.0]), np.array([1.0, 1.0, 2.0])
    ei = acquisition_scores("ei", mean, std, best=1.0, rng=rng)
    assert ei[0] < ei[1] < ei[2] and np.all(ei > 0)
    its = acquisition_scores("its", mean, np.zeros(3), best=0.0, rng=rng)
    assert np.allclose(its, mean, atol=1e-6)


def test_bayesian_linear_regression_recovers_a_line_and_is_unsure_far_away():
    x = np.linspace(-1, 1, 40)
    features = np.stack([x, np.ones_like(x)], axis=1)
    y = 3 * x - 1 + np.random.default_rng(0).normal(0, 0.05, size=x.shape)
    blr = BayesianLinearRegression()
    blr.fit(features, y)
    assert np.allclose(blr.weights, [3, -1], atol=0.1)
    _, std = blr.predict(np.array([[0.0, 1.0], [10.0, 1.0]]))
    assert std[1] > 2 * std[0]


@pytest.mark.parametrize("surrogate", [lambda: DNGO(epochs=100), lambda: MLPEnsemble(size=3, layers=3, epochs=100),
                                       lambda: GaussianProcess()])
def test_surrogates_rank_held_out_cells(surrogate):
    from scipy.stats import kendalltau

    rng = np.random.default_rng(0)
    archs = [SPACE.from_index(int(i)) for i in rng.choice(len(SPACE), 300, replace=False)]
    y = BENCHMARK.query(archs, "cifar10/valid_acc@200")
    model = surrogate()
    model.fit(SPACE.encode(archs[:200]), y[:200], generator=torch_generator(rng))
    mean, std = model.predict_distribution(SPACE.encode(archs[200:]))
    assert kendalltau(mean, y[200:]).statistic > 0.3
    assert np.all(std > 0)
