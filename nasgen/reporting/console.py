"""What a run prints while it works: progress bars and numbers in log lines.

Progress bars follow tqdm's non-TTY rule: they draw only when stderr is a terminal, so output
piped into a file or a job log holds log lines, not hundreds of redrawn bar frames.
Numbers are rounded to what they mean: benchmark values are float32, and printing them in
full (``91.55333709716797``) shows storage noise, not precision.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Iterable

from tqdm import tqdm

SIGNIFICANT_DIGITS = 4


def progress_bar(iterable: Iterable | None = None, *, enabled: bool = True, **kwargs: Any) -> tqdm:
    """A tqdm bar that draws only when ``enabled`` and stderr is a terminal."""
    return tqdm(iterable, disable=None if enabled else True, **kwargs)


def format_value(value: Any) -> str:
    """``value`` with four significant digits and without exponent in everyday ranges
    (``91.55``, ``0.8931``, ``1447``); very small or large numbers as ``%.4g``; anything
    that is not a real number as ``str``."""
    if isinstance(value, (bool, numbers.Integral)) or not isinstance(value, numbers.Real):
        return str(value)
    value = float(value)
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    magnitude = math.floor(math.log10(abs(value)))
    if not -3 <= magnitude < 6:
        return f"{value:.{SIGNIFICANT_DIGITS}g}"
    return f"{value:.{max(0, SIGNIFICANT_DIGITS - 1 - magnitude)}f}"
