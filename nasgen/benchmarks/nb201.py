"""NAS-Bench-201 / NATS-Bench ``tss`` accuracies as a tabular benchmark.

Metric names: ``{dataset}/{valid,test}_acc@{12,200}`` for dataset in ``cifar10``,
``cifar100``, ``ImageNet16-120`` (accuracy in %, mean over the benchmark's seeds), and
``latency/{device}_ms`` (HW-NAS-Bench CIFAR-10 latency). Splits follow the benchmark
protocol: CIFAR-10 validation comes from ``cifar10-valid`` (trained on the train half),
CIFAR-10 test from ``cifar10`` (trained on train+valid); CIFAR-100 and ImageNet16-120
use ``x-valid`` / ``x-test``.

Sources (``source`` in ``configs/benchmark/nb201.yaml``):
- ``bundled``: the compact table shipped with nasgen (no set-up).
- ``nats``: an official NATS-Bench topology archive, either the directory
  ``NATS-tss-v1_0-3ffb9-simple`` (what ``fast_mode=True`` reads) or the single file
  ``NATS-tss-v1_0-3ffb9.pickle.pbz2`` (what ``fast_mode=False`` reads), imported into the cache
  and imported anew when its files change (size or modification time).
- ``csv``: the CSV tables of nasgen's shared benchmark folder (``<data_root>/nb201``).

Hardware-cost tables (``costs``: HELP, HW-NAS-Bench or a user CSV, see
:mod:`nasgen.benchmarks.costs`) add latency / energy metrics; a metric is looked up in the
accuracy table first, then in the cost tables in the order given.

Every table must cover all 15,625 architectures for each of its metrics; a partial source (a
NATS folder with a few records, a cost CSV of a few rows) is refused when the benchmark is
built, naming what is missing, unless ``allow_partial`` is set (then a query of a missing
architecture fails).
"""
from __future__ import annotations

import bz2
import csv
import gzip
import hashlib
import logging
import pickle
from functools import partial
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np
from tqdm import tqdm

from nasgen.benchmarks.base import TableLookups, UnitsFromNames
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
from nasgen.benchmarks.tables import MetricTable, TableStack, files_fingerprint, is_current, write_table
from nasgen.errors import ConfigError, DataError, choose
from nasgen.paths import cache_dir, data_root
from nasgen.spaces.nb201 import NUM_ARCHS, NB201Arch, NB201Space

log = logging.getLogger(__name__)

DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
NATS_DIRNAME = "NATS-tss-v1_0-3ffb9-simple"
NATS_FILENAME = "NATS-tss-v1_0-3ffb9.pickle.pbz2"
NATS_HINT = (
    f"download {NATS_DIRNAME}.tar (one file per architecture; untar it) or {NATS_FILENAME} (one file) "
    "from the NATS-Bench release (github.com/D-X-Y/NATS-Bench), put it under your data root ($NASGEN_DATA) "
    "or point benchmark.path at it (or import it: nasgen data import nats PATH)"
)
NATS_RECORD_GLOB = "[0-9]" * 6 + ".pickle.pbz2"
# Keys of the single-file archive, as the official NATStopology checks them.
NATS_ARCHIVE_KEYS = ("meta_archs", "arch2infos", "evaluated_indexes")
# The seed whose FLOPs / parameters the official API trusts when seeds disagree.
FLOPS_REFERENCE_SEED = 888
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


def seed_consistent(values_by_seed: Mapping[int, float]) -> float:
    """FLOPs or parameters of one architecture from its runs, as the official API gives them
    (``ArchResults.get_compute_costs``): the mean where the seeds agree to 5 decimals, else the
    value of seed 888 (NATS-Bench's fix for legacy, wrong counts in some runs). Where the seeds
    disagree and seed 888 has no run the official API fails; the mean is kept there."""
    values = list(values_by_seed.values())
    if len({f"{v:.5f}" for v in values}) > 1 and FLOPS_REFERENCE_SEED in values_by_seed:
        return float(values_by_seed[FLOPS_REFERENCE_SEED])
    return float(np.mean(values))


