"""Predictor interface: architecture vectors -> predicted target."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class Predictor(Protocol):
    """A performance predictor.

    Differentiable predictors are torch modules mapping ``[B, D]`` vectors to ``[B]``
    predictions; gradients flow into whatever produced the vectors (e.g. a generator).
    """

    differentiable: bool

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...
