"""Hardware-cost tables: HELP, HW-NAS-Bench and user CSVs, alone and inside NB201Benchmark."""
from __future__ import annotations

import collections
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from nasgen.benchmarks.cli import main
from nasgen.benchmarks.costs import csv_columns, help_columns, hwnasbench_columns
from nasgen.benchmarks.nb201 import NB201Benchmark
from nasgen.errors import ConfigError, DataError
from nasgen.spaces.nb201 import NUM_ARCHS, NB201Space

HELP = "nb201/latency/help_all_devices_latency.csv.gz"
HWNAS_KEYS = ("edgegpu_latency", "edgegpu_energy", "raspi4_latency", "edgetpu_latency", "pixel3_latency",
              "eyeriss_latency", "eyeriss_energy", "eyeriss_arithmetic_intensity", "fpga_latency", "fpga_energy")
DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
SPACE = NB201Space()


def arch_str(index: int) -> str:
    return SPACE.to_str(SPACE.from_index(index))


def write_hwnas_pickle(path: Path, protocol: int = 4) -> Path:
    """The official layout with synthetic values: key k of dataset d holds 100 d + 10 k + index / 1e5."""
    ramp = np.arange(NUM_ARCHS) / 1e5
    data = {"nasbench201": {ds: {"config": {"note": "ignored"},
                                 **{key: 100 * d + 10 * k + ramp for k, key in enumerate(HWNAS_KEYS)}}
                            for d, ds in enumerate(DATASETS)},
            "fbnet": {}}
    data["nasbench201"]["cifar100"]["fpga_energy"] = list(data["nasbench201"]["cifar100"]["fpga_energy"])
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    return path


def synthetic(dataset: str, key: str, index: int) -> float:
    return 100 * DATASETS.index(dataset) + 10 * HWNAS_KEYS.index(key) + index / 1e5


def test_help_file_matches_bundled_latencies(shared_benchmarks):
    columns = help_columns(shared_benchmarks / HELP)
    assert len(columns) == 27 and "latency/1080ti_1_ms" in columns and "latency/titanxp_256_ms" in columns
    assert columns["latency/fpga_ms"][0] == pytest.approx(2.57296)
    bundled = NB201Benchmark()
    for device in ("eyeriss", "fpga", "pixel3", "raspi4"):
        values = columns[f"latency/{device}_ms"]
        assert values.dtype == np.float64 and values.shape == (NUM_ARCHS,) and not np.isnan(values).any()
        np.testing.assert_allclose(values, bundled.column(f"latency/{device}_ms"), rtol=1e-6, err_msg=device)


def test_user_csv_by_index_and_by_arch_string(tmp_path):
    by_index = tmp_path / "by_index.csv"
    by_index.write_text("index,jetson,phone\n5,1.5,2\n0,0.25,\n")
    columns = csv_columns(by_index)
    assert sorted(columns) == ["latency/jetson_ms", "latency/phone_ms"]
    assert columns["latency/jetson_ms"][[0, 5]].tolist() == [0.25, 1.5]
    assert np.isnan(columns["latency/phone_ms"][0]) and columns["latency/phone_ms"][5] == 2.0
    assert np.count_nonzero(~np.isnan(columns["latency/jetson_ms"])) == 2

    by_arch = tmp_path / "by_arch.csv"
    by_arch.write_text(f"arch_str,jetson\n{arch_str(123)},7.5\n")
    columns = csv_columns(by_arch, metric="cifar100/energy/{column}_mJ")
    assert list(columns) == ["cifar100/energy/jetson_mJ"] and columns["cifar100/energy/jetson_mJ"][123] == 7.5


