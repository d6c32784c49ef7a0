"""The recorder's one collective per epoch: every per-sample partial sum and error count of
all processes, packed into a single ``all_reduce``."""

from __future__ import annotations

import torch
import torch.distributed as dist


def reduce_epoch(cols: dict[str, torch.Tensor], counts: torch.Tensor,
                 sync: bool | None) -> torch.Tensor:
    """Sum ``cols`` ((N,) each, replaced in place of the dict) and ``counts`` over processes.

    ``sync``: reduce; None: when a process group exists. The columns travel as float32 (the
    counts too: exact below 2**24). Returns the reduced counts (int64).
    """
    on = sync if sync is not None else dist.is_available() and dist.is_initialized()
    if not on:
        return counts
    n = len(next(iter(cols.values())))
    packed = torch.cat([torch.stack([c.float() for c in cols.values()], 1).reshape(-1),
                        counts.float()])
    dist.all_reduce(packed, op=dist.ReduceOp.SUM)
    sums = packed[: n * len(cols)].view(n, len(cols)).unbind(1)
    cols.update(zip(list(cols), sums, strict=True))
    return packed[n * len(cols):].round().long()
