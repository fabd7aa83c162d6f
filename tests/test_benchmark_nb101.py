"""NAS-Bench-101 benchmark: tfrecord / pkl / NASLib readers, the cache, queries and ``nasgen data``.

The tfrecord fixture is written at test time from the 30 real records of the shared
``nasbench_only108_sample30.pkl``, in the official format (framing, CRC32C, protobuf encoding of
model_metrics.proto), so that the reader is checked against the pkl number for number.
"""
from __future__ import annotations

import base64
import json
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from nasgen.benchmarks import nb101, wire
from nasgen.benchmarks.cli import main as data_main
from nasgen.benchmarks.nb101 import (
    RUN_FIELDS,
    NB101Benchmark,
    build_cache,
    cells_path,
    columns_from_records,
    decode_model_metrics,
    read_pkl,
    read_tfrecord,
)
from nasgen.errors import DataError
from nasgen.spaces.nb101 import NB101Cell, NB101Space, cell_from_naslib, cell_from_spec, cell_hash

PKL = "nb101/nasbench_only108_sample30.pkl"
NASLIB_ZC = "nb101/naslib_zc_nb101_subset.json"


# --- a writer of the official format (tests only) -------------------------------------------

def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int32 go on the wire as 64-bit two's complement
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, wire_type: int, payload: bytes) -> bytes:
    key = _varint(number << 3 | wire_type)
    if wire_type == wire.LENGTH_DELIMITED:
        return key + _varint(len(payload)) + payload
    return key + payload


def _double(number: int, value: float) -> bytes:
    return _field(number, wire.FIXED64, struct.pack("<d", value))


def _evaluation(epoch: float, values: tuple[float, ...] = ()) -> bytes:
    """EvaluationData: 1 current_epoch, then 2..5 training_time, train, validation, test accuracy."""
    return b"".join(_double(number, v) for number, v in enumerate((epoch, *values), start=1))


def _model_metrics(run: dict, params: int) -> bytes:
    stages = [tuple(run[f"{stage}_{name}"] for name in ("training_time", "train_accuracy", "validation_accuracy",
                                                          "test_accuracy")) for stage in ("halfway", "final")]
    evaluations = [_evaluation(0.0, (0.0,)), _evaluation(54.0, stages[0]), _evaluation(108.0, stages[1])]
    return (b"".join(_field(1, wire.LENGTH_DELIMITED, e) for e in evaluations)
            + _field(2, wire.VARINT, _varint(params)) + _double(3, stages[1][0]))


def write_tfrecord(pkl: dict, path: Path) -> None:
    """``pkl`` (nasbench_only108.pkl layout) as an official nasbench_only108.tfrecord."""
    rows = []
    for key, (fixed, computed) in pkl.items():
        matrix = np.asarray(fixed["module_adjacency"])
        for run in computed[108]:
            metrics = base64.b64encode(_model_metrics(run, int(fixed["trainable_parameters"]))).decode()
            rows.append(json.dumps([key, 108, "".join(map(str, matrix.ravel())), ",".join(fixed["module_operations"]),
                                    metrics]).encode())
    path.write_bytes(wire.frame(rows))


# --- a stand-in for the NB101 space (until nasgen.spaces.nb101.NB101Space is merged) -------

# --- fixtures ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pkl_path(shared_benchmarks: Path) -> Path:
    return shared_benchmarks / PKL


@pytest.fixture(scope="module")
def pkl(pkl_path: Path) -> dict:
    with open(pkl_path, "rb") as f:
        return pickle.load(f)


@pytest.fixture
def tfrecord(pkl: dict, tmp_path: Path) -> Path:
    path = tmp_path / "nasbench_only108.tfrecord"
    write_tfrecord(pkl, path)
    return path


def _cells(pkl: dict) -> dict[str, NB101Cell]:
    return {key: cell_from_spec(fixed["module_adjacency"], fixed["module_operations"])
            for key, (fixed, _) in pkl.items()}


def _runs(pkl: dict, field: str) -> dict[str, np.ndarray]:
    return {key: np.array([run[field] for run in computed[108]]) for key, (_, computed) in pkl.items()}


# --- wire format -------------------------------------------------------------------------------

