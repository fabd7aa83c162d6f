"""The single gate between search loops and the benchmark.

Every query passes the :class:`Oracle`: it counts queries against the budget, serves
isomorphic duplicates from memory at no cost, and appends each paid query to
``history.csv`` as it happens (one row per query, one column per recorded metric, each row
pushed to disk before the search goes on).
When a run directory already holds a history (a killed run being resumed), those
queries are replayed from disk instead of being paid again.
"""
from __future__ import annotations

import csv
import logging
import os
import time
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Callable, Hashable, Iterator, Sequence

import numpy as np

from nasgen.benchmarks.base import Benchmark, FreeMetrics, PartialBenchmark, TabularBenchmark
from nasgen.errors import ConfigError, DataError
from nasgen.objective import Objective
from nasgen.paths import atomic_write
from nasgen.spaces.base import Arch, IndexedSpace, SearchSpace

log = logging.getLogger(__name__)


def incumbent_positions(scores: np.ndarray, maximize: bool = True) -> np.ndarray:
    """For each prefix of ``scores``, the position of its best value (the earliest on ties)."""
    scores = np.asarray(scores, dtype=float) if maximize else -np.asarray(scores, dtype=float)
    improved = np.concatenate([[True], scores[1:] > np.maximum.accumulate(scores)[:-1]]) if len(scores) else []
    return np.maximum.accumulate(np.where(improved, np.arange(len(scores)), 0)).astype(int)


def _parse_row(line: bytes, columns: list[str], metrics: Sequence[str]) -> dict | None:
    """The row in one terminated line of a history, or ``None`` if it is not a complete row."""
    try:
        fields = next(csv.reader([line.decode()]))
        row = dict(zip(columns, fields))
        if len(fields) != len(columns) or not row["arch"] or float(row["wall_time_s"]) < 0:
            return None
        int(row["query"])
        for metric in metrics:
            float(row[metric])
    except (ValueError, StopIteration):
        return None
    return row


class BudgetExhausted(Exception):
    """Raised when a search asks for more new architectures than the budget allows."""


