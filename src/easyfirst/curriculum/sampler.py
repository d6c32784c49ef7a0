"""A DistributedSampler that draws each epoch from the current curriculum pool.

The pool at epoch ``e`` is the ``pacing.size_at(e, num_epochs, N)`` first samples of the
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
Subclassing ``DistributedSampler`` keeps Lightning from wrapping it under DDP.

Example:
    >>> import numpy as np
    >>> from easyfirst.pacing import PacingFunction
    >>> sampler = CurriculumSampler(
    ...     10, np.arange(10), pacing=PacingFunction("linear", start_fraction=0.2, full_at=0.5),
    ...     num_epochs=4, mode="pool")
    >>> sampler.pool_size, sorted(sampler)
    (2, [0, 1])
    >>> sampler.set_epoch(2)
    >>> sampler.pool_size, len(sampler)
    (10, 10)
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator, Sized
from numbers import Integral
from typing import Any, cast

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Dataset, DistributedSampler

from easyfirst.curriculum.balance import BALANCES, make_pool
from easyfirst.curriculum.ordering import check_ordering
from easyfirst.pacing import PacingFunction
from easyfirst.scores import Scores

MODES = ("constant", "pool")
PACE_BY = ("epoch", "step")


class CurriculumSampler(DistributedSampler[int]):
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
        num_epochs: E, the length of training; needed with ``pacing``.
        batch_size: B per rank; when given, every epoch's pool must hold one batch.
        mode: ``"constant"`` (baseline epoch length) or ``"pool"`` (one pass over the pool).
        pace_by: ``"epoch"`` (the pool changes at epoch starts) or ``"step"`` (constant mode
            only, needs ``batch_size``: the pool is re-sized at optimizer step ``s`` to
            ``pacing.size_at(s, total_steps, N)`` whenever a pass over the pool ends, as
            aucurriculum does when its subset loader runs out).
        balance: ``"none"``, ``"balanced"`` or ``"stratified"`` (see
            :mod:`easyfirst.curriculum.balance`); needs ``targets``.
        targets: class ids, shape (N,), indexed by sample index.
        num_classes: C; default: the distinct values of ``targets``.
        num_replicas: world size; default: from ``torch.distributed`` if initialised, else 1.
        rank: this process's rank; default: from ``torch.distributed`` if initialised, else 0.
        seed: base seed; epoch ``e`` shuffles with ``seed + e``. Same on every rank.
        drop_last: as in ``DistributedSampler``: drop the tail instead of padding.

    Raises:
        ValueError: bad ordering length, unknown ``mode`` or ``balance``, missing
            ``num_epochs`` or ``targets``, or a pool smaller than one batch.
    """

    NEXT_EPOCH = "set_epoch(epoch)"  # the call that starts an epoch (named in the warning)

    def __init__(
        self,
        dataset_or_len: Sized | int,
        ordering: np.ndarray | Scores | str | os.PathLike[str] | None,
        *,
        pacing: PacingFunction | str | None = None,
        start_fraction: float | None = None,
        full_at: float | None = None,
        num_epochs: int | None = None,
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
    ) -> None:
        dataset: Sized
        if isinstance(dataset_or_len, (int, np.integer)):
            dataset = range(int(dataset_or_len))
        else:
            dataset = dataset_or_len
        if num_replicas is None:
            num_replicas = dist.get_world_size() if _dist_ready() else 1
        if rank is None:
            rank = dist.get_rank() if _dist_ready() else 0
        super().__init__(
            cast(Dataset, dataset),
            num_replicas=num_replicas,
            rank=rank,
            shuffle=True,
            seed=seed,
            drop_last=drop_last,
        )
        n = self._n = len(dataset)
        if n < 1:
            raise ValueError("Expected a dataset with at least 1 sample; got 0. Check the data.")
        for what, value, valid in (("mode", mode, MODES), ("balance", balance, BALANCES),
                                   ("pace_by", pace_by, PACE_BY)):
            if value not in valid:
                raise ValueError(f"Unknown {what} {value!r}. Available: {', '.join(valid)}.")
        self.ordering = None if ordering is None else check_ordering(_order_of(ordering), n)
        self.pacing = _pacing_of(pacing, start_fraction, full_at)
        self.num_epochs = num_epochs
        self.batch_size = batch_size
        self.mode = mode
        self.pace_by = pace_by
        self.balance = balance
        self.targets = None if targets is None else np.asarray(targets)
        self.num_classes = num_classes
        self._check_options()
        self._pool_cache: tuple[int, np.ndarray] | None = None
        self._consumed = 0  # samples this rank has yielded in the current epoch
        self._resume_from = 0
        self._passes = 0  # iterations since set_epoch (a second one warns, once)
        self._warned = False
        self.set_epoch(0)
        if self.ordering is not None and balance != "none":
            _ = self.pool  # validates targets and num_classes up front

    def _check_options(self) -> None:
        mode, batch_size, num_epochs = self.mode, self.batch_size, self.num_epochs
        if self.pace_by == "step" and (mode != "constant" or batch_size is None):
            raise ValueError(
                f"pace_by='step' needs mode='constant' and a batch_size; got mode={mode!r}, "
                f"batch_size={batch_size!r}."
            )
        if (
            self.pacing is not None
            and self.ordering is not None
            and (not isinstance(num_epochs, Integral) or num_epochs < 1)
        ):
            raise ValueError(
                f"Expected num_epochs >= 1 with a pacing function; got {num_epochs!r}. "
                "Pass the number of training epochs."
            )
        if self.balance != "none" and self.ordering is not None and self.targets is None:
            raise ValueError(
                f"Expected targets (N,) for balance={self.balance!r}; got None. Pass the class "
                "ids of the training samples, or balance='none'."
            )
        if batch_size is None:
            return
        if not isinstance(batch_size, Integral) or batch_size < 1:
            raise ValueError(f"Expected batch_size to be an int >= 1 or None; got {batch_size!r}.")
        if self._n < batch_size:  # no pacing helps: the whole set is less than a batch
            raise ValueError(
                f"Expected the training split to hold at least one batch ({batch_size} "
                f"samples); got {self._n} samples. Lower the batch size (--batch-size) to "
                f"{self._n} or less, or add training data."
            )
        for epoch in range(num_epochs or 1):
            size = self.pool_size_at(epoch)
            if size < batch_size:
                raise ValueError(
                    f"Expected every epoch's pool to hold one batch ({batch_size}); got {size} "
                    f"of {self._n} samples at epoch {epoch}. Raise start_fraction or lower "
                    "batch_size."
                )

    # --- pool ------------------------------------------------------------------------------

    def pool_size_at(self, epoch: int) -> int:
        """Pool size at ``epoch`` (0-based): ``pacing.size_at(epoch, num_epochs, N)``."""
        if self.ordering is None or self.pacing is None or self.num_epochs is None:
            return self._n
        return self.pacing.size_at(epoch, self.num_epochs, self._n)

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

    def _total_size(self, count: int) -> int:
        """Samples across ranks for ``count`` items, padded or truncated like the base."""
        r = self.num_replicas
        if self.drop_last and count % r != 0:
            return math.ceil((count - r) / r) * r
        return math.ceil(count / r) * r

    def epoch_indices(self) -> torch.Tensor:
        """This rank's full index sequence for the current epoch, int64 of shape (len(self),)."""
        pool = torch.from_numpy(self.pool)
        size = len(pool)
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        if self.mode == "pool":
            total, passes = self._total_size(size), 1
        elif self.pace_by == "step" and self.ordering is not None and self.pacing is not None:
            return self._step_paced_indices(g)
        else:
            total = self._total_size(self._n)
            passes = max(1, (total if self.drop_last else self._n) // size)
        stream = torch.cat([pool[torch.randperm(size, generator=g)] for _ in range(passes)])
        if len(stream) < total:  # pad by repeating the start, as DistributedSampler does
            stream = stream.repeat(math.ceil(total / len(stream)))
        return stream[:total][self.rank : total : self.num_replicas]

    def _step_paced_indices(self, g: torch.Generator) -> torch.Tensor:
        """Constant-length epoch whose pool is re-sized by optimizer step at each pass end."""
        total = self._total_size(self._n)
        global_batch = cast(int, self.batch_size) * self.num_replicas
        steps = math.ceil(total / global_batch)
        total_steps = steps * cast(int, self.num_epochs)
        chunks, filled = [], 0
        while filled < total:
            step = self.epoch * steps + filled // global_batch
            pool = torch.from_numpy(self._pool_of(self.pacing.size_at(  # type: ignore[union-attr]
                step, total_steps, self._n)))
            chunks.append(pool[torch.randperm(len(pool), generator=g)])
            filled += len(pool)
        return torch.cat(chunks)[:total][self.rank : total : self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        self._passes += 1
        if self._passes == 2 and not self._warned:
            self._warned = True
            warnings.warn(
                f"{type(self).__name__} iterated again without {self.NEXT_EPOCH}: epoch "
                f"{self.epoch} repeats with the same pool ({self.pool_size} of {self._n} "
                f"samples). Call sampler.{self.NEXT_EPOCH} at the start of each epoch.",
                stacklevel=2)
        indices = self.epoch_indices().tolist()
        start, self._resume_from = self._resume_from, 0
        self._consumed = start
        for index in indices[start:]:
            self._consumed += 1
            yield index

    def __len__(self) -> int:
        """Samples per rank in the current epoch (a resumed epoch yields the rest of them)."""
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Select epoch ``epoch`` (0-based); call it before each epoch."""
        if epoch != self.epoch:
            self._consumed = self._resume_from = 0
        self.epoch, self._passes = epoch, 0
        count = self.pool_size if self.mode == "pool" else self._n
        self.epoch_size = count  # real draws this epoch, before padding to the world size
        self.total_size = self._total_size(count)
        self.num_samples = self.total_size // self.num_replicas

    # --- checkpointing ---------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """``{"epoch", "consumed", "seed", "num_replicas"}``; ``consumed`` counts this rank's
        yielded samples in the epoch.

        A ``DataLoader`` with workers draws indices ahead of training; then overwrite
        ``consumed`` with the number of samples actually trained on (batches times B).
        """
        return {
            "epoch": self.epoch,
            "consumed": self._consumed,
            "seed": self.seed,
            "num_replicas": self.num_replicas,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume at ``state["epoch"]``; the next iteration skips ``state["consumed"]``."""
        consumed = int(state.get("consumed", 0))
        if int(state.get("seed", self.seed)) != self.seed:
            raise ValueError(
                f"Expected sampler state with seed {self.seed}; got {state['seed']}. "
                "Resume with the seed of the checkpointed run."
            )
        replicas = int(state.get("num_replicas", self.num_replicas))
        if consumed and replicas != self.num_replicas:
            raise ValueError(
                f"Expected a mid-epoch state from num_replicas={self.num_replicas}; got "
                f"{replicas}. Resume with the same world size, or from an epoch boundary."
            )
        self.set_epoch(int(state["epoch"]))
        if not 0 <= consumed <= len(self):
            raise ValueError(
                f"Expected consumed in 0..{len(self)}; got {consumed}. Pass a state_dict() "
                "of this sampler."
            )
        self._consumed = self._resume_from = consumed


def _order_of(ordering: np.ndarray | Scores | str | os.PathLike[str]) -> np.ndarray:
    """The sample order of an index array, of ``Scores`` or of a score file: easiest first."""
    if isinstance(ordering, (str, os.PathLike)):
        ordering = Scores.load(ordering)
    return ordering.easy_to_hard() if isinstance(ordering, Scores) else ordering


def _pacing_of(pacing: PacingFunction | str | None, start_fraction: float | None,
               full_at: float | None) -> PacingFunction | None:
    """``pacing`` as a ``PacingFunction`` (a name takes ``start_fraction`` and ``full_at``)."""
    given = {k: v for k, v in (("start_fraction", start_fraction), ("full_at", full_at))
             if v is not None}
    if isinstance(pacing, str):
        return PacingFunction(pacing, **given)
    if given:
        raise ValueError(
            f"Expected {' and '.join(given)} only with a pacing name; got them with pacing="
            f"{pacing!r}. Pass pacing='linear' (a name) with them, or set them in the "
            "PacingFunction.")
    return pacing


def _dist_ready() -> bool:
    return dist.is_available() and dist.is_initialized()
