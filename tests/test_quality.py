"""XGBoost predictor, pretraining on a subset, generator and predictor quality measures."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from nasgen.benchmarks import NB201Benchmark
from nasgen.errors import ConfigError
from nasgen.evaluation import generator_quality as gq
from nasgen.evaluation.predictor_quality import (
    markdown_table,
    plot_predictor_quality,
    predictor_quality,
    split,
    write_csv,
)
from nasgen.generators import AGNetGenerator
from nasgen.generators import pretrain as pretraining
from nasgen.generators.pretrain import PretrainConfig, generator_stem, pretrain
from nasgen.predictors import MLPPredictor, XGBPredictor
from nasgen.spaces import NB201Space

SPACE = NB201Space()
# A high learning rate makes a few hundred steps enough for some valid cells.
TINY_PRETRAIN = PretrainConfig(lr=5e-3, tick_size=640, ticks=5, validity_samples=200)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_xgb_learns_a_function_of_binary_vectors_deterministically():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, size=(400, 20)).astype(np.float32)
    y = 80 + 5 * x[:, 0] + 3 * x[:, 1] * x[:, 2] - 2 * x[:, 5]  # an offset checks the scale is restored
    model = XGBPredictor()
    model.fit(x[:300], y[:300], generator=torch.Generator().manual_seed(1))
    mean = model.predict(x[300:])
    assert np.sqrt(np.mean((mean - y[300:]) ** 2)) < 0.3
    again = XGBPredictor()
    again.fit(x[:300], y[:300], generator=torch.Generator().manual_seed(1))
    assert np.array_equal(again.predict(x[300:]), mean)


def test_pretraining_on_a_subset_draws_only_from_it(monkeypatch):
    subset = SPACE.enumerate()[:50]
    seen = []

    def recording_targets(space, archs):
        seen.extend(archs)
        return targets(space, archs)

    targets = pretraining.graph_targets
    monkeypatch.setattr(pretraining, "graph_targets", recording_targets)
    config = PretrainConfig(tick_size=64, ticks=1, validity_samples=20)
    _, stats = pretrain(AGNetGenerator, SPACE, config, train_archs=subset)
    assert len(seen) == 64 and set(seen) <= set(subset)
    generator = AGNetGenerator(SPACE.graph)
    assert Path(stats["path"]).stem == generator_stem(SPACE, generator, config, subset)
    assert Path(stats["path"]).stem != generator_stem(SPACE, generator, config)
    assert generator_stem(SPACE, generator, config, subset[:-1]) != generator_stem(SPACE, generator, config, subset)
    with pytest.raises(ConfigError, match="empty"):
        pretrain(AGNetGenerator, SPACE, config, train_archs=[])


def test_full_space_cache_key_is_unchanged():
    # Pinned digest of generators cached before train_archs existed: they must still be found.
    name = generator_stem(SPACE, AGNetGenerator(SPACE.graph), PretrainConfig())
    assert name == "AGNetGenerator-nb201-seed0-f1fdb6fc62454101"


def test_generation_metrics_on_hand_made_lists():
    a, b, c = (0, 2, 1, 3, 1, 3), (3, 3, 3, 3, 3, 3), (1, 1, 1, 1, 1, 1)
    a_twin = (0, 2, 4, 3, 4, 3)  # differs from a only on edges leaving the dead node 1
    assert SPACE.key(a) == SPACE.key(a_twin) and a != a_twin
    train = {a, b}
    metrics = gq.generation_metrics([a, a_twin, c, c, None], train, {SPACE.key(x) for x in train}, SPACE.key)
    assert metrics == {"decoded": 5, "valid": 4, "validity": 0.8, "uniqueness": 3 / 4, "uniqueness_iso": 2 / 4,
                       "novelty": 3 / 4, "novelty_iso": 2 / 4}
    empty = gq.generation_metrics([None, None], train, set(), SPACE.key)
    assert empty["validity"] == 0 and empty["novelty"] is None


def test_generator_quality_on_a_tiny_pretraining():
    result = gq.generator_quality(AGNetGenerator, SPACE, TINY_PRETRAIN, seed=0, train_fraction=0.9, samples=300,
                                  reconstruct=5, steps=30)
    assert result["train_size"] == 14062 and result["held_out_size"] == 1563
    for decoding in ("argmax", "sample"):
        metrics = result[decoding]
        assert metrics["decoded"] == 300
        for key in ("validity", "uniqueness", "uniqueness_iso", "novelty", "novelty_iso"):
            assert metrics[key] is None or 0 <= metrics[key] <= 1
    assert result["sample"]["valid"] > 0
    reconstruction = result["reconstruction"]
    assert reconstruction["targets"] == 5 and 0 <= reconstruction["exact"] <= reconstruction["isomorphic"] <= 1
    assert 0 <= reconstruction["argmax_reachable"] <= 1
    assert result["pretrain"]["source"] == "trained"
    assert result["uniform_reference"]["novelty"] == pytest.approx(1563 / 15625)
    with pytest.raises(ConfigError, match="train_fraction"):
        gq.generator_quality(AGNetGenerator, SPACE, TINY_PRETRAIN, seed=0, train_fraction=1.0)


def test_uniform_reference_matches_simulation():
    reference = gq.uniform_reference(num_cells=100, train_size=90, samples=50)
    draws = np.random.default_rng(0).integers(100, size=(2000, 50))
    simulated = np.mean([len(set(row)) / 50 for row in draws])
    assert reference["uniqueness"] == pytest.approx(simulated, abs=0.005)
    assert reference["novelty"] == pytest.approx(0.1)


def test_inversion_lowers_the_reconstruction_loss_and_leaves_the_generator_alone():
    torch.manual_seed(0)
    generator = AGNetGenerator(SPACE.graph)
    weights = {k: v.clone() for k, v in generator.state_dict().items()}
    targets = SPACE.enumerate()[:3]
    _, start = gq.invert(generator, SPACE, targets, restarts=2, steps=0)
    decoded, optimised = gq.invert(generator, SPACE, targets, restarts=2, steps=30)
    assert len(decoded) == 3 and np.all(optimised < start)
    assert all(torch.equal(v, generator.state_dict()[k]) for k, v in weights.items())
    assert all(p.grad is None for p in generator.parameters())


def test_split_keeps_test_cells_apart_from_training_cells():
    benchmark = NB201Benchmark("cifar10")
    archs = benchmark.archs()
    values = benchmark.query(archs, "cifar10/valid_acc@200")
    train, test = split(SPACE, archs, values, test_size=100, train_size=200, seed=0)
    keys = [SPACE.key(a) for a in train + test]
    assert len(train) == 200 and len(test) == 100 and len(set(keys)) == 300
    with pytest.raises(ConfigError, match="isomorphism classes"):
        split(SPACE, archs, values, test_size=6000, train_size=1000, seed=0)


def test_predictor_quality_rows_table_and_plot(tmp_path):
    rows = predictor_quality({"mlp": MLPPredictor, "xgb": XGBPredictor}, SPACE, NB201Benchmark("cifar10"),
                             "cifar10/valid_acc@200", train_sizes=(16, 32), test_size=100, seeds=(0,))
    assert [(r["predictor"], r["train_size"]) for r in rows] == [("mlp", 16), ("mlp", 32), ("xgb", 16), ("xgb", 32)]
    for row in rows:
        assert all(np.isfinite(row[m]) for m in ("kendall_tau", "spearman_rho", "rmse", "fit_seconds"))
    assert rows[-1]["kendall_tau"] > 0.2
    plot_predictor_quality(rows, tmp_path / "quality.png")
    write_csv(rows, tmp_path / "quality.csv")
    assert (tmp_path / "quality.png").stat().st_size > 0
    assert (tmp_path / "quality.csv").read_text().count("\n") == 5
    assert "| xgb |" in markdown_table(rows) and "± 0.000" in markdown_table(rows)
