"""NAS-Bench-301: the YAHPO surrogate reproduces yahpo-gym, the NASLib table, the XGB encoding."""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from nasgen.benchmarks import NB301Benchmark
from nasgen.benchmarks.base import Benchmark, MetricUnits, PartialBenchmark, SurrogateBenchmark, TabularBenchmark
from nasgen.benchmarks.nb301 import (
    EDGES_PER_CELL,
    NODES,
    XGB_FEATURES,
    YAHPO_COLUMNS,
    config_genotype,
    first_edge,
    genotype_config,
    xgb_vector,
)
from nasgen.errors import ConfigError, DataError
from nasgen.spaces.darts_genotype import CELL_TYPES, DartsGenotype, from_naslib, genotype_key

FIXTURES = Path(__file__).parent / "fixtures"
VALID = "nb301_yahpo/cifar10/valid_acc@98"
DATA_VALID = "nb301_data/cifar10/valid_acc@100"


@pytest.fixture(scope="module")
def yahpo_fixture() -> dict:
    return json.loads((FIXTURES / "nb301_yahpo.json").read_text())


@pytest.fixture(scope="module")
def fixture_genotypes(yahpo_fixture: dict) -> list[DartsGenotype]:
    return [config_genotype(_config(yahpo_fixture, row)) for row in yahpo_fixture["configs"]]


@pytest.fixture(scope="module")
def naslib_file(shared_benchmarks: Path) -> Path:
    return shared_benchmarks / "nb301" / "naslib_zc_nb301_subset.json"


@pytest.fixture(scope="module")
def table(naslib_file: Path):
    return NB301Benchmark(source="naslib_zc", path=str(naslib_file))


def _config(fixture: dict, row: list) -> dict[str, str]:
    return {name: value for name, value in zip(fixture["columns"], row) if value is not None}


def _swap_pairs(genotype: DartsGenotype) -> DartsGenotype:
    """The same architecture with each node's two (op, input) pairs in the other order."""
    def swap(cell):
        return tuple(pair for first in range(0, len(cell), 2) for pair in (cell[first + 1], cell[first]))
    return DartsGenotype(normal=swap(genotype.normal), reduce=swap(genotype.reduce))


def test_yahpo_reproduces_yahpo_gym(yahpo_fixture, fixture_genotypes, shared_benchmarks):
    """nasgen's predictions equal yahpo-gym's (scripts/yahpo_nb301_fixture.py) at every epoch the
    fixture holds: the mapping, the column order, the codes and the output columns are yahpo-gym's."""
    rows_by_epoch: dict[int, list[dict]] = {}
    for row in yahpo_fixture["rows"]:
        rows_by_epoch.setdefault(row["epoch"], []).append(row)
    assert set(rows_by_epoch) >= {1, 98} and yahpo_fixture["targets"][:3] == ["val_accuracy", "val_cross_entropy",
                                                                           "runtime"]
    for epoch, rows in rows_by_epoch.items():
        bench = NB301Benchmark(source="yahpo", epoch=epoch, data_root_dir=str(shared_benchmarks))
        archs = [fixture_genotypes[row["config"]] for row in rows]
        expected = np.array([row["prediction"] for row in rows])
        for column, (name, scale) in enumerate((("valid_acc", 100.0), ("valid_loss", 1.0), ("train_seconds", 1.0))):
            got = bench.query(archs, f"nb301_yahpo/cifar10/{name}@{epoch}")
            np.testing.assert_allclose(got, expected[:, column] * scale, rtol=1e-5)
    assert len(rows_by_epoch[98]) >= 200


def test_fixture_configs_map_to_genotypes_and_back(yahpo_fixture, fixture_genotypes):
    for row, genotype in zip(yahpo_fixture["configs"], fixture_genotypes):
        assert genotype_config(genotype) == _config(yahpo_fixture, row)
        assert genotype_config(_swap_pairs(genotype)) == genotype_config(genotype)
    assert len({genotype_key(g) for g in fixture_genotypes}) == len(fixture_genotypes)
    assert list(YAHPO_COLUMNS) == yahpo_fixture["columns"]


