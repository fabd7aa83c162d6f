"""Local search (White, Nolen, Savani, "Exploring the loss landscape in neural
architecture search", UAI 2021).

Start from the best of ``initial_samples`` random architectures; query every unqueried
neighbour at edit distance 1; move to the best neighbour if it improves on the current
architecture, otherwise (a local optimum) restart from a new random architecture.

Under a cost constraint only feasible architectures count as improvements, so the search
moves between feasible architectures (thesis Sec. 5.3.4: from an infeasible start the first
feasible neighbour is taken; with none, it restarts).
"""
from __future__ import annotations

import logging

import numpy as np

from nasgen.ranges import Int, ranges
from nasgen.search.common import random_unseen, unseen_unique
from nasgen.search.oracle import Oracle
from nasgen.spaces.base import SearchSpace

log = logging.getLogger(__name__)


@ranges("search", initial_samples=Int(1))
class LocalSearch:
    def __init__(self, initial_samples: int = 16) -> None:
        self.initial_samples = initial_samples
        self.stats: dict = {"restarts": 0}

    def run(self, space: SearchSpace, oracle: Oracle, rng: np.random.Generator) -> None:
        start = random_unseen(space, oracle, rng, min(self.initial_samples, oracle.remaining))
        values = oracle.scores(start)
        current, current_value = start[int(np.argmax(values))], float(values.max())
        while oracle.remaining > 0:
            neighbours = unseen_unique(space, oracle, space.neighbours(current))
            rng.shuffle(neighbours)
            neighbours = neighbours[: oracle.remaining]
            if neighbours:
                values = oracle.scores(neighbours)
                best = int(np.argmax(values))
                if values[best] > current_value:
                    current, current_value = neighbours[best], float(values[best])
                    continue
            if oracle.remaining == 0:
                break
            self.stats["restarts"] += 1
            current = random_unseen(space, oracle, rng, 1)[0]
            current_value = float(oracle.scores([current])[0])
