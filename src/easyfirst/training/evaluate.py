"""Evaluation passes: logits for a whole split, accuracy."""

from __future__ import annotations

import torch
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
) -> torch.Tensor:
    """Eval-mode logits for every sample of ``split``, (N, C) float32 on CPU."""
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(split), batch_size):
        idx = torch.arange(start, min(start + batch_size, len(split)))
        x, _ = split.batch(idx)
        out.append(model(x.to(device, dtype, non_blocking=True)).float())
    model.train(was_training)
    return torch.cat(out).cpu()


def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    return float((logits.argmax(1) == targets).double().mean())
