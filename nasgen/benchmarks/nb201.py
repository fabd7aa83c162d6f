"""NAS-Bench-201 / NATS-Bench ``tss`` accuracies as a tabular benchmark.

Metric names: ``{dataset}/{valid,test}_acc@{12,200}`` for dataset in ``cifar10``,
``cifar100``, ``ImageNet16-120`` (accuracy in %, mean over the benchmark's seeds), and
``latency/{device}_ms`` (HW-NAS-Bench CIFAR-10 latency). Splits follow the benchmark
protocol: CIFAR-10 validation comes from ``cifar10-valid`` (trained on the train half),
CIFAR-10 test from ``cifar10`` (trained on train+valid); CIFAR-100 and ImageNet16-120
use ``x-valid`` / ``x-test``.

Sources (``source`` in ``configs/benchmark/nb201.yaml``):
- ``bundled``: the compact table shipped with nasgen (no set-up).
- ``nats``: an official NATS-Bench topology archive directory
  (``NATS-tss-v1_0-3ffb9-simple``, ``fast_mode``), imported once into the cache.
- ``csv``: the CSV tables of nasgen's shared benchmark folder (``<data_root>/nb201``).

Hardware-cost tables (``costs``: HELP, HW-NAS-Bench or a user CSV, see
:mod:`nasgen.benchmarks.costs`) add latency / energy metrics; a metric is looked up in the
accuracy table first, then in the cost tables in the order given.
"""
from __future__ import annotations

import bz2
import csv
import gzip
import hashlib
import pickle
from functools import partial
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from tqdm import tqdm

from nasgen.benchmarks.costs import (
    DEFAULT_CSV_METRIC,
    HELP_FILENAME,
    HELP_HINT,
    HWNAS_FILENAME,
    HWNAS_HINT,
    csv_columns,
    help_columns,
    hwnasbench_columns,
    require,
)
from nasgen.benchmarks.tables import MetricTable, TableStack, write_table
from nasgen.errors import ConfigError, DataError, choose
from nasgen.paths import cache_dir, data_root
from nasgen.spaces.nb201 import NUM_ARCHS, NB201Arch, NB201Space

DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
NATS_DIRNAME = "NATS-tss-v1_0-3ffb9-simple"
NATS_HINT = (
    "download NATS-tss-v1_0-3ffb9-simple.tar from the NATS-Bench release "
    "(github.com/D-X-Y/NATS-Bench), untar it under your data root ($NASGEN_DATA) "
    "and point benchmark.path at the directory (or import it: nasgen data import nats PATH)"
)
# (dataset in the NATS record, eval key prefix) for each metric's split.
_NATS_SPLITS = {
    ("cifar10", "valid"): ("cifar10-valid", "x-valid"),
    ("cifar10", "test"): ("cifar10", "ori-test"),
    **{(ds, "valid"): (ds, "x-valid") for ds in DATASETS[1:]},
    **{(ds, "test"): (ds, "x-test") for ds in DATASETS[1:]},
}
# Column names of the CSV tables for each metric.
_CSV_200_TEST = {"cifar10": "CIFAR10TestAccuracy200Epochs", "cifar100": "CIFAR100TestAccuracy200Epochs",
                 "ImageNet16-120": "ImageNetTestAccuracy200Epochs"}
_CSV_200_VALID = {"cifar10": "cifar10-valid_valid", "cifar100": "cifar100_valid",
                  "ImageNet16-120": "ImageNet16-120_valid"}
_CSV_12 = {"cifar10": "cifar10", "cifar100": "cifar100", "ImageNet16-120": "imagenet"}
HWNAS_DEVICES = ("fpga", "eyeriss", "pixel3", "raspi4")