def test_edge_numbering_is_nb301_config_space(shared_benchmarks, fixture_genotypes, table):
    """The conditions of YAHPO's config_space_v2.json (NB301's ConfigSpace) are exactly those the
    edge numbering implies: edge first_edge(j) + i is active iff node j takes input i; and every
    mapped genotype is a valid configuration of that space (active <=> condition holds)."""
    space = json.loads((shared_benchmarks / "nb301" / "yahpo_surrogate" / "config_space_v2.json").read_text())
    prefix = "NetworkSelectorDatasetInfo_COLON_darts_COLON_"
    choices = {h["name"].removeprefix(prefix): h.get("choices") for h in space["hyperparameters"]}
    conditions = {c["child"].removeprefix(prefix): (c["parent"].removeprefix(prefix), set(c["values"]))
                  for c in space["conditions"]}
    implied = {}
    for cell_type in CELL_TYPES:
        for node in NODES[1:]:
            parent = f"inputs_node_{cell_type}_{node}"
            for source in range(node):
                implied[f"edge_{cell_type}_{first_edge(node) + source}"] = (
                    parent, {c for c in choices[parent] if str(source) in c.split("_")})
    assert conditions == implied
    assert set(choices) - set(conditions) - {"epoch"} == {f"edge_{t}_{e}" for t in CELL_TYPES for e in (0, 1)} | {
        f"inputs_node_{t}_{n}" for t in CELL_TYPES for n in NODES[1:]}
    assert first_edge(NODES[-1]) + NODES[-1] == EDGES_PER_CELL
    for genotype in [*fixture_genotypes, *table.archs()]:
        config = genotype_config(genotype)
        for name, options in choices.items():
            if name == "epoch":
                continue
            active = name not in conditions or config[conditions[name][0]] in conditions[name][1]
            assert (name in config) == active, (name, genotype)
            assert not active or config[name] in options


def test_yahpo_is_deterministic_and_batch_independent(fixture_genotypes, shared_benchmarks):
    bench = NB301Benchmark(source="yahpo", data_root_dir=str(shared_benchmarks))
    archs = fixture_genotypes[:50]
    values = bench.query(archs, VALID)
    np.testing.assert_array_equal(bench.query(archs[::-1], VALID)[::-1], values)
    np.testing.assert_array_equal([bench.query([a], VALID)[0] for a in archs[:5]], values[:5])
    np.testing.assert_array_equal(bench.query([_swap_pairs(a) for a in archs], VALID), values)
    assert 80 < values.min() and values.max() < 96 and bench.query([], VALID).shape == (0,)


def test_yahpo_protocols_units_and_errors(shared_benchmarks):
    bench = NB301Benchmark(data_root_dir=str(shared_benchmarks))
    assert isinstance(bench, Benchmark) and isinstance(bench, SurrogateBenchmark) and isinstance(bench, MetricUnits)
    assert not isinstance(bench, TabularBenchmark) and not isinstance(bench, PartialBenchmark)
    assert bench.surrogate == "YAHPO-Gym v2 nb301 ONNX surrogate" and bench.space.name == "darts"
    assert bench.metrics == (VALID, "nb301_yahpo/cifar10/valid_loss@98", "nb301_yahpo/cifar10/train_seconds@98")
    assert [bench.unit(m) for m in bench.metrics] == ["%", None, "s"]
    assert bench.optimum(VALID) is None
    with pytest.raises(ConfigError, match="unknown metric of NB301"):
        bench.query([], "cifar10/test_acc@98")
    with pytest.raises(ConfigError, match=r"epoch=99: .* epochs 1\.\.98"):
        NB301Benchmark(epoch=99, data_root_dir=str(shared_benchmarks))
    with pytest.raises(ConfigError, match="unknown benchmark.source 'gin'; valid choices: yahpo, naslib_zc, xgb"):
        NB301Benchmark(source="gin", data_root_dir=str(shared_benchmarks))


def test_missing_files_stop_with_one_line_naming_them(tmp_path, monkeypatch):
    monkeypatch.delenv("NASGEN_DATA", raising=False)
    cases = {"yahpo": ("yahpo_surrogate/model_v2.onnx", "slds-lmu/yahpo_data"),
             "naslib_zc": ("naslib_zc_nb301_subset.json", "NASLib"),
             "xgb": ("nb_models_1.0/xgb_v1.0", "nb_models_1.0.zip")}
    for source, (name, hint) in cases.items():
        with pytest.raises(DataError) as error:
            NB301Benchmark(source=source, data_root_dir=str(tmp_path))
        message = str(error.value)
        assert "\n" not in message and str(tmp_path / "nb301" / name) in message and hint in message
        with pytest.raises(DataError, match="needs benchmark.path or data_root"):
            NB301Benchmark(source=source)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no ensemble member"):
        NB301Benchmark(source="xgb", path=str(tmp_path / "empty"))