@pytest.mark.parametrize("text, problem", [
    ("arch,dev\n|nor_conv_3x3~0|+|bogus~0|none~1|+|none~0|none~1|none~2|,1\n", "line 2: arch"),
    ("index,dev\n3,1\n4,1\n3,2\n", "line 4: NB201 index 3 is listed again (first on line 2)"),
    ("index,dev\n3,fast\n", "line 2: dev value 'fast' is not a number"),
    ("name,dev\nx,1\n", "line 1"),
    ("index,dev\n15625,1\n", "line 2: index '15625'"),
    (f"index,arch_str,dev\n1,{arch_str(2)},1\n", "line 2: index 1 disagrees with arch_str"),
])
def test_bad_user_csv_names_file_and_line(tmp_path, text, problem):
    path = tmp_path / "costs.csv"
    path.write_text(text)
    with pytest.raises(DataError) as info:
        csv_columns(path)
    assert str(path) in str(info.value) and problem in str(info.value)


def test_metric_format_without_column_is_a_config_error(tmp_path):
    path = tmp_path / "costs.csv"
    path.write_text("index,a,b\n0,1,2\n")
    with pytest.raises(ConfigError, match="column"):
        csv_columns(path, metric="latency_ms")


@pytest.mark.parametrize("protocol", [2, 5])
def test_hwnasbench_pickle(tmp_path, protocol):
    columns = hwnasbench_columns(write_hwnas_pickle(tmp_path / "HW-NAS-Bench-v1_0.pickle", protocol))
    assert len(columns) == 3 * 9 + 9
    assert "eyeriss_arithmetic_intensity" not in " ".join(columns)
    for ds in DATASETS:
        assert columns[f"{ds}/latency/edgetpu_ms"][7] == pytest.approx(synthetic(ds, "edgetpu_latency", 7))
        assert columns[f"{ds}/energy/fpga_mJ"][15624] == pytest.approx(synthetic(ds, "fpga_energy", 15624))
    for metric in ("latency/edgegpu_ms", "latency/raspi4_ms", "energy/eyeriss_mJ"):
        np.testing.assert_array_equal(columns[metric], columns[f"cifar10/{metric}"])


class _Sneaky(collections.OrderedDict):
    pass


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_hwnasbench_rejects_foreign_classes(tmp_path):
    path = tmp_path / "evil.pickle"
    marker = tmp_path / "ran"
    for payload in (_Sneaky(nasbench201={}), {"nasbench201": _Exploit(marker)}):
        path.write_bytes(pickle.dumps(payload))
        with pytest.raises(DataError, match="not a HW-NAS-Bench pickle"):
            hwnasbench_columns(path)
    assert not marker.exists()


def test_hwnasbench_wrong_layout(tmp_path):
    path = tmp_path / "short.pickle"
    path.write_bytes(pickle.dumps({"nasbench201": {ds: {k: [1.0] * 10 for k in HWNAS_KEYS} for ds in DATASETS}}))
    with pytest.raises(DataError, match="edgegpu_latency"):
        hwnasbench_columns(path)


