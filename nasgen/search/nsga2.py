"""NSGA-II (Deb, Pratap, Agarwal, Meyarivan, "A fast and elitist multiobjective genetic
algorithm: NSGA-II", IEEE TEVC 2002) for accuracy vs. cost.

Two objectives: the search metric (in the direction of ``objective.maximize``) and
``objective.cost_metric``, minimised. With ``objective.cost_limit`` the constraint is
handled by Deb's constrained domination (violation = cost above the limit). Each
generation picks parents by binary tournament on (front, crowding distance), makes
children by the space's crossover (NB201: uniform crossover of the op tuples) and one mutation, queries them and keeps
the best ``population_size`` of parents and children by fronts and crowding distance.
"""
from __future__ import annotations

import numpy as np

from nasgen.errors import ConfigError
from nasgen.objective import Objective
from nasgen.pareto import crowding_distance, nondominated_ranks
from nasgen.ranges import Float, Int, ranges
from nasgen.search.common import random_unseen
from nasgen.search.oracle import Oracle
from nasgen.spaces.base import Arch, CrossoverSpace, SearchSpace


def _front_crowding(points: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """Crowding distance of each point within its own front."""
    crowding = np.zeros(len(points))
    for front in np.unique(ranks):
        members = np.flatnonzero(ranks == front)
        crowding[members] = crowding_distance(points[members])
    return crowding


@ranges("search", population_size=Int(1), offspring=Int(1), crossover_prob=Float(0.0, 1.0), initial_samples=Int(1),
        max_tries=Int(1))
class NSGA2Search:
    def __init__(self, population_size: int = 16, offspring: int = 16, crossover_prob: float = 0.5,
                 initial_samples: int = 16, max_tries: int = 100) -> None:
        self.population_size, self.offspring = population_size, offspring
        self.crossover_prob, self.initial_samples = crossover_prob, initial_samples
        self.max_tries = max_tries
        self.stats: dict = {"generations": 0, "random_children": 0}

    def check(self, space: SearchSpace, objective: Objective) -> None:
        if self.crossover_prob > 0 and not isinstance(space, CrossoverSpace):
            raise ConfigError(f"search=nsga2 with crossover_prob={self.crossover_prob} needs a space with a "
                              f"crossover, which {space.name} lacks; set search.crossover_prob=0 (mutation only)")
        if objective.cost_metric is None:
            raise ConfigError("search=nsga2 needs objective.cost_metric (e.g. latency/pixel3_ms) as its second "
                              "objective")

    def run(self, space: SearchSpace, oracle: Oracle, rng: np.random.Generator) -> None:
        objective = oracle.objective
        self.check(space, objective)
        sign = 1.0 if objective.maximize else -1.0

        def evaluate(archs: list[Arch]) -> tuple[np.ndarray, np.ndarray]:
            values, costs = oracle.query(archs), oracle.costs(archs)
            violation = np.zeros(len(archs)) if objective.cost_limit is None \
                else np.maximum(costs - objective.cost_limit, 0.0)
            return np.stack([sign * values, -costs], axis=1), violation

        population = random_unseen(space, oracle, rng, min(self.initial_samples, oracle.remaining))
        points, violation = evaluate(population)
        while oracle.remaining > 0:
            ranks = nondominated_ranks(points, violation)
            crowding = _front_crowding(points, ranks)
            children = self._children(space, oracle, rng, population, ranks, crowding,
                                      min(self.offspring, oracle.remaining))
            child_points, child_violation = evaluate(children)
            population = population + children
            points = np.concatenate([points, child_points])
            violation = np.concatenate([violation, child_violation])
            keep = self._survivors(points, violation)
            population = [population[i] for i in keep]
            points, violation = points[keep], violation[keep]
            self.stats["generations"] += 1

    def _survivors(self, points: np.ndarray, violation: np.ndarray) -> np.ndarray:
        """Positions of the ``population_size`` best points: whole fronts first, then the most
        isolated points of the front that does not fit."""
        ranks = nondominated_ranks(points, violation)
        crowding = _front_crowding(points, ranks)
        order = np.lexsort((-crowding, ranks))
        return np.sort(order[: self.population_size])

    def _children(self, space: SearchSpace, oracle: Oracle, rng: np.random.Generator, population: list[Arch],
                  ranks: np.ndarray, crowding: np.ndarray, n: int) -> list[Arch]:
        """``n`` new, pairwise non-isomorphic children of tournament-selected parents."""
        def tournament() -> Arch:
            a, b = rng.integers(len(population), size=2)
            better = (ranks[a], -crowding[a]) <= (ranks[b], -crowding[b])
            return population[a] if better else population[b]

        found: dict = {}
        for _ in range(n * self.max_tries):
            if len(found) >= n:
                break
            child = tournament()
            if rng.random() < self.crossover_prob:
                child = space.crossover(child, tournament(), rng) or child  # no valid child: mutate the parent
            child = space.mutate(child, rng)
            key = space.key(child)
            if key not in found and not oracle.seen(child):
                found[key] = child
        while len(found) < n:  # the parents' neighbourhoods are exhausted
            for arch in random_unseen(space, oracle, rng, n - len(found)):
                if space.key(arch) not in found:
                    found[space.key(arch)] = arch
                    self.stats["random_children"] += 1
        return list(found.values())
