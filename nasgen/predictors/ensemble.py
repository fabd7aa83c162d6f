"""Ensemble of MLPs with a mean and a spread per prediction (the BANANAS meta network)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from nasgen.models.gnn import mlp
from nasgen.utils import reseed_torch


class MLPEnsemble:
    """``size`` independently initialised MLPs trained on the same data; the ensemble's
    mean and standard deviation are the prediction and its uncertainty.

    Defaults follow BANANAS (White, Neiswanger, Savani, AAAI 2021): 5 networks of 10
    layers of width 20, Adam with learning rate 0.01, mean absolute error, 200 epochs.
    """

    def __init__(self, size: int = 5, layers: int = 10, width: int = 20, epochs: int = 200, lr: float = 0.01,
                 batch_size: int = 32) -> None:
        self.size, self.layers, self.width = size, layers, width
        self.epochs, self.lr, self.batch_size = epochs, lr, batch_size
        self.nets: list[nn.Module] = []

    def fit(self, x: np.ndarray, y: np.ndarray, generator: torch.Generator) -> None:
        self.mean, self.scale = float(y.mean()), float(y.std() or 1.0)
        inputs = torch.as_tensor(x, dtype=torch.float32)
        targets = torch.as_tensor((y - self.mean) / self.scale, dtype=torch.float32)
        reseed_torch(generator)
        self.nets = []
        for _ in range(self.size):
            net = mlp([inputs.shape[1]] + [self.width] * self.layers + [1])
            optimizer = torch.optim.Adam(net.parameters(), lr=self.lr)
            for _ in range(self.epochs):
                for batch in torch.randperm(len(inputs), generator=generator).split(self.batch_size):
                    loss = (net(inputs[batch]).squeeze(-1) - targets[batch]).abs().mean()
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
            self.nets.append(net)

    @torch.no_grad()
    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        inputs = torch.as_tensor(x, dtype=torch.float32)
        outputs = torch.stack([net(inputs).squeeze(-1) for net in self.nets]).numpy() * self.scale + self.mean
        return outputs.mean(0), outputs.std(0)