def test_crc32c_check_value_and_batches():
    assert wire.crc32c(b"123456789") == 0xE3069283
    blobs = [b"", b"a", b"123456789", bytes(range(256)) * 3]

    def bitwise(data: bytes) -> int:  # the definition, one bit at a time
        crc = 0xFFFFFFFF
        for byte in data:
            crc ^= byte
            for _ in range(8):
                crc = (crc >> 1) ^ (wire.CASTAGNOLI if crc & 1 else 0)
        return crc ^ 0xFFFFFFFF

    assert wire.crc32c_batch(blobs).tolist() == [bitwise(b) for b in blobs]


def test_corrupted_records_are_one_line_data_errors(pkl, tfrecord, tmp_path):
    data = bytearray(tfrecord.read_bytes())
    first_length = struct.unpack("<Q", data[:8])[0]
    second = 12 + first_length + 4  # start of record 1
    for offset, what in ((second + 12 + 5, "record 1 fails its data CRC32C"),
                         (second + 8, "record 1 fails its length CRC32C")):
        corrupt = data.copy()
        corrupt[offset] ^= 0x01
        path = tmp_path / "corrupt.tfrecord"
        path.write_bytes(bytes(corrupt))
        with pytest.raises(DataError, match=what) as error:
            read_tfrecord(path)
        assert "\n" not in str(error.value)
    path.write_bytes(bytes(data[:-3]))
    with pytest.raises(DataError, match="truncated inside record 89"):
        read_tfrecord(path)


def test_protobuf_decoding_skips_unknown_fields():
    run = {f"{stage}_{name}": value for stage in ("halfway", "final")
           for name, value in zip(("training_time", "train_accuracy", "validation_accuracy", "test_accuracy"),
                                  (10.5, 0.25, 0.5, 0.75) if stage == "halfway" else (21.0, 1.0, 0.9, 0.875))}
    message = (_field(7, wire.VARINT, _varint(300)) + _model_metrics(run, 1234567)
               + _field(6, wire.LENGTH_DELIMITED, b"/path/model.ckpt-1") + _field(9, wire.FIXED32, b"\0\0\0\1"))
    evaluations, params = decode_model_metrics(message)
    assert params == 1234567
    assert evaluations == [(0.0, 0.0, 0.0, 0.0), (10.5, 0.25, 0.5, 0.75), (21.0, 1.0, 0.9, 0.875)]
    assert wire.as_int32(next(v for _, _, v in wire.message_fields(_field(2, wire.VARINT, _varint(-5))))) == -5


# --- readers -------------------------------------------------------------------------------------

def test_tfrecord_round_trip_equals_pkl(pkl, pkl_path, tfrecord):
    from_tfrecord, from_pkl = read_tfrecord(tfrecord), read_pkl(pkl_path)
    assert len(from_tfrecord.run_hashes) == 90 and len(from_tfrecord.cells) == 30
    for name in ("hashes", "ops", "adjacency"):
        np.testing.assert_array_equal(getattr(from_tfrecord.cells, name), getattr(from_pkl.cells, name))
    np.testing.assert_array_equal(from_tfrecord.params, from_pkl.params)
    np.testing.assert_array_equal(from_tfrecord.run_hashes, from_pkl.run_hashes)
    np.testing.assert_array_equal(from_tfrecord.run_values, from_pkl.run_values)
    columns, expected = columns_from_records(from_tfrecord), columns_from_records(from_pkl)
    assert columns.keys() == expected.keys()
    for metric in columns:
        np.testing.assert_array_equal(columns[metric], expected[metric], err_msg=metric)
    # the pkl itself, number for number, and the stored cells rebuild their hash
    for row, key in enumerate(h.decode() for h in from_tfrecord.cells.hashes):
        fixed, computed = pkl[key]
        runs = computed[108]
        assert [[run[f] for f in RUN_FIELDS] for run in runs] == \
            from_tfrecord.run_values[from_tfrecord.run_hashes == key.encode()].tolist()
        assert columns["cifar10/valid_acc@108"][row] == np.mean([r["final_validation_accuracy"] for r in runs]) * 100
        assert columns["params_M"][row] == fixed["trainable_parameters"] / 1e6
        matrix, ops = from_tfrecord.cells.cell(row)
        assert ops == fixed["module_operations"] and (matrix == fixed["module_adjacency"]).all()
        assert cell_hash(matrix, ops) == key


# --- the benchmark --------------------------------------------------------------------------------

