"""NAS-Bench-101 (Ying et al., ICML 2019): CIFAR-10 results of the 423,624 cells as a tabular benchmark.

Every cell was trained 3 times (3 "runs") for 108 epochs. Metric names (accuracies in %):

- ``cifar10/{valid,test,train}_acc@108``, ``cifar10/train_seconds@108``: mean over the 3 runs of
  the final evaluation. The best mean validation accuracy, 95.06, and the mean test accuracy of
  that cell, 94.32, are the optimum of the AG-Net chapter of Lukasik's thesis (Table 5.1):
  ``optimum("cifar10/valid_acc@108")`` and ``query([best_arch("cifar10/valid_acc@108")],
  "cifar10/test_acc@108")``.
- ``cifar10/{valid,test,train}_acc@54``, ``cifar10/train_seconds@54``: the same at the halfway
  evaluation of the 108-epoch runs (its learning rate is not annealed to 0: it is not a 54-epoch run).
- ``cifar10/valid_acc@108_max``: the best validation accuracy of the 3 runs, and
  ``cifar10/test_acc@108_at_max_valid``: the test accuracy of that run (the first of tied runs).
  The SVGe chapter's optimum (95.15 validation / 94.09 test) is, most likely, this aggregation
  (best single run); this is not verified here, as the full file is user-supplied.
- ``params_M``: trainable parameters, millions.

Sources (``source`` in ``configs/benchmark/nb101.yaml``), each converted once into the cache
(``$NASGEN_CACHE``) and converted anew when the file's size or modification time changes:

- ``tfrecord``: the official ``nasbench_only108.tfrecord`` (~0.5 GB, 1,270,872 records = 423,624
  cells x 3 runs), read without TensorFlow (:mod:`nasgen.benchmarks.wire`; CRCs checked).
- ``pkl``: ``nasbench_only108.pkl``, the widely used pickle of the same data
  (``{hash: ({module_adjacency, module_operations, trainable_parameters}, {108: [3 runs]})}``).
- ``naslib_zc``: NASLib's zero-cost table of 500 cells (``naslib_zc_nb101_subset.json``), a
  partial table by nature: ``cifar10/valid_acc@108``, ``params_M``, ``flops_M`` and the proxies
  as ``zc/<name>``. NASLib stores ONE run's validation accuracy per entry, not the mean of the 3:
  every value divided by 100 is a float32 number, as single runs of the official data are and
  means of 3 runs are not, and the entries of one cell take at most 3 distinct values. Cells
  listed several times are averaged (see :func:`read_naslib_zc`), so this table's
  ``cifar10/valid_acc@108`` is a single run or the mean of a few sampled runs.

A table is keyed by the official cell hash (:func:`nasgen.spaces.nb101.cell_hash`): a sorted
fixed-width byte array searched with ``np.searchsorted``, beside float32 metric columns in the
same order (a :class:`~nasgen.benchmarks.tables.MetricTable`) and the cells themselves (ops and
bit-packed adjacency, padded to 7 nodes) so that the best cell can be rebuilt.

Completeness: ``tfrecord`` and ``pkl`` sources must hold all 423,624 cells; a smaller file (a test
fixture, a sample) is refused unless ``allow_partial`` (a query of a missing cell then fails) or
``skip_missing`` (searches pass over missing cells, see
:class:`~nasgen.benchmarks.base.PartialBenchmark`) is set. ``naslib_zc`` is partial by declaration.
"""
from __future__ import annotations

import array
import base64
import hashlib
import json
import pickle
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from nasgen.benchmarks import wire
from nasgen.benchmarks.base import TableLookups, UnitsFromNames
from nasgen.benchmarks.tables import MetricTable, files_fingerprint, is_current, sha256, write_table
from nasgen.errors import ConfigError, DataError, choose
from nasgen.paths import atomic_write, cache_dir, data_root
from nasgen.spaces.base import Arch
from nasgen.spaces.nb101 import INPUT, OPS, OUTPUT, NB101Space, cell_from_naslib, cell_from_spec, cell_hash

