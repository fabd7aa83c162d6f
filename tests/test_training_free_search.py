"""Searching without training (issue 21, part H4): the cell-by-cell protocol with a cell's value
averaged over k random cells of the other type (AG-Net training-free on DARTS), given
architectures to train, the genotype export, and proxies as extra predictor features read
outside the budget."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from search_runs import nasgen, rows

from nasgen.benchmarks import NB201Benchmark, NB301Benchmark
from nasgen.benchmarks.proxy import ProxyBenchmark
from nasgen.errors import ConfigError
from nasgen.evaluation.genotype import GenotypeExport
from nasgen.evaluation.predictor_quality import predictor_quality
from nasgen.models.nb201_network import NB201Networks
from nasgen.objective import Objective
from nasgen.predictors.ensemble import MLPEnsemble
from nasgen.predictors.features import check_features, standardised, with_features
from nasgen.predictors.gp import GaussianProcess
from nasgen.search.cell_by_cell import CellByCellSearch
from nasgen.search.given import GivenArchitectures
from nasgen.search.model_based import ModelBasedSearch
from nasgen.search.oracle import Oracle
from nasgen.search.random_search import RandomSearch
from nasgen.spaces import DartsSpace, NB201Space

NB301_METRIC = "nb301_yahpo/cifar10/valid_acc@98"


@pytest.fixture(scope="module")
def nb301(shared_benchmarks: Path) -> NB301Benchmark:
    return NB301Benchmark(source="yahpo", data_root_dir=str(shared_benchmarks))


def averaged_search(space: DartsSpace, nb301: NB301Benchmark, history: Path, seed: int = 0) -> tuple:
    oracle = Oracle(space, nb301, Objective(NB301_METRIC, NB301_METRIC), 8, history)
    search = CellByCellSearch(lambda: RandomSearch(top_k=2), first_cell="reduce", first_share=0.5, first_others=3)
    search.run(space, oracle, np.random.default_rng(seed))
    oracle.close()
    return oracle, search


def test_a_first_phase_cell_is_worth_its_mean_over_the_random_other_cells(nb301, tmp_path: Path):
    space = DartsSpace()
    oracle, search = averaged_search(space, nb301, tmp_path / "history.csv")
    first, second = search.stats["phases"]
    assert (first["cell_type"], first["queries"], second["queries"]) == ("reduce", 4, 4)
    others = [space.from_str(s) for s in first["averaged_over"]]
    assert len(others) == 3 and len({space.key(o) for o in others}) == 3
    for record in oracle.records[:4]:
        arch = space.from_str(record["arch"])
        assert arch.normal == others[0].normal  # recorded under the combination with the first cell
        combinations = [space.cell_view("reduce", o).from_graph(*space.cell_view("reduce", arch).to_graph(arch))
                        for o in others]
        assert [c.normal for c in combinations] == [o.normal for o in others]
        assert all(c.reduce == arch.reduce for c in combinations)
        assert record[NB301_METRIC] == pytest.approx(nb301.query(combinations, NB301_METRIC).mean())
    # phase 2: single combinations with the best reduction cell of phase 1
    best_reduce = space.from_str(first["best_arch"]).reduce
    assert best_reduce == space.from_str(max(oracle.records[:4], key=lambda r: r[NB301_METRIC])["arch"]).reduce
    for record in oracle.records[4:]:
        arch = space.from_str(record["arch"])
        assert arch.reduce == best_reduce
        assert record[NB301_METRIC] == pytest.approx(nb301.query([arch], NB301_METRIC)[0])


def test_an_averaged_search_resumes_without_paying_again(nb301, tmp_path: Path):
    space = DartsSpace()
    history = tmp_path / "history.csv"
    oracle, _ = averaged_search(space, nb301, history, seed=3)
    text = history.read_text()
    replayed, _ = averaged_search(space, nb301, history, seed=3)
    assert history.read_text() == text  # every query replayed, nothing appended
    assert [r["arch"] for r in replayed.records] == [r["arch"] for r in oracle.records]


def test_the_plain_protocol_is_unchanged_by_default(nb301, tmp_path: Path):
    space = DartsSpace()
    oracle = Oracle(space, nb301, Objective(NB301_METRIC, NB301_METRIC), 4, tmp_path / "h.csv")
    search = CellByCellSearch(lambda: RandomSearch(top_k=2))
    search.run(space, oracle, np.random.default_rng(0))
    assert "averaged_over" not in search.stats["phases"][0]
    for record in oracle.records:
        arch = space.from_str(record["arch"])
        assert record[NB301_METRIC] == pytest.approx(nb301.query([arch], NB301_METRIC)[0])


def test_first_others_is_range_checked():
    with pytest.raises(ConfigError, match="cell_search.first_others"):
        CellByCellSearch(lambda: RandomSearch(), first_others=0)


def test_given_architectures_are_queried_from_a_runs_json(shared_benchmarks: Path, tmp_path: Path):
    space = NB201Space()
    table = NB201Benchmark(data_root_dir=str(shared_benchmarks))
    arch = space.sample(1, np.random.default_rng(0))[0]
    (tmp_path / "best_arch.json").write_text(json.dumps({"arch": space.to_str(arch), "index": 3}))
    objective = Objective("cifar10/valid_acc@200", "cifar10/test_acc@200")
    oracle = Oracle(space, table, objective, 1)
    GivenArchitectures(archs_file=str(tmp_path / "best_arch.json")).run(space, oracle, np.random.default_rng(0))
    assert oracle.records[0]["arch"] == space.to_str(arch)
    with pytest.raises(ConfigError, match="search=given needs"):
        GivenArchitectures()


def test_the_genotype_is_written_with_the_surrogates_prediction(nb301, shared_benchmarks: Path, tmp_path: Path):
    space = DartsSpace()
    oracle, _ = averaged_search(space, nb301, tmp_path / "history.csv")
    found = GenotypeExport(lambda: nb301)(oracle, nb301, tmp_path)
    written = json.loads((tmp_path / "genotype.json").read_text())
    assert written == found["genotype"] and "search=given" in written["train_with"]
    best = max(oracle.records, key=lambda r: r[NB301_METRIC])
    assert written["arch"] == best["arch"]
    prediction = found["surrogate_prediction_of_best"]
    assert prediction["surrogate"] == nb301.surrogate
    assert prediction[NB301_METRIC] == pytest.approx(nb301.query([space.from_str(best["arch"])], NB301_METRIC)[0])
    unavailable = GenotypeExport(lambda: NB301Benchmark(source="yahpo", data_root_dir=str(tmp_path)))
    assert "unavailable" in unavailable(oracle, nb301, tmp_path)["surrogate_prediction_of_best"]


def test_features_are_standardised_over_the_training_rows():
    reference = np.array([[1.0, 5.0], [3.0, 5.0], [np.nan, 5.0]])
    z = standardised(np.array([[2.0, 7.0], [np.nan, 5.0], [5.0, 3.0]]), reference)
    assert z[:, 0] == pytest.approx([0.0, 0.0, 3.0])  # mean 2, std 1; NaN -> the mean
    assert z[:, 1] == pytest.approx([2.0, 0.0, -2.0])  # a constant column keeps std 1
    assert with_features(np.zeros((3, 4)), z, z).shape == (3, 6)


# -- proxies as predictor features ---------------------------------------------------------------
FEATURES = ["proxy/params_M", "proxy/flops_M"]


@pytest.fixture(scope="module")
def proxies_nb201(shared_benchmarks: Path) -> ProxyBenchmark:
    """NB201's table with two cheap, data-free proxies of tiny networks (no store)."""
    return ProxyBenchmark(NB201Benchmark(data_root_dir=str(shared_benchmarks)), NB201Networks(2, 1),
                          ["params_M", "flops_M"], {"source": "gaussian", "batch_size": 4, "input_shape": [3, 8, 8]},
                          store=False)


