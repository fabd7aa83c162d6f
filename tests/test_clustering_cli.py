"""Correlation-clustering instances, metrics, `nasgen cluster` and the Table 8.1 study: readers round-trip
and refuse what they cannot read in one line, generators build what their docstrings promise, the command
writes every output and agrees with brute force, the study writes its tables and resumes."""
from __future__ import annotations

import csv
import json
import math
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
from test_cli_run import nasgen
from test_training import write_mnist_folder

from nasgen.benchmarks import NB201Benchmark
from nasgen.build import build
from nasgen.clustering import instances as sources
from nasgen.clustering.instance import Instance, random_instance
from nasgen.clustering.instances import (
    ArchitectureGraph,
    ImageGrid,
    InstanceFile,
    InstanceSource,
    KnnGraph,
    grid_instance,
    read_instance,
    read_opengm_hdf5,
    read_text,
    weights_from_probability,
    write_opengm_hdf5,
    write_text,
)
from nasgen.clustering.metrics import num_clusters, rand_index, variation_of_information
from nasgen.clustering.report import gap_at
from nasgen.clustering.run import run
from nasgen.clustering.solvers import BruteForce, Solver
from nasgen.clustering.study import DEFAULT_INSTANCES, THESIS_TABLE_8_1, Study, composed, expand
from nasgen.errors import ConfigError, DataError
from nasgen.spaces import NB201Space

ROOT = Path(__file__).parents[1]


def brute_force_optimum(instance: Instance) -> float:
    return BruteForce().solve(instance, 60.0, np.random.default_rng(0)).objective


# -- metrics -------------------------------------------------------------------------------------
def test_metrics_on_hand_checked_partitions():
    # 4 nodes, 6 pairs; b splits {2, 3}: one pair of six disagrees
    assert rand_index([0, 0, 1, 1], [0, 0, 1, 2]) == pytest.approx(5 / 6)
    # H(a) = log 2, H(b) = H(a, b) = 1.5 log 2 (b refines a): VI = 0.5 log 2
    assert variation_of_information([0, 0, 1, 1], [0, 0, 1, 2]) == pytest.approx(0.5 * math.log(2))
    # only which nodes share a label matters
    assert rand_index([0, 0, 1], [5, 5, 2]) == 1.0 and variation_of_information([0, 0, 1], [5, 5, 2]) == 0.0
    # all together vs all apart: every pair disagrees, VI = log n
    assert rand_index([0, 0, 0, 0], [0, 1, 2, 3]) == 0.0
    assert variation_of_information([0, 0, 0, 0], [0, 1, 2, 3]) == pytest.approx(math.log(4))
    assert num_clusters([3, 3, 7, 1]) == 3 and rand_index([4], [9]) == 1.0
    with pytest.raises(DataError, match="different sizes"):
        rand_index([0, 1], [0, 1, 2])


# -- readers -------------------------------------------------------------------------------------
def test_text_and_hdf5_round_trip(tmp_path: Path):
    instance = random_instance(np.random.default_rng(1), 12, 0.6, name="roundtrip")
    for path in (write_text(instance, tmp_path / "g.txt"), write_opengm_hdf5(instance, tmp_path / "g.h5")):
        back = read_instance(path)
        assert back.num_nodes == 12 and back.name == "g"
        assert np.array_equal(back.edges, instance.edges) and np.array_equal(back.weights, instance.weights)


def test_text_forms_comments_duplicates_and_errors(tmp_path: Path):
    path = tmp_path / "m.txt"
    path.write_text("# LPMP form\nMULTICUT\n0 1 2.5\n1 0 -1.0\n\n2 3 -4\n1 1 7\n")
    instance = read_text(path)
    assert instance.num_nodes == 4  # the largest id + 1
    assert instance.edges.tolist() == [[0, 1], [2, 3]]
    assert instance.weights.tolist() == [1.5, -4.0]  # duplicates summed, the self-loop dropped
    for text, message in (("3 2\n0 1 1.0\n", "announces 2 edges, the file holds 1"),
                          ("3 1\n0 5 1.0\n", r"m.txt:2: node id out of range 0..2"),
                          ("3 1\n0 1\n", r"m.txt:2: expected '<u> <v> <weight>'"),
                          ("graph\n", "expected a header")):
        path.write_text(text)
        with pytest.raises(DataError, match=message):
            read_text(path)


