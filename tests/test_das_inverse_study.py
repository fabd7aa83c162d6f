"""The 1-D inverse-problem study (``study=das_inverse``, thesis ch. 6): its record, statistics and
report logic on small self-made records, and the smoke experiment end to end through the CLI
(single run, resume, sweep and report, refusals)."""
from __future__ import annotations

import csv
import json
import math
import runpy
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_module
from omegaconf import open_dict
from test_cli_run import nasgen

from nasgen.benchmarks.inverse1d import Inverse1DBenchmark, InverseProblem
from nasgen.errors import ConfigError
from nasgen.objective import Objective
from nasgen.oneshot.das_inverse import DASHyperparameters
from nasgen.pipeline import prepare, run
from nasgen.reporting.das_inverse_report import (
    DASInverseRun,
    correlations,
    das_inverse_table,
    psnr_stats,
    random_pool,
    read_trials,
    samples_to_beat,
    samples_to_beat_table,
    write_trials,
)
from nasgen.reporting.report import write_report
from nasgen.spaces.inverse1d import Inverse1DSpace
from nasgen.spaces.nb201 import NB201Space
from nasgen.studies.das_inverse import DASInverseStudy


def record(method: str, valid: float | None, trial: int = 0, oneshot: float | None = None, ops: str = "all",
           candidates: list[dict] | None = None, hparams: str = "h1") -> dict:
    """A self-made trial record (pure-logic tests only: no number here is a measurement)."""
    return {"trial": trial, "seed": 100 + trial, "method": method, "task": "blur", "layout": "sequential", "ops": ops,
            "hparams": hparams, "arch": "gradient-cnn", "oneshot_psnr": oneshot, "valid_psnr": valid,
            "test_psnr": None if valid is None else valid - 0.5, "search_seconds": 1.0, "train_seconds": 2.0,
            "seconds": 3.0, "candidates": candidates or []}


def test_trials_csv_round_trips_records_with_empty_and_nan_cells(tmp_path: Path):
    records = [record("das", 20.5, 0, oneshot=18.25), record("gradient_only", math.nan, 1),
               record("random_search", 12.0, 2, candidates=[{"arch": "roll-noise", "valid_psnr": 12.0,
                                                             "test_psnr": 11.0}])]
    write_trials(tmp_path / "trials.csv", records)
    back = read_trials(tmp_path / "trials.csv")
    assert back[0]["oneshot_psnr"] == 18.25 and back[1]["oneshot_psnr"] is None and math.isnan(back[1]["valid_psnr"])
    assert back[2]["candidates"] == records[2]["candidates"] and back[0]["candidates"] == []
    assert [r["trial"] for r in back] == [0, 1, 2] and back[0]["seed"] == 100


def test_psnr_statistics_leave_out_diverged_trials_and_count_them():
    found = psnr_stats([10.0, 14.0, math.nan, 12.0, -math.inf, None])
    assert (found["max"], found["mean"], found["median"], found["n"], found["non_finite"]) == (14.0, 12.0, 12.0, 3, 2)
    assert math.isnan(psnr_stats([None, math.nan])["mean"])


def test_correlations_need_three_finite_pairs_and_a_spread():
    found = correlations([1.0, 2.0, 3.0, 4.0, None], [2.0, 4.0, 5.0, 9.0, 7.0])
    assert found["n"] == 4 and found["spearman"] == pytest.approx(1.0) and found["kendall"] == pytest.approx(1.0)
    assert 0.9 < found["pearson"] < 1.0
    assert math.isnan(correlations([1.0, 2.0], [1.0, 2.0])["pearson"])
    assert math.isnan(correlations([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])["kendall"])