class Oracle:
    def __init__(self, space: SearchSpace, benchmark: Benchmark, objective: Objective, budget: int,
                 history_path: "str | Path | None" = None) -> None:
        self.space, self.benchmark, self.objective, self.budget = space, benchmark, objective, budget
        self.columns = ["query", "arch", "index", *objective.metrics, "wall_time_s"]
        self.records: list[dict] = []
        self._indexed = isinstance(space, IndexedSpace)
        # A partial table that skips what it lacks: its missing cells are never offered to searches.
        self._skips_missing = isinstance(benchmark, PartialBenchmark) and benchmark.skip_missing
        self._evaluable: dict[Hashable, bool] = {}
        self._value_of: dict[Hashable, float] = {}
        self._cost_of: dict[Hashable, float] = {}
        self._replay: dict[Hashable, dict] = {}
        self._start = time.perf_counter()
        self._file = None
        self._variants: Callable[[Arch], list[Arch]] | None = None
        # free metrics read (:meth:`free_values`): never paid, their wall time kept apart
        self.free_reads, self.free_seconds = 0, 0.0
        # where the run keeps its files: a search that checkpoints its own state puts it beside
        self.history_path = None if history_path is None else Path(history_path)
        if self.history_path is not None:
            self._open(self.history_path)

    # -- history on disk ----------------------------------------------------------------
    def _open(self, path: Path) -> None:
        if path.is_file() and path.stat().st_size > 0:
            for row in self._read_history(path):
                key = self.space.key(self.space.from_str(row["arch"]))
                if key in self._replay:
                    raise DataError(f"{path} holds the architecture of query {self._replay[key]['query']} again in "
                                    f"query {row['query']}: it was written by two runs at once; start a new run")
                self._replay[key] = row
            log.info("resuming: %d paid queries in %s will be replayed, not re-queried", len(self._replay), path)
            self._file = open(path, "a", newline="")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "w", newline="")
            self._append(self.columns)

    def _read_history(self, path: Path) -> list[dict]:
        """The complete rows of a history. A row is complete when its line ends: a killed run
        may leave its last row without one (cut anywhere, even inside the last number), and
        that row is dropped from the file so the next row starts on a line of its own. Any
        other malformed line means the file was damaged, and is refused.

        An earlier version parsed the file with ``csv.DictReader`` and kept a last row whose
        values all parsed: a row cut inside its last field passed, and the next row written
        was fused onto it."""
        data = path.read_bytes()
        complete_end = data.rfind(b"\n") + 1  # everything after the last line end is a torn row
        lines = data[:complete_end].splitlines()
        header = next(csv.reader([lines[0].decode(errors="replace")])) if lines else []
        if header != self.columns:
            raise DataError(f"{path} was written with columns {header}, this run records "
                            f"{self.columns}; resume with the same config or use a new run directory")
        rows = []
        for number, line in enumerate(lines[1:], start=2):
            row = _parse_row(line, self.columns, self.objective.metrics)
            if row is None:
                raise DataError(f"line {number} of {path} is not a complete history row; the file was "
                                f"damaged: start a new run")
            rows.append(row)
        if complete_end < len(data):  # the run was killed while writing its last row
            log.warning("dropping the unfinished last row of %s; that query will be paid again", path)
            with atomic_write(path, "wb") as f:
                f.write(data[:complete_end])
        return rows

    def _append(self, fields: list) -> None:
        """Write one line of the history and push it to disk: a row that is in the file is paid
        for, whatever happens to the process or the machine next."""
        csv.writer(self._file).writerow(fields)
        self._file.flush()
        os.fsync(self._file.fileno())

    def in_history(self, arch: Arch) -> bool:
        """Whether ``arch`` (or an isomorphic one) was paid for in the history being resumed and
        not replayed yet: a search restoring a checkpoint checks that every query it holds will be
        replayed, not paid again."""
        return self.space.key(arch) in self._replay

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._replay:
            log.warning("%d queries of the resumed history were not requested again", len(self._replay))

    # -- queries ----------------------------------------------------------------------
    @property
    def spent(self) -> int:
        return len(self.records)

    @property
    def remaining(self) -> int:
        return self.budget - self.spent

    @contextmanager
    def budget_cap(self, queries: int) -> Iterator[None]:
        """Within the block at most ``queries`` more paid queries (never beyond the run's budget):
        a search in phases (cell by cell) gives each phase its part, and a phase's loop ends
        the way it ends at the run's budget (:attr:`remaining` reaches 0, :class:`BudgetExhausted`)."""
        budget = self.budget
        self.budget = min(budget, self.spent + queries)
        try:
            yield
        finally:
            self.budget = budget

    @contextmanager
    def averaged_over(self, variants: Callable[[Arch], list[Arch]]) -> Iterator[None]:
        """Within the block a paid query of ``arch`` is worth the mean, per metric, of the benchmark's
        values of ``variants(arch)`` (e.g. a reduction cell with each of 3 fixed normal cells, the
        training-free AG-Net protocol on DARTS): one query of the budget, recorded under ``arch``
        (a replayed one is not measured again). ``variants`` must be deterministic, so that a
        resumed run replays the same values."""
        self._variants = variants
        try:
            yield
        finally:
            self._variants = None

    def _measure(self, archs: list[Arch], metric: str) -> np.ndarray:
        if self._variants is None:
            return self.benchmark.query(archs, metric)
        groups = [self._variants(a) for a in archs]
        values = self.benchmark.query([v for group in groups for v in group], metric)
        bounds = np.cumsum([0] + [len(group) for group in groups])
        return np.array([values[lo:hi].mean() for lo, hi in zip(bounds[:-1], bounds[1:])])

    def free_values(self, archs: Sequence[Arch], metrics: Sequence[str]) -> np.ndarray:
        """Values ``[len(archs), len(metrics)]`` of metrics the benchmark declares free
        (:class:`~nasgen.benchmarks.base.FreeMetrics`: training-free proxies), for any
        architecture, queried or not: neither counted against the budget nor recorded in the
        history; their wall time is summed apart (:attr:`free_seconds`). Any other metric is refused:
        paid values pass :meth:`query` only."""
        free = self.benchmark.free_metrics if isinstance(self.benchmark, FreeMetrics) else ()
        refused = [m for m in metrics if m not in free]
        if refused:
            raise ConfigError(f"{', '.join(refused)} cannot be read without paying: benchmark {self.benchmark.name} "
                              f"declares free only {', '.join(free) or 'none'}")
        started = time.perf_counter()
        values = np.stack([np.asarray(self.benchmark.query(list(archs), m), dtype=np.float64) for m in metrics], 1) \
            if len(archs) and len(metrics) else np.empty((len(archs), len(metrics)))
        self.free_reads += len(archs) * len(metrics)
        self.free_seconds += time.perf_counter() - started
        return values

    @cached_property
    def evaluable_archs(self) -> list[Arch] | None:
        """Every architecture a partial table with ``skip_missing`` holds (``None`` otherwise):
        random draws come from these, since random cells of the space are almost never in a small
        table (NB101: 292 labelled cells of 423,624)."""
        if self._skips_missing and isinstance(self.benchmark, TabularBenchmark):
            return self.benchmark.archs()
        return None

    def seen(self, arch: Arch) -> bool:
        """Whether ``arch`` or an isomorphic architecture was queried already, or cannot be: a
        partial benchmark with ``skip_missing`` lacks it. Searches propose only architectures not
        seen, so they pass over the missing ones without paying."""
        key = self.space.key(arch)
        if key in self._value_of:
            return True
        if not self._skips_missing:
            return False
        evaluable = self._evaluable.get(key)
        if evaluable is None:
            evaluable = self._evaluable[key] = bool(self.benchmark.evaluable([arch])[0])
        return not evaluable

    def query(self, archs: Sequence[Arch]) -> np.ndarray:
        """Search-metric values of ``archs``; raises :class:`BudgetExhausted` once the budget is
        spent (the archs before that point are still queried and recorded)."""
        keys = [self.space.key(a) for a in archs]
        new: dict[Hashable, Arch] = {}
        for arch, key in zip(archs, keys):
            if key not in self._value_of and key not in new:
                new[key] = arch
        allowed = list(new.items())[: max(self.remaining, 0)]
        fresh = [(k, a) for k, a in allowed if k not in self._replay]
        if fresh:
            values = {m: self._measure([a for _, a in fresh], m) for m in self.objective.metrics}
            computed = {k: {m: float(values[m][i]) for m in values} for i, (k, _) in enumerate(fresh)}
        for key, arch in allowed:
            if key in self._replay:
                row = self._replay.pop(key)
                self._record(arch, key, {m: float(row[m]) for m in self.objective.metrics},
                             float(row["wall_time_s"]), write=False)
            else:
                self._record(arch, key, computed[key], time.perf_counter() - self._start, write=True)
        if len(allowed) < len(new):
            raise BudgetExhausted(f"budget of {self.budget} queries spent")
        return np.array([self._value_of[k] for k in keys])

    def costs(self, archs: Sequence[Arch]) -> np.ndarray:
        """Cost-metric values of already queried ``archs`` (measured with the query, free to read)."""
        if not self.objective.cost_metric:
            raise ValueError("the objective has no cost_metric")
        return np.array([self._cost_of[self.space.key(a)] for a in archs])

    def peek(self, archs: Sequence[Arch]) -> np.ndarray:
        """Search-metric values straight from the benchmark, neither paid nor recorded: only for
        upper-bound ablations such as AG-Net with the benchmark as its predictor."""
        return self.benchmark.query(list(archs), self.objective.search_metric)

    def scores(self, archs: Sequence[Arch]) -> np.ndarray:
        """Query ``archs`` and return :meth:`Objective.scores`: higher is better, ``-inf`` where
        the cost constraint is violated."""
        values = self.query(archs)
        return self.objective.scores(values, self.costs(archs) if self.objective.constrained else None)

    def _record(self, arch: Arch, key: Hashable, values: dict[str, float], wall: float, write: bool) -> None:
        record = {"query": self.spent + 1, "arch": self.space.to_str(arch),
                  "index": self.space.index(arch) if self._indexed else "", **values, "wall_time_s": round(wall, 4)}
        self.records.append(record)
        self._value_of[key] = values[self.objective.search_metric]
        if self.objective.cost_metric:
            self._cost_of[key] = values[self.objective.cost_metric]
        if write and self._file is not None:
            self._append([record[c] for c in self.columns])

    # -- summaries --------------------------------------------------------------------
    def values(self, metric: str) -> np.ndarray:
        return np.array([r[metric] for r in self.records], dtype=float)

    def feasible(self) -> np.ndarray:
        """Per query, whether the architecture satisfies the cost constraint."""
        objective = self.objective
        return objective.feasible(self.values(objective.cost_metric)) if objective.constrained \
            else np.ones(self.spent, dtype=bool)

    def incumbents(self) -> np.ndarray:
        """Per query, the position of the best record so far by the search metric (the best
        feasible one under a cost constraint; the first query while none is feasible)."""
        objective = self.objective
        costs = self.values(objective.cost_metric) if objective.constrained else None
        return incumbent_positions(objective.scores(self.values(objective.search_metric), costs))
