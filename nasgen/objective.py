"""What a search optimises and what it reports."""
from __future__ import annotations

from dataclasses import dataclass, field

from nasgen.benchmarks.base import Benchmark
from nasgen.errors import ConfigError


@dataclass
class Objective:
    """The search sees only ``search_metric``; ``report_metric`` (and ``record``) are logged
    for every query but never shown to the search loop.

    The published NB201 protocol searches on 200-epoch validation accuracy and reports
    200-epoch test accuracy of the architecture that is best on validation.
    """

    search_metric: str
    report_metric: str
    maximize: bool = True
    record: list[str] = field(default_factory=list)

    @property
    def metrics(self) -> list[str]:
        """All metrics written to the history, search metric first."""
        return list(dict.fromkeys([self.search_metric, self.report_metric, *self.record]))

    def check(self, benchmark: Benchmark) -> None:
        missing = [m for m in self.metrics if m not in benchmark.metrics]
        if missing:
            raise ConfigError(f"objective metric(s) {', '.join(missing)} not provided by benchmark "
                              f"{benchmark.name}; available: {', '.join(benchmark.metrics)}")