def first_layer_width(surrogate) -> int:
    if isinstance(surrogate, GaussianProcess):
        return int(surrogate.model.train_inputs[0].shape[-1])
    return next(m for m in surrogate.nets[0].modules() if isinstance(m, torch.nn.Linear)).in_features


@pytest.mark.parametrize("surrogate, encoding, acquisition", [
    (lambda: MLPEnsemble(size=2, layers=2, width=8, epochs=5), "path", "its"),
    (lambda: GaussianProcess(), "adjacency", "logei")])
def test_model_based_search_reads_proxies_as_features_without_paying(proxies_nb201, tmp_path: Path, surrogate,
                                                                     encoding: str, acquisition: str, one_torch_thread):
    space = proxies_nb201.space
    width = {}
    for features in ([], FEATURES):
        objective = Objective("cifar10/valid_acc@200", "cifar10/test_acc@200")
        oracle = Oracle(space, proxies_nb201, objective, 12, tmp_path / f"history{len(features)}.csv")
        search = ModelBasedSearch(surrogate(), acquisition, encoding, initial_samples=8, top_k=4, num_candidates=10,
                                  num_parents=4, features=features)
        search.run(space, oracle, np.random.default_rng(0))
        oracle.close()
        width[len(features)] = first_layer_width(search.surrogate)
        assert oracle.spent == 12 and len((tmp_path / f"history{len(features)}.csv").read_text().splitlines()) == 13
        assert oracle.columns == ["query", "arch", "index", *objective.metrics, "wall_time_s"]  # no proxy paid
        # the 8 queried cells and the 10 candidates, per feature
        assert oracle.free_reads == (8 * 2 + 10 * 2 if features else 0)
    assert width[2] == width[0] + 2


