"""Bounds traces as rows, the gap at a point in time, and the gap-vs-time plot of thesis Fig. 8.1.

A trace row is a dict with :data:`TRACE_COLUMNS`: ``seconds`` (serial wall-clock), ``parallel_seconds``
(the thesis' simulated parallel time: per iteration the master plus the slowest subproblem), ``lower`` and
``upper`` bound, ``gap = upper - lower`` (never below 0), the master's ``rows`` and the ``phase``
(``lp`` / ``ilp``). ``bounds_trace.csv`` of ``nasgen cluster`` and the study's trial files hold them.
"""
from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from nasgen.clustering.solvers import TracePoint  # noqa: E402
from nasgen.reporting.results import save_figure  # noqa: E402

TRACE_COLUMNS = ("seconds", "parallel_seconds", "lower", "upper", "gap", "rows", "phase")
CLOCKS = {"seconds": "serial", "parallel_seconds": "simulated parallel"}
GAP_FLOOR = 0.1  # the symlog plot is linear below the smallest tolerance of Table 8.1, so a gap of 0 shows


def trace_row(point: TracePoint) -> dict:
    """One trace point as a row of :data:`TRACE_COLUMNS`."""
    return {"seconds": point.seconds, "parallel_seconds": point.parallel_seconds, "lower": point.lower_bound,
            "upper": point.upper_bound, "gap": max(0.0, point.upper_bound - point.lower_bound),
            "rows": point.rows, "phase": point.phase}


class TraceWriter:
    """Appends each trace point to a CSV file as it comes (flushed), so a long solve shows its progress
    in ``bounds_trace.csv`` and a killed one keeps its trace so far."""

    def __init__(self, path: "str | os.PathLike") -> None:
        self._file = open(path, "w", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=TRACE_COLUMNS)
        self._writer.writeheader()

    def __call__(self, point: TracePoint) -> None:
        self._writer.writerow(trace_row(point))
        self._file.flush()

    def __enter__(self) -> "TraceWriter":
        return self

    def __exit__(self, *exc) -> None:
        self._file.close()


def gap_at(trace: Sequence[Mapping], seconds: float, clock: str = "seconds") -> float:
    """The gap of the last row reached by ``seconds`` on ``clock`` (``seconds`` or ``parallel_seconds``);
    ``inf`` before the first. After the last row the last gap holds: a solve that stopped at its time
    limit has not closed its gap later, one that finished stays finished."""
    gap = math.inf
    for row in trace:
        if row[clock] > seconds:
            break
        gap = row["gap"]
    return gap


LINE_STYLES = {"seconds": "-", "parallel_seconds": ":"}


def plot_gap(ax: plt.Axes, trace: Sequence[Mapping], color: str, label: str) -> None:
    """The gap over time on ``ax`` as steps: solid on the serial clock, dotted on the simulated parallel one
    (the legend names the colour once; :func:`style_gap_axes` explains the line styles)."""
    gaps = np.array([row["gap"] for row in trace], dtype=float)
    for clock, style in LINE_STYLES.items():
        times = np.array([row[clock] for row in trace], dtype=float)
        ax.plot(times, gaps, drawstyle="steps-post", color=color, ls=style,
                label=label if clock == "seconds" else "_nolegend_")


def style_gap_axes(ax: plt.Axes, title: str) -> None:
    ax.set_yscale("symlog", linthresh=GAP_FLOOR)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("gap: upper - lower bound")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    for clock, style in LINE_STYLES.items():
        ax.plot([], [], color="grey", ls=style, label=CLOCKS[clock])
    ax.legend(fontsize=7)


def plot_gap_vs_time(panels: Sequence[tuple[str, Sequence[tuple[str, str, Sequence[Mapping]]]]], path: Path) -> None:
    """Thesis Fig. 8.1's layout: per panel (title, [(label, colour, trace), ...]) the gap over time,
    solid serial and dotted simulated parallel."""
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 3.8 * rows), squeeze=False)
    for ax, (title, curves) in zip(axes.ravel(), panels):
        for label, color, trace in curves:
            plot_gap(ax, trace, color, label)
        style_gap_axes(ax, title)
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    save_figure(fig, path)


def plot_partition(coordinates: np.ndarray, partition: np.ndarray, title: str, path: Path) -> None:
    """The clusters of an instance with node coordinates (an image grid: its segmentation), one colour
    per cluster, y pointing down as in images."""
    _, labels = np.unique(partition, return_inverse=True)
    colours = np.random.default_rng(0).permutation(max(labels.max() + 1, 2))  # neighbours rarely share a hue
    fig, ax = plt.subplots(figsize=(4.8, 4.8))
    ax.scatter(coordinates[:, 0], coordinates[:, 1], c=colours[labels], cmap="tab20", marker="s",
               s=(260.0 / np.sqrt(len(coordinates))) ** 2)  # squares that about tile a grid
    ax.set_aspect("equal")
    ax.invert_yaxis()
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    save_figure(fig, path)

