"""AG-Net: rank weights, generator shapes and gradients, pretraining, and a real search."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from nasgen.benchmarks import NB201Benchmark
from nasgen.generators import AGNetGenerator, graph_targets
from nasgen.generators.base import GraphScores
from nasgen.generators.pretrain import PretrainConfig, pretrain, validity
from nasgen.objective import Objective
from nasgen.predictors import MLPPredictor
from nasgen.search.ag_net import AGNetSearch, rank_weights
from nasgen.search.oracle import Oracle
from nasgen.spaces import NB201Space

SPACE = NB201Space()
@pytest.fixture(scope="module")
def pretrained(quick_generator_cache: Path, quick_pretrain_settings: PretrainConfig) -> AGNetGenerator:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NASGEN_CACHE", str(quick_generator_cache))
        generator, _ = pretrain(AGNetGenerator, SPACE, quick_pretrain_settings)
    return generator


def test_rank_weights_follow_the_paper():
    values = np.array([90.0, 95.0, 80.0, 95.0])
    k = 0.01
    weights = rank_weights(values, k)
    # rank = number of strictly better points: 95 -> 0, 95 -> 0, 90 -> 2, 80 -> 3
    assert np.allclose(weights, 1 / (k * 4 + np.array([2, 0, 3, 0])))
    assert np.allclose(rank_weights(-values, k, maximize=False), weights)


def test_generator_output_shapes_and_layout():
    generator = AGNetGenerator(SPACE.graph)
    scores = generator(torch.randn(5, 32))
    assert scores.node_logits.shape == (5, 8, 7)
    assert scores.edge_logits.shape == (5, 28)
    assert scores.vector().shape == (5, SPACE.graph.vector_dim) == (5, 84)
    assert torch.all(scores.node_logits[:, 0].argmax(-1) == 0)  # input node is fixed


def test_predictor_gradients_reach_the_generator_and_the_latent_vector():
    generator = AGNetGenerator(SPACE.graph)
    predictor = MLPPredictor(SPACE.graph)
    z = torch.randn(4, 32, requires_grad=True)
    predictor(generator(z).vector()).sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    assert all(p.grad is not None for p in generator.add_node.parameters())
    assert generator.add_edge[0].weight.grad.abs().sum() > 0


def test_reconstruction_loss_is_low_for_the_encoded_target():
    types, edges = graph_targets(SPACE, [SPACE.from_index(7)])
    onehot = torch.nn.functional.one_hot(types, 7).float() * 40 - 20
    perfect = GraphScores(onehot, edges * 40 - 20, SPACE.graph)
    assert perfect.reconstruction_loss(types, edges).item() < 1e-6
    assert perfect.decode(SPACE, sample=False) == [SPACE.from_index(7)]


def test_pretraining_makes_generated_graphs_valid(pretrained):
    untrained = AGNetGenerator(SPACE.graph)
    assert validity(untrained, SPACE, 500) < 0.5
    assert validity(pretrained, SPACE, 2000, seed=123) > 0.9
    decoded = [a for a in pretrained(torch.randn(500, 32)).decode(SPACE) if a is not None]
    assert len({SPACE.key(a) for a in decoded}) > 50  # sampling explores the space


def test_pretrained_generator_is_cached_per_seed(isolated_cache):
    config = PretrainConfig(tick_size=320, ticks=1, validity_samples=100, seed=3)
    first, stats = pretrain(AGNetGenerator, SPACE, config)
    again, cached = pretrain(AGNetGenerator, SPACE, config)
    other, other_stats = pretrain(AGNetGenerator, SPACE, replace(config, seed=4))
    assert (stats["source"], cached["source"], other_stats["source"]) == ("trained", "cache", "trained")
    assert stats["sha256"] == cached["sha256"] != other_stats["sha256"]
    for a, b in zip(first.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    assert cached["path"] != other_stats["path"]


def test_short_search_beats_the_space(quick_pretrain: PretrainConfig):
    benchmark = NB201Benchmark("cifar10")
    objective = Objective("cifar10/valid_acc@200", "cifar10/test_acc@200")
    oracle = Oracle(SPACE, benchmark, objective, budget=48)
    search = AGNetSearch(AGNetGenerator, MLPPredictor, pretrain=quick_pretrain, epochs=5, num_candidates=50)
    search.run(SPACE, oracle, np.random.default_rng(0))
    assert oracle.spent == 48
    assert len(search.stats["iterations"]) == 2
    all_valid = benchmark.table.column("cifar10/valid_acc@200")
    best = oracle.values("cifar10/valid_acc@200").max()
    assert best > np.nanmedian(all_valid)
    assert best > np.nanpercentile(all_valid, 95)
    # every proposal after the initial 16 came from the generator, not the random top-up
    assert all(it["candidates"] >= 16 for it in search.stats["iterations"])
