"""Sample orderings for curriculum, anti-curriculum, random-curriculum and baseline runs.

Example:
    >>> import numpy as np
    >>> make_ordering(np.array([2, 0, 1]), "anti", seed=0).tolist()
    [1, 0, 2]
    >>> make_ordering(np.array([2, 0, 1]), "none", seed=0) is None
    True
"""

from __future__ import annotations

from typing import Literal, overload

import numpy as np
import torch

from easyfirst.errors import InputError
from easyfirst.scores.checks import is_permutation

ORDERINGS = ("curriculum", "anti", "random", "none")


def check_ordering(ordering: np.ndarray, num_samples: int | None = None) -> np.ndarray:
    """Validate that ``ordering (N,)`` is a permutation of ``0..N-1``; return it as int64.

    Raises:
        ValueError: wrong shape, wrong length (when ``num_samples`` is given), or not a
            permutation.
    """
    order = np.asarray(ordering)
    if order.ndim != 1 or (order.size and not np.issubdtype(order.dtype, np.integer)):
        raise InputError(
            f"Expected an ordering of integer sample indices with shape (N,); got dtype "
            f"{order.dtype} and shape {order.shape}. Pass e.g. scores.easy_to_hard()."
        )
    order = order.astype(np.int64, copy=False)
    n = len(order) if num_samples is None else num_samples
    if len(order) != n:
        raise InputError(
            f"Expected an ordering of length {n} (the dataset size); got {len(order)}. "
            "Score the same dataset split you train on."
        )
    if not is_permutation(order, n):
        raise InputError(
            f"Expected the ordering to be a permutation of 0..{n - 1}; got out-of-range or "
            "repeated indices. Pass each sample index exactly once, easiest first."
        )
    return order


@overload
def make_ordering(
    easy_to_hard: np.ndarray, kind: Literal["curriculum", "anti", "random"], *, seed: int
) -> np.ndarray: ...
@overload
def make_ordering(easy_to_hard: np.ndarray, kind: Literal["none"], *, seed: int) -> None: ...
@overload
def make_ordering(easy_to_hard: np.ndarray, kind: str, *, seed: int) -> np.ndarray | None: ...
def make_ordering(easy_to_hard: np.ndarray, kind: str, *, seed: int) -> np.ndarray | None:
    """The order in which samples enter the pool, first entries first.

    Args:
        easy_to_hard: sample indices sorted easiest first, shape (N,).
        kind: ``"curriculum"`` (as given), ``"anti"`` (hardest first), ``"random"`` (a
            seeded random permutation, independent of the scores: the random curriculum
            control) or ``"none"`` (the baseline: no ordering, full data).
        seed: seed of the ``"random"`` permutation.

    Returns:
        An int64 array of shape (N,), or ``None`` for ``"none"``.

    Raises:
        ValueError: unknown ``kind`` (lists the valid ones) or an invalid ordering.
    """
    if kind not in ORDERINGS:
        raise InputError(f"Unknown ordering {kind!r}. Available: {', '.join(ORDERINGS)}.")
    order = check_ordering(easy_to_hard)
    if kind == "none":
        return None
    if kind == "anti":
        return order[::-1].copy()
    if kind == "random":
        g = torch.Generator().manual_seed(seed)
        return torch.randperm(len(order), generator=g).numpy().astype(np.int64)
    return order.copy()
