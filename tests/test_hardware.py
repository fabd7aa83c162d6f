"""Hardware-aware search: constrained objectives, the oracle's feasible incumbents, AG-Net's
penalised rank weights and cost predictor, constrained baselines, the hardware suite and
`nasgen report` on a constrained sweep."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nasgen.benchmarks import NB201Benchmark
from nasgen.errors import ConfigError
from nasgen.evaluation.hardware import HardwareSummary
from nasgen.generators import AGNetGenerator
from nasgen.generators.pretrain import PretrainConfig
from nasgen.objective import Objective
from nasgen.predictors import MLPPredictor
from nasgen.predictors.dngo import DNGO
from nasgen.search.ag_net import AGNetSearch, constrained_rank_weights
from nasgen.search.local_search import LocalSearch
from nasgen.search.model_based import ModelBasedSearch
from nasgen.search.oracle import Oracle
from nasgen.search.random_search import RandomSearch
from nasgen.spaces import NB201Space

SPACE = NB201Space()
VALID, TEST, PIXEL3 = "cifar10/valid_acc@200", "cifar10/test_acc@200", "latency/pixel3_ms"


def pixel3_objective(limit: float | None = 4.0) -> Objective:
    return Objective(VALID, TEST, cost_metric=PIXEL3, cost_limit=limit)


@pytest.fixture(scope="module")
def benchmark() -> NB201Benchmark:
    return NB201Benchmark("cifar10")


def test_objective_feasibility_and_scores():
    objective = pixel3_objective(4.0)
    assert objective.metrics == [VALID, TEST, PIXEL3]
    assert objective.feasible(np.array([3.9, 4.0, 4.1])).tolist() == [True, True, False]
    assert objective.scores(np.array([90.0, 95.0]), np.array([3.0, 5.0])).tolist() == [90.0, -np.inf]
    minimise = Objective("loss", "loss", maximize=False)
    assert minimise.scores(np.array([1.0, 2.0])).tolist() == [-1.0, -2.0]
    with pytest.raises(ConfigError, match="cost_metric"):
        Objective(VALID, TEST, cost_limit=4.0)
    with pytest.raises(ConfigError, match="> 0"):
        Objective(VALID, TEST, cost_metric=PIXEL3, cost_limit=0)


def test_oracle_incumbent_is_the_best_feasible_query(benchmark):
    oracle = Oracle(SPACE, benchmark, pixel3_objective(4.0), budget=200)
    archs = [SPACE.from_index(i) for i in range(200)]
    values = oracle.query(archs)  # isomorphs are served from memory
    costs = oracle.costs(archs)
    feasible = costs <= 4.0
    assert 0 < feasible.sum() < 200
    best = oracle.records[oracle.incumbents()[-1]]
    assert best[PIXEL3] <= 4.0 and best[VALID] == values[feasible].max()
    assert values.max() > best[VALID]  # the unconstrained best is infeasible here
    assert np.array_equal(oracle.feasible(), oracle.values(PIXEL3) <= 4.0)
    assert np.isneginf(oracle.scores([archs[int(np.argmax(~feasible))]])).all()


def test_penalised_rank_weights_follow_the_reference_ranking():
    values, costs = np.array([90.0, 95.0, 80.0]), np.array([1.0, 5.0, 2.0])
    feasible = costs <= 3.0
    k = 0.01
    # Joint=0: accuracy ranks 2, 1, 3, the infeasible one times 1000 -> order 0, 2, 1
    weights = constrained_rank_weights(values, costs, feasible, k, joint=False, penalty=1000)
    assert np.allclose(weights, 1 / (k * 3 + np.array([0, 2, 1])))
    # Joint=1 without a constraint: rank sums 2+1, 1+3, 3+2 -> order 0, 1, 2
    weights = constrained_rank_weights(values, costs, np.ones(3, bool), k, joint=True, penalty=1000)
    assert np.allclose(weights, 1 / (k * 3 + np.array([0, 1, 2])))


def test_constrained_ag_net_proposes_more_feasible_architectures(benchmark, quick_pretrain: PretrainConfig):
    limit = 4.0

    def feasible_share_after_random_start(objective: Objective, **settings) -> tuple[float, AGNetSearch]:
        oracle = Oracle(SPACE, benchmark, objective, budget=80)
        search = AGNetSearch(AGNetGenerator, MLPPredictor, pretrain=quick_pretrain, epochs=5, num_candidates=50,
                             **settings)
        search.run(SPACE, oracle, np.random.default_rng(0))
        assert oracle.spent == 80
        return float((oracle.values(PIXEL3)[16:] <= limit).mean()), search

    unconstrained, _ = feasible_share_after_random_start(Objective(VALID, TEST, cost_metric=PIXEL3))
    joint, search = feasible_share_after_random_start(pixel3_objective(limit), alpha=0.95, lr=2e-3, joint=True)
    assert joint > unconstrained + 0.1, (joint, unconstrained)
    assert np.mean([it["chosen_feasible"] for it in search.stats["iterations"]]) == pytest.approx(joint)


def test_joint_ag_net_needs_a_cost(benchmark):
    oracle = Oracle(SPACE, benchmark, Objective(VALID, TEST), budget=20)
    with pytest.raises(ConfigError, match="cost_metric"):
        AGNetSearch(AGNetGenerator, MLPPredictor, joint=True).run(SPACE, oracle, np.random.default_rng(0))


def test_local_search_moves_only_between_feasible_architectures(benchmark):
    oracle = Oracle(SPACE, benchmark, pixel3_objective(2.5), budget=120)
    LocalSearch(initial_samples=1).run(SPACE, oracle, np.random.default_rng(3))
    feasible, positions = oracle.feasible(), oracle.incumbents()
    first = int(np.argmax(feasible))
    assert feasible[positions[first:]].all()
    assert oracle.records[positions[-1]][PIXEL3] <= 2.5


def test_model_based_search_refuses_a_constraint(benchmark):
    oracle = Oracle(SPACE, benchmark, pixel3_objective(4.0), budget=20)
    with pytest.raises(ConfigError, match="cost constraints"):
        ModelBasedSearch(DNGO()).run(SPACE, oracle, np.random.default_rng(0))


def test_hardware_summary_against_the_whole_table(benchmark, tmp_path: Path):
    objective = pixel3_objective(4.0)
    oracle = Oracle(SPACE, benchmark, objective, budget=60)
    RandomSearch().run(SPACE, oracle, np.random.default_rng(1))
    summary = HardwareSummary()(oracle, benchmark, tmp_path)["hardware"]
    assert summary["feasibility_ratio"] == pytest.approx(float(oracle.feasible().mean()))
    valid, latency = benchmark.column(VALID), benchmark.column(PIXEL3)
    index = int(np.argmax(np.where(latency <= 4.0, valid, -np.inf)))
    assert summary["optimum"]["index"] == index and summary["optimum"][VALID] == pytest.approx(valid[index])
    assert summary["optimum"][PIXEL3] <= 4.0
    assert 0 < summary["hypervolume"]["ratio"] < 1
    assert summary["optimum_found"] == (summary["best_feasible"][VALID] >= valid[index] - 1e-4)
    assert (tmp_path / "hardware_search.png").stat().st_size > 0

    # querying the optimum itself: found, and the found front reaches the true front's top
    oracle.budget += 1
    oracle.query([SPACE.from_index(index)])
    summary = HardwareSummary(plot=False)(oracle, benchmark, tmp_path)["hardware"]
    assert summary["optimum_found"] and summary["best_feasible"]["index"] == index
    assert max(p[VALID] for p in summary["found_front"]) == pytest.approx(valid[index])


def test_hardware_summary_needs_a_cost(benchmark):
    with pytest.raises(ConfigError, match="cost_metric"):
        HardwareSummary().check(Objective(VALID, TEST), benchmark)


def test_constrained_sweep_and_report(tmp_path: Path):
    env = {**os.environ, "NASGEN_CACHE": str(tmp_path / "cache"), "NASGEN_JOBS": "2"}
    run = subprocess.run([sys.executable, "-m", "nasgen.cli", "run", "-m", "experiment=hw_nb201",
                          "search=random,local_init1", "seed=0,1", "budget=40",
                          "hardware={device:raspi4,limit_ms:12},{device:eyeriss,limit_ms:1}",
                          "hydra.sweep.dir=sweep"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    results = [json.loads(p.read_text()) for p in sorted((tmp_path / "sweep").glob("*/results.json"))]
    assert len(results) == 8
    for result in results:
        hardware = result["hardware"]
        if result["protocol"]["cost_metric"] == "latency/eyeriss_ms":  # no cell runs within 1 ms on eyeriss
            assert hardware["feasible_fraction_of_space"] == 0 and hardware["optimum"] is None
            assert hardware["best_feasible"] is None and result["best"] is None
        else:
            assert 0.1 < hardware["feasible_fraction_of_space"] < 0.2
            best = hardware["best_feasible"]
            assert (best is None and result["best"] is None) or (
                best["latency/raspi4_ms"] <= 12 and result["best"]["index"] == best["index"])

    report = subprocess.run([sys.executable, "-m", "nasgen.cli", "report", "sweep", "--out", "report"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stdout + report.stderr
    with open(tmp_path / "report" / "hardware.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {(r["constraint"], r["method"]) for r in rows} == {
        (c, m) for c in ("latency/eyeriss_ms <= 1", "latency/raspi4_ms <= 12") for m in ("random", "local_init1")}
    for row in rows:
        assert row["runs"] == "2"
        if row["constraint"].startswith("latency/eyeriss_ms"):
            assert row["optimum found"] == row["best: searched"] == "-"
        else:
            found, total = row["optimum found"].split("/")
            assert total == "2" and int(found) <= 2 and float(row["best: cost"]) <= 12
    assert (tmp_path / "report" / "hardware.png").stat().st_size > 0
    assert "constraint" in (tmp_path / "report" / "report.md").read_text()
