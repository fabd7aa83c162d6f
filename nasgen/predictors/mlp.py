"""MLP performance predictor on flat architecture vectors (AG-Net's predictor)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from nasgen.errors import DataError
from nasgen.models.gnn import mlp
from nasgen.predictors.training import torch_fit_data, train_weighted


class MLPPredictor(nn.Module):
    """``layers`` fully connected layers with ReLU; hidden size defaults to the input size.

    AG-Net uses 4 layers with hidden size = input size (84 on NAS-Bench-201) and trains the
    module jointly with its generator, in its own target units (``search.target_scale``).

    On its own (:meth:`fit`) the network is re-initialised and trained with Adam (``lr``,
    ``batch_size``, ``epochs``) on the weighted squared error of the standardised targets;
    :meth:`predict` maps back to the targets' units. The stand-alone version first scaled the
    targets by a fixed 0.01 ("accuracy in % -> [0, 1]"), which assumed the unit of one metric;
    standardising is unit- and space-agnostic. ``input_dim``: ``None`` builds the network at the
    first :meth:`fit` for the width of its inputs.
    """

    def __init__(self, input_dim: int | None = None, layers: int = 4, hidden_dim: int | None = None,
                 epochs: int = 300, lr: float = 1e-3, batch_size: int = 32) -> None:
        super().__init__()
        self.layers, self.hidden_dim = layers, hidden_dim
        self.epochs, self.lr, self.batch_size = epochs, lr, batch_size
        self.target_mean, self.target_std = 0.0, 1.0
        self.net = self._network(input_dim) if input_dim is not None else None

    def _network(self, input_dim: int) -> nn.Sequential:
        hidden = self.hidden_dim or input_dim
        return mlp([input_dim] + [hidden] * (self.layers - 1) + [1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)

    def fit(self, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None,
            generator: torch.Generator | None = None) -> None:
        data = torch_fit_data(type(self).__name__, x, y, weights, generator)
        self.target_mean, self.target_std = data.mean, data.scale
        self.net = self._network(data.inputs.shape[1])
        self.train()
        train_weighted(self.parameters(), lambda batch: (self(data.inputs[batch]) - data.targets[batch]) ** 2,
                       data.weights, self.epochs, self.lr, self.batch_size, data.generator)

    @torch.no_grad()
    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.net is None:
            raise DataError("MLPPredictor.predict called before fit (or without input_dim)")
        device = next(self.parameters()).device
        output = self(torch.as_tensor(x, dtype=torch.float32, device=device)).cpu().numpy().astype(np.float64)
        return output * self.target_std + self.target_mean
