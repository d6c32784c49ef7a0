"""Layers that compute on the whole global batch under torch.distributed: BatchNorm
statistics and dropout masks equal to one process's, sampler padding left out.

A data-parallel run splits each global batch of R real rows over W processes; rank r holds
the rows at global positions ``i * W + r`` (``DistributedSampler``'s interleaving), and
positions ``>= R`` are the sampler's padding. Plain layers then differ from one process:

- ``nn.BatchNorm*`` normalises with each rank's own statistics. :class:`GlobalBatchNorm`
  uses the global batch's::

      count = sum over ranks and real rows of S   (S: elements per row per channel)
      mean  = sum w * x / count,   var = sum w * (x - mean)^2 / count   (two passes)

  through differentiable all-reduces (``torch.distributed.nn.functional.all_reduce``: the
  backward all-reduces the gradient), so values and gradients are one process's up to the
  order of floating-point sums. ``torch.nn.SyncBatchNorm`` is not used: it rejects CPU
  tensors (gloo) and counts padding rows as data. Running statistics take the unbiased
  global variance, as one process would.
- ``nn.Dropout`` draws each rank's mask from the same (seeded) stream, so masks repeat across
  ranks. :class:`GlobalDropout` draws the mask one process draws, for R rows (the same
  kernel on a tensor of ones of the global shape: same values, same RNG consumption), and
  keeps this rank's rows.

Both read :class:`GlobalBatch`, which the training step fills before each forward. In eval
mode, outside a process group, or with the holder unset, both layers are exactly the
originals: a converted model evaluates, and saves its state, as the original does.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.distributed.nn.functional import all_reduce
from torch.nn.modules.batchnorm import _BatchNorm

from easyfirst.errors import InputError


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class GlobalBatch:
    """This step's layout: the global position of every local row, and the real row count R
    of the global batch (``positions`` None: the layers act as the originals)."""

    def __init__(self) -> None:
        self.positions: torch.Tensor | None = None
        self.rows = 0

    def set(self, positions: torch.Tensor, rows: int) -> None:
        self.positions, self.rows = positions, rows

    def active(self, training: bool) -> bool:
        return training and self.positions is not None and _distributed()


class GlobalBatchNorm(_BatchNorm):
    """A BatchNorm layer (1-D, 2-D or 3-D) with global-batch statistics (module notes)."""

    def __init__(self, like: _BatchNorm, batch: GlobalBatch) -> None:
        ref = next(iter(like.state_dict().values()))  # weight or running_mean
        super().__init__(like.num_features, like.eps, like.momentum, like.affine,
                         like.track_running_stats, device=ref.device, dtype=ref.dtype)
        self.load_state_dict(like.state_dict())
        self.train(like.training)
        self.batch = batch

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise InputError(f"Expected a (B, C, ...) input; got shape {tuple(input.shape)}.")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.batch.active(self.training):
            return super().forward(x)
        assert self.batch.positions is not None
        xf = x if x.dtype in (torch.float32, torch.float64) else x.float()  # bf16 autocast
        rowwise = (-1,) + (1,) * (x.dim() - 1)
        chan = (1, -1) + (1,) * (x.dim() - 2)
        w = (self.batch.positions < self.batch.rows).to(xf.dtype).view(rowwise)
        dims = [0, *range(2, x.dim())]
        count = (w.sum() * xf[0, 0].numel()).reshape(1)
        dist.all_reduce(count)
        mean = all_reduce(torch.sum(xf * w, dims)) / count
        centred = xf - mean.view(chan)
        var = all_reduce(torch.sum(centred * centred * w, dims)) / count
        if self.track_running_stats and self.running_mean is not None:
            self._update_running(mean.detach(), var.detach(), count)
        y = centred * torch.rsqrt(var + self.eps).view(chan)
        if self.affine:
            y = y * self.weight.view(chan) + self.bias.view(chan)
        return y.to(x.dtype)

    @torch.no_grad()
    def _update_running(self, mean: torch.Tensor, var: torch.Tensor, count: torch.Tensor
                        ) -> None:
        assert self.running_mean is not None and self.running_var is not None
        assert self.num_batches_tracked is not None
        self.num_batches_tracked.add_(1)
        factor = (self.momentum if self.momentum is not None
                  else 1.0 / float(self.num_batches_tracked))
        unbiased = var * count / (count - 1).clamp(min=1)
        self.running_mean.lerp_(mean.to(self.running_mean.dtype), factor)
        self.running_var.lerp_(unbiased.to(self.running_var.dtype), factor)


class GlobalDropout(nn.Dropout):
    """``nn.Dropout`` whose mask is the one a single process draws (module notes)."""

    def __init__(self, like: nn.Dropout, batch: GlobalBatch) -> None:
        super().__init__(like.p, like.inplace)
        self.train(like.training)
        self.batch = batch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pos = self.batch.positions
        if not self.batch.active(self.training) or self.p == 0 or pos is None:
            return super().forward(x)
        ones = torch.ones((self.batch.rows, *x.shape[1:]), device=x.device, dtype=x.dtype)
        mask = F.dropout(ones, self.p, True)[pos.clamp(max=self.batch.rows - 1)]
        real = (pos < self.batch.rows).view((-1,) + (1,) * (x.dim() - 1))
        return x * (mask * real)


def convert_global_batch(model: nn.Module) -> GlobalBatch:
    """Replace every BatchNorm and Dropout of ``model`` in place by its global-batch layer.

    Returns the holder the layers read: call ``holder.set(positions, rows)`` before each
    training forward. Functional dropout (``F.dropout`` in a ``forward``) is not reached:
    registered models use ``nn.Dropout`` modules.
    """
    batch = GlobalBatch()

    def swap(parent: nn.Module) -> None:
        for name, child in parent.named_children():
            if isinstance(child, _BatchNorm) and not isinstance(child, GlobalBatchNorm):
                setattr(parent, name, GlobalBatchNorm(child, batch))
            elif type(child) is nn.Dropout:
                setattr(parent, name, GlobalDropout(child, batch))
            else:
                swap(child)

    swap(model)
    return batch
