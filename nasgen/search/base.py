"""Search-loop interface."""
from __future__ import annotations

from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

from nasgen.objective import Objective
from nasgen.search.oracle import Oracle
from nasgen.spaces.base import GraphSpec, SearchSpace


@runtime_checkable
class SearchLoop(Protocol):
    """Proposes architectures and queries them through the oracle until its budget is spent."""

    def run(self, space: SearchSpace, oracle: Oracle, rng: np.random.Generator) -> None: ...


@runtime_checkable
class CheckedSearch(Protocol):
    """A search loop that cannot search every space or objective: ``check`` refuses the ones it
    cannot, with a :class:`~nasgen.errors.ConfigError`. The pipeline calls it before anything
    is pretrained or queried; ``run`` calls it too, for loops used from Python."""

    def check(self, space: SearchSpace, objective: Objective) -> None: ...


@runtime_checkable
class GenerativeSearch(Protocol):
    """A search whose generator builds one cell graph (AG-Net, latent-space search): on a space of
    several cell types (DARTS) a run wraps it in :class:`~nasgen.search.cell_by_cell.CellByCellSearch`."""

    make_generator: Callable[[GraphSpec], Any]


@runtime_checkable
class ReportingSearch(Protocol):
    """A search loop that keeps statistics of its run (iterations, restarts, its pretrained
    generator, ...): they go into ``results.json`` under ``search_stats``."""

    stats: dict