CSV_FILES = {
    "test200": "nats_tss_200ep_test_acc.csv",
    "valid200": "nb201_200ep_valid_acc.csv",
    "acc12": "mini_bench_12ep_acc.csv",
    "latency": "latency/hwnasbench_cifar10_latency_ms.csv",
}
# Sources build_cache imports; "costs" is a user cost CSV.
IMPORT_SOURCES = ("nats", "csv", "help", "hwnasbench", "costs")
COST_IMPORTS = ("help", "hwnasbench", "costs")
# benchmark.costs source -> import source, and the default files under the data root.
COST_SOURCES = {"help": "help", "hwnasbench": "hwnasbench", "csv": "costs"}
COST_DEFAULT_PATHS = {"help": f"nb201/latency/{HELP_FILENAME}", "hwnasbench": HWNAS_FILENAME}


def metric_name(dataset: str, split: str, epochs: int) -> str:
    return f"{dataset}/{split}_acc@{epochs}"


def _read_csv(path: Path) -> list[dict[str, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as f:
        return list(csv.DictReader(f))


def columns_from_csv(folder: "str | Path", space: NB201Space | None = None) -> dict[str, np.ndarray]:
    """Metric columns from the CSV tables in ``folder`` (rows joined on the arch string)."""
    folder = Path(folder)
    space = space or NB201Space()
    hint = "these CSVs are nasgen's shared development tables; see ../shared/benchmarks/PROVENANCE.md"

    def rows_by_index(name: str, arch_column: str) -> tuple[list[dict[str, str]], np.ndarray]:
        rows = _read_csv(require(folder / CSV_FILES[name], f"NB201 table {CSV_FILES[name]}", hint))
        index = np.array([space.index(space.from_str(row[arch_column])) for row in rows])
        if len(rows) != NUM_ARCHS or len(set(index.tolist())) != NUM_ARCHS:
            raise DataError(f"{folder / CSV_FILES[name]} must list each of the {NUM_ARCHS} NB201 archs once")
        return rows, index

    columns: dict[str, np.ndarray] = {}

    def put(name: str, rows: list[dict[str, str]], index: np.ndarray, column: str) -> None:
        values = np.full(NUM_ARCHS, np.nan)
        values[index] = [float(row[column]) for row in rows]
        columns[name] = values

    rows, index = rows_by_index("test200", "ArchitectureString")
    for ds in DATASETS:
        put(metric_name(ds, "test", 200), rows, index, _CSV_200_TEST[ds])
    rows, index = rows_by_index("valid200", "arch")
    for ds in DATASETS:
        put(metric_name(ds, "valid", 200), rows, index, _CSV_200_VALID[ds])
    rows, index = rows_by_index("acc12", "cellstr")
    for ds in DATASETS:
        put(metric_name(ds, "valid", 12), rows, index, f"{_CSV_12[ds]}-val")
        put(metric_name(ds, "test", 12), rows, index, f"{_CSV_12[ds]}-test")
    rows, index = rows_by_index("latency", "arch_str")
    for device in HWNAS_DEVICES:
        put(f"latency/{device}_ms", rows, index, device)
    return columns


def _load_pbz2(path: Path):
    try:
        with bz2.open(path, "rb") as f:
            return pickle.load(f)
    except (OSError, EOFError, pickle.UnpicklingError) as exc:
        raise DataError(f"cannot read NATS-Bench file {path} ({exc}); re-download it. {NATS_HINT}") from None


def columns_from_nats(folder: "str | Path") -> dict[str, np.ndarray]:
    """Metric columns from an official NATS-Bench ``tss`` archive directory (fast mode).

    Architectures whose record file is absent get NaN. Besides accuracies this reads
    FLOPs (``{dataset}/flops_M``), parameters (``{dataset}/params_M``) and the simulated
    200-epoch training time (``{dataset}/train_seconds@200``, the cost of one query).
    """
    folder = Path(folder)
    require(folder / "meta.pickle.pbz2", "NATS-Bench meta file meta.pickle.pbz2", NATS_HINT)
    meta = _load_pbz2(folder / "meta.pickle.pbz2")
    space = NB201Space()
    official = [space.index(space.from_str(s)) for s in meta["meta_archs"]]
    if official != list(range(NUM_ARCHS)):
        raise DataError(f"{folder}: meta_archs is not the NB201 tss index order")
    columns: dict[str, np.ndarray] = {}

    def put(name: str, index: int, values: list[float]) -> None:
        columns.setdefault(name, np.full(NUM_ARCHS, np.nan))[index] = float(np.mean(values))

    records = sorted(folder.glob("[0-9]" * 6 + ".pickle.pbz2"))
    if not records:
        raise DataError(f"{folder} holds no per-architecture records (000000.pickle.pbz2, ...). {NATS_HINT}")
    for path in tqdm(records, desc="importing NATS-Bench records", disable=True if len(records) < 100 else None):
        record = _load_pbz2(path)
        for hp, epochs in (("12", 12), ("200", 200)):
            info = record[hp]
            index = int(info["arch_index"])
            results = info["all_results"]
            for (ds, split), (nats_ds, prefix) in _NATS_SPLITS.items():
                key = f"{prefix}@{epochs - 1}"
                values = [res["eval_acc1es"][key] for (d, _), res in results.items()
                          if d == nats_ds and key in res["eval_acc1es"]]
                if values:
                    put(metric_name(ds, split, epochs), index, values)
            if epochs == 200:
                for ds in DATASETS:
                    runs = [res for (d, _), res in results.items() if d == ds]
                    put(f"{ds}/flops_M", index, [r["flop"] for r in runs])
                    put(f"{ds}/params_M", index, [r["params"] for r in runs])
                    put(f"{ds}/train_seconds@200", index, [sum(r["train_times"].values()) for r in runs])
    return columns


def build_cache(source: str, path: Path, metric: str | None = None) -> Path:
    """Import ``path`` into the cache once; return the table.

    ``source``: ``nats`` (NATS archive dir), ``csv`` (folder of nasgen's NB201 CSVs), ``help``,
    ``hwnasbench`` or ``costs`` (a user cost CSV, column ``c`` named ``metric.format(column=c)``).
    A file is keyed by its size and mtime as well as its path, so an edited file is imported anew.
    """
    choose("import source", source, IMPORT_SOURCES)
    if source == "costs":
        metric = metric or DEFAULT_CSV_METRIC
    elif metric is not None:
        raise ConfigError(f"a metric format applies to cost CSVs (source costs) only, not to {source}")
    path = path.resolve()
    key = str(path)  # a folder is keyed by its path alone, which keeps earlier imports valid
    if path.is_file():
        stat = path.stat()
        key += f"|{stat.st_size}|{stat.st_mtime_ns}"
    if metric is not None:
        key += f"|{metric}"
    target = cache_dir() / f"nb201_{source}_{hashlib.sha256(key.encode()).hexdigest()[:12]}.npz"
    if not target.is_file():
        readers = {"nats": columns_from_nats, "csv": columns_from_csv, "help": help_columns,
                   "hwnasbench": hwnasbench_columns, "costs": partial(csv_columns, metric=metric)}
        columns = readers[source](path)
        write_table(target, columns, {"source": source, "path": str(path), **({"metric": metric} if metric else {})})
    return target


def cost_table(entry: "str | Mapping", data_root_dir: "str | None" = None) -> Path:
    """Import one ``benchmark.costs`` entry and return its cached table.

    ``entry`` is ``"help"``, ``"hwnasbench"`` or a mapping ``{source: help|hwnasbench|csv,
    path: file, metric: format}``; ``path`` defaults to the file under the data root (not for
    ``csv``), ``metric`` (``csv`` only) to ``latency/{column}_ms``.
    """
    if isinstance(entry, str):
        spec = {"source": entry}
    elif isinstance(entry, Mapping):
        spec = dict(entry)
    else:
        raise ConfigError(f"benchmark.costs entry {entry!r} is neither a source name nor a mapping; "
                          "e.g. [help], [hwnasbench], [{source: csv, path: my_latency.csv}]")
    unknown = sorted(set(spec) - {"source", "path", "metric"})
    if unknown:
        raise ConfigError(f"benchmark.costs entry {spec} has unknown key(s) {', '.join(map(str, unknown))}; "
                          "valid keys: source, path, metric")
    source = spec.get("source")
    choose("benchmark.costs source", source, tuple(COST_SOURCES))
    if spec.get("metric") is not None and source != "csv":
        raise ConfigError(f"benchmark.costs entry {spec}: metric applies to source csv only")
    path = spec.get("path")
    if path is None:
        if source == "csv":
            raise ConfigError("benchmark.costs source csv needs a path, e.g. {source: csv, path: my_latency.csv}")
        root = data_root(data_root_dir)
        if root is None:
            raise DataError(f"benchmark.costs source {source} needs a path or data_root ($NASGEN_DATA) holding "
                            f"{COST_DEFAULT_PATHS[source]}\n  how to get it: "
                            f"{HELP_HINT if source == 'help' else HWNAS_HINT}")
        path = root / COST_DEFAULT_PATHS[source]
    return build_cache(COST_SOURCES[source], Path(path).expanduser(), spec.get("metric"))


class NB201Benchmark:
    """Tabular NAS-Bench-201 benchmark for one dataset, with optional hardware-cost tables (``costs``)."""

    name = "nb201"

    def __init__(self, dataset: str = "cifar10", source: str = "bundled",
                 path: "str | None" = None, data_root_dir: "str | None" = None,
                 costs: "Sequence[str | Mapping]" = ()) -> None:
        choose("benchmark.dataset", dataset, DATASETS)
        choose("benchmark.source", source, ("bundled", "nats", "csv"))
        self.dataset = dataset
        self.space = NB201Space()
        if source == "bundled":
            self.table = MetricTable.bundled("nb201")
        else:
            root = data_root(data_root_dir)
            default = {"nats": NATS_DIRNAME, "csv": "nb201"}[source]
            if path is None and root is None:
                raise DataError(f"benchmark.source={source} needs benchmark.path or data_root ($NASGEN_DATA). "
                                + (NATS_HINT if source == "nats" else ""))
            folder = Path(path).expanduser() if path else root / default
            require(folder, f"NB201 {source} data folder", NATS_HINT if source == "nats" else
                    "set data_root to the folder holding nb201/ (e.g. ../shared/benchmarks)")
            self.table = MetricTable(build_cache(source, folder))
        self.tables = TableStack([self.table, *(MetricTable(cost_table(c, data_root_dir)) for c in costs)])

    @property
    def metrics(self) -> tuple[str, ...]:
        return self.tables.metrics

    def column(self, metric: str) -> np.ndarray:
        """Values of ``metric`` for all architectures by NB201 index (float64, NaN where missing)."""
        return self.tables.column(metric).astype(np.float64)

    def query(self, archs: Sequence[NB201Arch], metric: str) -> np.ndarray:
        column = self.tables.column(metric)
        index = np.fromiter((self.space.index(a) for a in archs), dtype=np.int64, count=len(archs))
        values = column[index].astype(np.float64)
        if np.isnan(values).any():
            missing = index[np.isnan(values)]
            raise DataError(f"{self.tables.table_of(metric).name} has no {metric} for NB201 index "
                            f"{', '.join(map(str, missing[:5]))}{' ...' if len(missing) > 5 else ''}; "
                            "the imported benchmark files are incomplete")
        return values

    def optimum(self, metric: str, maximize: bool = True) -> float | None:
        column = self.column(metric)
        return float(np.nanmax(column) if maximize else np.nanmin(column))

    def best_arch(self, metric: str, maximize: bool = True) -> NB201Arch:
        column = self.column(metric)
        return self.space.from_index(int(np.nanargmax(column) if maximize else np.nanargmin(column)))
