"""The benchmark interface: ground truth for architectures."""
from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from nasgen.spaces.base import Arch, SearchSpace


@runtime_checkable
class Benchmark(Protocol):
    """Answers metric queries for architectures of one search space.

    Metric names are explicit about dataset, split and epoch budget, e.g.
    ``cifar10/valid_acc@200``, ``cifar100/test_acc@12``, ``latency/pixel3_ms``.
    """

    name: str
    space: SearchSpace  # the space whose architectures it answers for

    @property
    def metrics(self) -> tuple[str, ...]: ...

    def query(self, archs: Sequence[Arch], metric: str) -> np.ndarray:
        """Values of ``metric`` for ``archs`` (float64; NaN where the source has no value)."""

    def optimum(self, metric: str, maximize: bool = True) -> float | None:
        """Best value of ``metric`` over the whole space, if known."""


@runtime_checkable
class TabularBenchmark(Protocol):
    """A benchmark holding a value of each metric for every architecture it knows, as a table:
    the best one is known without searching (the optimum lines of plots and reports), and the
    architectures it knows can be listed (e.g. for predictor-quality studies on labelled cells)."""

    def column(self, metric: str) -> np.ndarray:
        """Values of ``metric`` for every row of the table (float64, NaN where missing)."""

    def arch_at(self, row: int) -> Arch:
        """The architecture of a row of the table."""

    def best_arch(self, metric: str, maximize: bool = True) -> Arch: ...

    def archs(self) -> list[Arch]:
        """Every architecture of the table, in row order."""


class TableLookups:
    """Mixin: :meth:`optimum`, :meth:`best_arch` and :meth:`archs` of a :class:`TabularBenchmark`
    from its ``column`` and ``arch_at`` (the first row wins ties)."""

    def optimum(self, metric: str, maximize: bool = True) -> float | None:
        column = self.column(metric)
        return float(np.nanmax(column) if maximize else np.nanmin(column))

    def best_arch(self, metric: str, maximize: bool = True) -> Arch:
        column = self.column(metric)
        return self.arch_at(int(np.nanargmax(column) if maximize else np.nanargmin(column)))

    def archs(self) -> list[Arch]:
        return [self.arch_at(row) for row in range(len(self.column(self.metrics[0])))]


@runtime_checkable
class PartialBenchmark(Protocol):
    """A benchmark that may not hold every architecture of its space (a table of a subset, e.g.
    the 500 labelled NB101 cells). ``skip_missing`` decides what a search does with a cell it
    lacks: ``False`` -> a query of it fails naming the cell; ``True`` -> the cell counts as not
    evaluable, and searches pass over it without paying (never offered to them)."""

    skip_missing: bool

    def evaluable(self, archs: Sequence[Arch]) -> np.ndarray:
        """Per architecture, whether the benchmark holds its values (bool array)."""

    @property
    def evaluable_count(self) -> int:
        """Distinct architectures with values: the most queries a search can pay for."""


@runtime_checkable
class SurrogateBenchmark(Protocol):
    """A benchmark whose values are a model's predictions, not measurements (NAS-Bench-301): the
    protocol of every result names the model, so no one mistakes them for trained accuracies."""

    surrogate: str  # the model, e.g. "YAHPO-Gym v2 nb301 ONNX surrogate"


@runtime_checkable
class MetricUnits(Protocol):
    """A benchmark that says the unit of each metric (``%``, ``ms``, ``s``, ...), so that a search
    can put a metric on a fixed scale without a unit in its own config."""

    def unit(self, metric: str) -> str | None: ...


@runtime_checkable
class SignedMetrics(Protocol):
    """A benchmark whose metrics may declare which direction is better (a training-free proxy's
    sign), so that an objective searching in the other direction is refused before the search."""

    def higher_is_better(self, metric: str) -> bool | None:
        """True / False where the metric declares its direction, None where it does not."""


@runtime_checkable
class ProtocolSettings(Protocol):
    """A benchmark whose values depend on settings that a result's protocol must name (a proxy's
    network, input batch and seed), so that two results say whether they are comparable."""

    def protocol(self, metrics: Sequence[str]) -> dict[str, Any]:
        """The settings behind ``metrics`` (the objective's), for results.json's protocol."""


# nasgen's metric names end in their kind: cifar10/valid_acc@200, latency/pixel3_ms, params_M, ...
_SUFFIX_UNITS = (("_acc", "%"), ("_ms", "ms"), ("_mJ", "mJ"), ("train_seconds", "s"), ("flops_M", "MFLOPs"),
                 ("params_M", "M parameters"))


def unit_from_name(metric: str) -> str | None:
    """The unit a nasgen metric name states by its last part (``None`` for names without one)."""
    leaf = metric.rsplit("/", 1)[-1].split("@", 1)[0]
    return next((unit for suffix, unit in _SUFFIX_UNITS if leaf.endswith(suffix)), None)


class UnitsFromNames:
    """Mixin: :class:`MetricUnits` for a benchmark whose metric names follow nasgen's convention."""

    def unit(self, metric: str) -> str | None:
        return unit_from_name(metric)


@runtime_checkable
class FreeMetrics(Protocol):
    """A benchmark some of whose metrics cost next to nothing beside a paid query: training-free
    proxies of a freshly initialised network (``proxy/synflow``), read from a store or computed in
    seconds. A search may read these for any candidate, through :meth:`Oracle.free_values
    <nasgen.search.oracle.Oracle.free_values>`, without spending budget (e.g. as extra predictor
    features); every other metric is paid for through :meth:`Oracle.query`, the single gate."""

    @property
    def free_metrics(self) -> tuple[str, ...]:
        """The metrics that may be read without paying (a subset of :attr:`Benchmark.metrics`)."""
