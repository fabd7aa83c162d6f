"""AG-Net variants and ablations: blackbox rank gradients, the training-set and weighting
switches, the benchmark as predictor, and search in the pretrained generator's latent space."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from nasgen.benchmarks import NB201Benchmark
from nasgen.generators import AGNetGenerator
from nasgen.generators.base import GraphScores
from nasgen.generators.pretrain import PretrainConfig
from nasgen.objective import Objective
from nasgen.predictors import MLPPredictor, XGBPredictor, XGBRankingPredictor
from nasgen.predictors.dngo import DNGO
from nasgen.predictors.oracle import BenchmarkPredictor
from nasgen.predictors.ranking import BlackboxRank, blackbox_rank_loss, ranks, type_swap_gains
from nasgen.search.ag_net import AGNetSearch
from nasgen.search.latent_space import LatentSpaceSearch
from nasgen.search.oracle import Oracle
from nasgen.spaces import NB201Space

SPACE = NB201Space()
VALID, TEST = "cifar10/valid_acc@200", "cifar10/test_acc@200"


@pytest.fixture(scope="module")
def benchmark() -> NB201Benchmark:
    return NB201Benchmark("cifar10")


def oracle(benchmark: NB201Benchmark, budget: int) -> Oracle:
    return Oracle(SPACE, benchmark, Objective(VALID, TEST), budget=budget)


def test_blackbox_rank_gradient_descent_sorts_the_scores():
    target = torch.tensor([3.0, 1.0, 4.0, 2.0]) / 4
    scores = torch.tensor([0.4, 0.3, 0.2, 0.1], requires_grad=True)
    for _ in range(30):
        loss = ((BlackboxRank.apply(scores, 2.0) - target) ** 2).sum()
        loss.backward()
        with torch.no_grad():
            scores -= 0.05 * scores.grad
        scores.grad.zero_()
    assert torch.equal(ranks(scores.detach()), target)
    assert torch.equal(ranks(torch.tensor([5.0, 9.0, 1.0])), torch.tensor([2.0, 1.0, 3.0]) / 3)


def test_type_swap_gains_of_a_linear_surrogate_are_weight_differences():
    num_types, nodes = 3, 2
    weights = np.arange(nodes * num_types + 1, dtype=float) - 2  # one edge bit at the end
    node_types = np.array([[0, 2], [1, 1]])
    vector = np.concatenate([np.eye(num_types)[node_types].reshape(2, -1), np.ones((2, 1))], axis=1)
    gains = type_swap_gains(lambda v: v @ weights, node_types, vector, num_types)
    blocks = weights[:-1].reshape(nodes, num_types)
    expected = blocks[None] - blocks[np.arange(nodes), node_types][..., None]
    assert np.allclose(gains, expected) and np.allclose(gains[np.arange(2)[:, None], np.arange(nodes), node_types], 0)


def test_rank_loss_pulls_operation_nodes_towards_the_surrogates_better_type():
    """A sample ranked too low is pulled towards the type the surrogate prefers, never towards
    the input or output type, and the first and last nodes are left alone."""
    graph = SPACE.graph
    preferred = 2  # the surrogate likes type 2 at every node
    weights = np.zeros(graph.vector_dim)
    weights[np.arange(graph.max_nodes) * graph.num_types + preferred] = 1.0
    logits = torch.zeros(2, graph.max_nodes, graph.num_types)
    logits[:, :, 1] = 1.0  # both samples: type 1 everywhere, so equal scores
    logits[0, 1, 2] = 2.0  # sample 0: one node already of the preferred type, the higher score
    logits.requires_grad_()
    scores = GraphScores(node_logits=logits, edge_logits=torch.zeros(2, graph.num_edges), graph=graph)
    targets = torch.tensor([0.0, 1.0])  # sample 1 should rank first
    loss = blackbox_rank_loss(lambda v: v @ weights, scores, targets, lam=2.0)
    assert torch.allclose(loss, torch.tensor([0.25, 0.25]))
    loss.sum().backward()
    step = -logits.grad[1]
    assert (step[1:-1].argmax(-1) == preferred).all() and step[[0, -1]].abs().sum() == 0


def test_keep_top_retrains_on_the_best_architectures_only():
    search = AGNetSearch(AGNetGenerator, MLPPredictor, keep_top=2)
    archs = [SPACE.from_index(i) for i in range(4)]
    kept, values = search._training_set(archs, np.array([1.0, 4.0, 3.0, 2.0]), maximize=True)
    assert kept == [archs[1], archs[2]] and values.tolist() == [4.0, 3.0]
    assert AGNetSearch(AGNetGenerator, MLPPredictor)._training_set(archs, np.ones(4), True)[0] == archs


@pytest.mark.parametrize("backprop", [True, False])
def test_without_backprop_no_predictor_gradient_reaches_the_generator(backprop: bool):
    torch.manual_seed(0)
    search = AGNetSearch(AGNetGenerator, MLPPredictor, alpha=1.0, epochs=1, backprop=backprop)
    generator, predictor = AGNetGenerator(SPACE.graph), MLPPredictor(SPACE.graph)
    before = [p.detach().clone() for p in generator.parameters()]
    optimizer = torch.optim.Adam([*generator.parameters(), *predictor.parameters()], lr=1e-2)
    archs = [SPACE.from_index(i) for i in range(0, 3200, 100)]
    targets = [np.linspace(0.1, 0.9, len(archs))]
    search._retrain(generator, [predictor], optimizer, SPACE, archs, targets, np.ones(len(archs)),
                    torch.Generator().manual_seed(0))
    moved = any(not torch.equal(a, b) for a, b in zip(before, generator.parameters()))
    assert moved == backprop


def test_benchmark_predictor_peeks_without_paying(benchmark: NB201Benchmark, quick_pretrain: PretrainConfig):
    search_oracle = oracle(benchmark, 48)
    archs = [SPACE.from_index(i) for i in (5, 6)]
    assert np.allclose(search_oracle.peek(archs), benchmark.query(archs, VALID))
    assert search_oracle.spent == 0
    search = AGNetSearch(AGNetGenerator, BenchmarkPredictor, pretrain=quick_pretrain, epochs=3, num_candidates=100)
    search.run(SPACE, search_oracle, np.random.default_rng(0))
    assert search_oracle.spent == 48
    # with the true values as predictor, every batch after the random start beats the median cell
    later = search_oracle.values(VALID)[16:]
    assert np.median(later) > np.nanmedian(benchmark.column(VALID))


@pytest.mark.parametrize("strategy,lso", [("random", False), ("local", False), ("bo", False), ("local", True)])
def test_latent_space_search_spends_the_budget_deterministically(benchmark: NB201Benchmark,
                                                                quick_pretrain: PretrainConfig, strategy: str,
                                                                lso: bool):
    def run() -> np.ndarray:
        search_oracle = oracle(benchmark, 40)
        search = LatentSpaceSearch(AGNetGenerator, quick_pretrain, strategy=strategy, lso=lso,
                                   decode="sample" if lso else "argmax", surrogate=DNGO(hidden=(16,), epochs=20))
        search.run(SPACE, search_oracle, np.random.default_rng(1))
        assert search_oracle.spent == 40
        return search_oracle.values(VALID)

    assert np.array_equal(run(), run())


def test_xgb_rank_loss_reaches_the_generator(benchmark: NB201Benchmark):
    archs = SPACE.sample(64, np.random.default_rng(0))
    surrogate = XGBRankingPredictor(num_boost_round=30)
    surrogate.fit(SPACE.encode(archs), benchmark.query(archs, VALID), generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    generator = AGNetGenerator(SPACE.graph)
    scores = generator(torch.randn(32, generator.latent_dim))
    loss = surrogate.rank_loss(scores, torch.randn(32)).mean()
    loss.backward()
    assert sum(float(p.grad.abs().sum()) for p in generator.parameters() if p.grad is not None) > 0


@pytest.mark.parametrize("predictor", [XGBPredictor, XGBRankingPredictor])
def test_ag_net_with_xgb_selects_with_the_surrogate_deterministically(benchmark: NB201Benchmark,
                                                                       quick_pretrain: PretrainConfig,
                                                                       predictor: type):
    def run() -> np.ndarray:
        search_oracle = oracle(benchmark, 40)
        AGNetSearch(AGNetGenerator, partial(predictor, num_boost_round=30), pretrain=quick_pretrain, epochs=2,
                    num_candidates=64).run(SPACE, search_oracle, np.random.default_rng(0))
        assert search_oracle.spent == 40
        return search_oracle.values(VALID)

    assert np.array_equal(run(), run())


def test_variant_sweep_and_report_name_each_variant(tmp_path: Path, quick_generator_cache: Path):
    """What a user runs: variants as a sweep axis, `nasgen report` labels the rows by variant."""
    env = {**os.environ, "NASGEN_CACHE": str(quick_generator_cache)}
    run = subprocess.run([sys.executable, "-m", "nasgen.cli", "run", "-m", "experiment=smoke",
                          "variant=ag_net_xgb_ranking,ag_net_wo_lso", "budget=24",
                          "evaluation.summary.report_at=[24]", "hydra.sweep.dir=sweep"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    report = subprocess.run([sys.executable, "-m", "nasgen.cli", "report", "sweep", "--out", "report",
                             "--budgets", "24"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stdout + report.stderr
    with open(tmp_path / "report" / "report.csv", newline="") as f:
        methods = {row["method"] for row in csv.DictReader(f)}
    assert methods == {"ag_net_xgb_ranking", "ag_net_wo_lso"}
