"""Seeded data splits for the scorers that train on part of the data (CVLoss, C-score).

Pure index math on NumPy arrays; every function takes an explicit ``seed`` and never touches a
global random state.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from easyfirst.errors import InputError


def _as_targets(targets: torch.Tensor | np.ndarray | Sequence[int]) -> np.ndarray:
    y = np.asarray(targets.cpu() if isinstance(targets, torch.Tensor) else targets)
    if y.ndim != 1:
        raise InputError(f"Expected targets of shape (N,); got shape {y.shape}.")
    return y.astype(np.int64, copy=False)


def stratified_folds(
    targets: torch.Tensor | np.ndarray | Sequence[int], k: int, *, seed: int
) -> list[np.ndarray]:
    """Split N samples into ``k`` folds with (as nearly as possible) equal class proportions.

    Each class's samples are shuffled with ``seed`` and dealt round-robin to the folds; the
    dealing starts where the previous class stopped, so fold sizes differ by at most one.

    Args:
        targets: (N,) class ids.
        k: number of folds, 2 <= k <= N.
        seed: seed of the shuffle.

    Returns:
        ``k`` sorted int64 index arrays that partition ``range(N)``.

    Example:
        >>> folds = stratified_folds([0, 0, 0, 1, 1, 1], 3, seed=0)
        >>> sorted(np.concatenate(folds).tolist())
        [0, 1, 2, 3, 4, 5]
        >>> [len(f) for f in folds]
        [2, 2, 2]
    """
    y = _as_targets(targets)
    n = y.size
    k = int(k)
    if k < 2:
        raise InputError(
            f"Expected k >= 2 cross-validation folds; got k={k}. Use k=3 (the default) or more."
        )
    if k > n:
        raise InputError(
            f"Expected k <= N = {n} folds (each fold needs a sample); got k={k}. Use fewer folds."
        )
    rng = np.random.default_rng(seed)
    fold_of = np.empty(n, dtype=np.int64)
    start = 0
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        fold_of[members] = (start + np.arange(members.size)) % k
        start = (start + members.size) % k
    return [np.flatnonzero(fold_of == j) for j in range(k)]


def check_ratios(ratios: Sequence[float]) -> tuple[float, ...]:
    """Validate subset ratios: a non-empty list of distinct values strictly inside (0, 1)."""
    out = tuple(float(r) for r in ratios)
    if not out:
        raise InputError("Expected at least one subset ratio in (0, 1); got none. Try 0.1,0.5,0.9.")
    bad = [r for r in out if not 0.0 < r < 1.0]
    if bad:
        raise InputError(
            f"Expected subset ratios strictly between 0 and 1; got {bad[0]}. Use fractions of "
            "the training set such as 0.1,0.3,0.5,0.7,0.9."
        )
    if len(set(out)) != len(out):
        raise InputError(f"Expected distinct subset ratios; got {list(out)}. Drop the repeats.")
    return out


def holdout_windows(n: int, ratio: float, runs: int, *, seed: int) -> list[np.ndarray]:
    """Held-out index sets of ``runs`` random training subsets of size ``round(ratio * N)``.

    The samples are permuted once with ``seed``; run ``j`` holds out the ``h = N - round(ratio
    * N)`` consecutive positions starting at ``j * h`` (cyclically). Each training subset is
    therefore a uniformly random subset of its size, and together the runs hold out every
    sample as evenly as possible: all of them once ``runs * h >= N``.

    Args:
        n: N, number of samples.
        ratio: training fraction, in (0, 1).
        runs: number of subsets (>= 1).
        seed: seed of the permutation.

    Returns:
        ``runs`` sorted int64 arrays of held-out indices, each of size ``h`` (1 <= h < N).
    """
    (ratio,) = check_ratios([ratio])
    if runs < 1:
        raise InputError(f"Expected at least one subset run per ratio; got {runs}.")
    size = int(round(ratio * n))
    if not 1 <= size <= n - 1:
        raise InputError(
            f"Subset ratio {ratio} of N = {n} samples trains on {size}; expected between 1 and "
            f"N - 1 samples so that some are held out. Use a ratio between {1 / n:.3g} and "
            f"{(n - 1) / n:.3g}."
        )
    h = n - size
    perm = np.random.default_rng(seed).permutation(n)
    out = []
    for j in range(runs):
        pos = (j * h + np.arange(h)) % n
        out.append(np.sort(perm[pos]))
    return out


def complement(n: int, held_out: np.ndarray) -> np.ndarray:
    """Sorted indices of ``range(n)`` not in ``held_out``."""
    mask = np.ones(n, dtype=bool)
    mask[held_out] = False
    return np.flatnonzero(mask)
