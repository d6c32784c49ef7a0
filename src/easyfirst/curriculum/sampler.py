"""A DistributedSampler that draws each epoch from the current curriculum pool.

The pool at epoch ``e`` is the ``pacing.size_at(e, epochs, N)`` first samples of the
ordering (after class balancing). Its order within the epoch depends only on
``(seed, epoch)``, through ``torch.Generator().manual_seed(seed + epoch)``, so every rank
computes the same global sequence and takes its shard ``rank::num_replicas``, exactly as
``torch.utils.data.DistributedSampler`` does; a fresh sampler at epoch 5 equals one that ran
through epochs 0..4.

Two epoch modes:

* ``"constant"`` (default): every epoch has the baseline's length, ``N`` samples across ranks
  (padded or truncated like ``DistributedSampler``), drawn as repeated shuffled passes over
  the pool. Curriculum and baseline runs then take the same number of optimizer steps, and
  frameworks that fix the number of batches per epoch keep working.
* ``"pool"`` (the paper quick start's behaviour): an epoch is one shuffled pass over the pool, so
  early epochs are shorter.

With ``ordering=None`` it is the baseline and yields exactly what
``DistributedSampler(dataset, shuffle=True, seed=seed, drop_last=drop_last)`` yields.
Subclassing ``DistributedSampler`` keeps Lightning from wrapping it under DDP. This class is
the stateful shell: the epoch and the place in it (``state_dict``) are kept by
:class:`~easyfirst.curriculum.resumable.ResumableSampler`, the draws are the pure functions
of :mod:`easyfirst.curriculum.draws`, and the arguments are checked by
:mod:`easyfirst.curriculum.sampler_options`.

Example:
    >>> import numpy as np
    >>> from easyfirst.pacing import PacingFunction
    >>> sampler = CurriculumSampler(
    ...     10, np.arange(10), pacing=PacingFunction("linear", start_fraction=0.2, full_at=0.5),
    ...     epochs=4, mode="pool")
    >>> sampler.pool_size, sorted(sampler)
    (2, [0, 1])
    >>> sampler.set_epoch(2)
    >>> sampler.pool_size, len(sampler)
    (10, 10)
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sized
from typing import cast

import numpy as np
import torch

from easyfirst.curriculum.balance import make_pool
from easyfirst.curriculum.draws import Shard, epoch_draws, step_paced_draws
from easyfirst.curriculum.ordering import check_ordering
from easyfirst.curriculum.resumable import ResumableSampler
from easyfirst.curriculum.sampler_options import (
    MODES,
    PACE_BY,
    check_batches,
    check_choices,
    check_needs,
    order_of,
    pacing_of,
    world_of,
)
from easyfirst.deprecation import renamed
from easyfirst.errors import InputError
from easyfirst.pacing import PacingFunction
from easyfirst.scores import Scores

__all__ = ["MODES", "PACE_BY", "CurriculumSampler"]


class CurriculumSampler(ResumableSampler):
    """Curriculum sampler, sharded and seeded like ``DistributedSampler``.

    Call :meth:`set_epoch` before each epoch, as with ``DistributedSampler``; iterating it a
    second time in one epoch warns (once), since the pool would not grow.

    Args:
        dataset_or_len: the training dataset (anything with ``len``) or its length N.
        ordering: sample indices, first-to-enter first, shape (N,), e.g. from
            :func:`easyfirst.curriculum.make_ordering`; or ``Scores`` (or the path of a score
            file, read with ``Scores.load``), entered easiest first (``scores.easy_to_hard()``;
            ``make_ordering`` gives anti and random orders); ``None`` for the baseline (full
            data every epoch; ``pacing`` and ``balance`` are then not used).
        pacing: the pool size schedule: a ``PacingFunction``, or a pacing name (``easyfirst
            pacings``) with ``start_fraction`` (default 0.2) and ``full_at`` (default 0.5);
            ``None`` uses the full ordering every epoch.
        start_fraction, full_at: with a pacing name: the fraction of the data in use at the
            start, and the fraction of training after which all of it is used.
        epochs: E, the length of training; needed with ``pacing``.
        batch_size: B per rank; when given, every epoch's pool must hold one batch.
        mode: ``"constant"`` (baseline epoch length) or ``"pool"`` (one pass over the pool).
        pace_by: ``"epoch"`` (the pool changes at epoch starts) or ``"step"`` (constant mode
            only, needs ``batch_size``: the pool is re-sized at optimizer step ``s`` to
            ``pacing.size_at(s, total_steps, N)`` whenever a pass over the pool ends, as
            aucurriculum does when its subset loader runs out).
        balance: ``"none"``, ``"balanced"``, ``"stratified"`` or ``"cover"`` (see
            :mod:`easyfirst.curriculum.balance`); needs ``targets``.
        targets: class ids, shape (N,), indexed by sample index.
        num_classes: C; default: the distinct values of ``targets``.
        num_replicas: world size; default: from ``torch.distributed`` if initialised, else 1.
        rank: this process's rank; default: from ``torch.distributed`` if initialised, else 0.
        seed: base seed; epoch ``e`` shuffles with ``seed + e``. Same on every rank.
        drop_last: as in ``DistributedSampler``: drop the tail instead of padding.

    Raises:
        ValueError: bad ordering length, unknown ``mode`` or ``balance``, missing
            ``epochs`` or ``targets``, or a pool smaller than one batch.
    """

    def __init__(
        self,
        dataset_or_len: Sized | int,
        ordering: np.ndarray | Scores | str | os.PathLike[str] | None,
        *,
        pacing: PacingFunction | str | None = None,
        start_fraction: float | None = None,
        full_at: float | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        mode: str = "constant",
        pace_by: str = "epoch",
        balance: str = "none",
        targets: np.ndarray | torch.Tensor | None = None,
        num_classes: int | None = None,
        num_replicas: int | None = None,
        rank: int | None = None,
        seed: int = 0,
        drop_last: bool = False,
        num_epochs: int | None = None,
    ) -> None:
        epochs = renamed("CurriculumSampler", "num_epochs", num_epochs, "epochs", epochs)
        dataset: Sized
        if isinstance(dataset_or_len, (int, np.integer)):
            dataset = range(int(dataset_or_len))
        else:
            dataset = dataset_or_len
        num_replicas, rank = world_of(num_replicas, rank)
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, seed=seed,
                         drop_last=drop_last)
        n = self._n = len(dataset)
        if n < 1:
            raise InputError("Expected a dataset with at least 1 sample; got 0. Check the data.")
        check_choices(mode=mode, balance=balance, pace_by=pace_by)
        self.ordering = None if ordering is None else check_ordering(order_of(ordering), n)
        self.pacing = pacing_of(pacing, start_fraction, full_at)
        self.epochs = epochs
        self.batch_size = batch_size
        self.mode = mode
        self.pace_by = pace_by
        self.balance = balance
        self.targets = None if targets is None else np.asarray(targets)
        self.num_classes = num_classes
        check_needs(mode=mode, pace_by=pace_by, batch_size=batch_size, epochs=epochs,
                    balance=balance, paced=self.pacing is not None,
                    ordered=self.ordering is not None, has_targets=self.targets is not None)
        check_batches(batch_size, n, epochs, self.pool_size_at)
        self._pool_cache: tuple[int, np.ndarray] | None = None
        self.set_epoch(0)
        if self.ordering is not None and balance != "none":
            _ = self.pool  # validates targets and num_classes up front

    @property
    def num_epochs(self) -> int | None:
        """Deprecated name of :attr:`epochs`."""
        warnings.warn("CurriculumSampler.num_epochs is renamed epochs.", DeprecationWarning,
                      stacklevel=2)
        return self.epochs

    # --- pool ------------------------------------------------------------------------------

    def pool_size_at(self, epoch: int) -> int:
        """Pool size at ``epoch`` (0-based): ``pacing.size_at(epoch, epochs, N)``."""
        if self.ordering is None or self.pacing is None or self.epochs is None:
            return self._n
        return self.pacing.size_at(epoch, self.epochs, self._n)

    @property
    def pool_size(self) -> int:
        """Pool size S of the current epoch."""
        return self.pool_size_at(self.epoch)

    @property
    def pool(self) -> np.ndarray:
        """Sample indices in the current epoch's pool, shape (S,), easiest first."""
        return self._pool_of(self.pool_size)

    def _pool_of(self, size: int) -> np.ndarray:
        if self.ordering is None:
            return np.arange(size, dtype=np.int64)
        if self._pool_cache is None or self._pool_cache[0] != size:
            pool = make_pool(
                self.ordering,
                size,
                balance=self.balance,
                targets=self.targets,
                num_classes=self.num_classes,
            )
            self._pool_cache = (size, pool)
        return self._pool_cache[1]

    # --- epoch sequence --------------------------------------------------------------------

    def epoch_indices(self) -> torch.Tensor:
        """This rank's full index sequence for the current epoch, int64 of shape (len(self),)."""
        shard = Shard(self.num_replicas, self.rank, self.drop_last)
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        if (self.mode == "constant" and self.pace_by == "step" and self.ordering is not None
                and self.pacing is not None):
            pacing = self.pacing
            return step_paced_draws(
                lambda step, steps: self._pool_of(pacing.size_at(step, steps, self._n)),
                self._n, epoch=self.epoch, epochs=cast(int, self.epochs),
                batch_size=cast(int, self.batch_size), shard=shard, generator=g)
        return epoch_draws(self.pool, self._n, self.mode, shard, g)

    def epoch_size_at(self, epoch: int) -> int:
        """Draws of epoch ``epoch`` before padding: its pool in ``"pool"`` mode, else N."""
        return self.pool_size_at(epoch) if self.mode == "pool" else self._n

    def _repeats(self) -> str:
        return f"with the same pool ({self.pool_size} of {self._n} samples)"
