"""Acquisition functions on Gaussian predictions (mean, std) over a candidate set."""
from __future__ import annotations

import numpy as np
from scipy.stats import norm

from nasgen.errors import choose

ACQUISITIONS = ("its", "ucb", "ei")


def acquisition_scores(kind: str, mean: np.ndarray, std: np.ndarray, best: float, rng: np.random.Generator,
                       ucb_beta: float = 0.5) -> np.ndarray:
    """Higher is better. ``its``: independent Thompson sampling, one draw per candidate;
    ``ucb``: mean + beta * std; ``ei``: expected improvement over ``best`` (maximisation)."""
    choose("acquisition", kind, ACQUISITIONS)
    std = np.maximum(std, 1e-9)
    if kind == "its":
        return rng.normal(mean, std)
    if kind == "ucb":
        return mean + ucb_beta * std
    gamma = (mean - best) / std
    return std * (gamma * norm.cdf(gamma) + norm.pdf(gamma))
