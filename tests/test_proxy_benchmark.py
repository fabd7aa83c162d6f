"""The proxy benchmark (nasgen/benchmarks/proxy.py), its store and ``nasgen data score-proxies``:
tiny NB201 networks (2 channels, 1 cell per stage, 8x8 inputs) on the real NB201 table as base."""
from __future__ import annotations

import gc
import json

import numpy as np
import pytest
import torch
from scipy.stats import rankdata

from nasgen.benchmarks import NB201Benchmark
from nasgen.benchmarks.cli import main as data_main
from nasgen.benchmarks.proxy import ProxyBenchmark, signed_quantiles
from nasgen.benchmarks.proxy_cli import composed_benchmark
from nasgen.errors import ConfigError, DataError
from nasgen.models.darts_network import DartsNetworks
from nasgen.models.nb201_network import NB201Networks, NB201ThinNetwork
from nasgen.objective import Objective
from nasgen.proxies.inputs import proxy_batch, random_crops
from nasgen.proxies.measures import PROXIES
from nasgen.spaces.darts import DartsSpace
from nasgen.spaces.nb201 import NB201Space, arch_from_naslib

REGISTERED = ["params_M", "flops_M", "ntk_cond", "linear_regions"]
TINY_INPUT = {"source": "data", "dataset": "digits", "batch_size": 4, "input_shape": [3, 8, 8], "num_classes": 10}
THIN = {"linear_regions": {"network": {"layout": "thin"}, "input": {"batch_size": 50, "crop": 3}}}
TINY_CLI = ["benchmark.network.channels=2", "benchmark.network.cells_per_stage=1",
            f"benchmark.proxies=[{','.join(REGISTERED)}]", "benchmark.input.batch_size=4",
            "benchmark.input.input_shape=[3,8,8]"]


@pytest.fixture(scope="module")
def nb201() -> NB201Benchmark:
    return NB201Benchmark("cifar10")


def tiny(base: NB201Benchmark, **kwargs) -> ProxyBenchmark:
    settings = {"proxies": REGISTERED, "input": TINY_INPUT, "per_proxy": THIN,
                "joint_ranks": {"tenas": ["ntk_cond", "linear_regions"]}, "reference_size": 8, **kwargs}
    return ProxyBenchmark(base, NB201Networks(2, 1), **settings)


def cells(n: int, seed: int = 1) -> list:
    return NB201Space().sample(n, np.random.default_rng(seed))


def test_metrics_units_signs_and_delegation(nb201, one_torch_thread):
    benchmark = tiny(nb201)
    assert benchmark.metrics == (*nb201.metrics, "proxy/params_M", "proxy/flops_M", "proxy/ntk_cond",
                                 "proxy/linear_regions", "proxy/joint_rank[tenas]")
    archs = cells(3)
    assert np.array_equal(benchmark.query(archs, "cifar10/test_acc@200"), nb201.query(archs, "cifar10/test_acc@200"))
    assert benchmark.optimum("cifar10/test_acc@200") == nb201.optimum("cifar10/test_acc@200")
    assert benchmark.optimum("proxy/params_M") is None  # the store does not hold the whole space
    assert benchmark.unit("proxy/params_M") == "M parameters" and benchmark.unit("cifar10/test_acc@200") == "%"
    assert benchmark.unit("proxy/ntk_cond") is None
    assert benchmark.higher_is_better("proxy/ntk_cond") is False
    assert benchmark.higher_is_better("proxy/joint_rank[tenas]") is True
    assert benchmark.higher_is_better("cifar10/test_acc@200") is None
    # the thin network of linear_regions: its own builder and batch
    plan = benchmark.plans["linear_regions"]
    assert plan.network.settings() == {"layout": "thin"} and benchmark.plans["ntk_cond"].input == TINY_INPUT
    # TE-NAS's inputs: 3x3 crops of one channel, the very crops study=tenas counts on
    crops = benchmark.batch(plan.input)
    assert crops.inputs.shape == (50, 1, 3, 3)
    images = proxy_batch(**{**TINY_INPUT, "batch_size": 50}, seed=benchmark.seed)
    assert torch.equal(crops.inputs, random_crops(images, 50, 3, benchmark.seed).inputs)
    # TE-NAS's thin network: the cell on the input, no stem
    network = plan.network.build(archs[0], 10, 1)
    assert isinstance(network, NB201ThinNetwork)
    values = benchmark.query(archs, "proxy/linear_regions")
    assert ((values >= 1) & (values <= 50)).all()
    # a cell of `none` edges gives the head a constant input: one activation pattern, one region
    assert benchmark.query([(0,) * 6], "proxy/linear_regions")[0] == 1


