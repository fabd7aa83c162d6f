"""The benchmark interface: ground truth for architectures."""
from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from nasgen.spaces.base import Arch


@runtime_checkable
class Benchmark(Protocol):
    """Answers metric queries for architectures of one search space.

    Metric names are explicit about dataset, split and epoch budget, e.g.
    ``cifar10/valid_acc@200``, ``cifar100/test_acc@12``, ``latency/pixel3_ms``.
    """

    name: str

    @property
    def metrics(self) -> tuple[str, ...]: ...

    def query(self, archs: Sequence[Arch], metric: str) -> np.ndarray:
        """Values of ``metric`` for ``archs`` (float64; NaN where the source has no value)."""

    def optimum(self, metric: str, maximize: bool = True) -> float | None:
        """Best value of ``metric`` over the whole space, if known."""
