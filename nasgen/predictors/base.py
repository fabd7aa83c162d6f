"""The predictor contract shared by AG-Net and the model-based searches: one small protocol,
:class:`Predictor`, and capability protocols that a search checks with ``isinstance``.

Every predictor learns a map from architecture vectors ``x`` ``[N, D]`` (an encoding of the
space: :meth:`SearchSpace.encode` or :meth:`PathEncodedSpace.encode_paths`) to a target ``y``
``[N]``. What some predictors can do beyond that is a capability:

- :class:`UncertainPredictor`: a predictive standard deviation (acquisitions ``its``, ``ucb``,
  ``ei`` of the model-based searches);
- :class:`DifferentiablePredictor`: a torch module that AG-Net trains jointly with its generator
  and backpropagates through;
- :class:`LogExpectedImprovement`: computes log expected improvement itself (BoTorch's GP);
- :class:`RankLossPredictor`: a rank loss differentiable into the generator's graph scores
  (AG-Net's "XGB + ranking");
- :class:`EpochwisePredictor`: training that can be watched epoch by epoch (the zero-shot
  study logs the test error after every epoch).

The factories of the ``predictor`` config group are called with the space's
:class:`~nasgen.spaces.base.GraphSpec` as their first argument (``make_predictor(space.graph)``):
a graph network (:class:`~nasgen.predictors.gnn.GNNPredictor`) needs the node types, node count
and cells to read the flat vector, and the others size themselves by ``graph.vector_dim`` or
ignore it. ``graph=None`` is stand-alone use: vector predictors are then sized at their first
:meth:`Predictor.fit`. The factories used to take the vector width (``input_dim``), which told a
graph network too little.

An earlier design had three contracts: torch modules for AG-Net, ``fit(x, y, generator)`` /
``predict -> (mean, std)`` surrogates for the model-based loops (with zeros as the "std" of
models that have none, so an acquisition silently treated them as certain), and a third wrapper
for the predictor-quality study. One contract lets every predictor serve every consumer, and a
missing capability is refused up front instead of being faked.
"""
from __future__ import annotations

from typing import Iterator, Protocol, runtime_checkable

import numpy as np
import torch

from nasgen.generators.base import GraphScores


@runtime_checkable
class Predictor(Protocol):
    """Learns ``x`` ``[N, D]`` -> ``y`` ``[N]`` from scratch at every :meth:`fit`.

    ``weights`` (``[N]``, non-negative; ``None``: all equal) weigh each sample's loss, e.g.
    AG-Net's rank weights; a model that cannot honour non-uniform weights refuses them with a
    :class:`~nasgen.errors.ConfigError`. ``generator`` seeds everything random in the fit (the
    search's seed decides it); ``None``: a fixed default.
    """

    def fit(self, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None,
            generator: torch.Generator | None = None) -> None: ...

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted mean ``[N]`` (float64) in the units of the training targets."""


@runtime_checkable
class UncertainPredictor(Predictor, Protocol):
    """A predictor with a Gaussian predictive distribution."""

    def predict_distribution(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, std)``, each ``[N]``; ``mean`` equals :meth:`predict`."""


@runtime_checkable
class DifferentiablePredictor(Predictor, Protocol):
    """A torch module whose ``forward`` maps float vectors ``[B, D]`` to ``[B]``; gradients flow
    into whatever produced the vectors. AG-Net trains it jointly with its generator and never
    calls :meth:`fit` (which trains it alone, e.g. in the predictor-quality study)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor: ...

    def parameters(self, recurse: bool = True) -> Iterator[torch.nn.Parameter]: ...

    def train(self, mode: bool = True) -> "DifferentiablePredictor": ...

    def eval(self) -> "DifferentiablePredictor": ...

    def to(self, *args, **kwargs) -> "DifferentiablePredictor": ...


@runtime_checkable
class LogExpectedImprovement(Protocol):
    """A predictor that computes log expected improvement over its best training target itself
    (BoTorch's GP: numerically robust far below the incumbent)."""

    def log_expected_improvement(self, x: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class RankLossPredictor(Protocol):
    """A predictor whose ranking of generated graphs can be trained into the generator."""

    def rank_loss(self, scores: GraphScores, targets: torch.Tensor) -> torch.Tensor:
        """Per-sample rank loss of the graphs of ``scores`` against their paired ``targets``,
        differentiable into ``scores``."""



@runtime_checkable
class EpochwisePredictor(Predictor, Protocol):
    """A predictor trained in epochs whose training can be watched."""

    def fit_epochs(self, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None,
                   generator: torch.Generator | None = None) -> Iterator[int]:
        """Train as :meth:`Predictor.fit` does, yielding the number of finished epochs after each
        one; :meth:`Predictor.predict` may be called between yields."""
