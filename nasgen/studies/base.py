"""The study contract and its resumable trial store.

A search spends a budget of benchmark queries through the :class:`~nasgen.search.oracle.Oracle`;
a study trains and measures models on the labelled architectures of a benchmark (or on sampled,
unlabelled ones) and ends in a table and a plot. What the two share is the run: a composed
config, a run directory, a seed, ``results.json``. The pipeline runs a study instead of a search
when the config's ``study`` group is set (``configs/study/``).

A study is a list of trials (one predictor x training size x seed, one generator seed, ...).
Each finished trial is saved at once in ``<run_dir>/trials/`` by :class:`TrialStore`; a killed
study resumed with ``nasgen resume RUN_DIR`` reads them back instead of training again.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol, runtime_checkable

from nasgen.benchmarks.base import Benchmark
from nasgen.objective import Objective
from nasgen.paths import atomic_write
from nasgen.reporting.results import write_json
from nasgen.spaces.base import SearchSpace


class TrialStore:
    """Finished trials of one run, one JSON file per trial in ``folder``: :meth:`trial` runs a
    trial only if its result is not there yet."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.reused = 0

    def path(self, key: str) -> Path:
        """The file of trial ``key`` (any string; long or odd keys are hashed into the name)."""
        safe = "".join(c if c.isalnum() or c in "-_.=" else "_" for c in key)
        if len(safe) > 120 or safe != key:
            safe = f"{safe[:80]}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
        return self.folder / f"{safe}.json"

    def trial(self, key: str, compute: Callable[[], Any]) -> Any:
        """The saved result of trial ``key``, or ``compute()`` saved before it is returned (a
        JSON-serialisable value)."""
        path = self.path(key)
        if path.is_file():
            self.reused += 1
            return json.loads(path.read_text())["result"]
        result = compute()
        write_json(path, {"key": key, "result": result})
        return json.loads(path.read_text())["result"]  # the same value a resumed run reads

    def has_trials(self) -> bool:
        return self.folder.is_dir() and any(self.folder.glob("*.json"))


@dataclass(frozen=True)
class StudyContext:
    """What a study runs on: the run's space, benchmark and objective (``objective.search_metric``
    is what models learn; ``report_metric`` is reported next to it where a study reports
    architectures), its directory, seed and device, and the trial store."""

    space: SearchSpace
    benchmark: Benchmark
    objective: Objective
    run_dir: Path
    seed: int
    device: str
    trials: TrialStore

    def write_text(self, name: str, text: str) -> Path:
        """Write a table or note into the run directory atomically."""
        path = self.run_dir / name
        with atomic_write(path, "w") as f:
            f.write(text)
        return path


@runtime_checkable
class Study(Protocol):
    """Trains and measures models; writes its tables and plots into ``context.run_dir`` and
    returns the keys it adds to ``results.json`` (at least ``outputs``: the files it wrote)."""

    def check(self, space: SearchSpace, benchmark: Benchmark, objective: Objective) -> None:
        """Refuse a space, benchmark or objective the study cannot use, with a
        :class:`~nasgen.errors.ConfigError`, before anything is trained."""

    def __call__(self, context: StudyContext) -> dict: ...