def test_samples_to_beat_counts_draws_to_the_first_beater_in_seeded_orders():
    pool = [5.0, 6.0, 20.0, 7.0, math.nan, 8.0, 9.0, 21.0, 4.0, 3.0]
    found = samples_to_beat(18.0, pool, repeats=10, seed=3)
    assert (found.pool, found.beaters) == (10, 2) and len(found.counts) == 10
    assert all(1 <= c <= 9 for c in found.counts)  # at most 8 non-beaters before the first beater
    assert found.expected == pytest.approx(11 / 3)
    assert found == samples_to_beat(18.0, pool, repeats=10, seed=3)  # seeded
    # every order's count is the first position of a beater in that order
    rng = np.random.default_rng(3)
    beats = np.array([v > 18.0 for v in np.nan_to_num(pool, nan=-np.inf)])
    assert list(found.counts) == [int(np.flatnonzero(beats[rng.permutation(10)])[0]) + 1 for _ in range(10)]


def test_a_pool_without_a_beater_says_so_instead_of_extrapolating():
    found = samples_to_beat(30.0, [1.0, 2.0, 3.0])
    assert found.counts == (None,) * 10 and math.isnan(found.mean) and math.isnan(found.expected)
    runs = [DASInverseRun(Path("a"), "das_inverse_table6_1", True,
                          [record("das", 30.0, 0), record("das", 31.0, 1), record("random_sampling", 1.0, 0)])]
    _, rows = samples_to_beat_table(runs)
    assert rows[0][8] == "none: more than 1" and rows[0][9] == "0/10" and rows[0][6] == "1"


def test_the_random_pool_holds_sampling_trials_and_every_search_candidate():
    records = [record("random_sampling", 3.0), record("das", 9.0),
               record("random_search", 5.0, candidates=[{"valid_psnr": 5.0}, {"valid_psnr": 4.0},
                                                         {"valid_psnr": None}])]
    assert random_pool(records) == [3.0, 5.0, 4.0, None]


def test_the_table_groups_cells_in_the_thesis_order_with_its_numbers_beside_ours():
    done = DASInverseRun(Path("a"), "das_inverse_table6_1", True,
                         [record("das", v, t, oneshot=v - 2) for t, v in enumerate((18.0, 20.0, 22.0))])
    partial = DASInverseRun(Path("b"), "das_inverse_table6_1", False, [record("nets_only", 15.0, 0, ops="good")])
    header, rows = das_inverse_table([done, partial])
    first, second = (dict(zip(header, row)) for row in rows)
    assert (first["ops"], first["method"], second["ops"], second["method"]) == ("good", "Nets only", "all", "DAS")
    assert (second["max"], second["mean"], second["median"], second["trials"]) == ("22.00", "20.00", "20.00", "3")
    assert (second["thesis max"], second["thesis mean"], second["thesis median"]) == ("22.86", "15.64", "18.57")
    assert second["thesis table"] == "Table 6.1/6.2" and second["thesis time per trial"] == "2:53"
    assert second["one-shot PSNR mean"] == "18.00" and first["one-shot PSNR mean"] == "-"
    assert first["runs (partial)"] == "1 (1)" and second["runs (partial)"] == "1 (0)"


def test_samples_to_beat_pools_random_runs_of_the_cell_and_counts_repeated_trials_once():
    das = [record("das", v, t) for t, v in enumerate((10.0, 12.0, 14.0))]
    pool = [record("random_sampling", v, t) for t, v in enumerate((11.0, 13.0, 9.0, 8.0))]
    other_ops = [record("random_sampling", 50.0, t, ops="good") for t in range(3)]
    runs = [DASInverseRun(Path("a"), "das_inverse_table6_1", True, das + pool + other_ops),
            DASInverseRun(Path("b"), "das_inverse_table6_2", True, das)]  # the same DAS trials in Table 6.2
    header, rows = samples_to_beat_table(runs)
    assert len(rows) == 1  # good ops have no DAS trials
    row = dict(zip(header, rows[0]))
    assert (row["DAS trials"], row["DAS median"], row["random pool"], row["pool above median"]) == ("3", "12.00",
                                                                                                   "4", "1")
    assert row["thesis draws (DAS median)"] == "49 (18.57 dB)" and row["exact mean for this pool"] == "2.5"


# -- the smoke experiment end to end ----------------------------------------------------------------------
def without_seconds(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if not k.endswith("seconds")} for r in records]


