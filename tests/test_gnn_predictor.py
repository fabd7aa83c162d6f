"""The chapter-3 GNN predictor, its random-forest baselines and the predictor studies: graph
invariances on tiny hand-made cells, learning on real NB201 labels, and a study through the CLI
on the real NB101 cells at hand (tables, plot, resume)."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import kendalltau

from nasgen.benchmarks.nb201 import NB201Benchmark
from nasgen.errors import ConfigError
from nasgen.objective import Objective
from nasgen.predictors.base import DifferentiablePredictor, EpochwisePredictor
from nasgen.predictors.forest import RandomForestPredictor, width_depth
from nasgen.predictors.gnn import GNNPredictor
from nasgen.predictors.mlp import MLPPredictor
from nasgen.spaces.nb101 import NB101Space
from nasgen.spaces.nb201 import NB201Space
from nasgen.studies.predictors import ZeroShotStudy

NB101 = NB101Space().graph
INPUT, CONV3, CONV1, POOL, OUTPUT = range(5)


def nb101_vector(types: list[int], edges: list[tuple[int, int]]) -> np.ndarray:
    """A cell's flat vector, padded to 7 nodes as the NB101 space pads."""
    node_types = np.full((1, NB101.max_nodes), NB101.pad_type)
    node_types[0, : len(types)] = types
    adjacency = np.zeros((1, NB101.max_nodes, NB101.max_nodes), dtype=np.int64)
    for source, target in edges:
        adjacency[0, source, target] = 1
    return NB101.flatten(node_types, adjacency)


# One diamond cell written with its two branches in either order: isomorphic graphs.
DIAMOND = nb101_vector([INPUT, CONV3, POOL, OUTPUT], [(0, 1), (0, 2), (1, 3), (2, 3)])
DIAMOND_RELABELLED = nb101_vector([INPUT, POOL, CONV3, OUTPUT], [(0, 1), (0, 2), (1, 3), (2, 3)])
CHAIN = nb101_vector([INPUT, CONV3, POOL, CONV1, OUTPUT], [(0, 1), (1, 2), (2, 3), (3, 4)])


def test_the_gnn_gives_isomorphic_cells_one_prediction(one_torch_thread):
    torch.manual_seed(0)
    gnn = GNNPredictor(NB101).eval()
    with torch.no_grad():
        first, relabelled, chain = gnn(torch.as_tensor(np.concatenate([DIAMOND, DIAMOND_RELABELLED, CHAIN])))
    assert torch.isclose(first, relabelled, atol=1e-6)
    assert not torch.isclose(first, chain, atol=1e-4)


def test_padding_nodes_take_no_part(one_torch_thread):
    """A 4-node cell padded to 7 nodes has the embedding of the same cell in a 4-node space."""
    torch.manual_seed(0)
    gnn = GNNPredictor(NB101).eval()
    graph4 = type(NB101)(node_types=NB101.node_types, max_nodes=4, output_type=NB101.output_type,
                         pad_type=NB101.pad_type)
    small = GNNPredictor(graph4).eval()
    small.load_state_dict(gnn.state_dict())
    unpadded = graph4.flatten(np.array([[INPUT, CONV3, POOL, OUTPUT]]),
                              np.array([[[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]]]))
    with torch.no_grad():
        assert torch.allclose(gnn.embedding(torch.as_tensor(DIAMOND)), small.embedding(torch.as_tensor(unpadded)),
                              atol=1e-6)


def test_gradients_reach_soft_graph_vectors(one_torch_thread):
    torch.manual_seed(0)
    gnn = GNNPredictor(NB101)
    assert isinstance(gnn, DifferentiablePredictor) and isinstance(gnn, EpochwisePredictor)
    soft = torch.rand(3, NB101.vector_dim, requires_grad=True)
    gnn(soft).sum().backward()
    types_part = NB101.max_nodes * NB101.num_types
    assert soft.grad[:, :types_part].abs().sum() > 0 and soft.grad[:, types_part:].abs().sum() > 0


