"""An epoch's draws of the curriculum sampler, as pure functions of the pool and a generator.

Every rank computes the same global sequence from the same generator (seeded with
``seed + epoch``) and takes its shard ``rank::num_replicas``, padded or truncated as
``torch.utils.data.DistributedSampler`` does:

* :func:`epoch_draws`: shuffled passes over one pool: a single pass (``"pool"`` mode), or as
  many as fill the baseline's ``N`` draws (``"constant"`` mode).
* :func:`step_paced_draws`: ``N`` draws whose pool is re-sized by optimizer step whenever a
  pass over it ends.

Example:
    >>> import numpy as np, torch
    >>> shard = Shard(num_replicas=2, rank=0)
    >>> shard.total(5), Shard(2, 0, drop_last=True).total(5)
    (6, 4)
    >>> g = torch.Generator().manual_seed(0)
    >>> len(epoch_draws(np.arange(3), 5, "constant", shard, g))  # 6 draws over 2 ranks
    3
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Shard:
    """One rank's share of a global index sequence, taken as ``DistributedSampler`` takes it."""

    num_replicas: int
    rank: int
    drop_last: bool = False

    def total(self, count: int) -> int:
        """Samples across ranks for ``count`` draws: padded up to, or with ``drop_last``
        truncated down to, a multiple of ``num_replicas``."""
        r = self.num_replicas
        if self.drop_last and count % r != 0:
            return math.ceil((count - r) / r) * r
        return math.ceil(count / r) * r

    def of(self, stream: torch.Tensor, total: int) -> torch.Tensor:
        """This rank's indices of the first ``total`` of ``stream``, shape (total / R,)."""
        if len(stream) < total:  # pad by repeating the start, as DistributedSampler does
            stream = stream.repeat(math.ceil(total / len(stream)))
        return stream[:total][self.rank : total : self.num_replicas]


def epoch_draws(pool: np.ndarray, n: int, mode: str, shard: Shard,
                generator: torch.Generator) -> torch.Tensor:
    """This rank's draws of one epoch over a fixed pool, int64.

    Args:
        pool: sample indices in the pool, shape (S,).
        n: N, the dataset size: a ``"constant"`` epoch has the baseline's N draws.
        mode: ``"pool"`` (one shuffled pass) or ``"constant"`` (as many whole passes as fit
            in N, then padded by repeating the start).
        shard: the world the draws are shared by.
        generator: the epoch's generator, the same on every rank.
    """
    size = len(pool)
    if mode == "pool":
        total, passes = shard.total(size), 1
    else:
        total = shard.total(n)
        passes = max(1, (total if shard.drop_last else n) // size)
    indices = torch.from_numpy(pool)
    stream = torch.cat([indices[torch.randperm(size, generator=generator)]
                        for _ in range(passes)])
    return shard.of(stream, total)


def step_paced_draws(pool_at: Callable[[int, int], np.ndarray], n: int, *, epoch: int,
                     epochs: int, batch_size: int, shard: Shard,
                     generator: torch.Generator) -> torch.Tensor:
    """This rank's N draws of epoch ``epoch`` with the pool re-sized by optimizer step.

    Each pass over a pool is shuffled whole; when it ends, the next pool is
    ``pool_at(step, total_steps)`` at the optimizer step the draws have reached
    (``batch_size`` per rank, ``ceil(N / global batch)`` steps per epoch).
    """
    total = shard.total(n)
    global_batch = batch_size * shard.num_replicas
    steps = math.ceil(total / global_batch)
    chunks, filled = [], 0
    while filled < total:
        pool = torch.from_numpy(pool_at(epoch * steps + filled // global_batch,
                                        steps * epochs))
        chunks.append(pool[torch.randperm(len(pool), generator=generator)])
        filled += len(pool)
    return shard.of(torch.cat(chunks), total)
