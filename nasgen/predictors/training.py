"""What the predictors' ``fit`` methods share: input checks, target standardisation and weighted
minibatch training of torch networks."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
from torch import nn

from nasgen.errors import DataError
from nasgen.utils import reseed_torch


def fit_weights(name: str, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """Per-sample weights scaled to mean 1 (all ones for ``None``), after refusing mismatched
    sizes, empty data and negative or all-zero weights with one line naming the predictor."""
    if len(x) == 0 or len(x) != len(y):
        raise DataError(f"{name}.fit needs as many targets as inputs (at least one), got {len(x)} inputs "
                        f"and {len(y)} targets")
    if weights is None:
        return np.ones(len(x))
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (len(x),) or not np.all(weights >= 0) or not weights.sum() > 0:
        raise DataError(f"{name}.fit needs one non-negative weight per input, not all zero; got shape "
                        f"{weights.shape} for {len(x)} inputs")
    return weights / weights.mean()


def standardise(y: np.ndarray) -> tuple[np.ndarray, float, float]:
    """``((y - mean) / scale, mean, scale)`` with the targets' mean and standard deviation (scale 1
    for constant targets): every predictor trains in these units, whatever the metric's unit."""
    mean, scale = float(np.mean(y)), float(np.std(y) or 1.0)
    return (np.asarray(y, dtype=np.float64) - mean) / scale, mean, scale


def train_weighted(parameters: Iterable[torch.nn.Parameter], per_sample_loss: Callable[[torch.Tensor], torch.Tensor],
                   weights: np.ndarray, epochs: int, lr: float, batch_size: int,
                   generator: torch.Generator) -> None:
    """Adam on ``mean(weight * per_sample_loss(batch))`` over ``epochs`` shuffles (drawn from
    ``generator``) of the samples in batches of ``batch_size``; ``per_sample_loss`` maps a batch's
    sample indices to their losses. Weights of 1 give exactly the unweighted mean."""
    for _ in weighted_epochs(parameters, per_sample_loss, weights, epochs, lr, batch_size, generator):
        pass


def weighted_epochs(parameters: Iterable[torch.nn.Parameter], per_sample_loss: Callable[[torch.Tensor], torch.Tensor],
                    weights: np.ndarray, epochs: int, lr: float, batch_size: int,
                    generator: torch.Generator) -> Iterator[int]:
    """:func:`train_weighted`, yielding the number of finished epochs after each epoch."""
    w = torch.as_tensor(weights, dtype=torch.float32)
    optimizer = torch.optim.Adam(parameters, lr=lr)
    for epoch in range(epochs):
        for batch in torch.randperm(len(w), generator=generator).split(batch_size):
            loss = (w[batch] * per_sample_loss(batch)).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        yield epoch + 1


def default_generator(generator: torch.Generator | None) -> torch.Generator:
    """``generator``, or a fixed-seed one: a fit without a generator is still reproducible."""
    return generator if generator is not None else torch.Generator().manual_seed(0)


@dataclass(frozen=True)
class TorchFitData:
    """A torch network's training data: float32 inputs and standardised targets, the weights
    (mean 1), the generator to shuffle with and the targets' ``mean`` and ``scale``."""

    inputs: torch.Tensor
    targets: torch.Tensor
    weights: np.ndarray
    generator: torch.Generator
    mean: float
    scale: float


def torch_fit_data(name: str, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None,
                   generator: torch.Generator | None) -> TorchFitData:
    """Checked, standardised training data for a network about to be built; torch's global RNG
    (module initialisation) is seeded from the generator, so the network follows the seed."""
    weights = fit_weights(name, x, y, weights)
    generator = default_generator(generator)
    targets, mean, scale = standardise(y)
    data = TorchFitData(torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(targets, dtype=torch.float32),
                        weights, generator, mean, scale)
    reseed_torch(generator)
    return data


class TorchRegressor(nn.Module):
    """A torch network that :meth:`fit` trains alone: re-initialised (:meth:`reset`, the
    subclass's network for inputs of a given width), then Adam (``lr``, ``batch_size``,
    ``epochs``) on the weighted squared error of the standardised targets; :meth:`predict` maps
    back to the targets' units. ``forward`` (the subclass's) maps ``[B, D]`` to ``[B]`` and is
    what AG-Net trains jointly, in its own target units."""

    def __init__(self, epochs: int, lr: float, batch_size: int) -> None:
        super().__init__()
        self.epochs, self.lr, self.batch_size = epochs, lr, batch_size
        self.target_mean, self.target_std = 0.0, 1.0

    def reset(self, input_dim: int) -> None:
        """A freshly initialised network for inputs ``[B, input_dim]``."""
        raise NotImplementedError

    def fit(self, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None,
            generator: torch.Generator | None = None) -> None:
        for _ in self.fit_epochs(x, y, weights, generator):
            pass

    def fit_epochs(self, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None,
                   generator: torch.Generator | None = None) -> Iterator[int]:
        """:meth:`fit`, yielding the number of finished epochs after each epoch."""
        data = torch_fit_data(type(self).__name__, x, y, weights, generator)
        self.target_mean, self.target_std = data.mean, data.scale
        self.reset(data.inputs.shape[1])
        self.train()
        def squared_error(batch: torch.Tensor) -> torch.Tensor:
            return (self(data.inputs[batch]) - data.targets[batch]) ** 2

        yield from weighted_epochs(self.parameters(), squared_error, data.weights, self.epochs, self.lr,
                                   self.batch_size, data.generator)

    @torch.no_grad()
    def predict(self, x: np.ndarray) -> np.ndarray:
        parameter = next(self.parameters(), None)
        if parameter is None:
            raise DataError(f"{type(self).__name__}.predict called before fit (or without a graph)")
        output = self(torch.as_tensor(x, dtype=torch.float32, device=parameter.device))
        return output.cpu().numpy().astype(np.float64) * self.target_std + self.target_mean