def test_naslib_table_holds_the_500_cells(table, naslib_file):
    entries = json.loads(naslib_file.read_text())["nasbench301"]["cifar10"]
    assert isinstance(table, TabularBenchmark) and isinstance(table, PartialBenchmark)
    assert not isinstance(table, SurrogateBenchmark)
    assert table.evaluable_count == len(table.archs()) == 500 == len(entries)
    assert table.metrics[:3] == (DATA_VALID, "params_M", "flops_M")
    assert {m for m in table.metrics if m.startswith("zc/")} == {
        "zc/epe_nas", "zc/fisher", "zc/grad_norm", "zc/grasp", "zc/jacov", "zc/l2_norm", "zc/plain", "zc/snip",
        "zc/synflow"}
    assert [table.unit(m) for m in table.metrics[:3]] == ["%", "M parameters", "MFLOPs"]
    text, entry = next(iter(entries.items()))
    genotype = from_naslib(text)
    assert table.query([genotype, _swap_pairs(genotype)], DATA_VALID).tolist() == [entry["val_accuracy"]] * 2
    assert table.query([genotype], "params_M")[0] == entry["params"]
    best = max(e["val_accuracy"] for e in entries.values())
    assert table.optimum(DATA_VALID) == best == table.query([table.best_arch(DATA_VALID)], DATA_VALID)[0]
    assert 90 < table.column(DATA_VALID).min() and best < 96


def test_naslib_table_refuses_cells_it_lacks(table, fixture_genotypes):
    outside = fixture_genotypes[0]
    assert table.evaluable([outside, table.arch_at(3)]).tolist() == [False, True]
    with pytest.raises(DataError, match="has no cell Genotype.*skip_missing=true"):
        table.query([outside], DATA_VALID)


def test_xgb_vectors_equal_configspace_get_array(fixture_genotypes):
    """The 56 query features of NB301's XGB models equal what ConfigSpace computes for nasbench301's
    queries (fixture written by scripts/yahpo_nb301_fixture.py)."""
    fixture = json.loads((FIXTURES / "nb301_xgb_vectors.json").read_text())
    assert XGB_FEATURES == tuple(fixture["features"])
    for row in fixture["rows"]:
        np.testing.assert_allclose(xgb_vector(fixture_genotypes[row["config"]]), row["vector"], rtol=1e-12)


def test_xgb_ensemble_is_the_mean_of_its_pickled_members(tmp_path, fixture_genotypes):
    """An ensemble folder laid out as nb_models_1.0/xgb_v1.0 (member folders with a pickled
    Booster and model_config.json) answers the mean of its members; a pickle that is not a
    Booster is refused without running it."""
    import xgboost

    rng = np.random.default_rng(0)
    features = np.stack([xgb_vector(g) for g in fixture_genotypes[:60]])
    boosters = []
    for member in range(2):
        labels = 90 + rng.random(len(features)) * 5
        booster = xgboost.train({"max_depth": 2, "seed": member}, xgboost.DMatrix(features, label=labels), 5)
        folder = tmp_path / "xgb_v1.0" / f"ensemble_member_{member}"
        folder.mkdir(parents=True)
        (folder / "surrogate_model.model").write_bytes(pickle.dumps(booster))
        (folder / "model_config.json").write_text(json.dumps({"model": "xgb"}))
        boosters.append(booster)
    bench = NB301Benchmark(source="xgb", path=str(tmp_path / "xgb_v1.0"))
    assert isinstance(bench, SurrogateBenchmark) and bench.metrics == ("nb301_xgb/cifar10/valid_acc@100",)
    expected = np.mean([b.predict(xgboost.DMatrix(features[:10])) for b in boosters], axis=0)
    np.testing.assert_allclose(bench.query(fixture_genotypes[:10], bench.metrics[0]), expected, rtol=1e-6)

    (tmp_path / "xgb_v1.0" / "ensemble_member_1" / "surrogate_model.model").write_bytes(pickle.dumps(Path("x")))
    with pytest.raises(DataError, match="pathlib.*is not part of a pickled xgboost.Booster"):
        NB301Benchmark(source="xgb", path=str(tmp_path / "xgb_v1.0"))
