"""Proxy values on disk, shared by runs, resumed runs and ``nasgen data score-proxies``.

One folder per proxy and settings: ``$NASGEN_CACHE/proxies/<space>/<proxy>-<hash>/`` with
``settings.json`` (everything that changes a value: the network settings, the input batch, the
seed, the repeats, the proxy's name and :data:`MEASURE_VERSION`; ``<hash>`` is the first 12 hex
digits of the SHA-256 of it), ``<proxy>.csv`` (``arch_id,arch,value,seconds`` rows, appended one
at a time) and, once ``score-proxies`` ran, ``timing.json``.

Appends are line-atomic: each row is one ``write`` on a file opened with ``O_APPEND``, so a kill
leaves at most a torn last line (no newline), which reading ignores and the next append cuts off;
concurrent writers of the same folder at worst store a value twice (the same value: it depends
only on the settings and the architecture). Reading streams the file row by row and keeps only
``{arch id: value}`` floats, so all 15,625 NB201 cells cost a few hundred kB.

Failed design: one folder per shared setting with a CSV per proxy. Proxies scored on their own
network or batch (TE-NAS counts linear regions on a one-channel network and 3x3 inputs) then
needed settings per file, and a settings.json that changed when a proxy was added.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
from pathlib import Path
from typing import Any, Iterator, Mapping

from nasgen.errors import DataError
from nasgen.paths import atomic_write, cache_dir

# Bump when a measure's definition changes: stored values of the older definition are then not reused.
MEASURE_VERSION = 1
COLUMNS = ("arch_id", "arch", "value", "seconds")


class ProxyStore:
    """The stored values of one proxy under one set of settings (see the module docstring).
    ``persist=False`` keeps them in memory only (``benchmark.store=false``)."""

    def __init__(self, space: str, proxy: str, settings: Mapping[str, Any], persist: bool = True,
                 root: "str | os.PathLike | None" = None) -> None:
        self.settings = {"space": space, "proxy": proxy, "measure_version": MEASURE_VERSION, **settings}
        text = json.dumps(self.settings, sort_keys=True)
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        self.proxy, self.persist = proxy, persist
        self.folder = Path(root if root is not None else cache_dir()) / "proxies" / space / f"{proxy}-{digest}"
        self.path = self.folder / f"{proxy}.csv"
        self._values: dict[int, float] | None = None
        self._checked_tail = False

    # -- reading ----------------------------------------------------------------------------
    def rows(self) -> Iterator[tuple[int, str, float, float]]:
        """``(arch id, arch string, value, seconds)`` of every complete row, streamed in file order
        (a torn last line, left by a kill mid-write, is skipped)."""
        if not self.persist or not self.path.is_file():
            return
        with open(self.path, newline="") as handle:
            for number, line in enumerate(handle, 1):
                if not line.endswith("\n"):
                    return  # torn last line
                if number == 1:
                    if tuple(line.rstrip("\r\n").split(",")) != COLUMNS:
                        raise DataError(f"{self.path} is not a proxy value file (header {line.strip()!r}); "
                                        f"delete {self.folder} to score again")
                    continue
                try:
                    arch_id, arch, value, seconds = next(csv.reader([line]))
                    yield int(arch_id), arch, float(value), float(seconds)
                except (ValueError, StopIteration):
                    raise DataError(f"{self.path}, line {number}: malformed row {line.strip()!r}; delete the "
                                    f"line or {self.folder} to score again") from None

    def values(self) -> dict[int, float]:
        """``{arch id: value}`` of every stored architecture (read once, then kept up to date)."""
        if self._values is None:
            self._values = {arch_id: value for arch_id, _, value, _ in self.rows()}
        return self._values

    def get(self, arch_id: int) -> float | None:
        return self.values().get(arch_id)

    def __len__(self) -> int:
        return len(self.values())

    # -- writing ----------------------------------------------------------------------------
    def append(self, arch_id: int, arch: str, value: float, seconds: float) -> None:
        """Store one value (a row on disk, flushed at once when persisting)."""
        values = self.values()
        values[arch_id] = float(value)
        if not self.persist:
            return
        if not self._checked_tail:
            self._prepare_file()
        line = io.StringIO()
        csv.writer(line, lineterminator="\n").writerow([arch_id, arch, repr(float(value)),
                                                         f"{seconds:.6f}" if math.isfinite(seconds) else "nan"])
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            os.write(fd, line.getvalue().encode())
        finally:
            os.close(fd)

    def _prepare_file(self) -> None:
        """Write settings.json and the header of a new file; cut off a torn last line of an old one."""
        self.folder.mkdir(parents=True, exist_ok=True)
        settings_file = self.folder / "settings.json"
        if not settings_file.is_file():
            with atomic_write(settings_file, "w") as handle:
                json.dump(self.settings, handle, indent=1, sort_keys=True)
        size = self.path.stat().st_size if self.path.is_file() else 0
        if size == 0:
            with open(self.path, "a") as handle:
                handle.write(",".join(COLUMNS) + "\n")
        else:
            with open(self.path, "rb+") as handle:
                handle.seek(max(0, size - 65536))
                tail = handle.read()
                if not tail.endswith(b"\n"):
                    handle.truncate(size - len(tail) + tail.rfind(b"\n") + 1)
        self._checked_tail = True

    def write_timing(self, timing: Mapping[str, Any]) -> Path:
        """``timing.json`` beside the values (written whole, atomically)."""
        path = self.folder / "timing.json"
        with atomic_write(path, "w") as handle:
            json.dump(dict(timing), handle, indent=1, sort_keys=True)
        return path
