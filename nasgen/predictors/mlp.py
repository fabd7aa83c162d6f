"""MLP performance predictor on flat architecture vectors (AG-Net's predictor)."""
from __future__ import annotations

import torch
from torch import nn

from nasgen.models.gnn import mlp
from nasgen.predictors.training import TorchRegressor
from nasgen.spaces.base import GraphSpec


class MLPPredictor(TorchRegressor):
    """``layers`` fully connected layers with ReLU; hidden size defaults to the input size.

    AG-Net uses 4 layers with hidden size = input size (84 on NAS-Bench-201) and trains the
    module jointly with its generator, in its own target units (``search.target_scale``).

    On its own (:meth:`fit`) the network is re-initialised and trained on the standardised
    targets (:class:`~nasgen.predictors.training.TorchRegressor`). The stand-alone version first
    scaled the targets by a fixed 0.01 ("accuracy in % -> [0, 1]"), which assumed the unit of one
    metric; standardising is unit- and space-agnostic. ``graph``: the network reads its flat
    vectors (``graph.vector_dim`` wide); ``None`` builds the network at the first :meth:`fit` for
    the width of its inputs (any encoding, e.g. the path encoding).
    """

    def __init__(self, graph: GraphSpec | None = None, layers: int = 4, hidden_dim: int | None = None,
                 epochs: int = 300, lr: float = 1e-3, batch_size: int = 32) -> None:
        super().__init__(epochs, lr, batch_size)
        self.layers, self.hidden_dim = layers, hidden_dim
        self.net: nn.Sequential | None = None
        if graph is not None:
            self.reset(graph.vector_dim)

    def reset(self, input_dim: int) -> None:
        hidden = self.hidden_dim or input_dim
        self.net = mlp([input_dim] + [hidden] * (self.layers - 1) + [1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)