NUM_CELLS = 423_624
EPOCHS, HALFWAY = 108, 54
MAX_NODES = 7
# Codes of the stored cells' node labels; padding nodes (cells of fewer than 7 nodes) are -1.
CELL_LABELS: tuple[str, ...] = (INPUT, *OPS, OUTPUT)
HASH_DTYPE = "S32"
# Per-run values, named as in nasbench_only108.pkl; the tfrecord reader fills the same fields.
RUN_FIELDS = tuple(f"{stage}_{value}" for stage in ("halfway", "final")
                   for value in ("training_time", "train_accuracy", "validation_accuracy", "test_accuracy"))
# The mean validation-accuracy optimum of the full table, as Lukasik's thesis quotes it (2 decimals).
KNOWN_VALID_OPTIMUM, OPTIMUM_TOLERANCE = 95.06, 0.005

FILENAMES = {"tfrecord": "nasbench_only108.tfrecord", "pkl": "nasbench_only108.pkl",
             "naslib_zc": "naslib_zc_nb101_subset.json"}
SOURCES = tuple(FILENAMES)
SUFFIX_SOURCES = {".tfrecord": "tfrecord", ".pkl": "pkl", ".json": "naslib_zc"}
HINTS = {
    "tfrecord": "~0.5 GB, from the NAS-Bench-101 release (github.com/google-research/nasbench): "
                "https://storage.googleapis.com/nasbench/nasbench_only108.tfrecord",
    "pkl": "the pickle of nasbench_only108.tfrecord that NASLib and others distribute (~0.5 GB)",
    "naslib_zc": "NASLib's zero-cost benchmark file (github.com/automl/NASLib); a 500-cell copy is in "
                 "nasgen's shared benchmark folder (shared/benchmarks/nb101/)",
}
# NASLib's op codes in its cell tuples (49 row-major adjacency entries, then 7 op codes).
ZC_PROXIES = ("epe_nas", "fisher", "grad_norm", "grasp", "jacov", "l2_norm", "plain", "snip", "synflow")
CELLS_SUFFIX = ".cells.npz"


def _pad_cell(matrix: np.ndarray, ops: Sequence[str]) -> tuple[bytes, bytes]:
    """A cell as (7 op codes, 7 bytes of bit-packed 7x7 adjacency), padded to 7 nodes."""
    n = len(ops)
    if n > MAX_NODES or matrix.shape != (n, n):
        raise ValueError(f"a cell of {n} ops with a {matrix.shape} matrix")
    codes = np.full(MAX_NODES, -1, dtype=np.int8)
    codes[:n] = [CELL_LABELS.index(op) for op in ops]
    padded = np.zeros((MAX_NODES, MAX_NODES), dtype=np.uint8)
    padded[:n, :n] = matrix
    return codes.tobytes(), np.packbits(padded.ravel()).tobytes()


class CellIndex:
    """The cells of a table, sorted by hash: ``rows(keys)`` finds them by binary search."""

    def __init__(self, hashes: np.ndarray, ops: np.ndarray, adjacency: np.ndarray) -> None:
        self.hashes, self.ops, self.adjacency = hashes, ops, adjacency

    @classmethod
    def from_cells(cls, cells: Mapping[str, tuple[bytes, bytes]]) -> "CellIndex":
        """From ``{hash: _pad_cell(...)}``, sorted by hash."""
        keys = sorted(cells)
        ops = np.frombuffer(b"".join(cells[k][0] for k in keys), dtype=np.int8).reshape(-1, MAX_NODES)
        adjacency = np.frombuffer(b"".join(cells[k][1] for k in keys), dtype=np.uint8).reshape(len(keys), -1)
        return cls(np.array(keys, dtype=HASH_DTYPE), ops, adjacency)

    @classmethod
    def load(cls, path: Path) -> "CellIndex":
        try:
            with np.load(path) as npz:
                return cls(npz["hash"], npz["ops"], npz["adjacency"])
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"NB101 cell index {path} is unreadable ({exc}); re-import it "
                            "(nasgen data import nb101 PATH --force)") from None

    def save(self, path: Path) -> None:
        with atomic_write(path) as f:
            np.savez(f, hash=self.hashes, ops=self.ops, adjacency=self.adjacency)

    def __len__(self) -> int:
        return len(self.hashes)

    def rows(self, keys: "Sequence[str] | np.ndarray") -> np.ndarray:
        """Row of each hash in ``keys`` (str, or a bytes array), -1 for a hash the table lacks."""
        wanted = np.asarray(keys, dtype=HASH_DTYPE)
        rows = np.minimum(np.searchsorted(self.hashes, wanted), max(len(self) - 1, 0))
        found = len(self) > 0 and self.hashes[rows] == wanted
        return np.where(found, rows, -1)

    def cell(self, row: int) -> tuple[np.ndarray, list[str]]:
        """(adjacency matrix, op labels) of the cell at ``row``, without padding."""
        codes = self.ops[row]
        n = int(np.count_nonzero(codes >= 0))
        matrix = np.unpackbits(self.adjacency[row], count=MAX_NODES * MAX_NODES).reshape(MAX_NODES, MAX_NODES)
        return matrix[:n, :n].astype(np.int8), [CELL_LABELS[c] for c in codes[:n]]