def write_explicit_model(path: Path, tables: list[np.ndarray], factors: list[tuple[int, int, int]]) -> None:
    """An OpenGM2 file with explicit functions only (``factors``: function index, u, v), as OpenGM writes
    models built from numpy tables."""
    import h5py

    with h5py.File(path, "w") as f:
        gm = f.create_group("gm")
        gm["header"] = np.array([2, 0, 3, len(factors), 1, sources.EXPLICIT_FUNCTION, len(tables), 0], dtype=np.uint64)
        group = gm.create_group(f"function-id-{sources.EXPLICIT_FUNCTION}")
        group["indices"] = np.concatenate([[t.ndim, *t.shape] for t in tables]).astype(np.uint64)
        group["values"] = np.concatenate([t.ravel() for t in tables]).astype(np.float32)
        gm["factors"] = np.array([[fn, 0, 2, u, v] for fn, u, v in factors], dtype=np.uint64).ravel()


def test_opengm_explicit_potts_tables_and_refusals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    potts = np.array([[0.5, 3.0, 3.0], [3.0, 0.5, 3.0], [3.0, 3.0, 0.5]])  # cutting costs 3.0 - 0.5
    repulsive = np.array([[1.0, -1.0], [-1.0, 1.0]])
    write_explicit_model(tmp_path / "ok.h5", [potts, repulsive], [(0, 0, 1), (1, 1, 2)])
    instance = read_opengm_hdf5(tmp_path / "ok.h5")
    assert instance.edges.tolist() == [[0, 1], [1, 2]] and instance.weights.tolist() == [2.5, -2.0]
    write_explicit_model(tmp_path / "bad.h5", [np.array([[0.0, 1.0], [2.0, 0.0]])], [(0, 0, 1)])
    with pytest.raises(DataError, match="no second-order Potts function"):
        read_opengm_hdf5(tmp_path / "bad.h5")
    with pytest.raises(DataError, match="no group 'model'"):
        read_opengm_hdf5(tmp_path / "ok.h5", group="model")
    monkeypatch.setitem(sys.modules, "h5py", None)  # as if h5py were not installed
    with pytest.raises(DataError, match="needs h5py: pip install h5py"):
        read_instance(tmp_path / "ok.h5")


def test_missing_file_names_it_and_where_the_instances_come_from(tmp_path: Path):
    source = InstanceFile("bsds/101085.h5", data_root_dir=str(tmp_path))
    with pytest.raises(DataError) as error:
        source.build()
    message = str(error.value)
    assert "\n" not in message and "bsds/101085.h5" in message and str(tmp_path / "bsds/101085.h5") in message
    assert "OpenGM benchmark page" in message
    write_text(random_instance(np.random.default_rng(0), 3, 1.0), tmp_path / "bsds" / "101085.h5.txt")
    assert InstanceFile("bsds/101085.h5.txt", data_root_dir=str(tmp_path)).build().num_nodes == 3  # via data_root


# -- generators ----------------------------------------------------------------------------------
def test_weights_are_log_odds_of_not_cutting():
    assert weights_from_probability(np.array([0.5]))[0] == 0.0
    assert weights_from_probability(np.array([0.1]))[0] == pytest.approx(math.log(9))
    assert weights_from_probability(np.array([1.0]))[0] == pytest.approx(-math.log(1e6 - 1))  # clipped


def test_digits_grid_sizes_signs_and_determinism():
    instance = ImageGrid(index=3).build()
    assert (instance.num_nodes, instance.num_edges) == (64, 2 * 8 * 7) and instance.labels is None
    from nasgen.data.datasets import load_dataset

    image = load_dataset("digits").test.pixels()[3, 0].numpy().astype(np.float64).ravel()
    d = np.abs(image[instance.edges[:, 0]] - image[instance.edges[:, 1]])
    assert np.allclose(instance.weights, 10.0 * (0.25 - d))  # phi = beta (theta - d)
    assert (instance.weights < 0).any() and (instance.weights > 0).any()
    again = ImageGrid(index=3).build()
    assert np.array_equal(again.weights, instance.weights) and np.array_equal(again.edges, instance.edges)