def test_benchmark_with_cost_tables(shared_benchmarks, tmp_path):
    write_hwnas_pickle(tmp_path / "HW-NAS-Bench-v1_0.pickle")
    user = tmp_path / "mine.csv"
    user.write_text(f"arch,jetson\n{arch_str(0)},3.5\n{arch_str(9)},1.25\n")
    costs = ["hwnasbench", {"source": "help", "path": str(shared_benchmarks / HELP)},
             {"source": "csv", "path": str(user)}]
    # A CSV of two architectures is refused when the benchmark is built, naming file, metric and extent.
    with pytest.raises(DataError, match=r"mine.csv is incomplete: 2 of 15625 architectures have values for "
                                        r"latency/jetson_ms \(e.g. no latency/jetson_ms for index 1, 2, 3, 4, 5"):
        NB201Benchmark(costs=costs, data_root_dir=str(tmp_path))
    bench = NB201Benchmark(costs=costs, data_root_dir=str(tmp_path), allow_partial=True)
    archs = [SPACE.from_index(i) for i in (0, 9)]
    assert {"cifar10/valid_acc@200", "latency/1080ti_1_ms", "cifar100/energy/fpga_mJ",
            "latency/jetson_ms"} <= set(bench.metrics)
    np.testing.assert_allclose(bench.query(archs, "latency/jetson_ms"), [3.5, 1.25])
    assert bench.query(archs, "ImageNet16-120/latency/pixel3_ms")[1] == pytest.approx(
        synthetic("ImageNet16-120", "pixel3_latency", 9), rel=1e-6)
    # The accuracy table comes first, then the cost tables in order: these are not the synthetic values.
    np.testing.assert_array_equal(bench.column("latency/fpga_ms"), NB201Benchmark().column("latency/fpga_ms"))
    assert bench.column("latency/1080ti_1_ms").dtype == np.float64
    assert bench.optimum("latency/jetson_ms", maximize=False) == 1.25
    assert SPACE.index(bench.best_arch("latency/jetson_ms", maximize=False)) == 9
    with pytest.raises(DataError, match="mine.csv has no latency/jetson_ms for NB201 index 1"):
        bench.query([SPACE.from_index(1)], "latency/jetson_ms")

    # An edited CSV is imported again.
    user.write_text(f"arch,jetson\n{arch_str(0)},30.5\n")
    edited = NB201Benchmark(costs=[{"source": "csv", "path": str(user)}], allow_partial=True)
    assert edited.query(archs[:1], "latency/jetson_ms")[0] == 30.5


@pytest.mark.parametrize("cell", ["nan", "NaN", "inf", "-inf", "-0.5"])
def test_cost_csv_refuses_values_that_are_no_cost(tmp_path, cell):
    path = tmp_path / "costs.csv"
    path.write_text(f"index,jetson\n0,1.5\n1,{cell}\n")
    with pytest.raises(DataError, match=rf"costs.csv, line 3: jetson value '{cell}' is not a finite, non-negative"):
        csv_columns(path)


def test_cost_csv_with_byte_order_mark(tmp_path):
    # Spreadsheet programs save "CSV UTF-8" with a BOM before the header.
    path = tmp_path / "excel.csv"
    path.write_bytes("index,jetson\n3,0.75\n".encode("utf-8-sig"))
    columns = csv_columns(path)
    assert list(columns) == ["latency/jetson_ms"] and columns["latency/jetson_ms"][3] == 0.75


@pytest.mark.parametrize("source, filename, hint", [
    ("help", "help_all_devices_latency.csv.gz", "HayeonLee/HELP"),
    ("hwnasbench", "HW-NAS-Bench-v1_0.pickle", "github.com/GATECH-EIC/HW-NAS-Bench"),
])
def test_missing_cost_file_names_it(tmp_path, source, filename, hint):
    with pytest.raises(DataError) as info:
        NB201Benchmark(costs=[source], data_root_dir=str(tmp_path))
    assert filename in str(info.value) and hint in str(info.value) and "how to get it" in str(info.value)


def test_bad_cost_entries():
    with pytest.raises(ConfigError, match="valid choices: help, hwnasbench, csv"):
        NB201Benchmark(costs=["onnx"])
    with pytest.raises(ConfigError, match="needs a path"):
        NB201Benchmark(costs=[{"source": "csv"}])
    with pytest.raises(ConfigError, match="unknown key"):
        NB201Benchmark(costs=[{"source": "help", "file": "x"}])


def test_data_list_and_import(shared_benchmarks, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NASGEN_DATA", str(shared_benchmarks))
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "hardware cost metrics" in out and "27 devices" in out and "titan_rtx_256" in out
    assert "HW-NAS-Bench-v1_0.pickle" in out

    user = tmp_path / "mine.csv"
    user.write_text("index,jetson\n4,2.0\n")
    assert main(["import", "costs", str(user), "--metric", "cifar100/latency/{column}_ms"]) == 0
    assert "cifar100/latency/*_ms: jetson" in capsys.readouterr().out
    assert main(["list"]) == 0
    assert "nb201_costs_" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="costs"):
        main(["import", "help", str(shared_benchmarks / HELP), "--metric", "x/{column}"])
