"""The job being run: one overall progress line over all its trainings, and its loggers.

A command (``easyfirst score``, ``train``, ``reproduce``) runs inside :func:`job`. Its line
counts member-epochs, the unit of work of every training (a stacked run of K seeds does K
per epoch), so the whole job's ETA is shown, not only the current seed's::

    job: 37%|███▋      | 22/60 epochs [01:10<02:01, 0.31 epochs/s]
    tcresnet8 seed 2:  40%|████      | 8/20 [00:25<00:38, ...]

Workflows announce the trainings they will run (:meth:`Job.expect`, e.g. seeds x epochs); a
training nobody announced (a costly scorer's folds) adds its epochs when it starts. The
engine reports through :class:`EpochWatch`. Outside a job there is no overall line and no
logging: a library user's ``train(...)`` shows its own bar only, as before.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np

from easyfirst.errors import InputError
from easyfirst.monitor.loggers import MetricLogger, build_loggers
from easyfirst.monitor.progress import progress_bar

SHOWN = ("train_loss", "train_accuracy", "dev_accuracy", "dev_map")  # a run bar's postfix
NOT_LOGGED = ("epoch", "steps")

_CURRENT: ContextVar[Job | None] = ContextVar("easyfirst_job", default=None)


class Job:
    """One job's overall line (lazily drawn, rank 0 only) and loggers.

    Args:
        root: the job's output folder; run names are folders relative to it.
        loggers: built loggers (:func:`~easyfirst.monitor.loggers.build_loggers`).
        show: draw the overall line.
    """

    def __init__(self, *, root: str | Path | None = None,
                 loggers: Sequence[MetricLogger] = (), show: bool = True) -> None:
        self.root = Path(root).resolve() if root is not None else None
        self.loggers = list(loggers)
        self.show = show and os.environ.get("RANK", "0") == "0"
        self.total = self.done = self.planned = 0
        self.first: int | None = None  # the first training's member-epochs
        self.bar: Any = None
        self.notes: list[str] = []  # held until the first training starts (see note)
        self.started = False
        self._names: set[str] = set()

    def expect(self, epochs: int) -> None:
        """Announce ``epochs`` member-epochs of trainings this job is about to run."""
        self.planned += max(int(epochs), 0)
        self._grow(max(int(epochs), 0))

    def begin(self, epochs: int) -> None:
        """A training of ``epochs`` member-epochs starts: it uses announced work, else adds."""
        self.say_notes()
        used = min(self.planned, epochs)
        self.planned -= used
        self.first = epochs if self.first is None else self.first
        self._grow(epochs - used)

    def advance(self, epochs: int) -> None:
        self.done += epochs
        if self.bar is not None:
            self.bar.update(epochs)
            if self.done >= self.total:  # all announced work done: the line is complete
                self.bar.close()
                self.bar = None

    def _grow(self, epochs: int) -> None:
        """Add work; the line is drawn once the job holds more than its first training."""
        self.total += epochs
        if not self.show or self.first is None or self.total <= self.first:
            return
        if self.bar is None:  # smoothing=0: the ETA from the job's mean rate so far
            self.bar = progress_bar(total=self.total, initial=self.done, unit="epoch",
                                    desc="job", smoothing=0.0, dynamic_ncols=True)
        else:
            self.bar.total = self.total
            self.bar.refresh()

    def run_name(self, folder: str | Path | None, seed: int, model: str) -> str:
        """A unique name for one member's training: its folder relative to the job's root
        (``seeds/seed_0``), else ``<model>-seed_<s>`` (``-2``, ``-3`` for later ones)."""
        name = f"{model}-seed_{seed}"
        if folder is not None:
            path = Path(folder).resolve()
            rel = path.relative_to(self.root) if self.root and path.is_relative_to(self.root) \
                else Path(path.name)
            name = rel.as_posix() if rel.parts else name
        unique, n = name, 1
        while unique in self._names:
            n += 1
            unique = f"{name}-{n}"
        self._names.add(unique)
        return unique

    def log_epoch(self, run: str, row: Mapping[str, Any]) -> None:
        values = {k: float(v) for k, v in row.items() if k not in NOT_LOGGED
                  and isinstance(v, (int, float)) and not isinstance(v, bool)}
        for logger in self.loggers:
            logger.scalars(run, int(row["epoch"]), values)

    def log_scores(self, scorer: str, values: np.ndarray) -> None:
        """One scorer's (ensemble) scores of the training split, as a histogram."""
        for logger in self.loggers:
            logger.histogram(f"scores/{scorer}", np.asarray(values))

    def say_notes(self) -> None:
        """Print the held notes on stderr: the job's checks have passed."""
        self.started = True
        for text in self.notes:
            print(text, file=sys.stderr, flush=True)
        self.notes.clear()

    def close(self) -> None:
        self.say_notes()  # a job that trained nothing (all resumed): its notes at the end
        if self.bar is not None:
            self.bar.close()
        for logger in self.loggers:
            logger.close()