def test_only_declared_free_metrics_are_read_without_paying(proxies_nb201, shared_benchmarks: Path):
    space = proxies_nb201.space
    archs = space.sample(3, np.random.default_rng(0))
    oracle = Oracle(space, proxies_nb201, Objective("cifar10/valid_acc@200", "cifar10/test_acc@200"), 4)
    values = oracle.free_values(archs, FEATURES)
    assert values.shape == (3, 2) and oracle.spent == 0
    assert values[:, 0] == pytest.approx(proxies_nb201.query(archs, "proxy/params_M"))
    with pytest.raises(ConfigError, match="cannot be read without paying"):
        oracle.free_values(archs, ["cifar10/valid_acc@200"])
    table = NB201Benchmark(data_root_dir=str(shared_benchmarks))
    with pytest.raises(ConfigError, match="declares free only none"):
        Oracle(space, table, Objective("cifar10/valid_acc@200", "cifar10/test_acc@200"), 4).free_values(archs, FEATURES)
    with pytest.raises(ConfigError, match="need a benchmark with free metrics"):
        check_features(table, FEATURES)


def test_predictor_quality_takes_proxies_as_features(proxies_nb201, shared_benchmarks: Path, one_torch_thread):
    table = NB201Benchmark(data_root_dir=str(shared_benchmarks))
    widths = []

    class Recording(GaussianProcess):
        def fit(self, x, y, weights=None, generator=None):
            widths.append(x.shape[1])
            return super().fit(x, y, weights, generator)

    rows = predictor_quality({"gp": Recording}, table.space, table, "cifar10/valid_acc@200", train_sizes=(8,),
                             test_size=8, seeds=(0,), features=FEATURES, feature_source=proxies_nb201)
    assert len(rows) == 1 and np.isfinite(rows[0]["spearman_rho"])
    assert widths == [table.space.graph.vector_dim + 2]


@pytest.mark.slow  # two CLI processes; ~85 s of CPU (NB301 surrogate, reference sample, a DARTS training)
def test_the_training_free_darts_experiment_runs_end_to_end(shared_benchmarks: Path, tmp_path: Path):
    """The thesis protocol at smoke size through the command line: reduction cells averaged over 3
    normal cells, then normal cells; genotype.json with NB301's prediction; then trained by
    search=given on digits (a 2-cell network, 1 epoch)."""
    result = nasgen("run", "experiment=ag_net_training_free_darts", "profile=smoke", "budget=8", "search.top_k=2",
                    "search.initial_samples=2", "search.epochs=1", "search.max_decode_batches=2",
                    "hydra.run.dir=search", cwd=tmp_path, data=shared_benchmarks)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = json.loads((tmp_path / "search" / "results.json").read_text())
    assert results["queries"] == 8 and results["protocol"]["cell_search"]["first_others"] == 3
    first, second = results["search_stats"]["phases"]
    assert (first["cell_type"], len(first["averaged_over"]), first["queries"], second["queries"]) == ("reduce", 3, 4, 4)
    genotype = json.loads((tmp_path / "search" / "genotype.json").read_text())
    assert genotype["arch"] == results["best"]["arch"]
    assert NB301_METRIC in results["surrogate_prediction_of_best"]
    trained = nasgen("run", "search_space=darts", "benchmark=train_darts", "objective=train", "search=given",
                     "budget=1", "search.archs_file=search/genotype.json", "benchmark.epochs=1",
                     "benchmark.network.layers=2", "benchmark.network.channels=2", "benchmark.max_train_samples=64",
                     "evaluation.summary.plot=false", "hydra.run.dir=train", cwd=tmp_path, data=shared_benchmarks)
    assert trained.returncode == 0, trained.stdout[-3000:] + trained.stderr[-3000:]
    assert rows(tmp_path / "train")[0]["arch"] == genotype["arch"]
