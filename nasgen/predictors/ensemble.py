"""Ensemble of MLPs with a mean and a spread per prediction (the BANANAS meta network)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from nasgen.errors import DataError
from nasgen.models.gnn import mlp
from nasgen.predictors.training import TorchFitData, torch_fit_data, train_weighted


class MLPEnsemble:
    """``size`` independently initialised MLPs trained on the same data; the ensemble's
    mean and standard deviation are the prediction and its uncertainty
    (an :class:`~nasgen.predictors.base.UncertainPredictor`).

    Defaults follow BANANAS (White, Neiswanger, Savani, AAAI 2021): 5 networks of 10
    layers of width 20, Adam with learning rate 0.01, mean absolute error (weighted by the
    sample weights), 200 epochs.
    """

    def __init__(self, size: int = 5, layers: int = 10, width: int = 20, epochs: int = 200, lr: float = 0.01,
                 batch_size: int = 32) -> None:
        self.size, self.layers, self.width = size, layers, width
        self.epochs, self.lr, self.batch_size = epochs, lr, batch_size
        self.nets: list[nn.Module] = []

    def fit(self, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None,
            generator: torch.Generator | None = None) -> None:
        data = torch_fit_data(type(self).__name__, x, y, weights, generator)
        self.mean, self.scale = data.mean, data.scale
        self.nets = []
        for _ in range(self.size):
            net = mlp([data.inputs.shape[1]] + [self.width] * self.layers + [1])
            self._train_member(net, data)
            self.nets.append(net)

    def _train_member(self, net: nn.Module, data: TorchFitData) -> None:
        train_weighted(net.parameters(),
                       lambda batch: (net(data.inputs[batch]).squeeze(-1) - data.targets[batch]).abs(),
                       data.weights, self.epochs, self.lr, self.batch_size, data.generator)

    @torch.no_grad()
    def predict_distribution(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not self.nets:
            raise DataError("MLPEnsemble.predict called before fit")
        inputs = torch.as_tensor(x, dtype=torch.float32)
        outputs = torch.stack([net(inputs).squeeze(-1) for net in self.nets]).numpy() * self.scale + self.mean
        return outputs.mean(0).astype(np.float64), outputs.std(0).astype(np.float64)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predict_distribution(x)[0]
