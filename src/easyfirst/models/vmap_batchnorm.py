"""BatchNorm written with plain tensor ops, so that ``torch.vmap`` runs it on any device.

Stacked ensembles (``easyfirst.training.members``) run one vmapped ``functional_call`` over
K stacked members. PyTorch's batching rule for ``batch_norm`` folds the K members into the
channel axis and calls the native kernel, which on CUDA rejects the folded layout ("Expected
input->is_contiguous(...)") and bf16 inputs under autocast ("Expected running_mean to have type
BFloat16 but got Float"); CPU kernels accept both. :func:`vmap_safe` swaps every
``_BatchNorm`` of a (stateless) skeleton for :class:`VmapBatchNorm`, which keeps the same
parameter and buffer names (so ``functional_call`` and state dicts carry over) and computes
the same function as ``F.batch_norm``: batch statistics over all axes but the channel axis
in training (biased variance to normalise, unbiased for the running variance), running
statistics in eval mode, ``momentum=None`` as a cumulative average. It computes in the
parameters' dtype, so under bf16 autocast normalisation runs in float32.
"""

from __future__ import annotations

import torch
from torch import nn


class VmapBatchNorm(nn.Module):
    """``nn.BatchNorm{1,2,3}d`` semantics from elementwise ops and reductions."""

    weight: torch.Tensor | None
    bias: torch.Tensor | None
    running_mean: torch.Tensor | None
    running_var: torch.Tensor | None
    num_batches_tracked: torch.Tensor | None

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm) -> None:
        super().__init__()
        self.eps, self.momentum = bn.eps, bn.momentum
        self.track_running_stats = bn.track_running_stats
        self.weight, self.bias = bn.weight, bn.bias
        self.register_buffer("running_mean", bn.running_mean)
        self.register_buffer("running_var", bn.running_var)
        self.register_buffer("num_batches_tracked", bn.num_batches_tracked)
        self.training = bn.training

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ref = self.weight if self.weight is not None else self.running_mean
        if ref is not None and x.dtype != ref.dtype:
            x = x.to(ref.dtype)
        shape = [1, -1] + [1] * (x.ndim - 2)
        axes = [0, *range(2, x.ndim)]
        if self.training or self.running_mean is None or self.running_var is None:
            mean = x.mean(axes)
            var = x.var(axes, correction=0)
            if self.training and self.running_mean is not None:
                self._update_running(mean, var, x.numel() // x.shape[1])
        else:
            mean, var = self.running_mean, self.running_var
        scale = torch.rsqrt(var + self.eps)
        if self.weight is not None:
            scale = scale * self.weight
        y = (x - mean.view(shape)) * scale.view(shape)
        if self.bias is not None:
            y = y + self.bias.view(shape)
        return y

    @torch.no_grad()
    def _update_running(self, mean: torch.Tensor, var: torch.Tensor, count: int) -> None:
        running_mean, running_var = self.running_mean, self.running_var
        tracked = self.num_batches_tracked
        assert running_mean is not None and running_var is not None and tracked is not None
        tracked.add_(1)
        if self.momentum is None:  # cumulative moving average
            factor = 1.0 / tracked.to(mean.dtype)
        else:
            factor = torch.full((), self.momentum, dtype=mean.dtype, device=mean.device)
        unbiased = var * (count / max(count - 1, 1))
        running_mean.mul_(1 - factor).add_(factor * mean.detach())
        running_var.mul_(1 - factor).add_(factor * unbiased.detach())


def vmap_safe(module: nn.Module) -> nn.Module:
    """Replace (in place) every ``_BatchNorm`` under ``module`` by :class:`VmapBatchNorm`."""
    for name, child in list(module.named_children()):
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(module, name, VmapBatchNorm(child))
        else:
            vmap_safe(child)
    return module
