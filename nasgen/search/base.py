"""Search-loop interface."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from nasgen.search.oracle import Oracle
from nasgen.spaces.base import SearchSpace


@runtime_checkable
class SearchLoop(Protocol):
    """Proposes architectures and queries them through the oracle until its budget is spent."""

    def run(self, space: SearchSpace, oracle: Oracle, rng: np.random.Generator) -> None: ...