def test_cache_is_built_once_reused_and_rebuilt_on_change(tfrecord, isolated_cache):
    NB101Benchmark(path=str(tfrecord), allow_partial=True)
    (table,) = isolated_cache.glob("nb101_tfrecord_*[0-9a-f].npz")
    assert cells_path(table).is_file()
    sidecar = table.with_suffix(".json")
    sidecar.write_text(sidecar.read_text().replace('"source"', '"marker": 1, "source"'))
    NB101Benchmark(path=str(tfrecord), allow_partial=True)
    assert '"marker"' in sidecar.read_text()  # reused
    build_cache("tfrecord", tfrecord, force=True)
    assert '"marker"' not in sidecar.read_text()
    sidecar.write_text(sidecar.read_text().replace('"source"', '"marker": 1, "source"'))
    os.utime(tfrecord, ns=(0, 10**9))
    NB101Benchmark(path=str(tfrecord), allow_partial=True)
    assert '"marker"' not in sidecar.read_text()  # the file changed: converted again


def test_query_optimum_and_best_arch(pkl, tfrecord):
    bench = NB101Benchmark(path=str(tfrecord), allow_partial=True)
    cells = _cells(pkl)
    keys = list(cells)
    valid, test = _runs(pkl, "final_validation_accuracy"), _runs(pkl, "final_test_accuracy")
    mean_valid = np.array([valid[k].mean() * 100 for k in keys])
    queried = bench.query([cells[k] for k in keys], "cifar10/valid_acc@108")
    np.testing.assert_allclose(queried, mean_valid, rtol=1e-6)  # stored as float32
    best = keys[int(np.argmax(mean_valid))]
    assert bench.optimum("cifar10/valid_acc@108") == pytest.approx(mean_valid.max(), rel=1e-6)
    assert bench.best_arch("cifar10/valid_acc@108") == cells[best]
    assert bench.query([cells[best]], "cifar10/test_acc@108")[0] == pytest.approx(test[best].mean() * 100, rel=1e-6)
    # best single run, and the test accuracy of that run
    run_best = max(keys, key=lambda k: valid[k].max())
    assert bench.best_arch("cifar10/valid_acc@108_max") == cells[run_best]
    at_max = bench.query([cells[run_best]], "cifar10/test_acc@108_at_max_valid")[0]
    assert at_max == pytest.approx(test[run_best][np.argmax(valid[run_best])] * 100, rel=1e-6)
    seconds = bench.query([cells[best]], "cifar10/train_seconds@108")[0]
    assert seconds == pytest.approx(_runs(pkl, "final_training_time")[best].mean(), rel=1e-6)
    assert bench.optimum("params_M", maximize=False) == pytest.approx(
        min(fixed["trainable_parameters"] for fixed, _ in pkl.values()) / 1e6)
    assert bench.evaluable_count == 30 and bench.evaluable([cells[best]]).tolist() == [True]


def test_partial_table_is_refused_unless_declared(tfrecord, pkl):
    with pytest.raises(DataError, match="holds 30 of the 423624 NB101 cells.*allow_partial.*skip_missing"):
        NB101Benchmark(path=str(tfrecord))
    bench = NB101Benchmark(path=str(tfrecord), skip_missing=True)
    known = next(iter(_cells(pkl).values()))
    unknown = cell_from_spec([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "maxpool3x3", "output"])
    assert bench.evaluable([known, unknown]).tolist() == [True, False]
    with pytest.raises(DataError, match=r"has no cell input,maxpool3x3,output\|010,001,000 .*skip_missing=true"):
        bench.query([known, unknown], "cifar10/test_acc@108")


