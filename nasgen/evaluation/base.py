"""Evaluation-suite interface: what runs after the search and adds its keys to results.json."""
from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from nasgen.benchmarks.base import Benchmark
from nasgen.objective import Objective
from nasgen.search.oracle import Oracle


@runtime_checkable
class EvaluationSuite(Protocol):
    """Called once the search is complete; returns the keys it adds to ``results.json``."""

    def __call__(self, oracle: Oracle, benchmark: Benchmark, run_dir: Path) -> dict: ...


@runtime_checkable
class CheckedSuite(Protocol):
    """A suite that cannot evaluate every run: ``check`` refuses an objective or benchmark it
    cannot handle with a :class:`~nasgen.errors.ConfigError`, before the search is paid for."""

    def check(self, objective: Objective, benchmark: Benchmark) -> None: ...
