"""``TrainStep``: one optimisation step of K members on their batches, as device work only.

Per step: gather the rows (resident or streamed data), augment and mix up (under DDP on the
gathered global batch, keeping this rank's rows), forward, per-sample loss, backward, optimizer
step, ``OutcomeRecorder.update`` and the epoch's running statistics (loss, correct, count and
the first step with a non-finite loss, per member). Nothing here waits for the device; the
engine reads the statistics once per epoch (:meth:`TrainStep.epoch_stats`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from easyfirst.audio.augment import Augment, Mixup, MixupResult
from easyfirst.data.batches import DeviceBatches
from easyfirst.recording.recorder import OutcomeRecorder
from easyfirst.targets import correctness, per_sample_loss
from easyfirst.training.distributed import DistInfo, gather_rows
from easyfirst.training.members import Members
from easyfirst.training.precision import Precision


class TrainStep:
    """The step of ``members`` over ``data`` (``__call__``) and its per-epoch statistics.

    Args:
        members, opt, data: the models, their optimizer and the placed training data.
        recorder: records every row (K * N slots: member m's sample i at ``m * N + i``).
        prec, device: precision settings and the device.
        augment, mixup: per-member batch transforms (None: none).
        dinfo: the process group; ``local_batch``: this rank's rows per step.
        num_samples, k: N training samples, K members.
        correctness_rule: when a (multi-label) row counts as correct.
    """

    def __init__(self, members: Members, opt: torch.optim.Optimizer, data: DeviceBatches,
                 recorder: OutcomeRecorder | None, *, prec: Precision, device: torch.device,
                 augment: Augment | None, mixup: Mixup | None, dinfo: DistInfo,
                 local_batch: int, num_samples: int, k: int, correctness_rule: str) -> None:
        self.members, self.opt, self.data, self.recorder = members, opt, data, recorder
        self.prec, self.device = prec, device
        self.augment, self.mixup = augment, mixup
        self.rule, self.dinfo = correctness_rule, dinfo
        self.offsets = (torch.arange(k, device=device) * num_samples)[:, None]  # (K, 1)
        self.positions = torch.arange(local_batch, device=device) * dinfo.world_size + dinfo.rank
        self.stats = torch.zeros(k, 3, device=device, dtype=torch.float64)
        self.step_no = torch.zeros((), device=device, dtype=torch.float64)
        self.bad_step = torch.full((k,), math.inf, device=device, dtype=torch.float64)
        self.gens: list[torch.Generator] = []  # this epoch's per-member augmentation streams

    def start_epoch(self, epoch: int, seeds: Sequence[int]) -> None:
        """Zero the statistics and seed each member's augmentation stream for ``epoch``."""
        self.gens[:] = [torch.Generator(device=self.device).manual_seed(s * 100_003 + epoch)
                        for s in seeds]
        self.stats.zero_()
        self.step_no.zero_()
        self.bad_step.fill_(math.inf)

    def epoch_stats(self) -> list[list[float]]:
        """Per member ``[loss sum, correct, count, first non-finite step or inf]`` over all
        processes. The one host synchronisation of the epoch's steps."""
        if self.dinfo.enabled:
            torch.distributed.all_reduce(self.stats)
            torch.distributed.all_reduce(self.bad_step, op=torch.distributed.ReduceOp.MIN)
        return torch.cat([self.stats, self.bad_step[:, None]], 1).tolist()  # host-sync

    def __call__(self, idx: torch.Tensor, w: torch.Tensor, *, scale: float, rows: int) -> None:
        """One step on the members' batches ``idx (K, B)``; ``w (K, B)`` is 0 for padding;
        ``rows``: the real rows of the global batch."""
        k, bsz = idx.shape
        x, y = self.data.get(idx.reshape(-1))
        x, y = x.view(k, bsz, *x.shape[1:]), y.view(k, bsz, *y.shape[1:])  # (K, B, ...)
        if self.members.layout is not None:  # DDP: where this rank's rows sit globally
            self.members.layout.set(self.positions[:bsz], rows)
        x, mixed = self._transform(x, y, rows)
        with self.prec.autocast_context(self.device):
            logits = self.members.forward(x)  # (K, B, C)
        flat, yf = logits.float().flatten(0, 1), y.flatten(0, 1)  # (K*B, C), (K*B[, C])
        per_sample = per_sample_loss(flat, yf)  # (K * B,)
        if mixed is not None:
            lam = mixed.lam.to(per_sample.dtype)
            per_sample = lam * per_sample + (1 - lam) * per_sample_loss(flat, mixed.targets_b)
        wf = w.reshape(-1).to(per_sample.dtype)
        # Members' losses add up: each member's gradient is that of its own mean loss.
        ((per_sample * wf).sum() * scale).backward()
        self.opt.step()
        if self.recorder is not None:
            self.recorder.update((idx + self.offsets).reshape(-1), logits.flatten(0, 1), yf,
                                 loss=per_sample, weight=wf)
        with torch.no_grad():
            loss = (per_sample.detach() * wf).view(k, bsz).sum(1).double()
            right = correctness(flat, yf, self.rule).view(k, bsz) * w
            self.stats.add_(torch.stack([loss, right.sum(1).double(), w.sum(1).double()], 1))
            self.step_no.add_(1)  # the first step with a non-finite loss, per member
            self.bad_step.copy_(torch.where(loss.isfinite() | self.bad_step.isfinite(),
                                            self.bad_step, self.step_no))

    def _transform(self, x: torch.Tensor, y: torch.Tensor, rows: int
                   ) -> tuple[torch.Tensor, MixupResult | None]:
        """Augment (and mix up) the batches ``(K, B, ...)``. Under DDP every rank gathers
        the global batch, transforms it as one process does and keeps its own rows."""
        if self.augment is None and self.mixup is None:
            return x, None
        layout, take = self.members.layout, None
        if layout is not None and layout.positions is not None:
            take = layout.positions.clamp(max=rows - 1)
            x, y = gather_rows(x[0], rows)[None], gather_rows(y[0], rows)[None]
        if self.augment is not None:
            x = torch.stack([self.augment(x[m], self.gens[m]) for m in range(len(x))])
        mixed = self.mixup(x[0], y[0], generator=self.gens[0]) if self.mixup else None
        if mixed is not None:
            x = mixed.inputs[None]
        if take is None:
            return x, mixed
        return x[:, take], None if mixed is None else MixupResult(*(t[take] for t in mixed))
