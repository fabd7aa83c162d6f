"""How architecture parameters become mixing weights (:class:`~nasgen.oneshot.base.Relaxation`).

- :class:`Softmax` (DARTS): weights = softmax(alpha) per edge, trained and ranked alike.
- :class:`Uniform` (DARTS-PT's fixed-alpha supernet): every op of an edge weighs 1/|ops|; alpha
  is never trained, so selection must come from elsewhere (perturbation).
- :class:`Dirichlet` (DrNAS): each edge's weights are a sample of Dirichlet(beta) with
  concentration beta = ELU(alpha) + 1 (> 0), differentiable through ``rsample`` (pathwise
  gradients); the deterministic strengths are its mean beta / sum(beta), whose argmax is
  alpha's (ELU + 1 is increasing). The L2 anchor of beta to 1 is the architecture optimiser's
  weight decay (``supernet.schedule.arch_weight_decay``).
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from nasgen.oneshot.base import Relaxation


class Softmax(Relaxation):
    name = "softmax"
    learns_alpha = True

    def training_weights(self, alpha: torch.Tensor) -> torch.Tensor:
        return F.softmax(alpha, dim=-1)

    def strengths(self, alpha: torch.Tensor) -> torch.Tensor:
        return F.softmax(alpha, dim=-1)


class Uniform(Relaxation):
    name = "uniform"
    learns_alpha = False

    def training_weights(self, alpha: torch.Tensor) -> torch.Tensor:
        return self.strengths(alpha)

    def strengths(self, alpha: torch.Tensor) -> torch.Tensor:
        return torch.full_like(alpha.detach(), 1.0 / alpha.shape[-1])


class Dirichlet(Relaxation):
    name = "dirichlet"
    learns_alpha = True

    @staticmethod
    def concentration(alpha: torch.Tensor) -> torch.Tensor:
        return F.elu(alpha) + 1.0

    def training_weights(self, alpha: torch.Tensor) -> torch.Tensor:
        return torch.distributions.Dirichlet(self.concentration(alpha)).rsample()

    def strengths(self, alpha: torch.Tensor) -> torch.Tensor:
        beta = self.concentration(alpha)
        return beta / beta.sum(dim=-1, keepdim=True)
