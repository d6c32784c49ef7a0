"""A sharded epoch sampler whose place in an epoch is saved and resumed: ``state_dict``.

:class:`ResumableSampler` keeps the stateful part of a ``DistributedSampler`` that draws a
new sequence each epoch: the current epoch and its length per rank, the samples this rank has
yielded in it, the resumption mid-epoch (the next iteration skips what a checkpoint had
consumed), and a warning when an epoch is iterated twice. What an epoch draws is its
subclass's: :meth:`~ResumableSampler.epoch_indices` and
:meth:`~ResumableSampler.epoch_size_at`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sized
from typing import Any, cast

import torch
from torch.utils.data import Dataset, DistributedSampler

from easyfirst.curriculum.draws import Shard
from easyfirst.errors import InputError


class ResumableSampler(DistributedSampler[int]):
    """``DistributedSampler`` over an epoch sequence that a subclass draws, resumable mid-epoch.

    Subclasses give :meth:`epoch_indices` and :meth:`epoch_size_at`, and call
    ``set_epoch(0)`` once they can answer them.
    """

    NEXT_EPOCH = "set_epoch(epoch)"  # the call that starts an epoch (named in the warning)

    def __init__(self, dataset: Sized, *, num_replicas: int, rank: int, seed: int,
                 drop_last: bool) -> None:
        super().__init__(cast(Dataset, dataset), num_replicas=num_replicas, rank=rank,
                         shuffle=True, seed=seed, drop_last=drop_last)
        self._consumed = 0  # samples this rank has yielded in the current epoch
        self._resume_from = 0
        self._passes = 0  # iterations since set_epoch (a second one warns, once)
        self._warned = False

    def epoch_indices(self) -> torch.Tensor:
        """This rank's full index sequence for the current epoch, int64 of shape (len(self),)."""
        raise NotImplementedError

    def epoch_size_at(self, epoch: int) -> int:
        """The real draws of epoch ``epoch`` across ranks, before padding to the world size."""
        raise NotImplementedError

    def _repeats(self) -> str:
        """What a second iteration of an epoch repeats (named in its warning)."""
        return "with the same samples"

    def __iter__(self) -> Iterator[int]:
        self._passes += 1
        if self._passes == 2 and not self._warned:
            self._warned = True
            warnings.warn(
                f"{type(self).__name__} iterated again without {self.NEXT_EPOCH}: epoch "
                f"{self.epoch} repeats {self._repeats()}. Call sampler.{self.NEXT_EPOCH} at "
                "the start of each epoch.",
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
        count = self.epoch_size_at(epoch)
        self.epoch_size = count  # real draws this epoch, before padding to the world size
        self.total_size = Shard(self.num_replicas, self.rank, self.drop_last).total(count)
        self.num_samples = self.total_size // self.num_replicas

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
            raise InputError(
                f"Expected sampler state with seed {self.seed}; got {state['seed']}. "
                "Resume with the seed of the checkpointed run."
            )
        replicas = int(state.get("num_replicas", self.num_replicas))
        if consumed and replicas != self.num_replicas:
            raise InputError(
                f"Expected a mid-epoch state from num_replicas={self.num_replicas}; got "
                f"{replicas}. Resume with the same world size, or from an epoch boundary."
            )
        self.set_epoch(int(state["epoch"]))
        if not 0 <= consumed <= len(self):
            raise InputError(
                f"Expected consumed in 0..{len(self)}; got {consumed}. Pass a state_dict() "
                "of this sampler."
            )
        self._consumed = self._resume_from = consumed
