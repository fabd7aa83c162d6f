"""A rank loss through a non-differentiable surrogate, for AG-Net's "XGB + ranking" variant.

The ranking of a batch is a combinatorial solver; its gradient is estimated by blackbox
differentiation (Vlastelica et al., ICLR 2020; for rank-based losses Rolinek et al., CVPR
2020): with upstream gradient ``g`` on the ranks of scores ``s``, the gradient on ``s`` is
``-(rank(s) - rank(s + lambda g)) / lambda``.

The scores are the surrogate's predictions for the generator's argmax graphs. A tree ensemble
is piecewise constant in its binary input, so the gradient from the scores to the generator's
soft graph vector uses the surrogate's discrete sensitivity to each bit, ``f(x | bit = 1) -
f(x | bit = 0)``, passed straight through the argmax (the AG-Net papers do not say how their
ranking gradient reaches the generator; this is our construction).
"""
from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from nasgen.generators.base import GraphScores


class MeanPredictor(Protocol):
    def predict_mean(self, x: np.ndarray) -> np.ndarray: ...


def ranks(scores: torch.Tensor) -> torch.Tensor:
    """1-based ranks within a batch, 1 for the highest score."""
    return torch.argsort(torch.argsort(scores, descending=True)).to(scores.dtype) + 1


class BlackboxRank(torch.autograd.Function):
    @staticmethod
    def forward(ctx, scores: torch.Tensor, lam: float) -> torch.Tensor:  # noqa: D102
        result = ranks(scores)
        ctx.save_for_backward(scores, result)
        ctx.lam = lam
        return result

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # noqa: D102
        scores, result = ctx.saved_tensors
        return -(result - ranks(scores + ctx.lam * grad)) / ctx.lam, None


def bit_sensitivity(surrogate: MeanPredictor, x: np.ndarray) -> np.ndarray:
    """``f(x with bit j = 1) - f(x with bit j = 0)`` for every row and bit of binary ``x``."""
    rows, bits = x.shape
    flipped = np.repeat(x[:, None, :], 2 * bits, axis=1)  # [rows, 2 * bits, bits]
    index = np.arange(bits)
    flipped[:, index, index] = 1
    flipped[:, bits + index, index] = 0
    predicted = surrogate.predict_mean(flipped.reshape(-1, bits)).reshape(rows, 2, bits)
    return predicted[:, 0] - predicted[:, 1]


def blackbox_rank_loss(surrogate: MeanPredictor, scores: GraphScores, targets: torch.Tensor,
                       lam: float) -> torch.Tensor:
    """Per-sample squared difference between the surrogate's ranking of the generated graphs and
    the ranking of their paired ``targets``, scaled to [0, 1]."""
    soft = scores.vector()
    hard = scores.hard_vector().detach()
    x = hard.cpu().numpy()
    value = torch.as_tensor(surrogate.predict_mean(x), dtype=soft.dtype, device=soft.device)
    slope = torch.as_tensor(bit_sensitivity(surrogate, x), dtype=soft.dtype, device=soft.device)
    # Forward value: the surrogate's prediction; gradient: its bit sensitivities (straight through).
    estimate = value + ((soft - soft.detach()) * slope).sum(1)
    predicted_ranks = BlackboxRank.apply(estimate, lam)
    return (predicted_ranks - ranks(targets)) ** 2 / len(targets) ** 2