def _train_seconds(run: Mapping, epochs: int) -> float | None:
    """Training time of all ``epochs`` of ``run``; ``None`` where the record has no times."""
    times = run.get("train_times") or {}
    return sum(times[i] for i in range(epochs)) if all(i in times for i in range(epochs)) else None


def query_seconds(run: Mapping, epochs: int) -> float | None:
    """What NATS-Bench's ``simulate_train_eval`` charges for a query answered by ``run``: the
    training time of all ``epochs`` plus one validation pass (mean ``x-valid`` time per epoch);
    ``None`` where the record has no times (the metric is then missing for that architecture)."""
    train = _train_seconds(run, epochs)
    valid = [(run.get("eval_times") or {}).get(f"x-valid@{i}") for i in range(epochs)]
    return None if train is None or None in valid else train + sum(valid) / epochs


def _add_record(record: Mapping, columns: dict[str, np.ndarray]) -> None:
    """Put one architecture's official record (``{hp: ArchResults state}``) into ``columns``.

    The cost of a query, ``{dataset}/train_seconds@{epochs}``, is that of the runs that produced
    ``{dataset}/valid_acc@{epochs}`` (for CIFAR-10 the ``cifar10-valid`` runs on the train half,
    as ``simulate_train_eval`` charges); ``{dataset}/test_run_train_seconds@{epochs}`` is the
    training time of the runs that produced ``{dataset}/test_acc@{epochs}`` (for CIFAR-10 the
    ``cifar10`` runs on train+valid, about twice as long). Values are means over seeds.
    """
    def put(name: str, index: int, values: list[float | None]) -> None:
        known = [v for v in values if v is not None]
        if known:
            columns.setdefault(name, np.full(NUM_ARCHS, np.nan))[index] = float(np.mean(known))

    for hp, epochs in (("12", 12), ("200", 200)):
        info = record[hp]
        index = int(info["arch_index"])
        runs: dict[str, dict[int, Mapping]] = {}
        for (nats_dataset, seed), run in info["all_results"].items():
            runs.setdefault(nats_dataset, {})[seed] = run
        for (ds, split), (nats_dataset, prefix) in _NATS_SPLITS.items():
            key = f"{prefix}@{epochs - 1}"
            split_runs = runs.get(nats_dataset, {}).values()
            put(metric_name(ds, split, epochs), index,
                [run["eval_acc1es"][key] for run in split_runs if key in run["eval_acc1es"]])
            if split == "valid":
                put(f"{ds}/train_seconds@{epochs}", index, [query_seconds(run, epochs) for run in split_runs])
            else:
                put(f"{ds}/test_run_train_seconds@{epochs}", index, [_train_seconds(run, epochs) for run in split_runs])
        if epochs != 200:
            continue
        for ds in DATASETS:  # FLOPs and parameters of the dataset's own runs, as get_cost_info
            own = runs.get(ds)
            if own:
                for name, field in (("flops_M", "flop"), ("params_M", "params")):
                    put(f"{ds}/{name}", index, [seed_consistent({seed: run[field] for seed, run in own.items()})])


