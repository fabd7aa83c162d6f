"""Multi-objective helpers: Pareto fronts, NSGA-II ranks and crowding, hypervolume.

Points are float arrays of shape ``(n, m)`` and every objective is maximised; callers
negate the objectives they minimise (costs such as latency).
"""
from __future__ import annotations

import numpy as np
import torch
from botorch.utils.multi_objective.hypervolume import Hypervolume
from botorch.utils.multi_objective.pareto import is_non_dominated


def _as_points(points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, dtype=float)
    if points.ndim != 2:
        raise ValueError(f"points must have shape (n, m), got {points.shape}")
    return points


def _non_dominated_2d(points: np.ndarray) -> np.ndarray:
    """Sweep over the points sorted by the first objective, best first."""
    first, second = points[:, 0], points[:, 1]
    order = np.lexsort((-second, -first))  # first objective descending, ties by second descending
    first, second = first[order], second[order]
    starts = np.concatenate([[True], first[1:] != first[:-1]])
    group = np.cumsum(starts) - 1
    group_best = second[starts]  # the sort puts each tie group's best second objective first
    # A point survives unless a point with a strictly better first objective is at least as good in
    # the second, or a tie in the first objective is strictly better in the second.
    better_before = np.concatenate([[-np.inf], np.maximum.accumulate(group_best)[:-1]])
    survives = (second == group_best[group]) & ((second > better_before[group]) | (group == 0))
    mask = np.zeros(len(points), dtype=bool)
    mask[order] = survives
    return mask


def non_dominated(points: np.ndarray) -> np.ndarray:
    """Mask of the points no other point dominates; equal points are all kept, points with a
    NaN objective count as dominated."""
    points = _as_points(points)
    mask = np.zeros(len(points), dtype=bool)
    valid = ~np.isnan(points).any(axis=1)
    if not valid.any():
        return mask
    if points.shape[1] == 2:
        # botorch's pairwise loop costs O(n * front size): ~5 s for 15,625 points that are all on
        # the front; sorting is O(n log n).
        mask[valid] = _non_dominated_2d(points[valid])
    else:
        mask[valid] = is_non_dominated(torch.from_numpy(points[valid]), deduplicate=False).numpy()
    return mask


def nondominated_ranks(points: np.ndarray, violation: np.ndarray | None = None) -> np.ndarray:
    """Front index of each point (0 = Pareto front) under Deb's constrained domination.

    With ``violation`` (>= 0, 0 = feasible) every feasible point dominates every infeasible one
    and among infeasible points the smaller violation dominates, so infeasible points come after
    all feasible fronts, one front per distinct violation.
    """
    points = _as_points(points)
    ranks = np.zeros(len(points), dtype=int)
    feasible = np.ones(len(points), dtype=bool) if violation is None else np.asarray(violation) <= 0
    left = np.flatnonzero(feasible)
    front = 0
    while len(left):
        on_front = non_dominated(points[left])
        if not on_front.any():  # only NaN points are left: none dominates another
            on_front[:] = True
        ranks[left[on_front]] = front
        left = left[~on_front]
        front += 1
    if not feasible.all():
        infeasible = np.asarray(violation, dtype=float)[~feasible]
        ranks[~feasible] = front + np.unique(infeasible, return_inverse=True)[1].reshape(-1)
    return ranks


def crowding_distance(points: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance of the points of one front: per objective, the normalised gap
    between each point's neighbours, summed; boundary points get ``inf``."""
    points = _as_points(points)
    n = len(points)
    distance = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for column in points.T:
        span = column.max() - column.min()
        if not span > 0:  # the objective does not separate the points
            continue
        order = np.argsort(column, kind="stable")
        distance[order[[0, -1]]] = np.inf
        distance[order[1:-1]] += (column[order[2:]] - column[order[:-2]]) / span
    return distance


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """Volume dominated by ``points`` and bounded by ``reference``; points not strictly better
    than the reference in every objective add nothing."""
    points = _as_points(points)
    reference = np.asarray(reference, dtype=float)
    points = points[(points > reference).all(axis=1)]
    if not len(points):
        return 0.0
    front = np.unique(points[non_dominated(points)], axis=0)
    return float(Hypervolume(torch.from_numpy(reference)).compute(torch.from_numpy(front)))


def pareto_front_2d(values: np.ndarray, costs: np.ndarray, maximize: bool = True) -> np.ndarray:
    """Indices of the value/cost Pareto front (best values, smallest costs), cheapest first."""
    values, costs = np.asarray(values, dtype=float), np.asarray(costs, dtype=float)
    values = values if maximize else -values
    front = np.flatnonzero(non_dominated(np.stack([values, -costs], axis=1)))
    return front[np.lexsort((-values[front], costs[front]))]
