"""The benchmark as AG-Net's "predictor": an upper-bound ablation (thesis Sec. 5.4).

Candidates are ranked by their true search-metric values, looked up without paying for them
(:meth:`nasgen.search.oracle.Oracle.peek`); only the ``top_k`` chosen ones are queried. The
generator is retrained on the weighted reconstruction loss, as with any non-differentiable
predictor.
"""
from __future__ import annotations

import numpy as np
import torch


class BenchmarkPredictor:
    """Placeholder surrogate whose predictions the search takes from the benchmark."""

    def __init__(self, input_dim: int | None = None) -> None:
        self.input_dim = input_dim

    def fit(self, x: np.ndarray, y: np.ndarray, generator: torch.Generator) -> None:
        """Nothing to learn: the benchmark already knows every value."""
