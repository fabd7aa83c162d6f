"""The INN's regression and inversion study and the generator abilities table, end to end on the
bundled NB201 table with tiny models and schedules: outputs written, numbers finite, a resumed
run reads its trials back, and one table for generators with and without an encoder."""
from __future__ import annotations

import csv
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from nasgen.benchmarks.nb201 import NB201Benchmark
from nasgen.errors import ConfigError
from nasgen.generators import AGNetGenerator
from nasgen.generators.inn import INNGenerator
from nasgen.objective import Objective
from nasgen.spaces import NB201Space
from nasgen.studies.base import StudyContext, TrialStore
from nasgen.studies.generator_abilities import GeneratorAbilities
from nasgen.studies.inn import INNRegression

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SPACE = NB201Space()
BENCHMARK = NB201Benchmark("cifar10")
METRIC = "cifar10/valid_acc@200"
# A small INN whose graph VAE trains one epoch on 40 % of NB201 (about 1 % of its prior samples
# decode to valid cells) and fine-tunes two epochs.
TINY_INN = partial(INNGenerator, encoder={"mlp_hidden": [16], "latent_per_node": 4},
                   decoder={"ffn": 32, "layers": 1}, inn={"blocks": 2, "subnet_layers": 1, "subnet_hidden": 16},
                   pretrain={"epochs": 1, "train_fraction": 0.4, "lr": 0.005},
                   finetune={"epochs": 2, "repeat": 2})


def context(run_dir: Path) -> StudyContext:
    return StudyContext(SPACE, BENCHMARK, Objective(METRIC, METRIC), run_dir, 0, "cpu", TrialStore(run_dir / "trials"))


def test_regression_and_inversion_study_writes_its_outputs_and_resumes(tmp_path: Path):
    study = INNRegression(TINY_INN, seeds=[0, 1], train=40, valid=10, test=60, sweep_step=0.05, profile="test")
    study.check(SPACE, BENCHMARK, Objective(METRIC, METRIC))
    result = study(context(tmp_path))
    assert {Path(p).name for p in result["outputs"]} == {"inn_regression.csv", "inversion.csv", "inn_regression.md",
                                                         "inn_regression.png", "inn_inversion.png"}
    assert all(Path(p).stat().st_size > 0 for p in result["outputs"])
    summary = result["inn_regression"]
    assert all(np.isfinite(summary[m]) for m in ("kendall_tau", "spearman_rho", "rmse", "test_validity",
                                                 "sweep_validity"))
    # the re-simulation error is known where a decoded cell was valid (None where none was)
    assert (summary["sweep_mae"] is None) == (summary["sweep_validity"] == 0)
    assert -1 <= summary["kendall_tau"] <= 1 and summary["rmse"] > 0
    with open(tmp_path / "inversion.csv") as f:
        rows = list(csv.DictReader(f))
    # per seed: one inversion per test cell and 21 sweep targets 0, 0.05, ..., 1 (in %)
    assert len(rows) == 2 * (60 + 21)
    sweep = sorted({float(r["target"]) for r in rows if r["kind"] == "sweep"})
    assert sweep[0] == 0.0 and sweep[-1] == pytest.approx(100.0) and len(sweep) == 21
    # every valid decoded NB201 cell is labelled: its true value is known
    assert all(np.isfinite(float(r["true"])) == (r["valid"] == "True") for r in rows)
    table = (tmp_path / "inn_regression.md").read_text()
    assert "Kendall tau" in table and "figure only (Figs 11, 15)" in table and "profile test" in table

    resumed = StudyContext(SPACE, BENCHMARK, Objective(METRIC, METRIC), tmp_path, 0, "cpu",
                           TrialStore(tmp_path / "trials"))
    again = study(resumed)
    assert resumed.trials.reused == 2 and again["inn_regression"] == summary


def test_abilities_of_generators_with_and_without_encoder_in_one_table(tmp_path: Path):
    study = GeneratorAbilities({"inn": TINY_INN, "ag_net": AGNetGenerator}, seeds=[0], prior_samples=50,
                               encodings=2, held_out=20, sampled_decoding=["ag_net"])
    study.check(SPACE, BENCHMARK, Objective(METRIC, METRIC))
    result = study(context(tmp_path))
    inn, ag_net = result["abilities"]["inn"], result["abilities"]["ag_net"]
    assert 0 <= inn["reconstruction"] <= 1 and 0 <= inn["reconstruction_sampled"] <= 1
    assert ag_net["reconstruction"] is None and ag_net["validity"] > 0.9  # the shipped AG-Net generator
    table = (tmp_path / "vae_abilities.md").read_text()
    ag_net_row = next(line for line in table.splitlines() if line.startswith("| ours ag_net"))
    assert ag_net_row.split("|")[2].strip() == "-"
    assert "| ours inn (seed 0) |" in table and "thesis SVGe | 99.99 | 100.00 | 8.28 | 10.24" in table
    assert "AG-Net thesis (Table 5.6) | - | 99.97 | 73.61 | 10.03" in table
    with open(tmp_path / "vae_abilities.csv") as f:
        assert [r["decoding"] for r in csv.DictReader(f)] == ["argmax", "sampled"]


def test_the_studies_refuse_what_they_cannot_measure():
    objective = Objective(METRIC, METRIC)
    with pytest.raises(ConfigError, match="performance-conditioned generator \\(generator=inn\\)"):
        INNRegression(AGNetGenerator).check(SPACE, BENCHMARK, objective)
    with pytest.raises(ConfigError, match="sampled_decoding names svge, not among the generators inn"):
        GeneratorAbilities({"inn": TINY_INN}, sampled_decoding=["svge"])
    with pytest.raises(ConfigError, match="sweep_step"):
        INNRegression(TINY_INN, sweep_step=0)
