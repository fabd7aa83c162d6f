"""One-shot selection rules and the one-shot study (study=oneshot): the PT schedule and tie-breaks
on made-up numbers, the magnitude rule on hand-set strengths, PT's topology steps on a stand-in
trainer, and experiment=darts_pt_smoke through the command line and, cut twice (inside a search
epoch, inside PT after two decisions) and resumed, through the pipeline: same cells, same logs."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import open_dict
from test_cli_run import run_once

from nasgen.benchmarks import NB201Benchmark
from nasgen.errors import ConfigError
from nasgen.models.nb201_supernet import NB201Supernets
from nasgen.oneshot.base import CellChoices, Decisions
from nasgen.oneshot.search import all_skip, lookup_metrics
from nasgen.oneshot.selection import (
    LOG_COLUMNS,
    MagnitudeSelection,
    PerturbationSelection,
    least_harmful,
    magnitude_decisions,
    most_harmful,
    pt_schedule,
    step_counts,
)
from nasgen.oneshot.training import BilevelTrainer
from nasgen.pipeline import run
from nasgen.spaces.nb201 import OPS, NB201Space

OUTPUTS = ("supernet_log.csv", "trajectory.csv", "selection_log.csv", "genotype.json", "trajectory.png",
           "results.json")


# -- pure numbers ------------------------------------------------------------------------------
def test_the_pt_schedule_is_the_authors():
    # NB201: 6 edges, 5 epochs between: 25 tuning epochs, the 6th selection at the last one (note 2.3.6)
    assert pt_schedule(6, 5) == ([0, 5, 10, 15, 20, 24], 25)
    # DARTS space: 14 op steps + 3 topology steps, 5 between: 81 tuning epochs, selections at 0, 5, ..., 80
    assert pt_schedule(17, 5, trailing_epoch=True) == (list(range(0, 81, 5)), 81)
    assert pt_schedule(6, 1) == ([0, 1, 2, 3, 4, 5], 6)  # the rule alone would give 5 selections in 5 epochs
    assert pt_schedule(6, 0) == ([0] * 6, 0)
    assert pt_schedule(1, 5) == ([0], 1)
    with pytest.raises(ConfigError):
        pt_schedule(0, 5)


def test_ties_of_the_masked_accuracy_are_broken_by_the_loss_then_by_the_first():
    results = [(50.0, 1.0), (40.0, 1.2), (40.0, 1.5), (60.0, 2.0), (40.0, 1.5)]
    assert most_harmful(results, "acc_then_loss") == 2   # lowest accuracy, of those the highest loss, first
    assert most_harmful(results, "acc") == 1              # lowest accuracy, the first of the tie
    assert most_harmful(results, "loss") == 3
    # topology: the edge whose removal hurts least goes
    assert least_harmful([(50.0, 1.0), (60.0, 2.0), (60.0, 1.5), (60.0, 1.5)], "acc_then_loss") == 2
    assert least_harmful([(50.0, 1.0), (60.0, 2.0), (60.0, 1.5)], "acc") == 1


# -- rules on stand-ins ----------------------------------------------------------------------------
NB201_CELL = CellChoices("cell", (OPS,) * 6)
TOPOLOGY_CELL = CellChoices("normal", (("none", "skip_connect", "sep_conv_3x3"),) * 5,
                            node_inputs=((0, 1), (2, 3, 4)), keep_inputs=2)


class StandIn:
    """A model and trainer without a network: the 'accuracy' of mixing weights is their dot
    product with fixed op values, so masking an op or an edge lowers it by that op's share."""

    def __init__(self, choices: tuple[CellChoices, ...], strengths: list[np.ndarray],
                 values: list[np.ndarray] | None = None) -> None:
        self.supernet = SimpleNamespace(choices=choices)
        self.relaxation = SimpleNamespace(learns_alpha=True)
        self.decisions = Decisions.empty(choices)
        self._strengths = strengths
        self.values = values
        self.model, self.calls = self, []

    def strengths(self) -> list[np.ndarray]:
        return self._strengths

    def mixing(self, training: bool, mask=None) -> list[torch.Tensor]:
        weights = self.decisions.apply([torch.tensor(s) for s in self._strengths])
        if mask is not None:
            cell, edge, op = mask
            weights[cell] = weights[cell].clone()
            weights[cell][edge, op] = 0.0
        return weights

    def evaluate(self, mixing) -> tuple[float, float]:
        score = float(sum((w.numpy() * v).sum() for w, v in zip(mixing, self.values)))
        self.calls.append("evaluate")
        return score, -score

    def start_tuning(self, epochs: int, lr_factor: float, schedule: str) -> None:
        self.calls.append(("start_tuning", epochs, lr_factor, schedule))

    def tune_epoch(self, update_alpha: bool) -> dict:
        self.calls.append("tune")
        return {}