@pytest.fixture(scope="module")
def smoke_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``nasgen run -m experiment=das_inverse_smoke`` (das, random sampling, random search; one process)
    through the command line, once for the module."""
    folder = tmp_path_factory.mktemp("das_inverse")
    result = nasgen("run", "-m", "experiment=das_inverse_smoke", "hydra/launcher=basic", "hydra.sweep.dir=sweep",
                    cache=folder / "cache", cwd=folder)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return folder / "sweep"


def test_a_smoke_run_writes_its_trials_summary_scatter_and_correlation(smoke_sweep: Path):
    run_dir = smoke_sweep / "0"  # the das cell
    results = json.loads((run_dir / "results.json").read_text())
    assert results["status"] == "complete" and results["protocol"]["method"] == "das"
    assert results["protocol"]["search_metric"] == "blur/valid_psnr@retrained"
    records = read_trials(run_dir / "trials.csv")
    space = Inverse1DSpace(ops="all")
    assert [r["trial"] for r in records] == [0, 1] and records[0]["seed"] != records[1]["seed"]
    for r in records:
        assert (r["method"], r["task"], r["layout"], r["ops"], r["hparams"]) == ("das", "blur", "sequential", "all",
                                                                                 "h1")
        assert len(r["arch"].split("-")) == 10 and set(r["arch"].split("-")) <= set(space.op_names)
        assert all(math.isfinite(r[k]) for k in ("oneshot_psnr", "valid_psnr", "test_psnr"))
        assert r["seconds"] >= r["search_seconds"] + r["train_seconds"] - 0.02 and r["search_seconds"] > 0
    summary = results["summary"]
    assert summary["trials"] == 2 and set(summary) >= {"blur/valid_psnr@retrained", "blur/test_psnr@retrained",
                                                       "oneshot_psnr", "seconds_per_trial"}
    assert summary["blur/valid_psnr@retrained"]["max"] == max(r["valid_psnr"] for r in records)
    assert sorted(p.name for p in (run_dir / "trials").iterdir()) == ["trial0000.json", "trial0001.json"]
    saved = json.loads((run_dir / "trials" / "trial0000.json").read_text())["result"]
    assert len(saved["alphas"]) == 10 and all(sum(a) == pytest.approx(1.0, abs=1e-5) for a in saved["alphas"])
    assert json.loads((run_dir / "correlation.json").read_text())["n"] == 2
    assert (run_dir / "oneshot_vs_architecture.png").stat().st_size > 0
    search = read_trials(smoke_sweep / "2" / "trials.csv")  # random search: its candidates, the best reported
    for r in search:
        assert len(r["candidates"]) == 2 and r["oneshot_psnr"] is None and r["train_seconds"] == 0.0
        assert r["valid_psnr"] == max(c["valid_psnr"] for c in r["candidates"])


def test_a_killed_run_resumes_without_repeating_a_trial_and_to_the_same_numbers(
        smoke_sweep: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_torch_thread):
    monkeypatch.setenv("NASGEN_CACHE", str(tmp_path / "cache"))
    with initialize_config_module(version_base="1.3", config_module="nasgen.configs"):
        cfg = compose("config", ["experiment=das_inverse_smoke"])
    run_dir, trials, original = tmp_path / "cut", [], DASInverseStudy._trial

    def dies_in_the_second_trial(self, space, t, *args):
        trials.append(t)
        if trials == [0, 1]:  # trial 0 saved, trial 1 lost
            raise KeyboardInterrupt
        return original(self, space, t, *args)

    monkeypatch.setattr(DASInverseStudy, "_trial", dies_in_the_second_trial)
    with pytest.raises(KeyboardInterrupt):
        run(cfg, run_dir)
    assert len(read_trials(run_dir / "trials.csv")) == 1  # the finished trial is on disk at once
    with open_dict(cfg):
        cfg.resume = True
    results = run(cfg, run_dir)
    assert trials == [0, 1, 1] and results["trials_reused"] == 1 and results["status"] == "complete"
    # the same config and seed as the sweep's das cell: the same numbers
    assert without_seconds(read_trials(run_dir / "trials.csv")) == \
        without_seconds(read_trials(smoke_sweep / "0" / "trials.csv"))


def test_the_report_of_the_smoke_sweep_tabulates_every_cell_with_the_thesis_beside_it(smoke_sweep: Path,
                                                                                      tmp_path: Path):
    markdown = write_report([smoke_sweep], tmp_path)
    assert "1-D inverse problems" in markdown and "random pool" in markdown
    assert {p.name for p in tmp_path.iterdir()} >= {"das_inverse_table.md", "das_inverse_table.csv",
                                                    "das_inverse_scatter.png", "das_inverse_correlation.csv",
                                                    "das_inverse_samples_to_beat.csv", "report.md"}
    with open(tmp_path / "das_inverse_table.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["method"] for r in rows] == ["DAS", "Random Sampling", "Random Search"]
    assert all(r["trials"] == "2" and r["runs (partial)"] == "1 (0)" for r in rows)
    assert [r["thesis median"] for r in rows] == ["18.57", "8.10", "12.34"]
    with open(tmp_path / "das_inverse_samples_to_beat.csv", newline="") as f:
        beat = list(csv.DictReader(f))
    assert len(beat) == 1 and beat[0]["random pool"] == "6"  # 2 sampled + 2 x 2 candidates


def test_the_retrain_seeds_script_reproduces_a_trial_with_its_own_seed(smoke_sweep: Path):
    """scripts/das_inverse_retrain_seeds.py measures on the trial's own validation samples: with the
    trial's seed it is the study's training, so the recorded PSNR comes back."""
    script = runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "das_inverse_retrain_seeds.py"))
    records = read_trials(smoke_sweep / "1" / "trials.csv")  # random sampling
    (result,) = script["retrain"](smoke_sweep / "1", [1], [records[1]["seed"], 7])
    assert result["arch"] == records[1]["arch"] and result["recorded"] == records[1]["valid_psnr"]
    assert result["retrained"][records[1]["seed"]] == pytest.approx(records[1]["valid_psnr"], abs=1e-6)
    assert math.isfinite(result["retrained"][7]) and result["retrained"][7] != records[1]["valid_psnr"]
    with pytest.raises(SystemExit, match="has no trial \\[5\\]"):
        script["retrain"](smoke_sweep / "1", [5], [1])


@pytest.mark.parametrize("overrides, message", [
    (["cell.method=das_single", "search_space=inverse1d_nonsequential"],
     "study.method=das_single needs search_space=inverse1d_sequential"),
    (["cell.method=darts"], "unknown study.method 'darts'; valid choices: gradient_only, nets_only, das"),
    (["study.trials=0"], "study.trials must be a positive integer, got 0"),
    (["study.random_search_size=0"], "study.random_search_size must be a positive integer, got 0"),
])
def test_settings_the_study_cannot_run_are_refused_in_one_line_before_training(overrides, message):
    with initialize_config_module(version_base="1.3", config_module="nasgen.configs"):
        cfg = compose("config", ["experiment=das_inverse_smoke", *overrides])
    with pytest.raises(ConfigError) as error:
        prepare(cfg)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_study_refuses_another_space_and_an_objective_of_the_other_task():
    space = Inverse1DSpace()
    blur, downsample = InverseProblem("blur"), InverseProblem("downsample")
    hparams = DASHyperparameters("h1", 1e-3, 1e-8, False, 1e-3, 1e-3, True, "linear", "gd")
    benchmark = Inverse1DBenchmark(space, downsample, hparams.weight_training())
    objective = Objective("downsample/valid_psnr@retrained", "downsample/test_psnr@retrained")
    DASInverseStudy("das", downsample, hparams).check(space, benchmark, objective)
    with pytest.raises(ConfigError, match="runs the blur task, whose architecture PSNR is blur/valid_psnr@retrained"):
        DASInverseStudy("das", blur, hparams).check(space, benchmark, objective)
    with pytest.raises(ConfigError, match="needs search_space=inverse1d_sequential or inverse1d_nonsequential with "
                                          "benchmark=inverse1d, not nb201 with inverse1d"):
        DASInverseStudy("das", downsample, hparams).check(NB201Space(), benchmark, objective)
