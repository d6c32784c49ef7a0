"""A run's checkpoint: atomic files, the RNG states a bit-identical resume needs, and the
``Checkpointing`` callback (its schema, written after every epoch, restored to resume)."""

from __future__ import annotations

import os
import pickle
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import torch

from easyfirst.atomic import atomic_torch_save
from easyfirst.errors import InputError
from easyfirst.file_errors import looks_like
from easyfirst.training.callbacks import Callback
from easyfirst.training.runs import CHECKPOINT, check_resumable, dropout_seed

if TYPE_CHECKING:  # the engine imports this module
    from easyfirst.training.engine import Engine


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """``torch.save`` to a temp file, then ``os.replace``: a crash never leaves half a file, a
    full disk is one line naming ``path`` (see :func:`~easyfirst.atomic.atomic_torch_save`)."""
    atomic_torch_save(state, path)


def load_checkpoint(path: str | os.PathLike[str], *,
                    fix: str = "delete it to start the run afresh") -> dict[str, Any]:
    """The checkpoint at ``path``, or one line: what it looks like and ``fix`` (the default
    suits a run's own checkpoint; a user's input file gets another)."""
    try:
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
        raise InputError(
            f"Checkpoint {str(path)!r} cannot be read: expected a file written by torch.save; "
            f"got {looks_like(path)}; {fix}."
        ) from exc
    return state


def rng_state(device: torch.device) -> dict[str, Any]:
    """The global RNG states a checkpoint needs for a bit-identical resume (dropout etc.)."""
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return {"rng_cpu": torch.get_rng_state(), "rng_cuda": cuda}


def restore_rng(state: dict[str, Any], device: torch.device) -> None:
    """Undo :func:`rng_state` from a loaded checkpoint."""
    torch.set_rng_state(state["rng_cpu"])
    if device.type == "cuda" and state.get("rng_cuda") is not None:
        torch.cuda.set_rng_state(state["rng_cuda"], device)


class Checkpointing(Callback):
    """The run's checkpoint (``checkpoint.pt``, rank 0): written after every epoch, restored
    to resume, and at the end of a stacked run one plain-run checkpoint per member folder.

    Schema: epoch, config, seeds, fingerprint, model, optimizer, recorder, metrics (one list
    per member), best (per member: epoch, dev_metric), best_state, rng_cpu, rng_cuda.
    """

    def restore(self, engine: Engine) -> int:
        """Load the checkpoint (resume) and return the first epoch to train."""
        path = engine.ckpt_path
        if not (engine.resume and path is not None and path.is_file()):
            torch.manual_seed(dropout_seed(engine.seeds, stacked=engine.stacked))
            return 0
        state = load_checkpoint(path)
        check_resumable(state, engine.cfg, engine.seeds, engine.bundle.fingerprint, path)
        engine.members.load_state_dict(state["model"])
        engine.opt.load_state_dict(state["optimizer"])
        if engine.recorder is not None:
            engine.recorder.load_state_dict(state["recorder"])
        engine.selection.load_state_dict(state)
        restore_rng(state, engine.device)
        return int(state["epoch"]) + 1

    def on_epoch_end(self, engine: Engine, epoch: int, rows: list[dict[str, Any]]) -> None:
        if engine.ckpt_path is not None and engine.dinfo.is_main:
            save_checkpoint(self.checkpoint(engine, epoch), engine.ckpt_path)

    def on_fit_end(self, engine: Engine) -> None:
        for m, folder in enumerate(engine.member_dirs):
            save_checkpoint(self.member_checkpoint(engine, m), folder / CHECKPOINT)

    def checkpoint(self, engine: Engine, epoch: int) -> dict[str, Any]:
        rec = engine.recorder
        return {
            "epoch": epoch, "config": engine.cfg.to_dict(), "seeds": engine.seeds,
            "fingerprint": engine.bundle.fingerprint, "model": engine.members.state_dict(),
            "optimizer": engine.opt.state_dict(),
            "recorder": rec.state_dict() if rec is not None else None,
            **engine.selection.state_dict(), **rng_state(engine.device),
        }

    def member_checkpoint(self, engine: Engine, m: int) -> dict[str, Any]:
        """What a plain run of member m's seed writes after its last epoch."""
        members, sel, n = engine.members, engine.selection, engine.n
        best = sel.best_state if sel.best[m]["epoch"] >= 0 else None
        rec = engine.recorder
        return {
            **self.checkpoint(engine, engine.cfg.epochs - 1),
            "config": replace(engine.cfg, seed=engine.seeds[m]).to_dict(),
            "seeds": [engine.seeds[m]],
            "model": members.member_state(m, members.state_dict()),
            "optimizer": members.member_optimizer_state(engine.opt.state_dict(), m),
            "recorder": rec.state_dict(slice(m * n, (m + 1) * n)) if rec is not None else None,
            "metrics": [sel.metrics[m]], "best": [sel.best[m]],
            "best_state": members.member_state(m, best) if best is not None else None,
        }
