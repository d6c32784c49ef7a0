"""The ranges of a run's numbers, declared once.

``RunConfig`` refuses a value outside its range (the Python API), and the command line parses
its options against the same ranges (``cli.options.bounded``), so a bad value is refused in
one line before anything is written.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, cast

from easyfirst.errors import InputError

MAX_EPOCHS = 32767
"""The most epochs a run may have: what ``OutcomeRecorder``'s two-byte counters count."""
MAX_SEED = 2**32 - 1
"""Seeds are in ``[0, MAX_SEED]``: numpy's and torch's generators take them, and
``seed * 100_003 + epoch`` still fits an int64."""
MAX_BATCH = 2**31 - 1
"""The largest batch: torch indexes a batch with 32-bit sizes in places."""
MAX_LR = 1e30
"""Above it, float32 optimizer steps overflow (a raw library error rather than divergence)."""


@dataclass(frozen=True)
class Range:
    """Finite numbers (``integer``: whole ones) from ``low`` to ``high`` (``open_*``: without
    that end; None: unbounded)."""

    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    integer: bool = False

    def kind(self) -> str:
        return "a whole number" if self.integer else "a finite number"

    def bounds(self) -> str:
        """E.g. ``> 0 and <= 1e+30``."""
        num = lambda x: str(x) if isinstance(x, int) else f"{x:g}"  # 1e+30, 4294967295
        ends = [f"{'>' if self.open_low else '>='} {num(self.low)}" if self.low is not None
                else "", f"{'<' if self.open_high else '<='} {num(self.high)}"
                if self.high is not None else ""]
        return " and ".join(e for e in ends if e)

    def text(self) -> str:
        """E.g. ``a finite number > 0 and <= 1e+30``."""
        return f"{self.kind()} {self.bounds()}".rstrip()

    def holds(self, value: Any) -> bool:
        kind = numbers.Integral if self.integer else numbers.Real
        if not isinstance(value, kind) or isinstance(value, bool) or (
                not isinstance(value, numbers.Integral) and not math.isfinite(value)):
            return False  # (an int of any size is finite: no float conversion to overflow)
        lo, hi, value = self.low, self.high, cast(float, value)
        return (lo is None or value > lo or (value == lo and not self.open_low)) and (
            hi is None or value < hi or (value == hi and not self.open_high))


RANGES = {
    "lr": Range(0, MAX_LR, open_low=True),
    "momentum": Range(0, 1),
    "weight_decay": Range(0),
    "epochs": Range(1, MAX_EPOCHS, integer=True),
    "batch_size": Range(1, MAX_BATCH, integer=True),
    "seed": Range(0, MAX_SEED, integer=True),
}
"""Each number's range, by its ``RunConfig`` field."""


def check_range(name: str, value: Any) -> None:
    """Refuse (one line) a ``value`` of ``name`` outside ``RANGES[name]``."""
    if not RANGES[name].holds(value):
        expected = RANGES[name]
        raise InputError(f"Expected {name} {expected.bounds()} ({expected.kind()}); got "
                         f"{value!r}. Pass {name} in that range (nothing was written).")
