"""DNGO (Snoek et al., "Scalable Bayesian optimization using deep neural networks",
ICML 2015): an MLP learns basis functions, Bayesian linear regression on its last
hidden layer gives a predictive mean and variance."""
from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import minimize
from torch import nn

from nasgen.errors import DataError
from nasgen.predictors.training import torch_fit_data, train_weighted


class BayesianLinearRegression:
    """Gaussian prior ``N(0, 1/alpha)`` on the weights, noise precision ``beta``; both
    set by maximising the marginal likelihood (type-II maximum likelihood).

    Sample weights ``w`` (mean 1) make the noise precision of sample ``i`` ``beta * w_i``:
    equivalent to scaling its feature row and target by ``sqrt(w_i)``, which only shifts the
    log evidence by a constant. A test point has weight 1 (noise variance ``1 / beta``);
    ``None``: all weights 1."""

    def fit(self, features: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> None:
        if weights is not None:
            root = np.sqrt(weights)
            features, y = features * root[:, None], y * root
        self.features_dim = features.shape[1]
        result = minimize(lambda log_ab: -self._log_evidence(features, y, *np.exp(log_ab)), x0=np.zeros(2),
                          method="L-BFGS-B", bounds=[(-10, 10), (-10, 10)])
        self.alpha, self.beta = np.exp(result.x)
        precision = self.alpha * np.eye(self.features_dim) + self.beta * features.T @ features
        self.covariance = np.linalg.inv(precision)
        self.weights = self.beta * self.covariance @ features.T @ y

    def _log_evidence(self, features: np.ndarray, y: np.ndarray, alpha: float, beta: float) -> float:
        n, m = features.shape
        precision = alpha * np.eye(m) + beta * features.T @ features
        weights = beta * np.linalg.solve(precision, features.T @ y)
        residual = y - features @ weights
        _, logdet = np.linalg.slogdet(precision)
        return float(0.5 * (m * np.log(alpha) + n * np.log(beta) - beta * residual @ residual
                            - alpha * weights @ weights - logdet - n * np.log(2 * np.pi)))

    def predict(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = features @ self.weights
        variance = 1.0 / self.beta + np.einsum("ij,jk,ik->i", features, self.covariance, features)
        return mean, np.sqrt(variance)


class DNGO:
    """An :class:`~nasgen.predictors.base.UncertainPredictor`: tanh basis network with
    ``hidden`` units per layer (Snoek et al. use three layers of 50), trained on the weighted
    squared error of the standardised targets, then weighted Bayesian linear regression on its
    last hidden layer."""

    def __init__(self, hidden: tuple[int, ...] = (50, 50, 50), epochs: int = 300, lr: float = 0.01,
                 batch_size: int = 32) -> None:
        self.hidden, self.epochs, self.lr, self.batch_size = tuple(hidden), epochs, lr, batch_size
        self.regression: BayesianLinearRegression | None = None

    def _network(self, input_dim: int) -> tuple[nn.Sequential, nn.Linear]:
        layers: list[nn.Module] = []
        for n_in, n_out in zip((input_dim, *self.hidden[:-1]), self.hidden):
            layers += [nn.Linear(n_in, n_out), nn.Tanh()]
        return nn.Sequential(*layers), nn.Linear(self.hidden[-1], 1)

    def fit(self, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None,
            generator: torch.Generator | None = None) -> None:
        data = torch_fit_data(type(self).__name__, x, y, weights, generator)
        self.mean, self.scale = data.mean, data.scale
        self.basis, head = self._network(data.inputs.shape[1])
        train_weighted([*self.basis.parameters(), *head.parameters()],
                       lambda batch: (head(self.basis(data.inputs[batch])).squeeze(-1) - data.targets[batch]) ** 2,
                       data.weights, self.epochs, self.lr, self.batch_size, data.generator)
        self.regression = BayesianLinearRegression()
        self.regression.fit(self._features(x), data.targets.numpy().astype(np.float64), data.weights)

    @torch.no_grad()
    def _features(self, x: np.ndarray) -> np.ndarray:
        phi = self.basis(torch.as_tensor(x, dtype=torch.float32)).double().numpy()
        return np.concatenate([phi, np.ones((len(phi), 1))], axis=1)  # bias basis function

    def predict_distribution(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.regression is None:
            raise DataError("DNGO.predict called before fit")
        mean, std = self.regression.predict(self._features(x))
        return mean * self.scale + self.mean, std * self.scale

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predict_distribution(x)[0]