def test_the_gnn_needs_the_graph_of_its_space():
    with pytest.raises(ConfigError, match="GraphSpec"):
        GNNPredictor(None)


def test_the_gnn_learns_nb201_accuracy(one_torch_thread):
    space, benchmark = NB201Space(), NB201Benchmark()
    archs = [space.from_index(i) for i in np.random.default_rng(0).permutation(len(space))[:600]]
    x, y = space.encode(archs), benchmark.query(archs, "cifar10/valid_acc@200")
    gnn = GNNPredictor(space.graph, epochs=25, lr=1e-3)
    epochs = list(gnn.fit_epochs(x[:300], y[:300], generator=torch.Generator().manual_seed(0)))
    assert epochs == list(range(1, 26))
    tau = kendalltau(gnn.predict(x[300:]), y[300:])[0]
    assert tau > 0.4, tau


def test_width_and_depth_of_hand_made_cells():
    features = width_depth(np.concatenate([DIAMOND, CHAIN]), NB101)
    assert features.tolist() == [[3, 2], [5, 1]]  # (depth in nodes, widest level)


def test_the_forests_follow_the_seed():
    x = np.concatenate([DIAMOND, CHAIN, DIAMOND_RELABELLED] * 4)
    y = np.arange(len(x), dtype=np.float64)
    predictions = []
    for _ in range(2):
        forest = RandomForestPredictor(NB101, features="widthdepth", n_estimators=5)
        forest.fit(x, y, generator=torch.Generator().manual_seed(3))
        predictions.append(forest.predict(x))
    assert np.array_equal(*predictions)


def test_mlp_is_sized_from_the_graph_or_at_its_first_fit():
    assert MLPPredictor(NB101).net[0].in_features == NB101.vector_dim
    assert MLPPredictor().net is None


def test_zero_shot_by_cell_size_refuses_a_space_of_one_cell_size():
    study = ZeroShotStudy(MLPPredictor, node_splits=[{"train": [2], "test": [3]}])
    with pytest.raises(ConfigError, match="every nb201 graph has 8 nodes"):
        study.check(NB201Space(), NB201Benchmark(), Objective("cifar10/valid_acc@200", "cifar10/test_acc@200"))


def nasgen(*args: str, cwd: Path, shared: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NASGEN_CACHE": str(cwd / "cache"), "NASGEN_DATA": str(shared)}
    return subprocess.run([sys.executable, "-m", "nasgen.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def test_a_study_runs_from_the_cli_and_resumes_its_trials(tmp_path: Path, shared_benchmarks: Path):
    run_dir = tmp_path / "study"
    result = nasgen("run", "experiment=gnn_trainsize_nb101", "study.train_sizes=[20,40]", "predictor.epochs=2",
                    "study.seeds=1", "~study.baselines.mlp_onehot", f"hydra.run.dir={run_dir}", cwd=tmp_path,
                    shared=shared_benchmarks)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("gnn_trainsize_nb101.md", "gnn_trainsize_nb101.csv", "gnn_trainsize_nb101.png"):
        assert (run_dir / name).is_file(), name
    with open(run_dir / "gnn_trainsize_nb101.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["predictor"], r["train_size"]) for r in rows] == [("gnn", "20"), ("rf_onehot", "20"),
                                                                 ("gnn", "40"), ("rf_onehot", "40")]
    assert "thesis: GNN encoder" in (run_dir / "gnn_trainsize_nb101.md").read_text()

    deleted = sorted((run_dir / "trials").glob("n40-gnn*.json"))
    assert len(deleted) == 1
    expected = json.loads(deleted[0].read_text())
    deleted[0].unlink()
    resumed = nasgen("resume", str(run_dir), cwd=tmp_path, shared=shared_benchmarks)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    results = json.loads((run_dir / "results.json").read_text())
    assert results["status"] == "complete" and results["trials"] == 4 and results["trials_reused"] == 3
    again = json.loads(deleted[0].read_text())["result"]
    assert {k: v for k, v in again.items() if k != "fit_seconds"} == \
        {k: v for k, v in expected["result"].items() if k != "fit_seconds"}
