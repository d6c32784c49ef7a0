"""Atomic checkpoint files."""

from __future__ import annotations

import os
import pickle
from typing import Any

import torch

from easyfirst.atomic import atomic_write


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """``torch.save`` to a temp file, then ``os.replace``: a crash never leaves half a file."""
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        raise ValueError(
            f"Checkpoint {str(path)!r} cannot be read ({type(exc).__name__}); delete it to start "
            "the run afresh."
        ) from exc
    return state
