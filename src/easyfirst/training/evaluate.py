"""Evaluation passes: logits for a whole split (split over the ranks under DDP)."""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
from torch import nn

from easyfirst.data.base import ArraySplit


@torch.no_grad()
def predict(
    model: nn.Module,
    split: ArraySplit,
    *,
    device: torch.device,
    batch_size: int = 256,
    dtype: torch.dtype = torch.float32,
    shard: bool = False,
) -> torch.Tensor:
    """Eval-mode logits for every sample of ``split``, (N, C) float32 on CPU.

    ``shard`` (under torch.distributed): each rank evaluates one contiguous 1/W of the split
    (the last one padded by repeating the final sample) and every rank gets all N rows.
    """
    was_training = model.training
    model.eval()
    n = len(split)
    world = dist.get_world_size() if shard and dist.is_initialized() else 1
    rank = dist.get_rank() if world > 1 else 0
    chunk = math.ceil(n / world)
    rows = torch.arange(rank * chunk, (rank + 1) * chunk).clamp(max=n - 1)
    out = []
    for start in range(0, len(rows), batch_size):
        x, _ = split.batch(rows[start:start + batch_size])
        out.append(model(x.to(device, dtype, non_blocking=True)).float())
    model.train(was_training)
    mine = torch.cat(out)
    if world > 1:
        parts = [torch.empty_like(mine) for _ in range(world)]
        dist.all_gather(parts, mine.contiguous())
        mine = torch.cat(parts)[:n]
    return mine.cpu()
