"""Compact metric tables keyed by architecture index, and their on-disk cache format.

A table is an uncompressed ``.npz`` of float32 arrays, one per metric name, plus a JSON
sidecar with provenance and a SHA-256 of the ``.npz``. ``np.load`` reads members lazily,
so opening a table costs milliseconds and only the metrics used are read.
"""
from __future__ import annotations

import hashlib
import json
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from nasgen.errors import ConfigError, DataError
from nasgen.paths import atomic_write


def sha256(path: "str | Path") -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def files_fingerprint(files: Sequence[Path]) -> str:
    """SHA-256 over the name, size and modification time of ``files``: whether an import of them
    is still current. Contents are not hashed: that would read whole archives (GBs) at every start."""
    digest = hashlib.sha256()
    for file in files:
        try:
            stat = file.stat()
            digest.update(f"{file.name}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{file.name}|missing\n".encode())
    return digest.hexdigest()


def is_current(target: Path, provenance: dict) -> bool:
    """Whether the table ``target`` exists and its sidecar records every item of ``provenance``."""
    if not target.is_file():
        return False
    try:
        recorded = MetricTable(target).provenance
    except ValueError:  # a damaged sidecar: import again
        return False
    return all(recorded.get(k) == v for k, v in provenance.items())


def write_table(path: Path, columns: Mapping[str, np.ndarray], provenance: dict) -> None:
    """Write ``columns`` to ``path`` (.npz) and ``path.with_suffix('.json')`` atomically."""
    with atomic_write(path) as f:
        np.savez(f, **{name: np.asarray(col, dtype=np.float32) for name, col in columns.items()})
    meta = {**provenance, "metrics": sorted(columns), "sha256": sha256(path)}
    with atomic_write(path.with_suffix(".json"), "w") as f:
        json.dump(meta, f, indent=2, sort_keys=True)


class MetricTable:
    """Read-only view of a table written by :func:`write_table`."""

    def __init__(self, path: "str | Path", verify: bool = False) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(f"benchmark table {self.path} not found")
        if verify:
            self.verify()

    @classmethod
    def bundled(cls, name: str) -> "MetricTable":
        """A table shipped inside the package (``nasgen/benchmarks/data/<name>.npz``)."""
        return cls(Path(str(resources.files("nasgen.benchmarks.data").joinpath(f"{name}.npz"))))

    @property
    def name(self) -> str:
        """Where the values come from: the imported source path, else the table's file name."""
        return self.provenance.get("path") or self.path.name

    @cached_property
    def provenance(self) -> dict:
        sidecar = self.path.with_suffix(".json")
        return json.loads(sidecar.read_text()) if sidecar.is_file() else {}

    @cached_property
    def _npz(self):
        try:
            return np.load(self.path)
        except (OSError, ValueError) as exc:
            raise DataError(f"benchmark table {self.path} is unreadable ({exc}); re-import it") from None

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(self._npz.files)

    def column(self, metric: str) -> np.ndarray:
        if metric not in self._npz.files:
            raise ConfigError(
                f"metric {metric!r} is not in {self.path.name}; available: {', '.join(self.metrics)}"
            )
        if metric not in self._columns:
            self._columns[metric] = self._npz[metric]
        return self._columns[metric]

    @cached_property
    def _columns(self) -> dict[str, np.ndarray]:
        return {}

    def gaps(self, rows: int) -> str | None:
        """What the table lacks for a complete index ``0..rows-1`` (``None`` if nothing): how many
        architectures have values, for which metrics, and the first missing indices."""
        counts = {m: int(np.count_nonzero(~np.isnan(self.column(m)))) for m in self.metrics}
        partial = {m: n for m, n in counts.items() if n < rows}
        if not partial:
            return None
        by_count: dict[int, list[str]] = {}
        for metric, count in sorted(partial.items()):
            by_count.setdefault(count, []).append(metric)
        parts = [f"{count} of {rows} architectures have values for {_list(metrics)}"
                 for count, metrics in sorted(by_count.items())]
        sparsest = min(partial, key=partial.__getitem__)
        missing = np.flatnonzero(np.isnan(self.column(sparsest)))
        return (f"{self.name} is incomplete: {'; '.join(parts)} (e.g. no {sparsest} for index "
                f"{', '.join(map(str, missing[:5]))}{' ...' if len(missing) > 5 else ''})")

    def verify(self) -> None:
        """Check the stored SHA-256; raise :class:`DataError` on mismatch."""
        expected = self.provenance.get("sha256")
        if expected is None:
            raise DataError(f"{self.path} has no checksum sidecar ({self.path.with_suffix('.json').name})")
        actual = sha256(self.path)
        if actual != expected:
            raise DataError(f"{self.path} is corrupt: sha256 {actual} != recorded {expected}; re-import it")


def _list(names: Sequence[str], shown: int = 4) -> str:
    """``a, b, c, d and 7 more metrics``: long metric lists stay one readable line."""
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more metric{'s' * (more > 1)}" if more > 0 else "")


class TableStack:
    """Read-only lookup over several tables: a metric comes from the first table that has it."""

    def __init__(self, tables: Sequence[MetricTable]) -> None:
        self.tables = tuple(tables)

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m for table in self.tables for m in table.metrics))

    @property
    def name(self) -> str:
        return " + ".join(table.name for table in self.tables)

    def table_of(self, metric: str) -> MetricTable:
        for table in self.tables:
            if metric in table.metrics:
                return table
        raise ConfigError(f"metric {metric!r} is not in {self.name}; available: {', '.join(self.metrics)}")

    def column(self, metric: str) -> np.ndarray:
        return self.table_of(metric).column(metric)
