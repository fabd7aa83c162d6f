"""Sparse (variational) Gaussian process on BoTorch: the surrogate of latent-space Bayesian
optimisation (SVGe, thesis Sec. 4.4.4 and 2.3.1).

The thesis (after D-VAE and Kusner et al.) used a sparse GP with 500 inducing points through a
Theano implementation nobody can install now; this is its counterpart in the field's libraries:
BoTorch's ``SingleTaskVariationalGP`` (Hensman et al.'s SVGP) with a squared-exponential kernel
with one lengthscale per input dimension and BoTorch's priors for inputs in the unit cube. Inputs
are scaled to the unit cube by the bounding box of the training inputs (the box latent BO searches
in), targets standardised. The inducing points start at a greedy variance-reduction selection of
the training inputs (deterministic) and are learnt with the kernel, the noise and the variational
distribution by maximising the ELBO with full-batch Adam: with at most a few thousand training
points one step sees every point, so minibatches would only add noise.
"""
from __future__ import annotations

import logging
import warnings

import numpy as np
import torch
from botorch.exceptions.warnings import InputDataWarning, UserInputWarning
from botorch.models import SingleTaskVariationalGP
from botorch.models.transforms.input import Normalize
from gpytorch.mlls import VariationalELBO

from nasgen.errors import ConfigError, DataError
from nasgen.predictors.training import default_generator, fit_weights, standardise
from nasgen.ranges import Float, Int, ranges
from nasgen.utils import reseed_torch

log = logging.getLogger(__name__)


@ranges("search.surrogate", inducing_points=Int(1), steps=Int(1), lr=Float(0.0, above=True))
class SparseGaussianProcess:
    """An :class:`~nasgen.predictors.base.UncertainPredictor`.

    Args:
        inducing_points: at most this many (thesis: 500); fewer when there are fewer training inputs.
        steps: full-batch Adam steps on the negative ELBO.
        lr: Adam's learning rate.
    """

    def __init__(self, inducing_points: int = 500, steps: int = 300, lr: float = 0.02) -> None:
        self.inducing_points, self.steps, self.lr = inducing_points, steps, lr
        self.model: SingleTaskVariationalGP | None = None
        self.final_elbo: float | None = None

    def fit(self, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None,
            generator: torch.Generator | None = None) -> None:
        if not np.allclose(fit_weights(type(self).__name__, x, y, weights), 1.0):
            raise ConfigError("SparseGaussianProcess cannot weight its samples; use uniform weights")
        train_x = torch.as_tensor(np.asarray(x), dtype=torch.float64)
        targets, self.y_mean, self.y_scale = standardise(np.asarray(y))
        train_y = torch.as_tensor(targets).unsqueeze(-1)
        lower, upper = train_x.min(0).values, train_x.max(0).values
        # a dimension on which every training input agrees gets a unit width instead of none
        upper = torch.where(upper > lower, upper, lower + 1.0)
        self.bounds = torch.stack([lower, upper])
        reseed_torch(default_generator(generator))  # the variational distribution's initialisation
        with warnings.catch_warnings():
            # BoTorch warns that minibatches would refit a learnable input transform: these bounds
            # are fixed and every step sees the full batch
            warnings.simplefilter("ignore", UserInputWarning)
            warnings.simplefilter("ignore", InputDataWarning)  # it asks for std with ddof=1
            model = SingleTaskVariationalGP(train_x, train_y,
                                            inducing_points=min(self.inducing_points, len(train_x)),
                                            input_transform=Normalize(train_x.shape[-1], bounds=self.bounds))
        elbo = VariationalELBO(model.likelihood, model.model, num_data=len(train_x))
        optimizer = torch.optim.Adam(model.parameters(), lr=self.lr)
        model.train()
        for _ in range(self.steps):
            optimizer.zero_grad()
            loss = -elbo(model(train_x), train_y.squeeze(-1))
            loss.backward()
            optimizer.step()
        model.eval()
        self.model, self.final_elbo = model, -float(loss.detach())

    def _fitted(self) -> SingleTaskVariationalGP:
        if self.model is None:
            raise DataError("SparseGaussianProcess used before fit")
        return self.model

    @property
    def noise_variance(self) -> float:
        """The learnt observation noise, in standardised target units."""
        return float(self._fitted().likelihood.noise.detach())

    def standardised(self, y: np.ndarray) -> np.ndarray:
        """Targets in the units the GP models (its posterior's units)."""
        self._fitted()
        return (np.asarray(y, dtype=np.float64) - self.y_mean) / self.y_scale

    @torch.no_grad()
    def predict_distribution(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        posterior = self._fitted().posterior(torch.as_tensor(np.asarray(x), dtype=torch.float64))
        mean = posterior.mean.squeeze(-1).numpy() * self.y_scale + self.y_mean
        return mean, posterior.variance.clamp_min(1e-12).sqrt().squeeze(-1).numpy() * self.y_scale

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predict_distribution(x)[0]
