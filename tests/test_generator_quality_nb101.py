"""Generator quality on a space that cannot be listed (NB101): the pool of distinct sampled
cells it is split from, the measures on a tiny pretraining, and the shipped NB101 generator."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nasgen.errors import ConfigError
from nasgen.evaluation import generator_quality as gq
from nasgen.generators import AGNetGenerator
from nasgen.generators.pretrain import PretrainConfig, generator_stem, pretrain, shipped_dir, validity, weights_checksum
from nasgen.generators.splits import distinct_sample
from nasgen.spaces import NB101Cell, NB101Space

SPACE = NB101Space()
# A high learning rate makes a few hundred steps enough for some valid cells.
TINY_PRETRAIN = PretrainConfig(lr=5e-3, tick_size=320, ticks=2, validity_samples=100)
# Validity (decoding by sampling) of the shipped generator on 1,000 z of seed 0: 0.703 when built
# (best of its 60 ticks on 10,000 z: 0.712, thesis Table 5.6: 0.717); an untrained generator's: 0.013.
SHIPPED_VALIDITY_FLOOR = 0.6


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_distinct_sample_draws_one_cell_per_class_reproducibly():
    pool = distinct_sample(SPACE, 1500, np.random.default_rng(3), batch=500)
    assert len(pool) == 1500 and all(isinstance(cell, NB101Cell) for cell in pool)
    assert len({SPACE.key(cell) for cell in pool}) == 1500
    assert pool == distinct_sample(SPACE, 1500, np.random.default_rng(3), batch=500)
    assert pool != distinct_sample(SPACE, 1500, np.random.default_rng(4), batch=500)


class ThreeCells:
    """A sampler with only three isomorphism classes (pure logic of running out)."""

    name = "three"

    def sample(self, n: int, rng: np.random.Generator) -> list[int]:
        return rng.integers(6, size=n).tolist()

    def key(self, arch: int) -> int:
        return arch % 3


def test_distinct_sample_stops_when_the_sampler_runs_out_of_classes():
    assert sorted(ThreeCells().key(a) for a in distinct_sample(ThreeCells(), 3, np.random.default_rng(0), 50)) \
        == [0, 1, 2]
    with pytest.raises(ConfigError, match="no new cell in 50 draws after 3 distinct"):
        distinct_sample(ThreeCells(), 4, np.random.default_rng(0), batch=50)


def test_generator_quality_on_nb101_splits_a_pool_of_distinct_cells():
    result = gq.generator_quality(AGNetGenerator, SPACE, TINY_PRETRAIN, seed=0, train_fraction=0.9, samples=200,
                                  reconstruct=3, steps=10, pool=1000)
    assert result["settings"]["pool"] == 1000
    assert result["train_size"] == 900 and result["held_out_size"] == 100
    assert result["pretrain"]["source"] == "trained" and result["pretrain"]["ticks"] == 2
    # Uniformly random cells: over all NB101 classes, of which the training set holds 900.
    assert result["uniform_reference"]["novelty"] == pytest.approx(1 - 900 / 423_624)
    for decoding in ("argmax", "sample"):
        metrics = result[decoding]
        assert metrics["decoded"] == 200
        assert all(metrics[k] is None or 0 <= metrics[k] <= 1 for k in ("validity", "uniqueness", "novelty_iso"))
    assert result["sample"]["valid"] > 0
    assert result["reconstruction"]["targets"] == 3


def shipped_stem() -> str:
    return generator_stem(SPACE, AGNetGenerator(SPACE.graph), PretrainConfig())


def test_the_shipped_nb101_generator_matches_its_checksum():
    record = json.loads((shipped_dir() / f"{shipped_stem()}.json").read_text())
    weights = torch.load(shipped_dir() / f"{shipped_stem()}.pt", weights_only=True)
    assert weights_checksum(weights) == record["sha256"]
    assert record["signature"]["space"] == "nb101" and record["signature"]["graph"]["pad_type"] == 4
    assert len(record["stats"]["validity_curve"]) == record["stats"]["ticks"] == 60


def test_default_settings_load_the_shipped_nb101_generator(isolated_cache: Path):
    # Checked first: without the shipped files, pretrain() would pretrain for minutes.
    assert (shipped_dir() / f"{shipped_stem()}.pt").is_file()
    generator, stats = pretrain(AGNetGenerator, SPACE, PretrainConfig())
    assert stats["source"] == "shipped" and stats["sha256"] == weights_checksum(generator.state_dict())
    assert validity(generator, SPACE, 1000, seed=0) >= SHIPPED_VALIDITY_FLOOR
    assert not list(isolated_cache.rglob("*.pt"))
