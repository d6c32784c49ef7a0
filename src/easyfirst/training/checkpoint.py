"""Atomic checkpoint files."""

from __future__ import annotations

import os
import pickle
from typing import Any

import torch

from easyfirst.atomic import atomic_torch_save
from easyfirst.file_errors import looks_like


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
        raise ValueError(
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