def test_magnitude_takes_the_largest_weight_per_edge_and_the_strongest_inputs_per_node():
    nb201 = np.full((6, 5), 0.1)
    for edge, op in enumerate([1, 3, 0, 4, 2, 1]):
        nb201[edge, op] = 0.5
    nb201[5, 3] = 0.5  # a tie: the first op wins
    assert magnitude_decisions(StandIn((NB201_CELL,), [nb201])).ops == [dict(enumerate([1, 3, 0, 4, 2, 1]))]

    topology = np.array([[0.9, 0.05, 0.05],   # none is never an op here: skip (tie with sep: the first)
                         [0.2, 0.3, 0.5],
                         [0.1, 0.2, 0.7],
                         [0.8, 0.15, 0.05],   # node 1's weakest input despite its large none weight
                         [0.2, 0.5, 0.3]])
    decisions = magnitude_decisions(StandIn((TOPOLOGY_CELL,), [topology]))
    assert decisions.ops == [{0: 1, 1: 2, 2: 2, 3: 1, 4: 1}]
    assert decisions.removed == [{3}]


def test_pt_decides_every_edge_then_every_node_of_each_cell_type_on_the_authors_schedule():
    rng = np.random.default_rng(0)
    choices = (TOPOLOGY_CELL, CellChoices("reduce", TOPOLOGY_CELL.edge_ops, TOPOLOGY_CELL.node_inputs, 2))
    values = [rng.uniform(size=(5, 3)) for _ in choices]
    stand_in = StandIn(choices, [np.full((5, 3), 1 / 3) for _ in choices], values)
    rows: list[dict] = []
    saves = []
    rule = PerturbationSelection(tune_epochs_between=2)
    decisions = rule.select(stand_in, np.random.default_rng(1), rows.append,
                            lambda: saves.append(Decisions.from_dict(stand_in.decisions.to_dict())))
    assert step_counts(choices) == (5, 1)
    at, total = pt_schedule(6, 2, trailing_epoch=True)
    assert stand_in.calls[0] == ("start_tuning", total, 0.1, "constant") and total == 11
    assert stand_in.calls.count("tune") == at[-1] == 10  # the epochs after the last step decide nothing
    assert len(saves) == 6 and [len(s.ops[0]) for s in saves] == [1, 2, 3, 4, 5, 5]
    for cell, value in enumerate(values):
        # each op masked once per edge, each kept op the one whose masking lowers the score most
        assert decisions.ops[cell] == {e: int(np.argmax(value[e])) for e in range(5)}
        # node 1 keeps the 2 of its inputs (edges 2, 3, 4) whose kept op adds most to the score
        kept = sorted((2, 3, 4), key=lambda e: -value[e].max())[:2]
        assert decisions.removed[cell] == {2, 3, 4} - set(kept)
    ops = [r for r in rows if r["kind"] == "op"]
    topology = [r for r in rows if r["kind"] == "topology"]
    assert len(ops) == 2 * 5 * 3 and len(topology) == 2 * 3  # a node of 3 inputs: one round of 3 removals
    assert sum(r["chosen"] for r in ops) == 10 and sum(r["chosen"] for r in topology) == 2
    assert {r["tune_epoch"] for r in topology} == {at[-1]} and all(set(r) == set(LOG_COLUMNS) for r in rows)


def test_pt_resumed_from_its_decisions_and_rng_continues_as_if_never_stopped():
    rng = np.random.default_rng(3)
    values = [rng.uniform(size=(6, 5))]
    whole = StandIn((NB201_CELL,), [np.full((6, 5), 0.2)], values)
    rows: list[dict] = []
    PerturbationSelection().select(whole, np.random.default_rng(7), rows.append)

    cut = StandIn((NB201_CELL,), [np.full((6, 5), 0.2)], values)
    cut_rng, saved = np.random.default_rng(7), []

    def checkpoint():
        saved.append((cut.decisions.to_dict(), cut_rng.bit_generator.state))
        if len(saved) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        PerturbationSelection().select(cut, cut_rng, lambda row: None, checkpoint)
    resumed = StandIn((NB201_CELL,), [np.full((6, 5), 0.2)], values)
    resumed.decisions = Decisions.from_dict(saved[-1][0])
    resumed_rng = np.random.default_rng()
    resumed_rng.bit_generator.state = saved[-1][1]
    PerturbationSelection().select(resumed, resumed_rng, lambda row: None)
    assert resumed.decisions == whole.decisions
    assert "start_tuning" not in str(resumed.calls)  # the tuning optimiser comes with the trainer state
    assert resumed.calls.count("tune") == 24 - 5  # 5 tuning epochs were done before the second decision


def test_magnitude_selection_logs_one_row_per_edge():
    rows: list[dict] = []
    stand_in = StandIn((NB201_CELL,), [np.eye(6, 5)])
    assert MagnitudeSelection().select(stand_in, np.random.default_rng(0), rows.append).ops == \
        [{0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 5: 0}]
    assert [r["op"] for r in rows] == ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3", "none"]


