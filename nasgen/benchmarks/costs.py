"""Hardware-cost tables (latency, energy) of NAS-Bench-201 architectures.

Readers return ``{metric: float64 array}`` with one value per NB201 index (NaN where the
source has none). Metric names: ``latency/{device}_ms`` is latency at CIFAR-10 input size;
``{dataset}/latency/{device}_ms`` and ``{dataset}/energy/{device}_mJ`` are per dataset.

Sources:
- HELP (Lee et al., NeurIPS 2021): latency on 27 devices, ``help_all_devices_latency.csv.gz``
  (columns ``index,arch_str,<device>...``).
- HW-NAS-Bench (Li et al., ICLR 2021): the official ``HW-NAS-Bench-v1_0.pickle``, latency on 6
  and energy on 3 devices for CIFAR-10, CIFAR-100 and ImageNet16-120.
- a user CSV: an ``index`` or ``arch_str``/``arch`` column and one numeric column per device.
"""
from __future__ import annotations

import csv
import gzip
import math
import pickle
from pathlib import Path
from typing import IO

import numpy as np

from nasgen.errors import ConfigError, DataError
from nasgen.spaces.nb201 import NUM_ARCHS, NB201Space

HELP_FILENAME = "help_all_devices_latency.csv.gz"
HELP_HINT = (f"{HELP_FILENAME} is in nasgen's shared benchmark folder (shared/benchmarks/nb201/latency/); its "
             "latencies come from HELP (github.com/HayeonLee/HELP). Put it in <data_root>/nb201/latency/ "
             "or give its path")
HWNAS_FILENAME = "HW-NAS-Bench-v1_0.pickle"
HWNAS_HINT = (f"download {HWNAS_FILENAME} from github.com/GATECH-EIC/HW-NAS-Bench and put it in the data root "
              "($NASGEN_DATA) or give its path")
CSV_HINT = ("a cost CSV needs an 'index' (NB201 index) or 'arch_str'/'arch' (NB201 arch string) column "
            "and one numeric column per device")
DEFAULT_CSV_METRIC = "latency/{column}_ms"
# HW-NAS-Bench's datanames and the devices of its latency / energy keys (``<device>_latency``).
HWNAS_DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
HWNAS_LATENCY = ("edgegpu", "raspi4", "edgetpu", "pixel3", "eyeriss", "fpga")
HWNAS_ENERGY = ("edgegpu", "eyeriss", "fpga")
ID_COLUMNS = ("index", "arch_str", "arch")
_NUMPY2 = np.lib.NumpyVersion(np.__version__) >= "2.0.0"


def require(path: Path, what: str, hint: str) -> Path:
    """``path`` if it exists, else a :class:`DataError` naming it and how to get it."""
    if not path.exists():
        raise DataError(f"{what} not found: {path}\n  how to get it: {hint}")
    return path


def _open_text(path: Path) -> IO[str]:
    # utf-8-sig drops the byte-order mark that spreadsheet programs put before the header.
    if path.suffix == ".gz":
        return gzip.open(path, "rt", newline="", encoding="utf-8-sig")
    return open(path, newline="", encoding="utf-8-sig")


def csv_devices(path: "str | Path") -> list[str]:
    """The cost (device) columns named in a cost CSV's header; the rows are not read."""
    path = Path(path)
    try:
        with _open_text(path) as f:
            header = next(csv.reader(f), [])
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read {path} ({exc})") from None
    return [c.strip() for c in header if c.strip() not in ID_COLUMNS]


def _metric_names(metric: str, columns: list[str]) -> list[str]:
    try:
        names = [metric.format(column=c) for c in columns]
    except (KeyError, IndexError, ValueError):
        raise ConfigError(f"cost metric format {metric!r} may use only {{column}}, "
                          f"e.g. {DEFAULT_CSV_METRIC!r}") from None
    if len(set(names)) != len(names):
        raise ConfigError(f"cost metric format {metric!r} gives several columns one name; put {{column}} in it")
    return names


def _arch_index(space: NB201Space, ids: dict[str, str]) -> int:
    """NB201 index of a row from its id cells; ValueError says what is wrong."""
    index = None
    if "index" in ids:
        text = ids["index"].strip()
        if not text.isdigit() or int(text) >= NUM_ARCHS:
            raise ValueError(f"index {text!r} is not an NB201 index 0..{NUM_ARCHS - 1}")
        index = int(text)
    for column in ("arch_str", "arch"):
        if column in ids:
            try:
                from_str = space.index(space.from_str(ids[column]))
            except ConfigError:
                raise ValueError(f"{column} {ids[column]!r} is not an NB201 arch string "
                                 "(|op~0|+|op~0|op~1|+|op~0|op~1|op~2|)") from None
            if index is not None and from_str != index:
                raise ValueError(f"index {index} disagrees with {column} {ids[column]!r} (NB201 index {from_str})")
            index = from_str
    assert index is not None  # the caller passes at least one id column
    return index


def _number(text: str, column: str) -> float:
    if not text.strip():
        return np.nan  # an empty cell: no value for this device
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{column} value {text!r} is not a number") from None
    # float() accepts "nan" and "inf"; neither, nor a negative value, is a cost anyone measured.
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{column} value {text!r} is not a finite, non-negative cost")
    return value