def test_values_do_not_depend_on_query_order_or_other_proxies(nb201, one_torch_thread):
    first, second = cells(2)
    forward = tiny(nb201, store=False)
    backward = tiny(nb201, store=False)
    for metric in ("proxy/ntk_cond", "proxy/linear_regions"):
        a_then_b = forward.query([first, second], metric)
        b_then_a = backward.query([second, first], metric)[::-1]
        assert np.array_equal(a_then_b, b_then_a), metric
    alone = tiny(nb201, store=False, proxies=["linear_regions"], joint_ranks={})
    assert np.array_equal(alone.query([second], "proxy/linear_regions"),
                          forward.query([second], "proxy/linear_regions"))
    assert forward.query([first], "proxy/ntk_cond")[0] != tiny(nb201, store=False, seed=1).query(
        [first], "proxy/ntk_cond")[0]  # the seed matters


def test_store_round_trip_torn_line_and_resume(nb201, isolated_cache, one_torch_thread):
    archs = cells(3)
    values = tiny(nb201).query(archs, "proxy/ntk_cond")
    store = tiny(nb201).plans["ntk_cond"].store
    assert store.folder.parent == isolated_cache / "proxies" / "nb201"
    settings = json.loads((store.folder / "settings.json").read_text())
    assert settings["network"] == {"channels": 2, "cells_per_stage": 1} and settings["input"] == TINY_INPUT
    assert settings["proxy"] == "ntk_cond" and settings["seed"] == 0 and "measure_version" in settings
    lines = store.path.read_text().splitlines()
    assert lines[0] == "arch_id,arch,value,seconds" and len(lines) == 4

    # a kill mid-write leaves a torn last line: ignored on read, cut off by the next append
    with open(store.path, "a") as handle:
        handle.write(f"{NB201Space().index(cells(1, seed=7)[0])},|nor_conv_3x")
    resumed = tiny(nb201)
    assert np.array_equal(resumed.query(archs, "proxy/ntk_cond"), values)  # read back, not scored
    assert len(resumed.plans["ntk_cond"].store) == 3
    size = store.path.stat().st_size
    resumed.query(archs, "proxy/ntk_cond")
    assert store.path.stat().st_size == size  # a second run scores nothing new
    resumed.query(cells(1, seed=7), "proxy/ntk_cond")
    rows = list(resumed.plans["ntk_cond"].store.rows())
    assert len(rows) == 4 and all(text.startswith("|") and text.endswith("|") for _, text, _, _ in rows)
    assert other_settings_use_another_folder(nb201, store.folder)


def other_settings_use_another_folder(nb201, folder) -> bool:
    return tiny(nb201, input={**TINY_INPUT, "batch_size": 5}).plans["ntk_cond"].store.folder != folder


def test_scoring_many_cells_keeps_only_floats(nb201, one_torch_thread):
    benchmark = tiny(nb201)

    def tensors() -> int:
        gc.collect()
        return sum(isinstance(o, torch.Tensor) for o in gc.get_objects())

    benchmark.scores(cells(2, seed=3), ["ntk_cond", "flops_M"])  # the batch is built once
    before = tensors()
    benchmark.scores(cells(12, seed=4), ["ntk_cond", "flops_M"])
    assert tensors() == before
    assert all(type(v) is float for v in benchmark.plans["ntk_cond"].store.values().values())


