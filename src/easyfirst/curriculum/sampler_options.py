"""The curriculum sampler's arguments, resolved and checked before it draws anything.

Resolved: the world (size and rank from ``torch.distributed`` when initialised), an ordering
from ``Scores`` or a score file, a pacing given by name. Checked, each with a one-line
``ValueError``: the named choices (``mode``, ``balance``, ``pace_by``), what the options need
of each other (``pace_by="step"`` a batch size, a pacing ``epochs``, a balance
``targets``), and one batch in every epoch's pool.

Example:
    >>> check_choices(mode="pool", balance="none", pace_by="epoch")
    >>> check_choices(mode="fast", balance="none", pace_by="epoch")
    Traceback (most recent call last):
    ...
    easyfirst.errors.InputError: Unknown mode 'fast'. Available: constant, pool.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from numbers import Integral

import numpy as np
import torch.distributed as dist

from easyfirst.curriculum.balance import BALANCES
from easyfirst.errors import InputError
from easyfirst.pacing import PacingFunction
from easyfirst.scores import Scores

MODES = ("constant", "pool")
PACE_BY = ("epoch", "step")


def world_of(num_replicas: int | None, rank: int | None) -> tuple[int, int]:
    """``(num_replicas, rank)``, each defaulting to ``torch.distributed``'s when initialised,
    else to one process of rank 0."""
    ready = dist.is_available() and dist.is_initialized()
    if num_replicas is None:
        num_replicas = dist.get_world_size() if ready else 1
    if rank is None:
        rank = dist.get_rank() if ready else 0
    return num_replicas, rank


def order_of(ordering: np.ndarray | Scores | str | os.PathLike[str]) -> np.ndarray:
    """The sample order of an index array, of ``Scores`` or of a score file: easiest first."""
    if isinstance(ordering, (str, os.PathLike)):
        ordering = Scores.load(ordering)
    return ordering.easy_to_hard() if isinstance(ordering, Scores) else ordering


def pacing_of(pacing: PacingFunction | str | None, start_fraction: float | None,
              full_at: float | None) -> PacingFunction | None:
    """``pacing`` as a ``PacingFunction`` (a name takes ``start_fraction`` and ``full_at``)."""
    given = {k: v for k, v in (("start_fraction", start_fraction), ("full_at", full_at))
             if v is not None}
    if isinstance(pacing, str):
        return PacingFunction(pacing, **given)
    if given:
        raise InputError(
            f"Expected {' and '.join(given)} only with a pacing name; got them with pacing="
            f"{pacing!r}. Pass pacing='linear' (a name) with them, or set them in the "
            "PacingFunction.")
    return pacing


def check_choices(*, mode: str, balance: str, pace_by: str) -> None:
    """Each named choice among its valid values (the error lists them)."""
    for what, value, valid in (("mode", mode, MODES), ("balance", balance, BALANCES),
                               ("pace_by", pace_by, PACE_BY)):
        if value not in valid:
            raise InputError(f"Unknown {what} {value!r}. Available: {', '.join(valid)}.")


def check_needs(*, mode: str, pace_by: str, batch_size: int | None, epochs: int | None,
                balance: str, paced: bool, ordered: bool, has_targets: bool) -> None:
    """What the options need of each other; ``paced``: a pacing function is given,
    ``ordered``: an ordering is given (not the baseline)."""
    if pace_by == "step" and (mode != "constant" or batch_size is None):
        raise InputError(
            f"pace_by='step' needs mode='constant' and a batch_size; got mode={mode!r}, "
            f"batch_size={batch_size!r}."
        )
    if paced and ordered and (not isinstance(epochs, Integral) or epochs < 1):
        raise InputError(
            f"Expected epochs >= 1 with a pacing function; got {epochs!r}. "
            "Pass the number of training epochs."
        )
    if balance != "none" and ordered and not has_targets:
        raise InputError(
            f"Expected targets (N,) for balance={balance!r}; got None. Pass the class "
            "ids of the training samples, or balance='none'."
        )


def check_batches(batch_size: int | None, n: int, epochs: int | None,
                  pool_size_at: Callable[[int], int]) -> None:
    """With a ``batch_size``: an int >= 1, and every epoch's pool (``pool_size_at(epoch)``
    of ``n`` samples, epochs ``0..epochs-1``) holds one batch."""
    if batch_size is None:
        return
    if not isinstance(batch_size, Integral) or batch_size < 1:
        raise InputError(f"Expected batch_size to be an int >= 1 or None; got {batch_size!r}.")
    if n < batch_size:  # no pacing helps: the whole set is less than a batch
        raise InputError(
            f"Expected the training split to hold at least one batch ({batch_size} "
            f"samples); got {n} samples. Lower the batch size (--batch-size) to "
            f"{n} or less, or add training data."
        )
    for epoch in range(epochs or 1):
        size = pool_size_at(epoch)
        if size < batch_size:
            raise InputError(
                f"Expected every epoch's pool to hold one batch ({batch_size}); got {size} "
                f"of {n} samples at epoch {epoch}. Raise start_fraction or lower "
                "batch_size."
            )