def _read_cost_csv(path: Path, metric: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Columns of a cost CSV and a mask of the NB201 indices it lists."""
    space = NB201Space()
    try:
        with _open_text(path) as f:
            reader = csv.reader(f)
            header = [c.strip() for c in next(reader, [])]
            ids = [c for c in ID_COLUMNS if c in header]
            devices = [c for c in header if c not in ID_COLUMNS]
            if not ids or not devices:
                raise DataError(f"{path}, line 1: header {','.join(header)!r} lacks an id or a cost column; {CSV_HINT}")
            if len(set(header)) != len(header):
                raise DataError(f"{path}, line 1: header {','.join(header)!r} names a column twice")
            names = _metric_names(metric, devices)
            position = {c: header.index(c) for c in header}
            values = np.full((len(devices), NUM_ARCHS), np.nan)
            first_line = np.zeros(NUM_ARCHS, dtype=np.int64)
            for row in reader:
                if not row:
                    continue
                line = reader.line_num
                try:
                    if len(row) != len(header):
                        raise ValueError(f"{len(row)} cells but {len(header)} columns in the header")
                    index = _arch_index(space, {c: row[position[c]] for c in ids})
                    if first_line[index]:
                        raise ValueError(f"NB201 index {index} is listed again (first on line {first_line[index]})")
                    values[:, index] = [_number(row[position[c]], c) for c in devices]
                except ValueError as exc:
                    raise DataError(f"{path}, line {line}: {exc}") from None
                first_line[index] = line
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read {path} ({exc})") from None
    return dict(zip(names, values)), first_line > 0


def csv_columns(path: "str | Path", metric: str = DEFAULT_CSV_METRIC) -> dict[str, np.ndarray]:
    """Cost columns of a user CSV; column ``c`` becomes metric ``metric.format(column=c)``."""
    path = require(Path(path), "cost table", CSV_HINT)
    return _read_cost_csv(path, metric)[0]


def help_columns(path: "str | Path") -> dict[str, np.ndarray]:
    """``latency/{device}_ms`` for every device of the HELP latency table (gzipped or plain CSV)."""
    path = require(Path(path), f"HELP latency table {HELP_FILENAME}", HELP_HINT)
    columns, listed = _read_cost_csv(path, DEFAULT_CSV_METRIC)
    if not listed.all():
        missing = np.flatnonzero(~listed)
        raise DataError(f"{path} must list each of the {NUM_ARCHS} NB201 archs once; {len(missing)} are missing "
                        f"(first: index {missing[0]}); re-download it. {HELP_HINT}")
    return columns


class _Unpickler(pickle.Unpickler):
    """Loads plain containers, numbers and numpy arrays only: a pickle can run any code it names."""

    _BUILTINS = frozenset({"dict", "list", "tuple", "set", "frozenset", "int", "float", "complex", "str",
                           "bytes", "bytearray", "bool"})
    _NUMPY = frozenset({("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
                        ("numpy.core.multiarray", "scalar"), ("numpy.core.numeric", "_frombuffer")})

    def __init__(self, file: IO[bytes], path: Path) -> None:
        super().__init__(file)
        self.path = path

    def find_class(self, module: str, name: str):
        if module in ("builtins", "__builtin__") and name in self._BUILTINS:
            return super().find_class(module, name)
        canonical = module.replace("numpy._core", "numpy.core", 1)  # numpy 2 writes numpy._core
        # Protocol-2 pickles store array bytes via _codecs.encode.
        if (canonical, name) in self._NUMPY or (module, name) == ("_codecs", "encode"):
            if canonical.startswith("numpy.core"):
                # Use the installed numpy's name: numpy.core warns on numpy 2, numpy._core is absent before.
                module = canonical.replace("numpy.core", "numpy._core", 1) if _NUMPY2 else canonical
            return super().find_class(module, name)
        raise DataError(f"{self.path} is not a HW-NAS-Bench pickle: it refers to {module}.{name}, which nasgen "
                        f"does not load. {HWNAS_HINT}")


def hwnasbench_columns(path: "str | Path") -> dict[str, np.ndarray]:
    """Latency and energy columns of the official HW-NAS-Bench pickle.

    ``{dataset}/latency/{device}_ms`` and ``{dataset}/energy/{device}_mJ`` for the three
    datasets, plus the CIFAR-10 values as ``latency/{device}_ms`` and ``energy/{device}_mJ``.
    """
    path = require(Path(path), f"HW-NAS-Bench file {HWNAS_FILENAME}", HWNAS_HINT)
    try:
        with open(path, "rb") as f:
            data = _Unpickler(f, path).load()
    except DataError:
        raise
    except Exception as exc:  # a damaged pickle can fail with almost any exception
        raise DataError(f"cannot read {path} ({type(exc).__name__}: {exc}); re-download it. {HWNAS_HINT}") from None
    columns: dict[str, np.ndarray] = {}
    for dataset in HWNAS_DATASETS:
        for family, unit, devices in (("latency", "ms", HWNAS_LATENCY), ("energy", "mJ", HWNAS_ENERGY)):
            for device in devices:
                key = f"{device}_{family}"
                try:
                    values = np.asarray(data["nasbench201"][dataset][key], dtype=np.float64)
                except (KeyError, TypeError, ValueError, IndexError):
                    values = None
                if values is None or values.shape != (NUM_ARCHS,):
                    raise DataError(f"{path}: data['nasbench201'][{dataset!r}][{key!r}] is not a list of {NUM_ARCHS} "
                                    f"numbers, so this is not the HW-NAS-Bench v1.0 layout. {HWNAS_HINT}")
                columns[f"{dataset}/{family}/{device}_{unit}"] = values
                if dataset == "cifar10":
                    columns[f"{family}/{device}_{unit}"] = values.copy()
    return columns