def _nats_records(path: Path) -> tuple[list[str], int, Iterator[tuple[str, Mapping]]]:
    """``meta_archs``, the number of records and ``(where, record)`` pairs of a NATS archive:
    the fast-mode folder (``meta.pickle.pbz2`` + ``NNNNNN.pickle.pbz2``) or the single file
    (``{meta_archs, arch2infos: {index: record}, evaluated_indexes, total_archs}``)."""
    if path.is_file():
        archive = _load_pbz2(path)
        missing = [k for k in NATS_ARCHIVE_KEYS if not isinstance(archive, Mapping) or k not in archive]
        if missing:
            raise DataError(f"{path} is not the NATS-Bench tss single-file archive ({NATS_FILENAME}): it lacks "
                            f"{', '.join(missing)}. {NATS_HINT}")
        infos = archive["arch2infos"]
        return archive["meta_archs"], len(infos), ((f"{path} arch2infos[{i}]", r) for i, r in infos.items())
    require(path / "meta.pickle.pbz2", f"NATS-Bench meta file meta.pickle.pbz2 of the archive folder {path}",
            NATS_HINT)
    meta = _load_pbz2(path / "meta.pickle.pbz2")
    files = sorted(path.glob(NATS_RECORD_GLOB))
    if not files:
        raise DataError(f"{path} holds no per-architecture records (000000.pickle.pbz2, ...). {NATS_HINT}")
    return meta["meta_archs"], len(files), ((str(f), _load_pbz2(f)) for f in files)


def columns_from_nats(path: "str | Path") -> dict[str, np.ndarray]:
    """Metric columns from an official NATS-Bench ``tss`` archive, folder or single file.

    Architectures without a record get NaN. Besides accuracies this reads FLOPs
    (``{dataset}/flops_M``), parameters (``{dataset}/params_M``) and the simulated training
    times ``{dataset}/train_seconds@{12,200}`` (the cost of a query) and
    ``{dataset}/test_run_train_seconds@{12,200}`` (see :func:`_add_record`).
    """
    path = require(Path(path), "NATS-Bench archive", NATS_HINT)
    meta_archs, count, records = _nats_records(path)
    space = NB201Space()
    try:
        official = [space.index(space.from_str(s)) for s in meta_archs]
    except ConfigError:
        official = []
    if official != list(range(NUM_ARCHS)):
        raise DataError(f"{path}: meta_archs is not the NB201 tss index order")
    columns: dict[str, np.ndarray] = {}
    # no bar for a few records, and none when stderr is not a terminal (disable=None)
    progress = tqdm(records, total=count, desc="importing NATS-Bench records", disable=True if count < 100 else None)
    for where, record in progress:
        try:
            _add_record(record, columns)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise DataError(f"{where} is not a NATS-Bench tss record (missing or bad entry {exc}). "
                            f"{NATS_HINT}") from None
    return columns


def source_files(source: str, path: Path) -> list[Path]:
    """The files an import of ``path`` reads: their sizes and modification times tell whether
    an earlier import is still current."""
    if path.is_file():
        return [path]
    if source == "nats":
        return [path / "meta.pickle.pbz2", *sorted(path.glob(NATS_RECORD_GLOB))]
    if source == "csv":
        return [path / name for name in CSV_FILES.values()]
    return [path]


def source_fingerprint(source: str, path: Path) -> str:
    """Fingerprint (name, size, modification time) of every file the import reads."""
    return files_fingerprint(source_files(source, path))


def _cache_entry(source: str, path: Path, metric: str | None) -> tuple[Path, dict]:
    """Cache file of an import of ``path`` and the provenance that marks it current."""
    choose("import source", source, IMPORT_SOURCES)
    if source == "costs":
        metric = metric or DEFAULT_CSV_METRIC
    elif metric is not None:
        raise ConfigError(f"a metric format applies to cost CSVs (source costs) only, not to {source}")
    path = path.resolve()
    key = str(path) + (f"|{metric}" if metric is not None else "")
    target = cache_dir() / f"nb201_{source}_{hashlib.sha256(key.encode()).hexdigest()[:12]}.npz"
    provenance = {"source": source, "path": str(path), "fingerprint": source_fingerprint(source, path),
                  **({"metric": metric} if metric else {})}
    return target, provenance


def current_import(source: str, path: Path, metric: str | None = None) -> Path | None:
    """The cached import of ``path`` if there is one and its source files are unchanged."""
    target, provenance = _cache_entry(source, path, metric)
    return target if is_current(target, provenance) else None


