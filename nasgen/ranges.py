"""Declared ranges of numeric settings, checked in one place when a component is built.

A component declares the range of each numeric argument next to its class
(``@ranges("search", top_k=Int(1), alpha=Float(0, 1))``); every construction, from a config
or from Python, checks the arguments before ``__init__`` runs, so a value that would hang a
search loop (``top_k=0``), divide by zero later (``initial_samples=0``) or silently mean
something else (``budget=true``, a bool, is an ``int`` in Python) stops the run with one line
naming the setting, before anything is pretrained or queried.

Ad-hoc ``if`` checks in each constructor were what this replaced: they covered some loops and
not others (random and evolution search accepted ``top_k=0`` and then looped forever).
"""
from __future__ import annotations

import functools
import inspect
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, TypeVar

from nasgen.errors import ConfigError


@dataclass(frozen=True)
class Int:
    """An integer (never a bool) ``>= low`` and, when given, ``<= high``; ``None`` allowed if ``optional``."""

    low: int | None = None
    high: int | None = None
    optional: bool = False

    def describe(self) -> str:
        if self.high is None and self.low == 1:
            return "a positive integer"
        if self.high is None and self.low == 0:
            return "a non-negative integer"
        if self.high is None:
            return "an integer" if self.low is None else f"an integer >= {self.low}"
        return f"an integer in [{self.low}, {self.high}]"

    def accepts(self, value: Any) -> bool:
        return (isinstance(value, int) and not isinstance(value, bool)
                and (self.low is None or value >= self.low) and (self.high is None or value <= self.high))


@dataclass(frozen=True)
class Float:
    """A finite number (int or float, never a bool) in ``[low, high]``; ``above`` makes the
    lower bound exclusive (``lr > 0``)."""

    low: float | None = None
    high: float | None = None
    above: bool = False
    optional: bool = False

    def describe(self) -> str:
        if self.low is not None and self.high is not None:
            return f"in {'(' if self.above else '['}{self.low}, {self.high}]"
        if self.low is not None:
            return f"{'>' if self.above else '>='} {self.low}"
        return "a number" if self.high is None else f"<= {self.high}"

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.above else value < self.low):
            return False
        return self.high is None or value <= self.high


Range = Int | Float


def check_ranges(prefix: str, declared: Mapping[str, Range], values: Mapping[str, Any]) -> None:
    """Raise a :class:`ConfigError` for the first of ``values`` outside its declared range."""
    for name, allowed in declared.items():
        value = values[name]
        if value is None and allowed.optional:
            continue
        if not allowed.accepts(value):
            key = f"{prefix}.{name}" if prefix else name
            null = " or null" if allowed.optional else ""
            raise ConfigError(f"{key} must be {allowed.describe()}{null}, got {value!r}")


C = TypeVar("C", bound=type)


def ranges(prefix: str, **declared: Range) -> Callable[[C], C]:
    """Class decorator: check the named ``__init__`` arguments against their ranges on every
    construction (``prefix`` is the config key they live under, e.g. ``search``)."""

    def decorate(cls: C) -> C:
        init = cls.__init__
        signature = inspect.signature(init)
        undeclared = set(declared) - set(signature.parameters)
        if undeclared:
            raise TypeError(f"{cls.__name__}.__init__ has no argument(s) {', '.join(sorted(undeclared))}")

        @functools.wraps(init)
        def checked_init(self, *args: Any, **kwargs: Any) -> None:
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            check_ranges(prefix, declared, bound.arguments)
            init(self, *args, **kwargs)

        cls.__init__ = checked_init
        return cls

    return decorate
