"""Gaussian-process surrogate built on BoTorch: ``SingleTaskGP`` on architecture
encodings with BoTorch's default kernel and priors, fitted by marginal likelihood."""
from __future__ import annotations

import numpy as np
import torch
from botorch.acquisition import LogExpectedImprovement
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import Standardize
from gpytorch.mlls import ExactMarginalLogLikelihood

from nasgen.utils import reseed_torch


class GaussianProcess:
    def fit(self, x: np.ndarray, y: np.ndarray, generator: torch.Generator) -> None:
        train_x = torch.as_tensor(x, dtype=torch.float64)
        train_y = torch.as_tensor(y, dtype=torch.float64).unsqueeze(-1)
        reseed_torch(generator)  # fitting restarts draw from torch's global RNG
        self.model = SingleTaskGP(train_x, train_y, outcome_transform=Standardize(m=1))
        fit_gpytorch_mll(ExactMarginalLogLikelihood(self.model.likelihood, self.model))
        self.best = float(train_y.max())

    @torch.no_grad()
    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        posterior = self.model.posterior(torch.as_tensor(x, dtype=torch.float64))
        return posterior.mean.squeeze(-1).numpy(), posterior.variance.clamp_min(1e-12).sqrt().squeeze(-1).numpy()

    @torch.no_grad()
    def log_expected_improvement(self, x: np.ndarray) -> np.ndarray:
        """BoTorch's numerically robust log-EI over the best observed value."""
        acquisition = LogExpectedImprovement(self.model, best_f=self.best)
        return acquisition(torch.as_tensor(x, dtype=torch.float64).unsqueeze(1)).numpy()
