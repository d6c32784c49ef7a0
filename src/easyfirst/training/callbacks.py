"""The engine's hooks (``Callback``) and the callbacks every run has: progress and logging,
and the caller's per-epoch function. Checkpointing is ``training.checkpoint.Checkpointing``.

The engine calls, in the order of its callbacks: ``on_fit_start(engine, first_epoch)`` once
the models, data and recorder are built and a checkpoint is restored; ``on_epoch_end(engine,
epoch, rows)`` after every epoch (``rows``: one metrics row per member); ``on_fit_end(engine)``
after the last epoch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from easyfirst.monitor.job import EpochWatch

if TYPE_CHECKING:  # the engine imports this module
    from easyfirst.training.engine import Engine

Rows = list[dict[str, Any]]


class Callback:
    """Base of engine callbacks: override the hooks you need (module notes)."""

    def on_fit_start(self, engine: Engine, first_epoch: int) -> None:
        """Before the first epoch to train (0, or the epoch after a restored checkpoint)."""

    def on_epoch_end(self, engine: Engine, epoch: int, rows: Rows) -> None:
        """After epoch ``epoch`` (0-based); ``rows``: the members' metrics rows."""

    def on_fit_end(self, engine: Engine) -> None:
        """After the last epoch."""


class Progress(Callback):
    """The progress bar over epochs and the run folders' progress log (rank 0)."""

    def __init__(self, show: bool) -> None:
        self.show = show
        self.watch: EpochWatch | None = None

    def on_fit_start(self, engine: Engine, first_epoch: int) -> None:
        seeds, main = engine.seeds, engine.dinfo.is_main
        folders = engine.member_dirs or (
            [engine.ckpt_path.parent] if engine.ckpt_path is not None else [])
        self.watch = EpochWatch(
            folders, seeds, engine.cfg.model, epochs=engine.cfg.epochs, start=first_epoch,
            desc=f"{engine.cfg.model} seed{'s' if len(seeds) > 1 else ''} "
                 f"{','.join(map(str, seeds))}{' (stacked)' * engine.stacked}",
            show=self.show and main, log=main)

    def on_epoch_end(self, engine: Engine, epoch: int, rows: Rows) -> None:
        assert self.watch is not None  # on_fit_start
        self.watch.epoch_done(rows)

    def on_fit_end(self, engine: Engine) -> None:
        assert self.watch is not None  # on_fit_start
        self.watch.close()


class EpochFunction(Callback):
    """Calls ``fn(epoch, rows)`` after every epoch."""

    def __init__(self, fn: Callable[[int, Rows], None]) -> None:
        self.fn = fn

    def on_epoch_end(self, engine: Engine, epoch: int, rows: Rows) -> None:
        self.fn(epoch, rows)
