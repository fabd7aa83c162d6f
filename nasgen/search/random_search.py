"""Random search (Li & Talwalkar, 2019): uniform samples of the space."""
from __future__ import annotations

import numpy as np

from nasgen.search.oracle import Oracle
from nasgen.spaces.base import SearchSpace


class RandomSearch:
    def __init__(self, batch_size: int = 16) -> None:
        self.batch_size = batch_size

    def run(self, space: SearchSpace, oracle: Oracle, rng: np.random.Generator) -> None:
        while oracle.remaining > 0:
            batch = [a for a in space.sample(self.batch_size, rng) if not oracle.seen(a)]
            oracle.query(batch[: oracle.remaining])