def test_the_all_skip_reference_is_nb201_index_1835():
    supernet = NB201Supernets(channels=2, cells_per_stage=1).build("full", 10, (1, 8, 8))
    benchmark = NB201Benchmark()
    arch = all_skip(supernet)
    assert NB201Space().index(arch) == 1835
    values = [round(float(benchmark.query([arch], m)[0]), 2) for m in lookup_metrics(benchmark)[:3]]
    assert values == [54.30, 15.61, 16.32]
    assert lookup_metrics(benchmark) == [f"{d}/{s}_acc@200" for s in ("test", "valid")
                                         for d in ("cifar10", "cifar100", "ImageNet16-120")]


# -- the study -------------------------------------------------------------------------------------
def table(path: Path, drop: tuple[str, ...] = ("seconds",)) -> list[dict]:
    with open(path, newline="") as f:
        return [{k: v for k, v in row.items() if k not in drop} for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """experiment=darts_pt_smoke through the command line, once for the module."""
    return run_once(tmp_path_factory.mktemp("smoke"), "darts_pt_smoke")


def test_the_smoke_experiment_writes_every_output_with_table_values(smoke_run: Path):
    assert all((smoke_run / name).is_file() for name in OUTPUTS)
    results = json.loads((smoke_run / "results.json").read_text())
    assert results["status"] == "complete"
    protocol = results["protocol"]
    assert protocol["search_dataset"] == "digits" and protocol["selection"] == "pt" and \
        protocol["report_metric"] == "cifar10/test_acc@200" and protocol["evaluation"].startswith("transfer")
    benchmark, space = NB201Benchmark(), NB201Space()
    trajectory = table(smoke_run / "trajectory.csv")
    assert [(r["epoch"], r["rule"]) for r in trajectory] == [("1", "magnitude"), ("2", "magnitude"),
                                                              ("3", "magnitude"), ("3", "pt")]
    for row in trajectory:  # real NB201 table values of the cell named
        arch = space.from_str(row["arch"])
        assert int(row["index"]) == space.index(arch)
        for metric in lookup_metrics(benchmark):
            assert math.isclose(float(row[metric]), benchmark.query([arch], metric)[0], rel_tol=1e-9)
    pt = results["final"]["pt"]
    assert pt["arch"] == trajectory[-1]["arch"] and pt["metrics"]["cifar10/test_acc@200"] > 0
    genotype = json.loads((smoke_run / "genotype.json").read_text())
    assert set(genotype) == {"magnitude", "pt"} and len(genotype["pt"]["decisions"]["ops"][0]) == 6
    log = table(smoke_run / "selection_log.csv")
    assert len(log) == 6 * len(OPS)  # every op of every edge masked once
    assert [r["tune_epoch"] for r in log if r["chosen"] == "True"] == ["0", "1", "2", "3", "4", "5"]
    assert sorted(int(r["edge"]) for r in log if r["chosen"] == "True") == list(range(6))
    supernet_log = table(smoke_run / "supernet_log.csv")
    assert [r["epoch"] for r in supernet_log] == ["1", "2", "3"]
    assert np.allclose(np.sum(json.loads(supernet_log[-1]["strengths_cell"]), axis=1), 1.0, atol=1e-4)


def test_a_run_cut_in_a_search_epoch_and_in_pt_resumes_to_the_uninterrupted_run(
        smoke_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_torch_thread):
    monkeypatch.setenv("NASGEN_CACHE", str(tmp_path / "cache"))
    with initialize_config_module(version_base="1.3", config_module="nasgen.configs"):
        cfg = compose("config", ["experiment=darts_pt_smoke"])
    run_dir = tmp_path / "cut"
    epochs, original_epoch = [], BilevelTrainer.search_epoch

    def dies_after_the_second_epoch(self):
        row = original_epoch(self)
        epochs.append(row["epoch"])
        if len(epochs) == 2:  # epoch 2 trained, its checkpoint not yet written
            raise KeyboardInterrupt
        return row

    monkeypatch.setattr(BilevelTrainer, "search_epoch", dies_after_the_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        run(cfg, run_dir)
    monkeypatch.setattr(BilevelTrainer, "search_epoch", original_epoch)

    edges, original_edge = [], PerturbationSelection._decide_edge

    def dies_at_the_third_decision(self, *args, **kwargs):
        edges.append(args)
        if len(edges) == 3:  # two decisions checkpointed, two tuning epochs since lost
            raise KeyboardInterrupt
        return original_edge(self, *args, **kwargs)

    with open_dict(cfg):
        cfg.resume = True
    monkeypatch.setattr(PerturbationSelection, "_decide_edge", dies_at_the_third_decision)
    with pytest.raises(KeyboardInterrupt):
        run(cfg, run_dir)
    assert (run_dir / "checkpoints" / "pt_epoch3.pt").is_file()
    monkeypatch.setattr(PerturbationSelection, "_decide_edge", original_edge)
    results = run(cfg, run_dir)
    assert results["status"] == "complete"
    for name in ("trajectory.csv", "selection_log.csv", "supernet_log.csv"):
        assert table(run_dir / name) == table(smoke_run / name), name
    assert json.loads((run_dir / "genotype.json").read_text()) == \
        json.loads((smoke_run / "genotype.json").read_text())