@dataclass(frozen=True)
class NB101Records:
    """The runs of a tfrecord or pkl source: what both formats hold, for comparison and conversion."""

    cells: CellIndex
    params: np.ndarray      # [cells] trainable parameters, in the index's order
    run_hashes: np.ndarray  # [runs] cell hash of each run, in file order
    run_values: np.ndarray  # [runs, len(RUN_FIELDS)] float64


class _RecordCollector:
    """Builds :class:`NB101Records` from runs given one at a time."""

    def __init__(self) -> None:
        self.cells: dict[str, tuple[bytes, bytes]] = {}
        self.params: dict[str, int] = {}
        self.run_hashes: list[str] = []
        # flat doubles: 1.27 M runs as tuples of floats would take ~400 MB, as doubles 80 MB
        self.run_values = array.array("d")

    def knows(self, key: str) -> bool:
        return key in self.cells

    def add_cell(self, key: str, matrix: np.ndarray, ops: Sequence[str], params: int) -> None:
        self.cells[key] = _pad_cell(matrix, ops)
        self.params[key] = params

    def add_run(self, key: str, values: Sequence[float]) -> None:
        self.run_hashes.append(key)
        self.run_values.extend(values)

    def records(self) -> NB101Records:
        index = CellIndex.from_cells(self.cells)
        params = np.array([self.params[k.decode()] for k in index.hashes], dtype=np.int64)
        values = np.frombuffer(self.run_values, dtype=np.float64).reshape(-1, len(RUN_FIELDS)).copy()
        return NB101Records(index, params, np.array(self.run_hashes, dtype=HASH_DTYPE), values)


def _evaluation(buffer: bytes) -> tuple[float, float, float, float]:
    """(training_time, train, validation, test accuracy) of an EvaluationData message
    (model_metrics.proto: 1 current_epoch, 2 training_time, 3 train_accuracy,
    4 validation_accuracy, 5 test_accuracy, 6 checkpoint_path; unset doubles are 0)."""
    values = [0.0] * 6
    for number, wire_type, raw in wire.message_fields(buffer):
        if 1 <= number <= 5 and wire_type == wire.FIXED64:
            values[number] = wire.as_double(raw)
    return values[2], values[3], values[4], values[5]


def decode_model_metrics(buffer: bytes) -> tuple[list[tuple[float, float, float, float]], int]:
    """The evaluations (see :func:`_evaluation`) and trainable parameters of a ModelMetrics message
    (1 repeated EvaluationData, 2 int32 trainable_parameters, 3 double total_time)."""
    evaluations, params = [], 0
    for number, wire_type, raw in wire.message_fields(buffer):
        if number == 1 and wire_type == wire.LENGTH_DELIMITED:
            evaluations.append(_evaluation(raw))
        elif number == 2 and wire_type == wire.VARINT:
            params = wire.as_int32(raw)
    return evaluations, params