def test_block_grid_is_the_pixel_instance_restricted_to_whole_blocks():
    image = np.random.default_rng(0).random((6, 7))  # 7 columns: the last block column is narrower
    pixels, blocks = grid_instance(image, "p"), grid_instance(image, "b", block=2)
    assert blocks.num_nodes == 3 * 4 and blocks.num_edges == 3 * 3 + 2 * 4
    assert np.allclose(blocks.coordinates[0], [0.5, 0.5]) and np.allclose(blocks.coordinates[3], [6.0, 0.5])
    rows, cols = np.divmod(np.arange(42), 7)
    block_of_pixel = (rows // 2) * 4 + cols // 2
    rng = np.random.default_rng(1)
    offsets = []
    for _ in range(5):  # the two objectives differ by one constant (repulsive edges inside blocks)
        partition = rng.integers(0, 3, blocks.num_nodes)
        offsets.append(pixels.objective(pixels.cut_of(partition[block_of_pixel]))
                       - blocks.objective(blocks.cut_of(partition)))
    assert np.allclose(offsets, offsets[0])


def test_fashion_mnist_grid_from_data_root(tmp_path: Path):
    write_mnist_folder(tmp_path / "fashion-mnist", n_train=5001, n_test=5, gz=True)  # 5,000 held out as valid
    instance = ImageGrid("fashion_mnist", index=4, block=2, data_root_dir=str(tmp_path)).build()
    assert (instance.num_nodes, instance.num_edges) == (14 * 14, 2 * 14 * 13)
    assert instance.name == "fashion_mnist-test4-grid-b2"
    with pytest.raises(ConfigError, match="index must be in 0..4"):
        ImageGrid("fashion_mnist", index=5, data_root_dir=str(tmp_path)).build()


def test_digits_knn_graph_has_labels_and_learned_signs():
    instance = KnnGraph(nodes=120, k=4, seed=3).build()
    assert instance.num_nodes == 120 and instance.labels is not None and num_clusters(instance.labels) == 10
    degree = np.bincount(instance.edges.ravel(), minlength=120)
    assert degree.min() >= 4 and 120 * 4 / 2 <= instance.num_edges <= 120 * 4
    same = instance.labels[instance.edges[:, 0]] == instance.labels[instance.edges[:, 1]]
    # the learned sign agrees with the classes more often than calling every edge attractive would
    assert np.mean((instance.weights > 0) == same) > max(same.mean(), 1 - same.mean())
    assert np.array_equal(KnnGraph(nodes=120, k=4, seed=3).build().weights, instance.weights)
    assert not np.array_equal(KnnGraph(nodes=120, k=4, seed=4).build().labels, instance.labels)
    with pytest.raises(ConfigError, match="must differ"):
        KnnGraph(split="train")
    with pytest.raises(ConfigError, match="train_graphs: 9 x 120 images needed, digits train has 1077"):
        KnnGraph(nodes=120, train_graphs=9).build()


def test_nb201_architecture_graph_joins_one_edit_neighbours_by_accuracy():
    space, benchmark = NB201Space(), NB201Benchmark()
    source = ArchitectureGraph(space, benchmark, cells=60, seed=2)
    instance = source.build()
    cells = source.selected()
    assert instance.num_nodes == 60 and len(set(cells.tolist())) == 60
    archs = [space.from_index(int(c)) for c in cells]
    assert all(sum(a != b for a, b in zip(archs[u], archs[v])) == 1 for u, v in instance.edges)
    assert instance.num_edges >= 59  # a breadth-first ball is connected
    accuracy = benchmark.column("cifar10/valid_acc@200")[cells]
    gap = np.abs(accuracy[instance.edges[:, 0]] - accuracy[instance.edges[:, 1]])
    assert np.allclose(instance.weights, np.clip((1.0 - gap) / 0.5, -math.log(1e6 - 1), math.log(1e6 - 1)))
    summary = source.describe_clusters(instance, np.zeros(60, dtype=int))
    assert summary["clusters"] == 1 and summary["largest"][0]["size"] == 60
    assert summary["largest"][0]["max"] == pytest.approx(accuracy.max())
    with pytest.raises(ConfigError, match="cells must be 'all' or in 2..15625"):
        ArchitectureGraph(space, benchmark, cells=1)


# -- nasgen cluster ------------------------------------------------------------------------------
CLUSTER_CONFIGS = ROOT / "nasgen" / "configs" / "clustering"


@pytest.mark.parametrize("option", sorted(p.stem for p in (CLUSTER_CONFIGS / "solver").glob("*.yaml")))
def test_every_solver_option_builds_a_solver(option: str):
    assert isinstance(build(composed([f"clustering/solver={option}"]).clustering.solver, "solver", Solver), Solver)


@pytest.mark.parametrize("option", sorted(p.stem for p in (CLUSTER_CONFIGS / "instance").glob("*.yaml")))
def test_every_instance_option_builds_a_source(option: str):
    overrides = [f"clustering/instance={option}"] + (["clustering.instance.path=g.txt"] if option == "file" else [])
    assert isinstance(build(composed(overrides).clustering.instance, "instance", InstanceSource), InstanceSource)


def test_default_study_instances_compose():
    expanded = [expand(spec) for spec in DEFAULT_INSTANCES]
    for (_, overrides), *_ in expanded:  # a spec's expansions differ in values only
        composed(overrides)
    keys = [key for instances in expanded for key, _ in instances]
    assert len(keys) == len(set(keys)) == 20


def test_nasgen_cluster_end_to_end_agrees_with_brute_force(tmp_path: Path):
    instance = random_instance(np.random.default_rng(7), 9, 0.6, name="tiny")
    write_text(instance, tmp_path / "tiny.txt")
    result = nasgen("cluster", "clustering/instance=file", "clustering.instance.path=tiny.txt", "time_limit_s=60",
                    "hydra.run.dir=run", cache=tmp_path / "cache", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run = tmp_path / "run"
    for name in ("partition.json", "bounds_trace.csv", "summary.json", "gap_vs_time.png", "instance.txt",
                 ".hydra/config.yaml"):
        assert (run / name).is_file(), name
    assert not (run / "partition.png").exists()  # drawn only for instances with node coordinates
    summary = json.loads((run / "summary.json").read_text())
    partition = np.array(json.loads((run / "partition.json").read_text())["labels"])
    optimum = brute_force_optimum(instance)
    assert summary["optimal"] and summary["objective"] == pytest.approx(optimum, abs=1e-6)
    assert instance.objective(instance.cut_of(partition)) == pytest.approx(optimum, abs=1e-6)
    assert summary["instance"] == {"name": "tiny", "nodes": 9, "edges": instance.num_edges,
                                   "repulsive": int(np.sum(instance.weights < 0))}
    with open(run / "bounds_trace.csv", newline="") as f:
        trace = list(csv.DictReader(f))
    assert trace and list(trace[0]) == ["seconds", "parallel_seconds", "lower", "upper", "gap", "rows", "phase"]
    assert float(trace[-1]["gap"]) == pytest.approx(0, abs=1e-6)
    assert np.array_equal(read_text(run / "instance.txt").weights, instance.weights)


def test_sweep_then_nasgen_report_tables_every_run_with_its_solver_settings(tmp_path: Path):
    instance = random_instance(np.random.default_rng(3), 8, 0.6, name="tiny")
    write_text(instance, tmp_path / "tiny.txt")
    result = nasgen("cluster", "-m", "clustering/instance=file", "clustering.instance.path=tiny.txt",
                    "clustering.solver.tau=0,0.5", "hydra.sweep.dir=sweep", cache=tmp_path / "cache", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = nasgen("report", "sweep", "--out", "report", cache=tmp_path / "cache", cwd=tmp_path)
    assert report.returncode == 0, report.stdout[-3000:] + report.stderr[-3000:]
    with open(tmp_path / "report" / "clustering.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    optimum = brute_force_optimum(instance)
    assert [(r["run"], r["solver"], r["status"]) for r in rows] == [("0", "bdcc tau=0", "optimal"),
                                                                    ("1", "bdcc tau=0.5", "optimal")]
    assert all(float(r["objective"]) == pytest.approx(optimum, abs=1e-6) for r in rows)
    assert (tmp_path / "report" / "clustering_gap_vs_time.png").is_file()
    assert "correlation-clustering" in (tmp_path / "report" / "report.md").read_text()


def test_grid_run_draws_the_segmentation_and_solvers_agree(tmp_path: Path):
    summaries = {}
    for solver in ("bdcc", "cycle_cutting_plane"):
        cfg = composed([f"clustering/solver={solver}", "clustering.instance.index=5", "time_limit_s=60"])
        (tmp_path / solver).mkdir()
        summaries[solver] = run(cfg, tmp_path / solver)
        assert (tmp_path / solver / "partition.png").is_file() and "partition.png" in summaries[solver]["outputs"]
    assert summaries["bdcc"]["optimal"] and summaries["cycle_cutting_plane"]["optimal"]
    assert summaries["bdcc"]["objective"] == pytest.approx(summaries["cycle_cutting_plane"]["objective"], abs=1e-6)


def test_nasgen_cluster_refuses_in_one_line(tmp_path: Path):
    result = nasgen("cluster", "clustering/instance=file", "clustering.instance.path=absent.h5",
                    "hydra.run.dir=run", cache=tmp_path / "cache", cwd=tmp_path)
    output = result.stdout + result.stderr  # Hydra's log goes to the console
    assert result.returncode == 1 and "Traceback" not in output
    assert "instance file not found: absent.h5" in output and "OpenGM benchmark page" in output


# -- the Table 8.1 study -------------------------------------------------------------------------
def test_gap_at_reads_the_last_point_reached_on_either_clock():
    trace = [{"seconds": 1.0, "parallel_seconds": 0.5, "gap": 9.0},
             {"seconds": 4.0, "parallel_seconds": 2.0, "gap": 0.0}]
    assert gap_at(trace, 0.9) == math.inf and gap_at(trace, 1.0) == 9.0 and gap_at(trace, 100) == 0.0
    assert gap_at(trace, 2.0, "parallel_seconds") == 0.0 and gap_at(trace, 2.0, "seconds") == 9.0
    assert expand("digits_knn nodes=10,12 k=3") == [
        ("digits_knn k=3 nodes=10", ["clustering/instance=digits_knn", "clustering.instance.k=3",
                                     "clustering.instance.nodes=10"]),
        ("digits_knn k=3 nodes=12", ["clustering/instance=digits_knn", "clustering.instance.k=3",
                                     "clustering.instance.nodes=12"])]
    assert len(THESIS_TABLE_8_1) == 12 and THESIS_TABLE_8_1[1.0, 0.5, 1] == (0.319, 0.819, 0.947, 0.979)
    with pytest.raises(ConfigError, match="other than tau and parallel"):
        Study(["digits_grid"], Path("unused"), solver_settings=["tau=1"])


def run_study_script(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["clustering_table8_1.py", "--instance",
                                      "digits_knn nodes=9,10 k=3", "--time-limit", "20",
                                      "--figure-instances", "1", "--out", str(out)])
    with pytest.raises(SystemExit) as exit_status:
        runpy.run_path(str(ROOT / "scripts" / "clustering_table8_1.py"), run_name="__main__")
    assert exit_status.value.code == 0


def test_study_script_writes_the_table_and_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture):
    out = tmp_path / "study"
    run_study_script(out, monkeypatch)
    for name in ("table8_1.md", "table8_1.csv", "instances.csv", "tau_comparison.png"):
        assert (out / name).is_file(), name
    assert len(list((out / "trials").glob("*.json"))) == 4 + 2  # tau 0.5 / 0.99 / 0.01 / 0, then 0.5 / 0
    with open(out / "table8_1.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12 and rows[0]["thesis@10s"] == "0.149"
    assert all(row["ours@50s"] == "" and row["ours@10s"] for row in rows)  # columns past the 20 s limit stay empty
    with open(out / "instances.csv", newline="") as f:
        solves = list(csv.DictReader(f))
    optima = {nodes: brute_force_optimum(KnnGraph(nodes=nodes, k=3).build()) for nodes in (9, 10)}
    for solve in solves:  # tiny graphs: every solve is optimal, and equals brute force
        assert solve["optimal"] == "True"
        assert float(solve["objective"]) == pytest.approx(optima[int(solve["nodes"])], abs=1e-6)
    table = (out / "table8_1.md").read_text()
    capsys.readouterr()

    def no_solving(*args, **kwargs):
        raise AssertionError("a finished solve ran again")

    monkeypatch.setattr("nasgen.clustering.study.solve", no_solving)
    run_study_script(out, monkeypatch)  # resumed: everything is on disk
    assert "6 solves (6 reused)" in capsys.readouterr().out
    assert (out / "table8_1.md").read_text() == table
