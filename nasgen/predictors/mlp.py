"""MLP performance predictor on flat architecture vectors (AG-Net's surrogate)."""
from __future__ import annotations

import torch
from torch import nn

from nasgen.models.gnn import mlp


class MLPPredictor(nn.Module):
    """``layers`` fully connected layers with ReLU; hidden size defaults to the input size.

    AG-Net uses 4 layers with hidden size = input size (84 on NAS-Bench-201).
    """

    differentiable = True

    def __init__(self, input_dim: int, layers: int = 4, hidden_dim: int | None = None) -> None:
        super().__init__()
        hidden = hidden_dim or input_dim
        self.net = mlp([input_dim] + [hidden] * (layers - 1) + [1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)