def read_tfrecord(path: "str | Path") -> NB101Records:
    """The 108-epoch runs of an official NB101 tfrecord file (rows of other budgets, as in
    ``nasbench_full.tfrecord``, are passed over). Each record is the UTF-8 JSON list
    ``[hash, epochs, adjacency as '0'/'1' string (row-major), comma-separated ops, base64 ModelMetrics]``;
    evaluation 1 of the metrics is the halfway one, evaluation 2 the final one."""
    path = Path(path)
    collector = _RecordCollector()
    for number, data in enumerate(wire.read_records(path)):
        try:
            key, epochs, raw_adjacency, raw_ops, raw_metrics = json.loads(data)
            if epochs != EPOCHS:
                continue
            evaluations, params = decode_model_metrics(base64.b64decode(raw_metrics))
            if not collector.knows(key):
                n = int(round(len(raw_adjacency) ** 0.5))
                matrix = (np.frombuffer(raw_adjacency.encode(), dtype=np.uint8) - ord("0")).reshape(n, n)
                collector.add_cell(key, matrix, raw_ops.split(","), params)
            collector.add_run(key, (*evaluations[1], *evaluations[2]))
        except (ValueError, TypeError, IndexError) as exc:
            raise DataError(f"{path}: record {number} is not a NAS-Bench-101 record ({exc}); "
                            f"expected {FILENAMES['tfrecord']} ({HINTS['tfrecord']})") from None
    return collector.records()


