"""Gaussian-process predictor built on BoTorch: ``SingleTaskGP`` on architecture
encodings with BoTorch's default kernel and priors, fitted by marginal likelihood."""
from __future__ import annotations

import numpy as np
import torch
from botorch.acquisition import LogExpectedImprovement
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import Standardize
from gpytorch.mlls import ExactMarginalLogLikelihood

from nasgen.errors import ConfigError, DataError
from nasgen.predictors.training import default_generator, fit_weights
from nasgen.utils import reseed_torch


class GaussianProcess:
    """An :class:`~nasgen.predictors.base.UncertainPredictor` that also computes log expected
    improvement (:class:`~nasgen.predictors.base.LogExpectedImprovement`).

    Non-uniform sample weights are refused: they would need a heteroscedastic noise model
    (noise variance ``sigma^2 / w_i`` with a learnt ``sigma``), which BoTorch's fixed-noise
    models do not offer."""

    def __init__(self) -> None:
        self.model: SingleTaskGP | None = None

    def fit(self, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None,
            generator: torch.Generator | None = None) -> None:
        if not np.allclose(fit_weights(type(self).__name__, x, y, weights), 1.0):
            raise ConfigError("GaussianProcess cannot weight its samples; use a predictor that can "
                              "(MLPPredictor, MLPEnsemble, DNGO, XGBPredictor) or uniform weights")
        train_x = torch.as_tensor(x, dtype=torch.float64)
        train_y = torch.as_tensor(y, dtype=torch.float64).unsqueeze(-1)
        reseed_torch(default_generator(generator))  # fitting restarts draw from torch's global RNG
        self.model = SingleTaskGP(train_x, train_y, outcome_transform=Standardize(m=1))
        fit_gpytorch_mll(ExactMarginalLogLikelihood(self.model.likelihood, self.model))
        self.best = float(train_y.max())

    @torch.no_grad()
    def predict_distribution(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.model is None:
            raise DataError("GaussianProcess.predict called before fit")
        posterior = self.model.posterior(torch.as_tensor(x, dtype=torch.float64))
        return posterior.mean.squeeze(-1).numpy(), posterior.variance.clamp_min(1e-12).sqrt().squeeze(-1).numpy()

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predict_distribution(x)[0]

    @torch.no_grad()
    def log_expected_improvement(self, x: np.ndarray) -> np.ndarray:
        """BoTorch's numerically robust log-EI over the best training target."""
        if self.model is None:
            raise DataError("GaussianProcess.log_expected_improvement called before fit")
        acquisition = LogExpectedImprovement(self.model, best_f=self.best)
        return acquisition(torch.as_tensor(x, dtype=torch.float64).unsqueeze(1)).numpy()
