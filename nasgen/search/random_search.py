"""Random search (Li & Talwalkar, 2019): uniform samples of the space."""
from __future__ import annotations

import numpy as np

from nasgen.ranges import Int, ranges
from nasgen.search.common import random_unseen
from nasgen.search.oracle import Oracle
from nasgen.spaces.base import SearchSpace


@ranges("search", top_k=Int(1))
class RandomSearch:
    """Queries ``top_k`` new random architectures per iteration until the budget is spent."""

    def __init__(self, top_k: int = 16) -> None:
        self.top_k = top_k

    def run(self, space: SearchSpace, oracle: Oracle, rng: np.random.Generator) -> None:
        while oracle.remaining > 0:
            oracle.query(random_unseen(space, oracle, rng, min(self.top_k, oracle.remaining)))
