"""Regularized evolution (Real, Aggarwal, Huang, Le, "Regularized evolution for image
classifier architecture search", AAAI 2019).

A population of the ``population_size`` most recently queried architectures; each
step draws ``sample_size`` of them, mutates the best (one op / edge changed) and
queries the child; the oldest member dies. ``top_k`` children are made per
step so that the per-iteration batch can match other methods' top-k. Under a cost
constraint infeasible members lose every tournament.
"""
from __future__ import annotations

from collections import deque

import numpy as np

from nasgen.ranges import Int, ranges
from nasgen.search.common import random_unseen
from nasgen.search.oracle import Oracle
from nasgen.spaces.base import Arch, SearchSpace


@ranges("search", population_size=Int(1), sample_size=Int(1), initial_samples=Int(1), top_k=Int(1),
        max_mutation_tries=Int(1))
class RegularizedEvolution:
    def __init__(self, population_size: int = 30, sample_size: int = 10, initial_samples: int = 30,
                 top_k: int = 1, max_mutation_tries: int = 100) -> None:
        self.population_size, self.sample_size = population_size, sample_size
        self.initial_samples, self.top_k = initial_samples, top_k
        self.max_mutation_tries = max_mutation_tries

    def run(self, space: SearchSpace, oracle: Oracle, rng: np.random.Generator) -> None:
        initial = random_unseen(space, oracle, rng, min(self.initial_samples, oracle.remaining))
        population = deque(zip(initial, oracle.scores(initial)), maxlen=self.population_size)
        while oracle.remaining > 0:
            children, taken = [], set()
            for _ in range(min(self.top_k, oracle.remaining)):
                members = rng.choice(len(population), size=min(self.sample_size, len(population)), replace=False)
                parent = max((population[i] for i in members), key=lambda member: member[1])[0]
                children.append(self._mutate_unseen(space, oracle, rng, parent, taken))
            for child, value in zip(children, oracle.scores(children)):
                population.append((child, value))  # maxlen drops the oldest

    def _mutate_unseen(self, space: SearchSpace, oracle: Oracle, rng: np.random.Generator, parent: Arch,
                       taken: set) -> Arch:
        """A mutation of ``parent`` that is new (to the oracle and to this step's children)."""
        for _ in range(self.max_mutation_tries):
            child = space.mutate(parent, rng)
            key = space.key(child)
            if key not in taken and not oracle.seen(child):
                taken.add(key)
                return child
        return random_unseen(space, oracle, rng, 1)[0]  # the parent's neighbourhood is exhausted