def test_signed_quantiles_are_monotone_under_the_sign():
    reference = np.array([1.0, 2.0, 3.0, np.nan, 4.0])
    values = np.array([0.5, 1.0, 2.5, 4.0, 9.0, np.nan])
    up = signed_quantiles(reference, values, higher_is_better=True)
    down = signed_quantiles(reference, values, higher_is_better=False)
    assert np.array_equal(up, [0, 0.25, 0.5, 1, 1, 0]) and np.array_equal(down, [1, 1, 0.5, 0.25, 0, 0])
    assert (np.diff(up[:5]) >= 0).all() and (np.diff(down[:5]) <= 0).all()
    with pytest.raises(ConfigError, match="no defined value"):
        signed_quantiles(np.array([np.nan]), values, True)


def test_joint_rank_is_the_mean_signed_quantile_within_the_reference(nb201, one_torch_thread):
    benchmark = tiny(nb201)
    reference = NB201Space().sample(8, np.random.default_rng(0))  # the benchmark's reference sample (seed 0)
    ntk, regions = (benchmark.query(reference, f"proxy/{p}") for p in ("ntk_cond", "linear_regions"))
    # within its own reference: the fraction of the reference no better than the cell (ties count)
    expected = (rankdata(-ntk, method="max") + rankdata(regions, method="max")) / (2 * len(reference))
    joint = benchmark.query(reference, "proxy/joint_rank[tenas]")
    assert np.allclose(joint, expected) and ((0 < joint) & (joint <= 1)).all()
    best = [a for a, n, r in zip(reference, ntk, regions) if n == ntk.min() and r == regions.max()]
    assert all(benchmark.query(best, "proxy/joint_rank[tenas]") == 1.0)


def test_unknown_proxy_and_contradicting_objective_are_refused_in_one_line(nb201):
    with pytest.raises(ConfigError) as error:
        tiny(nb201, proxies=["params_M", "no_such_proxy"], joint_ranks={})
    assert "no_such_proxy" in str(error.value) and ", ".join(sorted(PROXIES)) in str(error.value)
    with pytest.raises(ConfigError, match="joint_ranks.tenas"):
        tiny(nb201, proxies=["params_M", "ntk_cond"], per_proxy={})
    with pytest.raises(ConfigError, match="cannot be resized|has no setting cells"):
        tiny(nb201, per_proxy={"linear_regions": {"network": {"cells": 1}}})
    benchmark = tiny(nb201)
    with pytest.raises(ConfigError) as error:
        Objective("proxy/ntk_cond", "cifar10/test_acc@200", maximize=True).check(benchmark)
    assert "lower is better" in str(error.value) and "\n" not in str(error.value)
    Objective("proxy/ntk_cond", "cifar10/test_acc@200", maximize=False).check(benchmark)
    Objective("proxy/joint_rank[tenas]", "cifar10/test_acc@200", maximize=True).check(benchmark)


def test_score_proxies_cli_end_to_end_and_resumed(isolated_cache, shared_benchmarks, capsys, one_torch_thread):
    args = ["score-proxies", "--proxies", "params_M,flops_M", "--sample", "5", f"data_root={shared_benchmarks}",
            *TINY_CLI]
    assert data_main(args) == 0
    out = capsys.readouterr().out
    assert "5 cells of nb201" in out and "peak RSS" in out and "proxy/flops_M: 5 scored now" in out
    folders = sorted((isolated_cache / "proxies" / "nb201").iterdir())
    assert [f.name.split("-")[0] for f in folders] == ["flops_M", "params_M"]
    for folder in folders:
        assert len((folder / f"{folder.name.split('-')[0]}.csv").read_text().splitlines()) == 6
        timing = json.loads((folder / "timing.json").read_text())
        assert timing["cells_scored_now"] == 5 and timing["seconds_per_cell_mean"] > 0 and timing["peak_rss_MB"] > 0
    assert data_main(args) == 0
    assert "proxy/params_M: 0 scored now, 5 stored" in capsys.readouterr().out
    # the values a run with the same settings reads
    run = tiny(NB201Benchmark("cifar10"), input={**TINY_INPUT, "batch_size": 4}, per_proxy={})
    assert run.plans["params_M"].store.folder == folders[1]
    with pytest.raises(ConfigError, match="not one of the benchmark's"):
        data_main(["score-proxies", "--proxies", "params_M,synflow_x", "--sample", "2", *TINY_CLI])


