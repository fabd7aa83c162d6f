"""Where pretrained generators come from: the shipped default, the cache (damaged entries,
lock waits, unwritable folders), the pretraining seed, and the batch decoding they rely on."""
from __future__ import annotations

import fcntl
import json
import logging
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from omegaconf import OmegaConf

from nasgen.benchmarks import NB201Benchmark
from nasgen.generators import AGNetGenerator
from nasgen.generators.pretrain import PretrainConfig, generator_stem, pretrain, shipped_dir, validity, weights_checksum
from nasgen.objective import Objective
from nasgen.predictors import MLPPredictor
from nasgen.search.ag_net import AGNetSearch
from nasgen.search.oracle import Oracle
from nasgen.spaces import NB201Space

SPACE = NB201Space()
# Really pretrains (one short tick): the training path, kept apart from the shipped default.
TINY = PretrainConfig(tick_size=32, ticks=1, validity_samples=20, seed=5)


def compose_config(*overrides: str):
    with initialize_config_module(version_base="1.3", config_module="nasgen.configs"):
        return compose("config", list(overrides))


def default_settings() -> PretrainConfig:
    return PretrainConfig(**OmegaConf.to_container(compose_config().pretrain, resolve=True))


def shipped_record(config: PretrainConfig) -> dict:
    stem = generator_stem(SPACE, AGNetGenerator(SPACE.graph), config)
    return json.loads((shipped_dir() / f"{stem}.json").read_text())


def test_the_default_settings_have_a_shipped_generator():
    config = default_settings()
    # The dataclass defaults are the config's (as the config gives them to the searches).
    assert generator_stem(SPACE, AGNetGenerator(SPACE.graph), config) == generator_stem(
        SPACE, AGNetGenerator(SPACE.graph), PretrainConfig())
    record = shipped_record(config)
    assert record["stats"]["validity"] > 0.98 and len(record["stats"]["validity_curve"]) == record["stats"]["ticks"]
    weights = torch.load(shipped_dir() / f"{generator_stem(SPACE, AGNetGenerator(SPACE.graph), config)}.pt",
                         weights_only=True)
    assert weights_checksum(weights) == record["sha256"]


def test_default_settings_load_the_shipped_generator(isolated_cache: Path):
    generator, stats = pretrain(AGNetGenerator, SPACE, PretrainConfig())
    record = shipped_record(PretrainConfig())
    assert stats["source"] == "shipped" and stats["sha256"] == record["sha256"] == weights_checksum(
        generator.state_dict())
    assert stats["seed"] == 0 and stats["settings"]["ticks"] == 60 and stats["validity"] == record["stats"]["validity"]
    assert not list(isolated_cache.rglob("*.pt"))  # nothing trained, nothing cached
    assert validity(generator, SPACE, 2000, seed=99) > 0.95


def test_search_seeds_share_one_pretrained_generator_unless_asked_otherwise():
    for seed in (0, 3):
        assert compose_config(f"seed={seed}").search.pretrain.seed == 0
    per_seed = compose_config("seed=3", "pretrain.seed=${seed}")
    assert per_seed.search.pretrain.seed == 3
    search = instantiate(per_seed.search)
    assert search.pretrain_config.seed == 3


def test_results_say_which_generator_a_search_used(isolated_cache: Path):
    objective = Objective("cifar10/valid_acc@200", "cifar10/test_acc@200")
    digests = set()
    for seed in (1, 2):
        oracle = Oracle(SPACE, NB201Benchmark("cifar10"), objective, budget=20)
        search = AGNetSearch(AGNetGenerator, MLPPredictor, pretrain=PretrainConfig(), epochs=1, num_candidates=20)
        search.run(SPACE, oracle, np.random.default_rng(seed))
        used = search.stats["pretrain"]
        assert used["source"] == "shipped" and used["seed"] == 0 and used["settings"]["tick_size"] == 5000
        digests.add(used["sha256"])
        json.dumps(search.stats)  # goes into results.json as it is
    assert digests == {shipped_record(PretrainConfig())["sha256"]}


def _damage(weights: Path, how: str) -> None:
    if how == "truncated":
        weights.write_bytes(weights.read_bytes()[:1000])
    elif how == "empty":
        weights.write_bytes(b"")
    elif how == "no record":
        weights.with_suffix(".json").unlink()
    else:  # other weights than the record's checksum
        state = {k: v + 1 for k, v in torch.load(weights, weights_only=True).items()}
        torch.save(state, weights)


