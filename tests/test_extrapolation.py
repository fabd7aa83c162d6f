"""One-node expansions of NB101 cells (thesis Table 4.4) and the extrapolation and latent-walk
studies end to end through the command line, on NASLib's 500 real NB101 cells."""
from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nasgen.errors import ConfigError
from nasgen.spaces.nb101 import OPS, NB101Space, cell_from_spec, cell_hash

# The start cell of the SVGe authors' extrapolation script (the best NB101 cell by validation).
THESIS_START = ("input,conv3x3-bn-relu,conv3x3-bn-relu,conv3x3-bn-relu,conv3x3-bn-relu,conv1x1-bn-relu,output|"
                "0110101,0000010,0001000,0000100,0000010,0000001,0000000")
ON_PARTIAL_TABLE = ["benchmark.source=naslib_zc", "benchmark.skip_missing=true", "objective=nb101_valid_only"]


def brute_force_insertions(space: NB101Space, start) -> set[str]:
    """Keys of every valid cell of one node more that gives ``start`` when one of its inner
    nodes is deleted with its edges: all adjacency patterns x all operations."""
    n = len(start.types) + 1
    rows, cols = np.triu_indices(n, 1)
    own = space.key(start)
    found = set()
    for bits in itertools.product((0, 1), repeat=len(rows)):
        matrix = np.zeros((n, n), dtype=np.int64)
        matrix[rows, cols] = bits
        for ops in itertools.product(OPS, repeat=n - 2):
            labels = ["input", *ops, "output"]
            cell = cell_from_spec(matrix, labels, max_nodes=n, max_edges=None)
            if cell is None or len(cell.types) < n:
                continue
            for removed in range(1, n - 1):
                kept = [v for v in range(n) if v != removed]
                if cell_hash(matrix[np.ix_(kept, kept)], [labels[v] for v in kept]) == own:
                    found.add(space.key(cell))
    return found


def test_insertions_match_brute_force_on_a_cell_with_unordered_nodes():
    space = NB101Space()
    # nodes 1 and 2 are unordered: some insertions need the order input, 2, 1, output
    start = space.from_str("input,conv3x3-bn-relu,maxpool3x3,output|0110,0001,0001,0000")
    expanded = {space.expanded_space().key(c) for c in space.expansions(start, "insert")}
    assert expanded == brute_force_insertions(space, start)


def test_expansions_of_the_thesis_cell_are_valid_distinct_eight_node_cells():
    space = NB101Space()
    start = space.from_str(THESIS_START)
    grown = space.expanded_space()
    assert (grown.graph.max_nodes, grown.max_edges) == (8, None)
    for rule in ("insert", "ends"):
        cells = space.expansions(start, rule)
        keys = [grown.key(c) for c in cells]
        assert len(set(keys)) == len(keys)
        assert all(len(c.types) == 8 for c in cells)
        assert all(grown.from_str(grown.to_str(c)) == c for c in cells)
        assert min(sum(c.edges) for c in cells) > 9  # the start has 9 edges: NB101's limit must go
    # 3 operations x 2 ends x 64 edge sets, all distinct for this cell: the deterministic part
    # of the authors' 1,384 (the other 1,000 are random 8-node graphs)
    assert len(space.expansions(start, "ends")) == 384
    assert len(space.expansions(start, "insert")) == 1245


def test_the_grown_space_pads_smaller_cells_and_does_not_sample():
    space, grown = NB101Space(), NB101Space().expanded_space()
    cell = space.from_str(THESIS_START)
    types, adjacency = grown.to_graph(cell)
    assert types.shape == (8,) and types[-1] == types[-2] and not adjacency[-1].any() and not adjacency[:, -1].any()
    assert grown.from_graph(types, adjacency) == cell
    with pytest.raises(ConfigError, match="cannot sample"):
        grown.sample(1, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="unknown expansion rule"):
        space.expansions(cell, "append")


def nasgen(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NASGEN_CACHE": str(cwd / "cache")}
    return subprocess.run([sys.executable, "-m", "nasgen.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def partial_table(shared_benchmarks: Path) -> list[str]:
    return [f"data_root={shared_benchmarks}", *ON_PARTIAL_TABLE]


def test_extrapolation_study_ranks_the_expansions(tmp_path: Path, partial_table: list[str]):
    # with the experiment's predictor=svge (a tiny VAE): it trains on 7-node cells and encodes 8-node ones
    run_dir = tmp_path / "extrapolate"
    done = nasgen("run", "experiment=svge_extrapolate_nb101", *partial_table, f"hydra.run.dir={run_dir}",
                  "generator.epochs=1", "generator.node_dim=16", "generator.train_pool=300", "predictor.epochs=2",
                  "study.seeds=[0]", f"study.start='{THESIS_START}'", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    top = json.loads((run_dir / "top5.json").read_text())
    assert top["counts"]["ends"]["cells"] == 384 and top["counts"]["insert"]["cells"] == 1245
    assert len(top["top"]) == 5 and top["top"][0]["predicted_mean"] >= top["top"][4]["predicted_mean"]
    assert len({round(row["predicted_mean"], 6) for row in top["top"]}) > 1  # the encoder tells the cells apart
    assert top["start_true"] is None and top["labelled_train_cells"] == 292
    assert "No ground truth offline" in (run_dir / "extrapolation.md").read_text()
    assert (run_dir / "extrapolation.png").stat().st_size > 0
    assert len((run_dir / "extrapolation.csv").read_text().splitlines()) == 1 + top["union"]


def test_latent_walk_study_decodes_grid_and_circle(tmp_path: Path, partial_table: list[str]):
    run_dir = tmp_path / "walk"
    done = nasgen("run", "experiment=svge_latent_walk_nb101", *partial_table, f"hydra.run.dir={run_dir}",
                  "generator.epochs=1", "generator.node_dim=16", "generator.train_pool=300",
                  "predictor=xgb", "predictor.num_boost_round=20", "study.grid_points=3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    walk = json.loads((run_dir / "latent_walk.json").read_text())
    assert len(walk["archs"]) == 14 and len(walk["edits_to_next"]) == 14
    summary = walk["edits_summary"]
    assert summary["unchanged"] + summary["one_edit"] + summary["more_edits"] + summary["with_invalid"] == 14
    assert len((run_dir / "latent_grid.csv").read_text().splitlines()) == 1 + 9
    for name in ("latent_walk.md", "latent_grid.png", "latent_walk.png"):
        assert (run_dir / name).stat().st_size > 0
