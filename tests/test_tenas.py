"""TE-NAS's pruning search (study=tenas): the rank-and-prune rule on hand-made deltas, the thin
network's patches, experiment=tenas_smoke through the command line (a valid NB201 cell and its
real table values), and the same run cut after its first round and resumed through the pipeline:
the same log and cell, the finished round not measured again."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import open_dict
from test_cli_run import run_once

from nasgen.benchmarks import NB201Benchmark
from nasgen.errors import ConfigError
from nasgen.models.darts_supernet import DartsSupernets
from nasgen.oneshot.search import lookup_metrics
from nasgen.oneshot.tenas import Candidate, TenasPruning, choose_prunes, dense_ranks, mixing_weights
from nasgen.pipeline import run
from nasgen.proxies.base import ProxyBatch
from nasgen.proxies.inputs import random_crops
from nasgen.spaces.nb201 import OPS, NB201Space


def test_dense_ranks_share_ties_and_put_nan_last():
    assert dense_ranks([0.5, 0.1, 0.5, -0.2], descending=True) == [0, 1, 0, 2]
    assert dense_ranks([0.5, 0.1, 0.5, -0.2], descending=False) == [2, 1, 2, 0]
    assert dense_ranks([math.nan, 0.3, 0.1], descending=True) == [2, 0, 1]


def test_each_edge_prunes_its_lowest_rank_sum_and_never_its_last_op():
    alive = [[[1, 2, 3], [2, 4]]]
    candidates = [Candidate(0, 0, 1, 0.3, 0.0),   # ntk rank 0, regions rank 1: sum 1
                  Candidate(0, 0, 2, 0.1, -0.1),  # ntk rank 2, regions rank 0: sum 2
                  Candidate(0, 0, 3, 0.2, 0.0),   # ntk rank 1, regions rank 1: sum 2
                  Candidate(0, 1, 2, 0.2, 0.2),   # ntk rank 1, regions rank 2: sum 3
                  Candidate(0, 1, 4, 0.0, 0.2)]   # ntk rank 3, regions rank 2: sum 5
    ntk, regions, pruned = choose_prunes(candidates, alive, prune_number=1)
    assert ntk == [0, 2, 1, 1, 3] and regions == [1, 0, 1, 2, 2]
    assert pruned == {0, 3}  # one op per edge: the lowest sum on each
    # a tie of the sums goes to the lower NTK rank (the authors' stable sort over the NTK order)
    assert choose_prunes(candidates, alive, prune_number=2)[2] == {0, 2, 3}  # edge 1 keeps its last op
    tie = [Candidate(0, 0, 1, 0.1, 0.1), Candidate(0, 0, 2, 0.1, 0.1)]
    assert choose_prunes(tie, [[[1, 2]]])[2] == {0}  # full tie: measurement order


def test_mixing_is_uniform_over_the_ops_left_and_patches_come_from_the_images():
    (w,) = mixing_weights([[[1, 2, 3, 4], [2]]], [5])
    assert torch.allclose(w, torch.tensor([[0, .25, .25, .25, .25], [0, 0, 1, 0, 0]]))
    images = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).view(2, 3, 6, 6)
    patches = random_crops(ProxyBatch(images, torch.tensor([0, 1]), 2, "test"), 5, 3, seed=0)
    assert patches.inputs.shape == (5, 1, 3, 3) and patches.targets.tolist() == [0, 1, 0, 1, 0]
    for i, patch in enumerate(patches.inputs[:, 0]):  # a 3x3 crop of one channel of image i mod 2
        crops = [images[i % 2, c, y:y + 3, x:x + 3] for c in range(3) for y in range(4) for x in range(4)]
        assert any(torch.equal(patch, crop) for crop in crops)


def test_the_darts_space_is_refused_in_one_line():
    with pytest.raises(ConfigError, match="thin linear-region network"):
        TenasPruning(DartsSupernets())


def table(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """experiment=tenas_smoke through the command line, once for the module."""
    return run_once(tmp_path_factory.mktemp("tenas"), "tenas_smoke")


def test_the_smoke_run_prunes_to_a_valid_nb201_cell_with_its_table_values(smoke_run: Path):
    results = json.loads((smoke_run / "results.json").read_text())
    assert results["status"] == "complete"
    assert results["protocol"]["evaluation"] == "training-free pruning; reported: nb201 200-epoch test"
    final, space, benchmark = results["final"], NB201Space(), NB201Benchmark()
    arch = space.from_str(final["arch"])
    assert final["index"] == space.index(arch) and "none" not in final["ops"]["cell"]
    for dataset in ("cifar10", "cifar100", "ImageNet16-120"):
        metric = f"{dataset}/test_acc@200"
        assert metric in lookup_metrics(benchmark)
        assert math.isclose(final["metrics"][metric], benchmark.query([arch], metric)[0], rel_tol=1e-9)
    assert json.loads((smoke_run / "genotype.json").read_text())["arch"] == final["arch"]
    log = table(smoke_run / "pruning_log.csv")
    # 4 ops per edge once `none` is gone: 24, 18, 12 candidates; one prune per edge and round
    assert [sum(r["round"] == str(n) for r in log) for n in (1, 2, 3)] == [24, 18, 12]
    assert [r["round"] for r in results["rounds"]] == [1, 2, 3] and all(r["seconds"] > 0 for r in results["rounds"])
    for edge in range(6):
        rows = [r for r in log if r["edge"] == str(edge)]
        pruned = [r["op"] for r in rows if r["pruned"] == "True"]
        assert len(pruned) == 3 and {*pruned, final["ops"]["cell"][edge]} == set(OPS) - {"none"}


def test_a_run_cut_after_a_round_resumes_to_the_uninterrupted_run(smoke_run: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NASGEN_CACHE", str(tmp_path / "cache"))
    with initialize_config_module(version_base="1.3", config_module="nasgen.configs"):
        cfg = compose("config", ["experiment=tenas_smoke"])
    run_dir, rounds, original = tmp_path / "cut", [], TenasPruning._round

    def dies_in_the_second_round(self, number, *args):
        rounds.append(number)
        if rounds == [1, 2]:  # round 1 checkpointed, round 2 lost
            raise KeyboardInterrupt
        return original(self, number, *args)

    monkeypatch.setattr(TenasPruning, "_round", dies_in_the_second_round)
    with pytest.raises(KeyboardInterrupt):
        run(cfg, run_dir)
    with open_dict(cfg):
        cfg.resume = True
    results = run(cfg, run_dir)
    assert rounds == [1, 2, 2, 3]  # round 1 was not measured again
    assert results["status"] == "complete"
    assert table(run_dir / "pruning_log.csv") == table(smoke_run / "pruning_log.csv")  # same seed, same values
    assert json.loads((run_dir / "genotype.json").read_text()) == \
        json.loads((smoke_run / "genotype.json").read_text())
