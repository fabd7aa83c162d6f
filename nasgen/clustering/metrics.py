"""How well a clustering (a node partition) agrees with another one, e.g. ground-truth classes.

A partition is an array of one label per node; only which nodes share a label matters, not
the label values (``[0, 0, 1]`` and ``[7, 7, 3]`` are the same partition).

* :func:`rand_index` (Rand 1971): the fraction of node pairs on which the two partitions agree
  (both put the pair together, or both separate it); 1 for identical partitions.
* :func:`variation_of_information` (Meila 2007): ``H(A|B) + H(B|A)`` in nats (natural
  logarithm); 0 for identical partitions, at most ``log(n)`` for ``n`` nodes.
* :func:`num_clusters`: the number of distinct labels.

All three come from the contingency table of the two labelings (``np.unique`` over label pairs),
so they take ``O(n log n)`` time, never the ``O(n^2)`` pairs.
"""
from __future__ import annotations

import numpy as np

from nasgen.errors import DataError


def _contingency(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts of the non-empty cells of the contingency table and its row and column sums."""
    a, b = np.asarray(a).ravel(), np.asarray(b).ravel()
    if a.shape != b.shape:
        raise DataError(f"partitions of different sizes cannot be compared ({a.size} and {b.size} nodes)")
    _, a_ids = np.unique(a, return_inverse=True)
    _, b_ids = np.unique(b, return_inverse=True)
    _, cells = np.unique(np.stack([a_ids, b_ids]), axis=1, return_counts=True)
    return cells, np.bincount(a_ids), np.bincount(b_ids)


def _pairs(counts: np.ndarray) -> float:
    counts = counts.astype(np.float64)
    return float(np.sum(counts * (counts - 1) / 2))


def rand_index(a: np.ndarray, b: np.ndarray) -> float:
    """The fraction of the ``n (n - 1) / 2`` node pairs that ``a`` and ``b`` both join or both
    separate; 1.0 for fewer than two nodes (no pair to disagree on)."""
    cells, rows, cols = _contingency(a, b)
    n = float(rows.sum())
    total = n * (n - 1) / 2
    if total == 0:
        return 1.0
    together_both = _pairs(cells)
    # pairs joined by exactly one of the two partitions are the disagreements
    disagree = _pairs(rows) + _pairs(cols) - 2 * together_both
    return 1.0 - disagree / total


def _entropy(counts: np.ndarray, n: float) -> float:
    p = counts[counts > 0] / n
    return float(-np.sum(p * np.log(p)))


def variation_of_information(a: np.ndarray, b: np.ndarray) -> float:
    """``H(A) + H(B) - 2 I(A; B) = 2 H(A, B) - H(A) - H(B)`` in nats; 0.0 when they are equal."""
    cells, rows, cols = _contingency(a, b)
    n = float(rows.sum())
    if n == 0:
        return 0.0
    return max(0.0, 2 * _entropy(cells, n) - _entropy(rows, n) - _entropy(cols, n))


def num_clusters(partition: np.ndarray) -> int:
    """The number of distinct labels in ``partition``."""
    return int(np.unique(np.asarray(partition)).size)