def current_job() -> Job | None:
    """The job this code runs in, or None (plain library use)."""
    return _CURRENT.get()


@contextmanager
def job(*, root: str | Path | None = None, log: Sequence[str] = (),
        log_dir: str | Path | None = None, progress: bool = True) -> Iterator[Job]:
    """Run a job: the overall progress line and the loggers named in ``log``.

    Args:
        root: the job's output folder (run names are relative to it).
        log: logger names (``tensorboard``, ``mlflow``); each is checked (its package
            imported) here, before anything runs, and writes under ``log_dir`` from the
            first epoch on.
        log_dir: where the loggers write (default ``root/logs``).
        progress: draw the overall line.
    """
    if log and log_dir is None and root is None:
        raise InputError("Expected a log folder for the loggers; got neither log_dir nor root. "
                         "Pass --log-dir PATH (log_dir=PATH in Python).")
    where = Path(log_dir) if log_dir is not None else Path(root or ".") / "logs"
    current = Job(root=root, loggers=build_loggers(list(log), where), show=progress)
    token = _CURRENT.set(current)
    try:
        yield current
    except BaseException:
        current.notes.clear()  # an error is the only line of a job that failed its checks
        raise
    finally:
        _CURRENT.reset(token)
        current.close()


def note(text: str) -> None:
    """Tell the user what was picked for them (``model auto -> ...``, where the training data
    lives): one line on stderr, never on stdout, which holds results. In a job the line waits
    until the first training starts, so that a check failing before then leaves its error as
    the only line; outside a job it is printed at once."""
    current = current_job()
    if current is None or current.started:
        print(text, file=sys.stderr, flush=True)
    else:
        current.notes.append(text)


def expect_epochs(epochs: int) -> None:
    """Announce trainings to the current job, if any (workflows call this)."""
    current = current_job()
    if current is not None:
        current.expect(epochs)


def log_scores(scorer: str, values: np.ndarray) -> None:
    """Log a scorer's histogram to the current job's loggers, if any."""
    current = current_job()
    if current is not None:
        current.log_scores(scorer, values)


class EpochWatch:
    """One training's epochs as the engine sees them: its own bar, the job's line, the
    loggers (``log``: this process logs, i.e. rank 0 or a seed-parallel rank).

    Args:
        folders: one folder per member (or none); seeds, model: name the members' runs.
        epochs, start: the run's epochs and the first one still to train.
        desc: the bar's label; show: draw the bar.
    """

    def __init__(self, folders: Sequence[Path], seeds: Sequence[int], model: str, *,
                 epochs: int, start: int, desc: str, show: bool, log: bool) -> None:
        self.job = current_job()
        self.names: list[str] = []
        if self.job is not None:
            self.job.begin(len(seeds) * (epochs - start))
            if log and self.job.loggers:
                self.names = [self.job.run_name(folders[m] if folders else None, s, model)
                              for m, s in enumerate(seeds)]
        self.bar = progress_bar(total=epochs, initial=start, unit="epoch", leave=False,
                                desc=desc, disable=not show)

    def epoch_done(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """After an epoch: ``rows`` holds one metrics row per member."""
        self.bar.set_postfix({k: round(v, 4) for k, v in rows[0].items() if k in SHOWN},
                             refresh=False)  # before update: a plain line shows this epoch's
        self.bar.update(1)
        if self.job is not None:
            self.job.advance(len(rows))
            for name, row in zip(self.names, rows, strict=False):
                self.job.log_epoch(name, row)

    def close(self) -> None:
        self.bar.close()
