"""Search by inverting the INN generator (search=inn_invert) on the bundled NB201 table: a whole
run through the command line, a run cut inside a round that resumes to the uninterrupted
history, the partial last round, random candidates, and the refusals of the configs around it.
The generator trains with experiment=inn_smoke's tiny schedule, once for the module."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from omegaconf import DictConfig, open_dict
from test_cli_run import nasgen

from nasgen.errors import ConfigError
from nasgen.pipeline import prepare, run
from nasgen.search.inn_invert import CHECKPOINT, INNInvertSearch


@pytest.fixture(scope="module")
def generator_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One pretrained smoke generator for the module (the first run trains it, the others load it)."""
    return tmp_path_factory.mktemp("inn-cache")


@pytest.fixture
def composed(generator_cache: Path, monkeypatch: pytest.MonkeyPatch, one_torch_thread):
    monkeypatch.setenv("NASGEN_CACHE", str(generator_cache))

    def of(*overrides: str, experiment: str = "inn_smoke") -> DictConfig:
        with initialize_config_module(version_base="1.3", config_module="nasgen.configs"):
            return compose("config", [f"experiment={experiment}", *overrides])

    return of


def rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "history.csv", newline="") as f:
        return [{k: v for k, v in row.items() if k != "wall_time_s"} for row in csv.DictReader(f)]


def test_the_smoke_experiment_runs_end_to_end_through_the_command_line(tmp_path: Path, generator_cache: Path):
    result = nasgen("run", "experiment=inn_smoke", "hydra.run.dir=run", cache=generator_cache, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    stats, history = results["search_stats"], rows(tmp_path / "run")
    assert results["status"] == "complete" and len(history) == results["budget"] == results["queries"] == 112
    assert stats["profile"] == "smoke" and stats["init"] == {"train": 50, "valid": 50, "queries": 100,
                                                          "target_scale": 0.01}
    # 100 initial queries, two rounds of 5, a last one of 2 without the retraining nothing would use
    assert [r["queries"] for r in stats["rounds"]] == [105, 110, 112]
    assert ["retrain" in r for r in stats["rounds"]] == [True, True, False]
    assert all(len(r["predicted_y"]) == len(r["queried_y"]) for r in stats["rounds"])
    assert set(stats["seconds"]) == {"pretrain", "finetune", "search"}
    assert stats["pretrain"]["source"] in ("trained", "cache")
    # test accuracy of the best-by-validation cell: the protocol of every other nasgen result
    best_valid = max(history, key=lambda r: float(r["cifar10/valid_acc@200"]))
    assert results["best"]["arch"] == best_valid["arch"]
    assert results["best"]["cifar10/test_acc@200"] == float(best_valid["cifar10/test_acc@200"])
    assert (tmp_path / "run" / "search_curve.png").is_file()


def test_a_run_cut_inside_a_round_resumes_to_the_uninterrupted_history(tmp_path: Path, composed,
                                                                       monkeypatch: pytest.MonkeyPatch):
    """192 queries: the initial 100, 18 rounds of 5 and a last round of 2 (note A17). The cut run
    stops after paying round 4's queries and before its checkpoint; resumed, it replays them."""
    cfg = composed("budget=192", "search.retrain.max_steps=1", "search.candidates=20", "search.retries_per_level=1",
                   "generator.finetune.epochs=1",
                   "evaluation.summary.plot=false")
    whole = run(cfg, tmp_path / "whole")
    queries = [r["queries"] for r in whole["search_stats"]["rounds"]]
    assert queries == [100 + 5 * i for i in range(1, 19)] + [192]

    saves = 0
    original = INNInvertSearch._save

    def dies_at_the_fifth_save(self, *args, **kwargs):
        nonlocal saves
        saves += 1
        if saves == 5:  # the fine-tuning's and rounds 1-3's checkpoints are written, round 4 is paid
            raise KeyboardInterrupt
        original(self, *args, **kwargs)

    monkeypatch.setattr(INNInvertSearch, "_save", dies_at_the_fifth_save)
    with pytest.raises(KeyboardInterrupt):
        run(cfg, tmp_path / "cut")
    assert len(rows(tmp_path / "cut")) == 120
    monkeypatch.setattr(INNInvertSearch, "_save", original)
    shutil.copytree(tmp_path / "cut", tmp_path / "damaged")
    (tmp_path / "damaged" / CHECKPOINT).write_bytes(b"not a checkpoint")
    with open_dict(cfg):
        cfg.resume = True
    resumed = run(cfg, tmp_path / "cut")
    # a damaged checkpoint: the search starts over, replaying the paid queries instead of paying them
    run(cfg, tmp_path / "damaged")
    assert rows(tmp_path / "damaged") == rows(tmp_path / "whole")
    assert rows(tmp_path / "cut") == rows(tmp_path / "whole")
    assert resumed["search_stats"]["resumed"] == [3]
    strip = ("seconds", "retrain")
    assert [{k: v for k, v in r.items() if k not in strip} for r in resumed["search_stats"]["rounds"]] == \
        [{k: v for k, v in r.items() if k not in strip} for r in whole["search_stats"]["rounds"]]


def test_random_candidates_are_ranked_by_the_inn_without_decoding(tmp_path: Path, composed):
    results = run(composed("budget=110", "search.candidate_source=random", "generator.finetune.epochs=1",
                           "evaluation.summary.plot=false"),
                  tmp_path / "random")
    rounds = results["search_stats"]["rounds"]
    assert [r["queries"] for r in rounds] == [105, 110]
    assert all(r["candidates"] == 100 and r["decoding_rounds"] == 0 and r["noise_std"] is None for r in rounds)
    assert all(r["predicted_y"] == sorted(r["predicted_y"], reverse=True) for r in rounds)


def test_a_generator_that_is_not_performance_conditioned_is_refused(composed):
    with pytest.raises(ConfigError, match="AGNetGenerator is not one: use generator=inn"):
        prepare(composed("generator=ag_net", experiment="inn_nb201"))


def test_a_profile_that_nothing_reads_is_refused_naming_the_readers(composed):
    with pytest.raises(ConfigError, match="profile=cpu changes only settings that read it.*search=inn_invert"):
        prepare(composed("profile=cpu", experiment="smoke"))


def test_a_budget_without_room_after_the_initial_sets_is_refused(tmp_path: Path, composed):
    with pytest.raises(ConfigError, match="budget=100 leaves no query after the 100 initial"):
        run(composed("budget=100"), tmp_path / "small")