def test_score_proxies_counts_parameters_as_naslib_on_published_cells(isolated_cache, shared_benchmarks, tmp_path,
                                                                     capsys):
    """NB201's own network (C=16, N=5, 10 classes, 32x32), as benchmark=proxy composes it: the
    parameter counts of cells of NASLib's zero-cost table (NAS-Bench-Suite-Zero) are reproduced
    exactly; its FLOPs count more than NATS-Bench's (up to ~7% here: it counts layers NATS-Bench leaves out)."""
    published = json.loads((shared_benchmarks / "nb201" / "naslib_zc_nb201_subset.json").read_text())["cifar10"]
    entries = {NB201Space().index(arch_from_naslib(key)): entry for key, entry in list(published.items())[:3]}
    archs = tmp_path / "archs.txt"
    archs.write_text("\n".join(NB201Space().to_str(NB201Space().from_index(i)) for i in entries) + "\n")
    overrides = [f"data_root={shared_benchmarks}", f"benchmark.proxies=[{','.join(REGISTERED)}]"]
    assert data_main(["score-proxies", "--proxies", "params_M,flops_M", "--archs", str(archs), *overrides]) == 0
    benchmark = composed_benchmark(overrides)
    stored = benchmark.plans["params_M"].store.values()  # what a run with these settings reads
    assert sorted(stored) == sorted(entries)
    for index, entry in entries.items():
        assert stored[index] == pytest.approx(entry["params"]["score"], abs=1e-6)
        flops = benchmark.plans["flops_M"].store.get(index)
        assert 0.9 * entry["flops"]["score"] < flops <= entry["flops"]["score"]


def test_darts_genotypes_are_scored_with_a_resized_thin_network(one_torch_thread):
    space = DartsSpace()
    thin = {"linear_regions": {"network": {"channels": 1}, "input": THIN["linear_regions"]["input"]}}
    benchmark = ProxyBenchmark(None, DartsNetworks(2, 2), REGISTERED, TINY_INPUT, per_proxy=thin,
                               joint_ranks={"tenas": ["ntk_cond", "linear_regions"]}, reference_size=4, space=space)
    assert benchmark.plans["linear_regions"].network.settings() == DartsNetworks(1, 2).settings()
    genotypes = space.sample(2, np.random.default_rng(0))
    assert (benchmark.query(genotypes, "proxy/params_M") > 0).all()
    assert (benchmark.query(genotypes, "proxy/joint_rank[tenas]") > 0).all()
    with pytest.raises(ConfigError, match="builds darts networks"):
        ProxyBenchmark(None, DartsNetworks(2, 2), REGISTERED, TINY_INPUT, space=NB201Space())


def test_a_missing_dataset_stops_with_the_loaders_message(tmp_path):
    with pytest.raises(DataError) as error:
        data_main(["score-proxies", "--proxies", "params_M", "--sample", "1", f"data_root={tmp_path}",
                   "benchmark.input.dataset=cifar10", *TINY_CLI])
    assert "cifar10" in str(error.value)


def test_score_proxies_keeps_the_experiments_own_benchmark(shared_benchmarks):
    """An experiment's proxy benchmark (the DARTS networks of ag_net_training_free_darts) is the one
    scored; the NB201 default applies only without an experiment."""
    darts = composed_benchmark(["experiment=ag_net_training_free_darts", f"data_root={shared_benchmarks}"])
    assert darts.space.name == "darts"
    assert composed_benchmark([f"data_root={shared_benchmarks}"]).space.name == "nb201"
