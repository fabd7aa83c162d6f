"""Pareto helpers on hand-checked examples, and NSGA-II on the bundled NB201 table: budget, no
repeats, determinism, its genetic moves, and a better accuracy/latency front than random search."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from botorch.utils.multi_objective.pareto import is_non_dominated
from hydra.utils import instantiate
from omegaconf import OmegaConf

import nasgen
from nasgen.benchmarks import NB201Benchmark
from nasgen.errors import ConfigError
from nasgen.objective import Objective
from nasgen.pareto import crowding_distance, hypervolume, non_dominated, nondominated_ranks, pareto_front_2d
from nasgen.search.common import random_unseen
from nasgen.search.nsga2 import NSGA2Search
from nasgen.search.oracle import Oracle
from nasgen.spaces import NB201Space

SPACE = NB201Space()
BENCHMARK = NB201Benchmark()
ACCURACY, LATENCY = "cifar10/valid_acc@200", "latency/pixel3_ms"


def objective(cost_limit: float | None = None) -> Objective:
    return Objective(ACCURACY, "cifar10/test_acc@200", cost_metric=LATENCY, cost_limit=cost_limit)


def nsga2(seed: int, budget: int = 64, cost_limit: float | None = None, **kwargs) -> tuple[Oracle, NSGA2Search]:
    oracle, search = Oracle(SPACE, BENCHMARK, objective(cost_limit), budget=budget), NSGA2Search(**kwargs)
    search.run(SPACE, oracle, np.random.default_rng(seed))
    return oracle, search


def random_search(seed: int, budget: int) -> Oracle:
    oracle, rng = Oracle(SPACE, BENCHMARK, objective(), budget=budget), np.random.default_rng(seed)
    while oracle.remaining > 0:
        oracle.query(random_unseen(SPACE, oracle, rng, min(16, oracle.remaining)))
    return oracle


def accuracy_latency(oracle: Oracle) -> np.ndarray:
    return np.stack([oracle.values(ACCURACY), -oracle.values(LATENCY)], axis=1)


# -- Pareto helpers ----------------------------------------------------------------------
def test_non_dominated_keeps_equal_points_and_drops_dominated_ones():
    points = np.array([[1, 3], [2, 2], [3, 1], [1, 1], [2, 2], [0, 3], [np.nan, 9]])
    assert non_dominated(points).tolist() == [True, True, True, False, True, False, False]
    points_3d = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0], [1, 1, 0], [0, 0, 1]])
    assert non_dominated(points_3d).tolist() == [False, False, True, False, True, True]
    assert non_dominated(np.zeros((0, 2))).tolist() == []


@pytest.mark.parametrize("m", [2, 3])
def test_non_dominated_agrees_with_botorch_on_random_points_with_ties(m):
    rng = np.random.default_rng(0)
    for n in (1, 2, 5, 50, 400):
        for points in (rng.integers(0, 6, size=(n, m)).astype(float), rng.normal(size=(n, m))):
            expected = is_non_dominated(torch.from_numpy(points), deduplicate=False).numpy()
            assert non_dominated(points).tolist() == expected.tolist()


def test_non_dominated_is_fast_on_the_whole_space_in_2d():
    x = np.random.default_rng(0).uniform(size=15_625)
    points = np.stack([x, -x], axis=1)  # every point on the front: the worst case for pairwise loops
    start = time.perf_counter()
    assert non_dominated(points).all()
    assert time.perf_counter() - start < 1.0


def test_nondominated_ranks_with_and_without_constraint_violation():
    points = np.array([[3, 1], [1, 3], [2, 2], [1, 1], [0, 0], [2, 0.5]])
    assert nondominated_ranks(points).tolist() == [0, 0, 0, 1, 2, 1]
    # feasible points first, whatever their objectives; equal violations do not dominate each
    # other even where (2, 0.5) Pareto-dominates (0, 0)
    violation = np.array([0, 0, 2, 0, 1, 1])
    assert nondominated_ranks(points, violation).tolist() == [0, 0, 3, 1, 2, 2]
    assert nondominated_ranks(points, np.ones(6)).tolist() == [0] * 6
    assert nondominated_ranks(points, np.zeros(6)).tolist() == nondominated_ranks(points).tolist()


def test_crowding_distance_sums_normalised_neighbour_gaps():
    points = np.array([[0, 5], [1, 4], [2, 2], [5, 0]])
    # objective 1: (2 - 0) / 5, (5 - 1) / 5; objective 2: (5 - 2) / 5, (4 - 0) / 5
    assert np.allclose(crowding_distance(points), [np.inf, 0.4 + 0.6, 0.8 + 0.8, np.inf])
    assert np.isinf(crowding_distance(np.array([[0, 1], [1, 0]]))).all()
    assert np.allclose(crowding_distance(np.array([[1, 0], [1, 1], [1, 3]])), [np.inf, 1.0, np.inf])


def test_hypervolume_of_hand_computed_boxes():
    assert hypervolume(np.array([[1, 3], [2, 2], [3, 1]]), np.zeros(2)) == pytest.approx(3 + 2 + 1)
    # a dominated point, a duplicate and a point on the reference's boundary add nothing
    more = np.array([[1, 3], [2, 2], [3, 1], [1, 1], [2, 2], [4, 0]])
    assert hypervolume(more, np.zeros(2)) == pytest.approx(6)
    assert hypervolume(np.array([[1, 3]]), np.array([0.5, 1])) == pytest.approx(0.5 * 2)
    assert hypervolume(np.array([[-1, 3]]), np.zeros(2)) == 0.0
    assert hypervolume(np.array([[2, 1, 1], [1, 2, 1]]), np.zeros(3)) == pytest.approx(2 + 2 - 1)


def test_pareto_front_2d_is_sorted_by_cost():
    values, costs = np.array([90, 85, 91, 80, 85]), np.array([5, 3, 9, 3, 2])
    assert pareto_front_2d(values, costs).tolist() == [4, 0, 2]
    assert pareto_front_2d(100 - values, costs, maximize=False).tolist() == [4, 0, 2]


# -- NSGA-II -----------------------------------------------------------------------------
@pytest.mark.parametrize("cost_limit", [None, 4.0])
@pytest.mark.parametrize("budget", [64, 37])
def test_nsga2_spends_the_budget_on_distinct_cells_and_is_deterministic(cost_limit, budget):
    first, search = nsga2(0, budget, cost_limit)
    again, _ = nsga2(0, budget, cost_limit)
    archs = [r["arch"] for r in first.records]
    assert len(archs) == budget
    assert len({SPACE.key(SPACE.from_str(a)) for a in archs}) == budget
    assert archs == [r["arch"] for r in again.records]
    assert search.stats["generations"] == -(-(budget - 16) // 16)
    assert archs != [r["arch"] for r in nsga2(1, budget, cost_limit)[0].records]


@pytest.mark.parametrize("budget, kwargs", [(8, {}), (64, {"population_size": 2, "max_tries": 1})])
def test_nsga2_stops_inside_the_initial_sample_and_tops_up_with_random_cells(budget, kwargs):
    oracle, search = nsga2(0, budget, **kwargs)
    assert len({SPACE.key(SPACE.from_str(r["arch"])) for r in oracle.records}) == oracle.spent == budget
    assert (search.stats["random_children"] > 0) == bool(kwargs)


def test_nsga2_children_are_crossovers_of_earlier_cells_with_one_mutation():
    oracle, search = nsga2(0, budget=80, crossover_prob=1.0)
    assert search.stats["random_children"] == 0
    archs = np.array([SPACE.from_str(r["arch"]) for r in oracle.records])
    for i in range(16, len(archs)):
        # positions where the child matches neither parent: at most the one mutated edge
        new = (archs[:i, None, :] != archs[i]) & (archs[None, :i, :] != archs[i])
        assert (new.sum(axis=-1) <= 1).any()


def test_nsga2_finds_a_better_front_than_random_search():
    reference = np.array([0.0, -float(np.max(BENCHMARK.table.column(LATENCY)))])
    found = [hypervolume(accuracy_latency(nsga2(seed, budget=200)[0]), reference) for seed in range(3)]
    random = [hypervolume(accuracy_latency(random_search(seed, budget=200)), reference) for seed in range(3)]
    assert np.mean(found) > np.mean(random)


def test_nsga2_under_a_cost_limit_queries_more_feasible_cells():
    # 13% of NB201 cells run within 4 ms on a Pixel 3; constrained domination steers towards them
    table_share = np.mean(np.asarray(BENCHMARK.table.column(LATENCY)) <= 4.0)
    constrained = np.mean([nsga2(seed, 200, cost_limit=4.0)[0].feasible()[16:].mean() for seed in range(3)])
    unconstrained = np.mean([(nsga2(seed, 200)[0].values(LATENCY)[16:] <= 4.0).mean() for seed in range(3)])
    assert constrained > max(unconstrained, 1.5 * table_share)


def test_nsga2_needs_a_cost_metric():
    oracle = Oracle(SPACE, BENCHMARK, Objective(ACCURACY, "cifar10/test_acc@200"), budget=8)
    with pytest.raises(ConfigError, match="objective.cost_metric"):
        NSGA2Search().run(SPACE, oracle, np.random.default_rng(0))
    assert oracle.spent == 0


def test_nsga2_config_instantiates():
    config = OmegaConf.load(Path(nasgen.__file__).parent / "configs" / "search" / "nsga2.yaml")
    search = instantiate(config)
    assert isinstance(search, NSGA2Search) and search.population_size == 16
