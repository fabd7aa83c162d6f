"""Diagnostics of one-shot supernets (Wang 2021 ch. 2: alpha vs op strength, the skip-conv gap)
and ``nasgen report`` over one-shot run directories."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
from scipy.stats import kendalltau

from nasgen.benchmarks import NB201Benchmark
from nasgen.benchmarks.nb201 import DATASETS, metric_name
from nasgen.cli import main
from nasgen.errors import ConfigError
from nasgen.oneshot.base import CellChoices
from nasgen.oneshot.diagnostics import (
    AlphaVsStrength,
    SkipConvGap,
    SupernetDiagnostic,
    agreement,
    kendall,
    row_strengths,
    summarise_edges,
)
from nasgen.reporting.oneshot_report import find_oneshot_runs, op_names, parameter_free_share
from nasgen.reporting.references import ONESHOT_REFERENCES
from nasgen.spaces import NB201Space

ALL_SKIP, DRNAS_CELL = 1835, 9930  # the DARTS collapse cell and DrNAS' NB201 cell
S2 = ("skip_connect", "nor_conv_3x3")


# -- pure numbers ------------------------------------------------------------------------------
def test_kendall_is_tau_b_and_nan_where_undefined():
    assert kendall([1, 2, 3], [10, 20, 30]) == 1.0
    assert kendall([1, 2, 3], [3, 2, 1]) == -1.0
    scores = ([0.2, 0.5, 0.1, 0.9], [1.0, 1.0, 0.0, 3.0])  # a tie in the second list
    assert kendall(*scores) == pytest.approx(kendalltau(*scores)[0])
    assert math.isnan(kendall([0.4, 0.6], [50.0, 50.0]))  # a two-op edge whose ops measured the same
    assert math.isnan(kendall([1.0], [2.0]))


def test_agreement_ranks_a_masked_op_by_the_accuracy_drop():
    # strength prefers op 0 (skip); masking op 1 (conv) hurts most; discretising to conv is best
    result = agreement(strengths=[0.6, 0.4], masked_acc=[80.0, 40.0], discretised=[70.0, 85.0])
    assert (result["pick_strength"], result["pick_masked"], result["pick_discretised"]) == (0, 1, 1)
    assert result["tau_strength_discretised"] == result["tau_strength_masked"] == -1.0
    assert result["tau_masked_discretised"] == 1.0
    edges = [{"ops": list(S2), **result}, {"ops": list(S2), **agreement([0.3, 0.7], [50.0, 60.0], [60.0, 90.0])}]
    summary = summarise_edges(edges)
    assert summary["argmax_differs_strength_vs_discretised"] == 0.5
    assert summary["picks"]["strength"] == {"skip_connect": 1, "nor_conv_3x3": 1}
    assert summary["picks"]["discretised"] == {"nor_conv_3x3": 2}


def test_skip_conv_gap_refuses_an_op_set_without_both_ops_in_one_line():
    s10 = [CellChoices("cell", (("none", "nor_conv_3x3"),) * 6)]
    with pytest.raises(ConfigError, match="needs edges offering both skip_connect and nor_conv_3x3") as error:
        SkipConvGap(conv_op="nor_conv_3x3").check(s10)
    assert "\n" not in str(error.value)
    SkipConvGap(conv_op="nor_conv_3x3").check([CellChoices("cell", (S2,) * 6)])
    assert isinstance(SkipConvGap(conv_op="nor_conv_3x3"), SupernetDiagnostic)
    assert isinstance(AlphaVsStrength(), SupernetDiagnostic)


def test_skip_conv_gap_reads_the_strengths_of_each_cell_type():
    choices = [CellChoices("normal", (S2, ("nor_conv_3x3", "skip_connect"))), CellChoices("reduce", (S2, S2))]
    row = {"epoch": 3, "alpha_acc": 81.0, "train_acc": 90.0,
           "strengths_normal": json.dumps([[0.7, 0.3], [0.4, 0.6]]), "strengths_reduce": [[0.5, 0.5], [0.2, 0.8]]}
    assert {k: v.tolist() for k, v in row_strengths(row, choices).items()} == {
        "normal": [[0.7, 0.3], [0.4, 0.6]], "reduce": [[0.5, 0.5], [0.2, 0.8]]}
    gap = SkipConvGap(conv_op="nor_conv_3x3").gap_row(row, choices)
    assert gap["skip_minus_conv_normal"] == pytest.approx(0.3)  # (0.4 + 0.2) / 2, ops swapped on edge 1
    assert gap["skip_minus_conv_reduce"] == pytest.approx(-0.3)
    assert gap["skip_minus_conv"] == pytest.approx(0.0)


# -- nasgen report over one-shot runs ----------------------------------------------------------
def write_oneshot_run(folder: Path, seed: int, cells: dict[str, list[int]], status: str = "complete",
                      op_set: str = "s3", selection: str = "pt", supernet: str = "darts") -> Path:
    """A one-shot run directory in the study's output format (results.json, trajectory.csv), its
    cells' accuracies looked up in the bundled NB201 table: ``cells[rule]`` = NB201 index per
    selection epoch (1, 2, 3, ...)."""
    space, table = NB201Space(), NB201Benchmark()
    metrics = [metric_name(d, split, epochs) for d in DATASETS for split in ("test", "valid") for epochs in (200, 12)]
    rows = []
    for rule, indices in cells.items():
        for epoch, index in enumerate(indices, start=1):
            arch = space.from_index(index)
            rows.append({"epoch": epoch, "rule": rule, "arch": space.to_str(arch), "index": index,
                         **{m: float(table.query([arch], m)[0]) for m in metrics}, "seconds": 1.0})
    folder.mkdir(parents=True)
    with open(folder / "trajectory.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    final = {rule: {"arch": space.to_str(space.from_index(indices[-1])), "index": indices[-1]}
             for rule, indices in cells.items()}
    results = {"status": status, "seed": seed, "final": final if status == "complete" else {},
               "protocol": {"search_dataset": "digits", "supernet": supernet, "selection": selection,
                            "op_set": op_set, "alpha_learned": supernet != "fix_alpha"}}
    (folder / "results.json").write_text(json.dumps(results))
    return folder


@pytest.fixture
def oneshot_sweep(tmp_path: Path) -> Path:
    """A multirun folder as `-m seed=0,1,2` leaves it: two complete seeds, one killed mid-search."""
    sweep = tmp_path / "multirun" / "darts_pt"
    write_oneshot_run(sweep / "0", 0, {"magnitude": [9930, 1835, ALL_SKIP], "pt": [9930, 9930, DRNAS_CELL]})
    write_oneshot_run(sweep / "1", 1, {"magnitude": [9930, 9930, ALL_SKIP], "pt": [1835, 9930, 10835]})
    write_oneshot_run(sweep / "2", 2, {"magnitude": [1835, 1835], "pt": [9930, 9930]}, status="interrupted")
    return tmp_path / "multirun"


def rows_by_rule(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as f:
        return {row["rule"]: row for row in csv.DictReader(f)}


def test_report_tabulates_final_cells_per_rule_over_seeds(oneshot_sweep: Path, tmp_path: Path):
    out = tmp_path / "out"
    assert main(["report", str(oneshot_sweep), "--out", str(out), "--reference", "darts_pt"]) == 0
    rows = rows_by_rule(out / "oneshot.csv")
    table = NB201Benchmark()
    c10 = metric_name("cifar10", "test", 200)
    magnitude, pt = rows["magnitude"], rows["pt"]
    assert (magnitude["op_set"], magnitude["supernet"], magnitude["selection"], magnitude["search_dataset"]) == \
        ("s3", "darts", "pt", "digits")
    assert magnitude["seeds"] == pt["seeds"] == "2" and magnitude["partial runs"] == "1"
    assert magnitude[f"{c10} mean ± std"] == "54.30 ± 0.00"  # both seeds collapsed to the all-skip cell
    assert magnitude["parameter-free dominated"] == "2/2" and magnitude["final cells"] == "1835 x2"
    drnas, other = (float(table.query([NB201Space().from_index(i)], c10)[0]) for i in (DRNAS_CELL, 10835))
    mean, std = (drnas + other) / 2, abs(drnas - other) / 2
    assert pt[f"{c10} mean ± std"] == f"{mean:.2f} ± {std:.2f}"
    assert pt[f"{c10} best"] == f"{max(drnas, other):.2f}" == "94.36"
    assert pt[f"{metric_name('ImageNet16-120', 'test', 200)} best"] != "-"
    assert not any("@12" in column for column in pt)  # the 200-epoch accuracies only
    assert pt["parameter-free dominated"] == "0/2" and pt["final epoch"] == "3"
    reference = rows["DARTS-PT paper Table 4: DARTS+PT [seeds and averaging not stated]"]
    assert reference[f"{c10} mean ± std"] == "88.11"
    assert (out / "oneshot_trajectory.png").stat().st_size > 10_000
    markdown = (out / "oneshot.md").read_text()
    assert "| s3 | darts | pt | digits | magnitude | 2 | 1 | 54.30 ± 0.00 |" in markdown
    assert "reference only" in markdown and "| DARTS-PT paper Table 3 | S2 | CIFAR-10 | DARTS+PT | 2.79 |" in markdown
    assert (out / "report.md").read_text().count("| s3 | darts | pt |") == 2  # both rules, also in report.md


def test_report_groups_op_sets_and_keeps_partial_runs_out_of_the_table(tmp_path: Path):
    write_oneshot_run(tmp_path / "a", 0, {"magnitude": [ALL_SKIP]}, op_set="s2", selection="magnitude")
    write_oneshot_run(tmp_path / "b", 0, {"magnitude": [DRNAS_CELL]}, status="interrupted", op_set="s10",
                      selection="magnitude")
    runs = find_oneshot_runs([tmp_path])
    assert sorted(run.group[0] for run in runs) == ["s10", "s2"]
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    with open(tmp_path / "out" / "oneshot.csv", newline="") as f:
        rows = {row["op_set"]: row for row in csv.DictReader(f)}
    assert rows["s2"]["seeds"] == "1" and rows["s10"]["seeds"] == "0" and rows["s10"]["partial runs"] == "1"
    assert rows["s10"][f"{metric_name('cifar10', 'test', 200)} mean ± std"] == "-"


def test_report_leaves_out_the_magnitude_cell_of_a_supernet_whose_alpha_never_moved(tmp_path: Path):
    # fixed alpha: argmax of equal weights is the first op everywhere (the all-skip cell in s2), no search result
    write_oneshot_run(tmp_path / "fixed", 0, {"magnitude": [ALL_SKIP], "pt": [DRNAS_CELL]}, op_set="s2",
                      supernet="fix_alpha")
    write_oneshot_run(tmp_path / "learned", 0, {"magnitude": [ALL_SKIP], "pt": [DRNAS_CELL]}, op_set="s2")
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    with open(tmp_path / "out" / "oneshot.csv", newline="") as f:
        rules = sorted((row["supernet"], row["rule"]) for row in csv.DictReader(f))
    assert rules == [("darts", "magnitude"), ("darts", "pt"), ("fix_alpha", "pt")]


def test_parameter_free_share_reads_nb201_strings_and_darts_genotypes():
    all_skip = NB201Space().to_str(NB201Space().from_index(ALL_SKIP))
    assert parameter_free_share(all_skip) == 1.0
    assert parameter_free_share(NB201Space().to_str(NB201Space().from_index(DRNAS_CELL))) == pytest.approx(1 / 6)
    genotype = "Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1)], normal_concat=[2, 3, 4, 5])"
    assert op_names(genotype) == ["sep_conv_3x3", "skip_connect"] and parameter_free_share(genotype) == 0.5


def test_darts_pt_references_hold_the_papers_nb201_rows():
    nb201_rows, darts_rows = ONESHOT_REFERENCES["darts_pt"]
    by_method = {row.method: row.accuracies for row in nb201_rows}
    assert by_method["DARTS (magnitude)"][0] == "54.30" and by_method["DARTS+PT (fix alpha)"][0] == "93.80"
    assert by_method["DrNAS"] == ("94.36 ± 0.00", "73.51 ± 0.00", "46.34 ± 0.00")
    assert len([r for r in darts_rows if r.source == "DARTS-PT paper Table 3"]) == 4 * 3 * 3  # S1-S4 x datasets x rules


# -- on a tiny real supernet -------------------------------------------------------------------
@pytest.fixture(scope="module")
def searched() -> tuple:
    """A C=4, N=1 NB201 supernet of the s2 op set (skip, conv3x3) after 2 search epochs on digits,
    and its epoch log as the study keeps it."""
    import torch

    from nasgen.models.nb201_supernet import NB201Supernets
    from nasgen.oneshot.relaxations import Softmax
    from nasgen.oneshot.training import BilevelTrainer, OneShotModel, SupernetSchedule, search_data

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    data = search_data("digits", None, 0.5)
    supernet = NB201Supernets("s2", channels=4, cells_per_stage=1).build("s2", data.info.num_classes,
                                                                          data.info.input_shape)
    trainer = BilevelTrainer(OneShotModel(supernet, Softmax()), data, SupernetSchedule(epochs=2), "cpu", seed=0)
    log = []
    for _ in range(2):
        row = trainer.search_epoch()
        row["alpha_acc"] = trainer.evaluate(trainer.model.mixing(False))[0]
        row["strengths_cell"] = json.dumps(trainer.model.strengths()[0].tolist())
        log.append(row)
    yield trainer, log
    torch.set_num_threads(threads)


def context_in(run_dir: Path, seed: int = 0):
    from nasgen.objective import Objective
    from nasgen.studies.base import StudyContext, TrialStore

    return StudyContext(NB201Space(), NB201Benchmark(), Objective(metric_name("cifar10", "valid", 200),
                                                                  metric_name("cifar10", "test", 200)),
                        run_dir, seed, "cpu", TrialStore(run_dir / "trials"))


def trainer_snapshot(trainer) -> dict:
    import copy

    import torch

    return {"state": copy.deepcopy(trainer.state_dict()), "global_rng": torch.get_rng_state().clone()}


def assert_same(first, second, where: str = "") -> None:
    import torch

    if isinstance(first, torch.Tensor):
        assert torch.equal(first, second), where
    elif isinstance(first, dict):
        assert first.keys() == second.keys(), where
        for key in first:
            assert_same(first[key], second[key], f"{where}/{key}")
    elif isinstance(first, (list, tuple)):
        assert len(first) == len(second), where
        for i, (a, b) in enumerate(zip(first, second)):
            assert_same(a, b, f"{where}/{i}")
    else:
        assert first == second, where


def test_alpha_vs_strength_measures_edges_and_restores_the_trainer(searched, tmp_path: Path):
    trainer, log = searched
    before = trainer_snapshot(trainer)
    diagnostic = AlphaVsStrength(edges=1, tune_epochs=1)
    diagnostic.check(trainer.model.supernet.choices)
    result = diagnostic(trainer, context_in(tmp_path), log)
    after = trainer_snapshot(trainer)
    assert_same(before, after)  # weights, alpha, BN buffers, optimisers, decisions, RNG: all as before
    assert "running_mean" in "".join(before["state"]["model"])  # the BN buffers were among the compared
    summary = {k: v for k, v in result.items() if k != "outputs"}
    assert summary["edges"] == 1 and summary["supernet_epoch"] == 2
    assert set(result["outputs"]) == {"alpha_vs_strength.csv", "alpha_vs_strength.md", "alpha_vs_strength.png"}
    with open(tmp_path / "alpha_vs_strength.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and {row["op"] for row in rows} == set(S2)
    strengths = trainer.model.strengths()[0]
    for row in rows:
        edge, op = int(row["edge"]), S2.index(row["op"])
        assert float(row["strength"]) == pytest.approx(float(strengths[edge, op]))
        assert 0.0 <= float(row["masked_acc"]) <= 100.0 and 0.0 <= float(row["discretised_acc"]) <= 100.0
    assert "12 of 14" in (tmp_path / "alpha_vs_strength.md").read_text()  # the thesis' S2 reference
    # a resumed run reads each edge's trial back instead of tuning again
    context = context_in(tmp_path)
    again = diagnostic(trainer, context, log)
    assert context.trials.reused == 1 and {k: v for k, v in again.items() if k != "outputs"} == summary


def test_skip_conv_gap_plots_the_gap_of_the_epoch_log(searched, tmp_path: Path):
    trainer, log = searched
    result = SkipConvGap(conv_op="nor_conv_3x3")(trainer, context_in(tmp_path), log)
    with open(tmp_path / "skip_conv_gap.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    strengths = json.loads(log[-1]["strengths_cell"])
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert float(rows[-1]["skip_minus_conv"]) == pytest.approx(sum(s[0] - s[1] for s in strengths) / 6)
    assert result["final_gap"] == pytest.approx(float(rows[-1]["skip_minus_conv"]))
    assert (tmp_path / "skip_conv_gap.png").stat().st_size > 5_000


def test_a_one_shot_run_writes_the_diagnostics_and_the_report_reads_it(tmp_path: Path, isolated_cache: Path):
    """experiment=alpha_vs_strength_nb201 end to end (smoke profile, 1 edge), then `nasgen report`
    on it beside hand-made runs of another group."""
    import os
    import subprocess
    import sys

    run = tmp_path / "runs" / "real"
    result = subprocess.run(
        [sys.executable, "-m", "nasgen.cli", "run", "experiment=alpha_vs_strength_nb201", "profile=smoke",
         "study.diagnostics.alpha_vs_strength.edges=1", f"hydra.run.dir={run}"],
        env={**os.environ, "NASGEN_CACHE": str(isolated_cache)}, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    results = json.loads((run / "results.json").read_text())
    assert results["diagnostics"]["alpha_vs_strength"]["edges"] == 1
    assert results["diagnostics"]["skip_conv_gap"]["epochs"] == 3
    assert {"alpha_vs_strength.png", "skip_conv_gap.png"} <= set(results["outputs"])
    write_oneshot_run(tmp_path / "runs" / "made", 0, {"magnitude": [ALL_SKIP], "pt": [DRNAS_CELL]})
    assert main(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    with open(tmp_path / "out" / "oneshot.csv", newline="") as f:
        rows = [row for row in csv.DictReader(f)]
    real = next(row for row in rows if row["op_set"] == "s2")
    # the config groups' choices name the supernet and the rule; the cell is the run's final one
    assert (real["supernet"], real["selection"], real["rule"], real["seeds"]) == ("darts", "magnitude", "magnitude",
                                                                                 "1")
    final = results["final"]["magnitude"]
    assert real["final cells"] == str(final["index"])
    assert real[f"{metric_name('cifar10', 'test', 200)} best"] == f"{final['metrics']['cifar10/test_acc@200']:.2f}"
    assert len(rows) == 3  # + the hand-made run's two rules
