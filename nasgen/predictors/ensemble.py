"""Ensemble of MLPs with a mean and a spread per prediction (the BANANAS meta network)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from nasgen.errors import DataError
from nasgen.models.gnn import mlp
from nasgen.predictors.training import default_generator, fit_weights, standardise, train_weighted
from nasgen.utils import reseed_torch


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
        weights = fit_weights(type(self).__name__, x, y, weights)
        generator = default_generator(generator)
        targets, self.mean, self.scale = standardise(y)
        inputs = torch.as_tensor(x, dtype=torch.float32)
        targets = torch.as_tensor(targets, dtype=torch.float32)
        reseed_torch(generator)
        self.nets = []
        for _ in range(self.size):
            net = mlp([inputs.shape[1]] + [self.width] * self.layers + [1])
            self._train_member(net, inputs, targets, weights, generator)
            self.nets.append(net)

    def _train_member(self, net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, weights: np.ndarray,
                      generator: torch.Generator) -> None:
        train_weighted(net.parameters(), lambda batch: (net(inputs[batch]).squeeze(-1) - targets[batch]).abs(),
                       weights, self.epochs, self.lr, self.batch_size, generator)

    @torch.no_grad()
    def predict_distribution(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not self.nets:
            raise DataError("MLPEnsemble.predict called before fit")
        inputs = torch.as_tensor(x, dtype=torch.float32)
        outputs = torch.stack([net(inputs).squeeze(-1) for net in self.nets]).numpy() * self.scale + self.mean
        return outputs.mean(0).astype(np.float64), outputs.std(0).astype(np.float64)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predict_distribution(x)[0]