@pytest.mark.parametrize("how", ["truncated", "empty", "no record", "other weights"])
def test_a_damaged_cached_generator_is_reported_and_replaced(how: str, isolated_cache: Path,
                                                             caplog: pytest.LogCaptureFixture):
    _, first = pretrain(AGNetGenerator, SPACE, TINY)
    weights = Path(first["path"])
    _damage(weights, how)
    caplog.set_level(logging.INFO)
    generator, again = pretrain(AGNetGenerator, SPACE, TINY)
    damaged = [r for r in caplog.records if "damaged" in r.getMessage()]
    assert len(damaged) == 1 and str(weights) in damaged[0].getMessage()
    assert "\n" not in damaged[0].getMessage()
    assert again["source"] == "trained" and again["sha256"] == first["sha256"]
    _, third = pretrain(AGNetGenerator, SPACE, TINY)
    assert third["source"] == "cache" and third["sha256"] == first["sha256"]


def test_a_damaged_cache_entry_of_the_default_generator_falls_back_to_the_shipped_one(
        isolated_cache: Path, caplog: pytest.LogCaptureFixture):
    stem = generator_stem(SPACE, AGNetGenerator(SPACE.graph), PretrainConfig())
    folder = isolated_cache / "generators"
    folder.mkdir(parents=True)
    (folder / f"{stem}.pt").write_bytes(b"PK\x03\x04 cut off")
    _, stats = pretrain(AGNetGenerator, SPACE, PretrainConfig())
    assert stats["source"] == "shipped"
    assert any("damaged" in r.getMessage() for r in caplog.records)
    assert not (folder / f"{stem}.pt").exists()


def test_a_run_waiting_for_another_pretraining_says_so(isolated_cache: Path, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO)
    stem = generator_stem(SPACE, AGNetGenerator(SPACE.graph), TINY)
    folder = isolated_cache / "generators"
    folder.mkdir(parents=True)
    results: list[dict] = []
    with open(folder / f"{stem}.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another process is pretraining this generator
        waiting = threading.Thread(target=lambda: results.append(pretrain(AGNetGenerator, SPACE, TINY)[1]))
        waiting.start()
        deadline = time.monotonic() + 120
        while not any("waiting" in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
            time.sleep(0.1)
        fcntl.flock(held, fcntl.LOCK_UN)
    waiting.join()
    messages = [r.getMessage() for r in caplog.records if "waiting" in r.getMessage()]
    assert messages and stem in messages[0] and f"{stem}.lock" in messages[0]
    assert results[0]["source"] == "trained"


def test_an_unusable_cache_folder_warns_and_pretrains_without_caching(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      caplog: pytest.LogCaptureFixture):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("NASGEN_CACHE", str(blocker / "cache"))
    _, stats = pretrain(AGNetGenerator, SPACE, TINY)
    assert stats["source"] == "trained" and stats["path"] is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "$NASGEN_CACHE" in warnings[0] and str(blocker) in warnings[0]


def test_without_caching_the_shipped_generator_is_still_used(isolated_cache: Path):
    _, stats = pretrain(AGNetGenerator, SPACE, replace(PretrainConfig(), cache=False))
    assert stats["source"] == "shipped"
    assert not isolated_cache.exists()


def test_batch_decoding_keeps_valid_graphs_and_rejects_the_others():
    archs = SPACE.sample(16, np.random.default_rng(0))
    graphs = [SPACE.to_graph(a) for a in archs]
    types = np.stack([t for t, _ in graphs])
    adjacency = np.stack([a for _, a in graphs])
    types[10, 0] = 1  # no input node
    types[11, -1] = 3  # no output node
    types[12, 3] = 6  # output node among the op nodes
    types[13, 2] = 0  # input node among the op nodes
    adjacency[14, 2, 5] ^= 1  # an edge the cell does not have (or a missing one)
    types[15, 4] = 2  # another op: still a cell
    expected = [*archs[:10], None, None, None, None, None, archs[15][:3] + (1,) + archs[15][4:]]
    decoded = SPACE.from_graphs(types, adjacency)
    assert decoded == expected
    assert all(type(op) is int for arch in decoded if arch is not None for op in arch)
    assert SPACE.from_graphs(types[:, :-1], adjacency) == [None] * 16  # graphs of the wrong size