def read_pkl(path: "str | Path") -> NB101Records:
    """The 108-epoch runs of a ``nasbench_only108.pkl``-layout pickle."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = pickle.load(f)
        collector = _RecordCollector()
        for key, (fixed, computed) in data.items():
            collector.add_cell(key, np.asarray(fixed["module_adjacency"]), fixed["module_operations"],
                               int(fixed["trainable_parameters"]))
            for run in computed[EPOCHS]:
                collector.add_run(key, [float(run[field]) for field in RUN_FIELDS])
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{path} is not a nasbench_only108.pkl-layout pickle ({type(exc).__name__}: {exc}); "
                        f"{HINTS['pkl']}") from None
    return collector.records()


def columns_from_records(records: NB101Records) -> dict[str, np.ndarray]:
    """Per-cell metric columns (float64, in the index's order) aggregated over each cell's runs."""
    cells = len(records.cells)
    row = records.cells.rows(records.run_hashes)
    runs = np.bincount(row, minlength=cells)
    field = {name: records.run_values[:, i] for i, name in enumerate(RUN_FIELDS)}

    def mean(name: str, scale: float = 1.0) -> np.ndarray:
        return np.bincount(row, weights=field[name], minlength=cells) / runs * scale

    columns = {"params_M": records.params / 1e6}
    for stage, epochs in (("final", EPOCHS), ("halfway", HALFWAY)):
        for split, name in (("valid", "validation"), ("test", "test"), ("train", "train")):
            columns[f"cifar10/{split}_acc@{epochs}"] = mean(f"{stage}_{name}_accuracy", 100.0)
        columns[f"cifar10/train_seconds@{epochs}"] = mean(f"{stage}_training_time")
    valid, test = field["final_validation_accuracy"] * 100, field["final_test_accuracy"] * 100
    # runs grouped by cell, best validation first (lexsort is stable: ties keep file order)
    order = np.lexsort((-valid, row))
    first = order[np.searchsorted(row[order], np.arange(cells))]
    columns[f"cifar10/valid_acc@{EPOCHS}_max"] = valid[first]
    columns[f"cifar10/test_acc@{EPOCHS}_at_max_valid"] = test[first]
    return columns


def read_naslib_zc(path: "str | Path") -> tuple[CellIndex, dict[str, np.ndarray], int]:
    """Cells, metric columns and the number of entries of NASLib's NB101 zero-cost table
    (``{"nasbench101": {"cifar10": {tuple string: {val_accuracy, params, flops, <proxies>}}}}``).

    NASLib keys entries by the unpruned matrix it sampled, so one cell may have several entries
    (the shared 500 are 292 cells); their values are averaged. They differ: the validation
    accuracies are different sampled runs of the cell, and parameters, FLOPs and proxies were
    measured on the unpruned networks."""
    path = Path(path)
    names = {"cifar10/valid_acc@108": "val_accuracy", "params_M": "params", "flops_M": "flops",
             **{f"zc/{proxy}": proxy for proxy in ZC_PROXIES}}
    try:
        entries = json.loads(path.read_text())["nasbench101"]["cifar10"]
        cells, values = {}, {}
        for text, entry in entries.items():
            cell = cell_from_naslib(text)
            key = cell_hash(cell.matrix, cell.ops)
            cells[key] = _pad_cell(cell.matrix, cell.ops)
            values.setdefault(key, []).append([float(entry.get(field, np.nan)) for field in names.values()])
        index = CellIndex.from_cells(cells)
        means = np.array([np.mean(values[k.decode()], axis=0) for k in index.hashes]).reshape(len(index), len(names))
    except (OSError, ValueError, KeyError, TypeError, IndexError, SyntaxError, ConfigError) as exc:
        raise DataError(f"{path} is not NASLib's NB101 zero-cost table ({type(exc).__name__}: {exc}); "
                        f"{HINTS['naslib_zc']}") from None
    return index, dict(zip(names, means.T)), len(entries)


def source_of(path: "str | Path") -> str:
    """The source format of a file, by its suffix."""
    suffix = Path(path).suffix
    if suffix not in SUFFIX_SOURCES:
        raise ConfigError(f"cannot tell the NB101 format of {path}: expected a file ending in "
                          f"{', '.join(SUFFIX_SOURCES)} ({', '.join(FILENAMES.values())})")
    return SUFFIX_SOURCES[suffix]


def cells_path(table: Path) -> Path:
    """The cell index beside a metric table ``nb101_*.npz``."""
    return table.with_name(table.name.removesuffix(".npz") + CELLS_SUFFIX)


def _cache_entry(source: str, path: Path) -> tuple[Path, dict]:
    choose("NB101 source", source, SOURCES)
    path = path.resolve()
    target = cache_dir() / f"nb101_{source}_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}.npz"
    return target, {"benchmark": "nb101", "source": source, "path": str(path),
                    "fingerprint": files_fingerprint([path])}


def current_import(source: str, path: Path) -> Path | None:
    """The cached conversion of ``path`` if there is one and the file is unchanged."""
    target, provenance = _cache_entry(source, path)
    return target if is_current(target, provenance) and cells_path(target).is_file() else None


def build_cache(source: str, path: Path, *, force: bool = False) -> Path:
    """Convert ``path`` into the cache unless a current conversion exists (or ``force``);
    return the metric table (its cell index lies beside it, see :func:`cells_path`)."""
    target, provenance = _cache_entry(source, path)
    if not force and current_import(source, path):
        return target
    if not path.is_file():
        raise DataError(missing_file_message(source, path))
    started = time.perf_counter()
    if source == "naslib_zc":
        index, columns, entries = read_naslib_zc(path)
        counts = {"entries": entries}
    else:
        records = read_tfrecord(path) if source == "tfrecord" else read_pkl(path)
        index, columns = records.cells, columns_from_records(records)
        counts = {"runs": len(records.run_hashes)}
    index.save(cells_path(target))
    write_table(target, columns, {**provenance, **counts, "rows": len(index),
                                  "complete": source != "naslib_zc" and len(index) == NUM_CELLS,
                                  "import_seconds": round(time.perf_counter() - started, 3),
                                  "cells_sha256": sha256(cells_path(target))})
    return target


def missing_file_message(source: str, path: Path) -> str:
    """One line: which file is missing, what it is and how to get and import it."""
    return (f"NB101 {source} file not found: {path} ({FILENAMES[source]}: {HINTS[source]}); put it there "
            "or set benchmark.path; it is converted once, on first use or by: nasgen data import nb101 PATH")


class NB101Table:
    """An imported NB101 table: metric columns and the cell index, in hash order."""

    def __init__(self, path: Path) -> None:
        self.metrics_table = MetricTable(path)
        self.path = path

    @cached_property
    def cells(self) -> CellIndex:
        return CellIndex.load(cells_path(self.path))

    @property
    def provenance(self) -> dict:
        return self.metrics_table.provenance

    def verify(self) -> None:
        """Check the SHA-256 of the metric table and of the cell index."""
        self.metrics_table.verify()
        actual, expected = sha256(cells_path(self.path)), self.provenance.get("cells_sha256")
        if actual != expected:
            raise DataError(f"{cells_path(self.path)} is corrupt: sha256 {actual} != recorded {expected}; "
                            "re-import it (nasgen data import nb101 PATH --force)")

    def summary(self) -> str:
        prov = self.provenance
        scope = "complete" if prov.get("complete") else "partial"
        return (f"{prov.get('rows', '?')} of {NUM_CELLS} cells ({scope}), {len(self.metrics_table.metrics)} "
                f"metrics, from {prov.get('source', '?')} {prov.get('path', '?')}")


def imported_tables() -> list[Path]:
    """The NB101 metric tables in the cache."""
    return sorted(p for p in cache_dir().glob("nb101_*.npz") if not p.name.endswith(CELLS_SUFFIX))


class NB101Benchmark(TableLookups, UnitsFromNames):
    """Tabular NAS-Bench-101 benchmark (CIFAR-10), keyed by the official cell hash.

    ``source``: ``tfrecord`` | ``pkl`` | ``naslib_zc`` (see the module docstring); ``path``: the
    file, default ``<data_root>/nb101/<official file name>``. ``allow_partial``: accept a
    ``tfrecord`` / ``pkl`` file of fewer than 423,624 cells (queries of missing cells fail);
    ``skip_missing``: accept it too, and let searches pass over the cells the table lacks.
    """

    name = "nb101"

    def __init__(self, source: str = "tfrecord", path: "str | None" = None, data_root_dir: "str | None" = None,
                 allow_partial: bool = False, skip_missing: bool = False) -> None:
        choose("benchmark.source", source, SOURCES)
        if path is None:
            root = data_root(data_root_dir)
            if root is None:
                raise DataError(f"benchmark=nb101 needs benchmark.path or data_root ($NASGEN_DATA) holding "
                                f"nb101/{FILENAMES[source]} ({HINTS[source]})")
            location = root / "nb101" / FILENAMES[source]
        else:
            location = Path(path).expanduser()
        self.source, self.skip_missing, self.allow_partial = source, skip_missing, allow_partial
        self.table = NB101Table(build_cache(source, location))
        rows = len(self.table.cells)
        if source != "naslib_zc" and rows < NUM_CELLS and not (allow_partial or skip_missing):
            raise DataError(f"{location} holds {rows} of the {NUM_CELLS} NB101 cells; use the full "
                            f"{FILENAMES[source]} ({HINTS[source]}), or set benchmark.allow_partial=true "
                            "(queries of missing cells fail) or benchmark.skip_missing=true (searches pass over them)")

    @cached_property
    def space(self) -> NB101Space:
        return NB101Space()

    @property
    def metrics(self) -> tuple[str, ...]:
        return self.table.metrics_table.metrics

    def column(self, metric: str) -> np.ndarray:
        """Values of ``metric`` for every cell of the table, in hash order (float64)."""
        return self.table.metrics_table.column(metric).astype(np.float64)

    def _rows(self, archs: Sequence[Arch]) -> np.ndarray:
        return self.table.cells.rows([self.space.key(arch) for arch in archs])

    def query(self, archs: Sequence[Arch], metric: str) -> np.ndarray:
        column = self.table.metrics_table.column(metric)
        rows = self._rows(archs)
        missing = np.flatnonzero(rows < 0)
        if len(missing):
            arch = archs[int(missing[0])]
            raise DataError(f"the NB101 table {self.table.metrics_table.name} has no cell "
                            f"{self.space.to_str(arch)} (hash {self.space.key(arch)}"
                            f"{f', and {len(missing) - 1} more queried' if len(missing) > 1 else ''}); "
                            "benchmark.skip_missing=true makes searches pass over cells the table lacks")
        return column[rows].astype(np.float64)

    def evaluable(self, archs: Sequence[Arch]) -> np.ndarray:
        return self._rows(archs) >= 0

    @property
    def evaluable_count(self) -> int:
        return len(self.table.cells)

    def arch_at(self, row: int) -> Arch:
        """Rows are in hash order."""
        return cell_from_spec(*self.table.cells.cell(row))


class NB101Data:
    """``nasgen data`` for NB101: import a file, list and verify the imported tables."""

    name = "nb101"
    import_sources = ("nb101",)
    data_names = ("nb101",)
    import_help = (f"nb101: {FILENAMES['tfrecord']} or {FILENAMES['pkl']} (all 423,624 cells) or NASLib's "
                   f"{FILENAMES['naslib_zc']}, told apart by suffix")

    def list_tables(self, root: Path | None) -> None:
        print("\nNAS-Bench-101 (benchmark=nb101):")
        if root is not None:
            for source, filename in FILENAMES.items():
                path = root / "nb101" / filename
                print(f"  {path}: {'present' if path.is_file() else 'not found'} (source {source})")
        print(f"  imported tables in {cache_dir()}:")
        tables = imported_tables()
        for path in tables:
            try:
                print(f"    {path.name}  {NB101Table(path).summary()}")
            except DataError as exc:
                print(f"    {path.name}  unreadable: {exc}")
        if not tables:
            print("    (none; benchmark=nb101 imports on first use, or: nasgen data import nb101 PATH)")

    def import_file(self, source: str, path: Path, force: bool, metric: str | None) -> None:
        if metric is not None:
            raise ConfigError(f"--metric applies to cost CSVs only, not to {source}")
        file_kind = source_of(path)
        if current_import(file_kind, path) is not None and not force:
            print(f"{path} was already imported and is unchanged (use --force to rebuild)")
        table = NB101Table(build_cache(file_kind, path, force=force))
        prov = table.provenance
        print(f"table: {table.path}\n  {table.summary()}")
        if "runs" in prov:
            seconds = prov["import_seconds"]
            print(f"  {prov['runs']} runs read in {seconds:.2f} s ({prov['runs'] / max(seconds, 1e-9):,.0f} runs/s)")
        if not prov.get("complete") and file_kind != "naslib_zc":
            print("  warning: partial table; runs refuse it unless benchmark.allow_partial=true or "
                  "benchmark.skip_missing=true")

    def checks(self) -> list[tuple[str, Callable[[], str | None]]]:
        found: list[tuple[str, Callable[[], str | None]]] = []
        for path in imported_tables():
            table = NB101Table(path)
            found.append((f"sha256 {path} and its cell index", table.verify))
            if table.provenance.get("source") == "naslib_zc":
                continue
            rows = table.provenance.get("rows")
            if table.provenance.get("complete"):
                found.append((f"{path.name} holds all {NUM_CELLS} cells and its optimum cifar10/valid_acc@108 "
                              f"is {KNOWN_VALID_OPTIMUM}", lambda t=table: _complete(t)))
            else:
                found.append((f"{path.name} holds the {rows} cells it recorded (a partial import: optimum not "
                              "checked)", lambda t=table, rows=rows: _rows(t, rows)))
        return found


def _rows(table: NB101Table, expected: int) -> str | None:
    """Whether the cell index and every metric column hold ``expected`` rows."""
    sizes = {"cell index": len(table.cells),
             **{m: len(table.metrics_table.column(m)) for m in table.metrics_table.metrics}}
    wrong = [f"{name} has {size}" for name, size in sizes.items() if size != expected]
    return f"{'; '.join(wrong)} rows, not {expected}" if wrong else None


def _complete(table: NB101Table) -> str | None:
    return _rows(table, NUM_CELLS) or _valid_optimum(table)


def _valid_optimum(table: NB101Table) -> str | None:
    best = float(np.nanmax(table.metrics_table.column(f"cifar10/valid_acc@{EPOCHS}")))
    return None if abs(best - KNOWN_VALID_OPTIMUM) <= OPTIMUM_TOLERANCE else f"max {best:.4f} != {KNOWN_VALID_OPTIMUM}"
