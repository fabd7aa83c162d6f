"""What a search optimises and what it reports."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nasgen.benchmarks.base import Benchmark, SignedMetrics
from nasgen.errors import ConfigError


@dataclass
class Objective:
    """The search sees only ``search_metric`` (and ``cost_metric``, when set); ``report_metric``
    and ``record`` are logged for every query but never shown to the search loop.

    The published NB201 protocol searches on 200-epoch validation accuracy and reports
    200-epoch test accuracy of the architecture that is best on validation.

    Hardware-aware search (AG-Net Sec. 4.3) adds a cost, e.g. ``latency/pixel3_ms``: with
    ``cost_limit`` an architecture is feasible when its cost is at most the limit, and the
    best architecture is the best feasible one. Whether a search also minimises the cost
    (AG-Net's Joint=1, NSGA-II) is a property of the search.
    """

    search_metric: str
    report_metric: str
    maximize: bool = True
    record: list[str] = field(default_factory=list)
    cost_metric: str | None = None
    cost_limit: float | None = None

    def __post_init__(self) -> None:
        if self.cost_limit is not None:
            if self.cost_metric is None:
                raise ConfigError("objective.cost_limit needs objective.cost_metric (e.g. latency/pixel3_ms)")
            if not self.cost_limit > 0:
                raise ConfigError(f"objective.cost_limit must be > 0, got {self.cost_limit}")
            self.cost_limit = float(self.cost_limit)

    @property
    def metrics(self) -> list[str]:
        """All metrics written to the history, search metric first."""
        cost = [self.cost_metric] if self.cost_metric else []
        return list(dict.fromkeys([self.search_metric, self.report_metric, *cost, *self.record]))

    @property
    def constrained(self) -> bool:
        return self.cost_limit is not None

    def feasible(self, costs: np.ndarray) -> np.ndarray:
        """Whether each cost satisfies the constraint (all true without one)."""
        costs = np.asarray(costs, dtype=float)
        return costs <= self.cost_limit if self.constrained else np.ones(costs.shape, dtype=bool)

    def scores(self, values: np.ndarray, costs: np.ndarray | None = None) -> np.ndarray:
        """Search-metric values turned into "higher is better" scores, ``-inf`` where the
        constraint is violated, so that every comparison prefers feasible architectures."""
        scores = np.asarray(values, dtype=float) * (1.0 if self.maximize else -1.0)
        if self.constrained:
            scores = np.where(self.feasible(costs), scores, -np.inf)
        return scores

    def check(self, benchmark: Benchmark) -> None:
        missing = [m for m in self.metrics if m not in benchmark.metrics]
        if missing:
            raise ConfigError(f"objective metric(s) {', '.join(missing)} not provided by benchmark "
                              f"{benchmark.name}; available: {', '.join(benchmark.metrics)}")
        direction = benchmark.higher_is_better(self.search_metric) if isinstance(benchmark, SignedMetrics) else None
        if direction is not None and direction != self.maximize:
            raise ConfigError(f"objective.maximize={self.maximize} contradicts {self.search_metric}, of which "
                              f"{'higher' if direction else 'lower'} is better; set objective.maximize={direction}")
