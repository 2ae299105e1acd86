"""Numeric command-line arguments checked as argparse reads them, for every
argparse command (the benches, `alexnet2012-pack`): a count that cannot be
(`--reps -1`, `--batch 0`) is argparse's usage line and one `error:` line,
exit 2, before any work, not a traceback after minutes of it.

    parser.add_argument("--reps", type=count(), default=50)          # an integer >= 1
    parser.add_argument("--warmup", type=count(0), default=10)       # >= 0
    parser.add_argument("--seed", type=seed, default=0)              # [0, 2**32), as a run's seed

Standard library only. tests/repro/test_argparse_bounds.py walks every parser and
requires each numeric argument to use one of these.
"""

from __future__ import annotations

import argparse
import math


class Bounded:
    """An argparse `type`: ``kind`` (int or float) in [low, high] (high None: no upper bound)."""

    def __init__(self, kind: type, low: float, high: float | None = None) -> None:
        self.kind, self.low, self.high = kind, low, high
        self.__name__ = kind.__name__  # argparse names the type in its own messages

    def describe(self) -> str:
        what = "an integer" if self.kind is int else "a number"
        return f"{what} >= {self.low:g}" if self.high is None else f"{what} in [{self.low:g}, {self.high:g}]"

    def __call__(self, text: str):
        try:
            value = self.kind(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"expected {self.describe()}, got {text!r}") from None
        if (isinstance(value, float) and not math.isfinite(value)) or value < self.low \
                or (self.high is not None and value > self.high):
            raise argparse.ArgumentTypeError(f"{text} is out of range: expected {self.describe()}")
        return value

    def __repr__(self) -> str:
        return f"Bounded({self.describe()})"


def count(low: int = 1, high: int | None = None) -> Bounded:
    """An integer >= ``low`` (and <= ``high``): sizes, repeats, passes, steps, threads."""
    return Bounded(int, low, high)


def number(low: float, high: float | None = None) -> Bounded:
    """A finite float >= ``low`` (and <= ``high``)."""
    return Bounded(float, low, high)


seed = Bounded(int, 0, 2**32 - 1)  # as a run's seed (repro.config.parse_seed)