def build_cache(source: str, path: Path, metric: str | None = None, *, force: bool = False) -> Path:
    """Import ``path`` into the cache unless a current import exists (or ``force``); return the table.

    ``source``: ``nats`` (NATS archive folder or single file), ``csv`` (folder of nasgen's NB201
    CSVs), ``help``, ``hwnasbench`` or ``costs`` (a user cost CSV, column ``c`` named
    ``metric.format(column=c)``). An import is keyed by the source's path; it is redone when the
    size or modification time of any file it read has changed (records added to an archive
    folder, an edited CSV), so a cached table never hides a changed source.
    """
    target, provenance = _cache_entry(source, path, metric)
    if force or not is_current(target, provenance):
        readers = {"nats": columns_from_nats, "csv": columns_from_csv, "help": help_columns,
                   "hwnasbench": hwnasbench_columns,
                   "costs": partial(csv_columns, metric=provenance.get("metric", DEFAULT_CSV_METRIC))}
        columns = readers[source](Path(provenance["path"]))
        write_table(target, columns, provenance)
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


def _nats_default(root: Path) -> Path:
    """The archive under the data root: the fast-mode folder, else the single file."""
    folder, single = root / NATS_DIRNAME, root / NATS_FILENAME
    return single if not folder.exists() and single.is_file() else folder


class NB201Benchmark(TableLookups, UnitsFromNames):
    """Tabular NAS-Bench-201 benchmark for one dataset, with optional hardware-cost tables (``costs``).

    ``allow_partial``: accept tables that lack values for some architectures (a test fixture, a
    cost CSV of a subset); a query of a missing architecture then fails. Without it such a
    source is refused here, before any search work, naming what is missing.
    """

    name = "nb201"

    def __init__(self, dataset: str = "cifar10", source: str = "bundled",
                 path: "str | None" = None, data_root_dir: "str | None" = None,
                 costs: "Sequence[str | Mapping]" = (), allow_partial: bool = False) -> None:
        choose("benchmark.dataset", dataset, DATASETS)
        choose("benchmark.source", source, ("bundled", "nats", "csv"))
        self.dataset = dataset
        self.space = NB201Space()
        if source == "bundled":
            self.table = MetricTable.bundled("nb201")
        else:
            root = data_root(data_root_dir)
            if path is None and root is None:
                raise DataError(f"benchmark.source={source} needs benchmark.path or data_root ($NASGEN_DATA). "
                                + (NATS_HINT if source == "nats" else ""))
            if path:
                location = Path(path).expanduser()
            else:
                location = _nats_default(root) if source == "nats" else root / "nb201"
            require(location, f"NB201 {source} data", NATS_HINT if source == "nats" else
                    "set data_root to the folder holding nb201/ (e.g. ../shared/benchmarks)")
            self.table = MetricTable(build_cache(source, location))
        self.tables = TableStack([self.table, *(MetricTable(cost_table(c, data_root_dir)) for c in costs)])
        self.allow_partial = allow_partial
        for table in self.tables.tables:
            gaps = table.gaps(NUM_ARCHS)
            if gaps and not allow_partial:
                raise DataError(f"{gaps}; complete the source (nasgen re-imports it when its files change), or set "
                                "benchmark.allow_partial=true to search it anyway (queries of missing "
                                "architectures then fail)")
            if gaps:
                log.warning("partial benchmark table (allow_partial): %s", gaps)

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
                            f"{', '.join(map(str, missing[:5]))}{' ...' if len(missing) > 5 else ''} "
                            "(a partial table, accepted by benchmark.allow_partial=true); add the missing "
                            "records to the source (nasgen re-imports it when its files change; or run "
                            "nasgen data import SOURCE PATH --force)")
        return values

    def arch_at(self, row: int) -> NB201Arch:
        """Rows are NB201 indices."""
        return self.space.from_index(row)

    def archs(self) -> list[NB201Arch]:
        """All 15,625 cells in index order (a query of a partial table's gaps fails, naming them)."""
        return self.space.enumerate()
