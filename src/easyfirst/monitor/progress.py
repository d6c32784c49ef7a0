"""Progress bars on a terminal, plain lines elsewhere: the one place that chooses.

On a terminal (or in a notebook) :func:`progress_bar` is a tqdm bar. When stderr is a file or
a pipe (a log, ``nohup``, a CI job) it is a :class:`PlainProgress`: one ordinary line each
time the work passes another tenth of its total, and one at the end, with no ``\\r`` or
cursor codes::

    job: 6/60 epochs (10%), 0:12 elapsed, about 1:48 left

``EASYFIRST_PROGRESS=bars`` or ``lines`` overrides the choice.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from typing import Any

from tqdm.auto import tqdm

STEPS = 10  # plain lines: one per tenth of the work


def use_bars() -> bool:
    """Whether progress is drawn as bars: stderr is a terminal, or this is a notebook;
    ``$EASYFIRST_PROGRESS`` (``bars`` or ``lines``) decides when set."""
    choice = os.environ.get("EASYFIRST_PROGRESS", "").strip().lower()
    if choice in ("bars", "lines"):
        return choice == "bars"
    try:
        tty = sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        tty = False
    return tty or "ipykernel" in sys.modules


def progress_bar(*, total: int, desc: str, unit: str = "it", initial: int = 0,
                 disable: bool = False, **bar_options: Any) -> Any:
    """A progress display for ``total`` units of work: a tqdm bar (``bar_options`` go to it)
    when :func:`use_bars`, else plain lines; nothing with ``disable``. Both take
    ``update``, ``set_postfix``, ``set_postfix_str``, ``refresh``, ``close`` and ``with``."""
    if disable or use_bars():
        return tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=disable,
                    **bar_options)
    return PlainProgress(total=total, desc=desc, unit=unit, initial=initial)


def _clock(seconds: float) -> str:
    return str(tqdm.format_interval(max(seconds, 0.0)))


class PlainProgress:
    """Progress as plain lines on stderr: one per tenth of ``total`` and one at the end.

    Args:
        total: units of work (may grow: set ``total`` and call ``refresh``).
        desc: the line's label; unit: what is counted; initial: units already done.
    """

    def __init__(self, *, total: int, desc: str, unit: str = "it", initial: int = 0) -> None:
        self.total, self.desc, self.unit = int(total), desc, unit
        self.n = self.start = int(initial)
        self.postfix = ""
        self.t0 = time.monotonic()
        self.said = self._step()  # the tenth last reported
        self.closed = False

    def _step(self) -> int:
        return STEPS * self.n // self.total if self.total > 0 else 0

    def update(self, n: int = 1) -> None:
        self.n += int(n)
        if self._step() > self.said:
            self.said = self._step()
            self._say()

    def set_postfix(self, values: Mapping[str, Any] | None = None, refresh: bool = True,
                    **more: Any) -> None:
        items = {**(values or {}), **more}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_postfix_str(self, text: str = "") -> None:
        self.postfix = text

    def refresh(self) -> None:
        """Nothing to redraw: lines are written as the work passes each tenth."""

    def line(self) -> str:
        """The current line, e.g. ``job: 6/60 epochs (10%), 0:12 elapsed, about 1:48 left``."""
        elapsed = time.monotonic() - self.t0
        pct = f" ({100 * self.n // self.total}%)" if self.total > 0 else ""
        text = f"{self.desc}: {self.n}/{self.total} {self.unit}s{pct}, {_clock(elapsed)} elapsed"
        done = self.n - self.start
        if done > 0 and self.n < self.total:
            text += f", about {_clock(elapsed / done * (self.total - self.n))} left"
        return text + (f" [{self.postfix}]" if self.postfix else "")

    def _say(self) -> None:
        print(self.line(), file=sys.stderr, flush=True)

    def close(self) -> None:
        """The last line (unless the last tenth already said it), once."""
        if self.closed:
            return
        self.closed = True
        if self.n > self.start and self._step() < STEPS:
            self._say()

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