def test_naslib_zero_cost_table(shared_benchmarks, pkl):
    path = shared_benchmarks / NASLIB_ZC
    bench = NB101Benchmark(source="naslib_zc", path=str(path))
    entries = json.loads(path.read_text())["nasbench101"]["cifar10"]
    space, by_cell, by_hash = NB101Space(), {}, {}
    for text, entry in entries.items():  # isomorphic cells share a hash: group by it
        cell = cell_from_naslib(text)
        by_cell.setdefault(by_hash.setdefault(space.key(cell), cell), []).append(entry)
    assert bench.evaluable_count == len(by_cell) == 292
    archs = bench.archs()  # the labelled cells, as the space builds them
    assert len(archs) == 292 and {space.key(cell) for cell in archs} == set(by_hash)
    assert bench.best_arch("cifar10/valid_acc@108") in archs and np.isfinite(bench.query(archs, "params_M")).all()
    assert {"cifar10/valid_acc@108", "params_M", "flops_M", "zc/synflow", "zc/jacov"} <= set(bench.metrics)
    once = [cell for cell, group in by_cell.items() if len(group) == 1][:3]
    often = max(by_cell, key=lambda cell: len(by_cell[cell]))  # 55 unpruned spellings of one cell
    for metric, field in (("cifar10/valid_acc@108", "val_accuracy"), ("params_M", "params"),
                          ("flops_M", "flops"), ("zc/synflow", "synflow")):
        expected = [by_cell[c][0][field] for c in once] + [np.mean([e[field] for e in by_cell[often]])]
        np.testing.assert_allclose(bench.query([*once, often], metric), expected, rtol=1e-6)
    # one run per entry: a cell's entries take at most its 3 runs' values, and each value / 100 is
    # a float32 number, as single runs are and means of 3 are not
    assert len(by_cell[often]) == 55 and len({e["val_accuracy"] for e in by_cell[often]}) == 3
    values = np.array([e["val_accuracy"] for e in entries.values()]) / 100
    assert (values.astype(np.float32).astype(np.float64) == values).all()
    means = np.array([v.mean() for v in _runs(pkl, "final_validation_accuracy").values()])
    assert (means.astype(np.float32).astype(np.float64) != means).mean() > 0.5


def test_missing_file_names_it_and_how_to_get_it(tmp_path):
    with pytest.raises(DataError) as error:
        NB101Benchmark(data_root_dir=str(tmp_path))
    message = str(error.value)
    assert str(tmp_path / "nb101" / "nasbench_only108.tfrecord") in message and "\n" not in message
    assert "0.5 GB" in message and "storage.googleapis.com/nasbench/nasbench_only108.tfrecord" in message
    assert "nasgen data import nb101" in message


# --- nasgen data ------------------------------------------------------------------------------------

def test_data_import_list_verify(tfrecord, pkl_path, shared_benchmarks, isolated_cache, capsys):
    assert data_main(["import", "nb101", str(tfrecord)]) == 0
    out = capsys.readouterr().out
    assert "30 of 423624 cells (partial)" in out and "90 runs read" in out and "warning: partial" in out
    assert data_main(["import", "nb101", str(tfrecord)]) == 0
    assert "already imported" in capsys.readouterr().out
    assert data_main(["import", "nb101", str(pkl_path)]) == 0
    assert data_main(["import", "nb101", str(shared_benchmarks / NASLIB_ZC)]) == 0
    assert "292 of 423624 cells" in capsys.readouterr().out

    assert data_main(["list"]) == 0
    out = capsys.readouterr().out
    tables = sorted(isolated_cache.glob("nb101_*[0-9a-f].npz"))
    assert len(tables) == 3 and all(t.name in out for t in tables)
    assert "from tfrecord" in out and "from pkl" in out and "from naslib_zc" in out

    assert data_main(["verify"]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and "holds the 30 cells it recorded" in out

    (tfrecord_table,) = isolated_cache.glob("nb101_tfrecord_*[0-9a-f].npz")
    cells = cells_path(tfrecord_table)
    damaged = bytearray(cells.read_bytes())
    damaged[-1] ^= 0x01
    cells.write_bytes(bytes(damaged))
    assert data_main(["verify"]) == 1
    assert f"FAIL  sha256 {tfrecord_table}" in capsys.readouterr().out


def test_verify_checks_the_optimum_of_a_complete_import(tfrecord, pkl, monkeypatch, capsys):
    # the 30 records stand for the whole space here: verify then checks the mean-validation optimum
    best = max(np.mean([r["final_validation_accuracy"] for r in computed[108]]) * 100 for _, computed in pkl.values())
    monkeypatch.setattr(nb101, "NUM_CELLS", 30)
    monkeypatch.setattr(nb101, "KNOWN_VALID_OPTIMUM", round(float(best), 2))
    assert data_main(["import", "nb101", str(tfrecord)]) == 0
    assert "30 of 30 cells (complete)" in capsys.readouterr().out
    assert data_main(["verify"]) == 0
    assert "OK    nb101_tfrecord_" in capsys.readouterr().out
    monkeypatch.setattr(nb101, "KNOWN_VALID_OPTIMUM", round(float(best), 2) + 0.01)
    assert data_main(["verify"]) == 1
    assert f"!= {round(float(best), 2) + 0.01}" in capsys.readouterr().out
