"""What one ``OutcomeRecorder.update`` says per row: ``BatchOutcome``, read from the
caller's tensors with the value errors counted on the device (no host synchronisation)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch

from easyfirst.recording import checks
from easyfirst.targets import correctness as correctness_of
from easyfirst.targets import outcome_columns, per_sample_loss


@dataclass
class BatchOutcome:
    """What one ``update`` hands every group: the batch's slots and per-row outcomes.

    ``idx``: (B,) slots (dropped rows at the spare slot N); ``first``: (B,) the sample's first
    visit this epoch; ``hit``: correctness; ``loss``: per-row loss; ``logits``/``targets``:
    float (B, C) outputs and their targets, None when the caller passed ``correct=``.
    """

    idx: torch.Tensor
    first: torch.Tensor
    hit: torch.Tensor
    loss: torch.Tensor
    logits: torch.Tensor | None = None
    targets: torch.Tensor | None = None

    @cached_property
    def columns(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per row ``(confidence, margin, el2n)`` (``targets.outcome_columns``), NaN without
        logits."""
        if self.logits is None or self.targets is None:
            nan = torch.full(self.idx.shape, float("nan"), device=self.idx.device)
            return nan, nan, nan
        return outcome_columns(self.logits, self.targets)

def is_graded(logits: torch.Tensor | None, targets: torch.Tensor | None,
              correct: torch.Tensor | None, correctness: str) -> bool:
    """Whether the batch's correctness is graded (fractional): float ``correct=``, or
    multi-hot targets under a rule other than ``exact``."""
    if logits is None:
        return correct is not None and correct.dtype.is_floating_point
    return targets is not None and targets.ndim == 2 and correctness != "exact"


def read_batch(indices: torch.Tensor, logits: torch.Tensor | None,
               targets: torch.Tensor | None, correct: torch.Tensor | None,
               loss: torch.Tensor | None, weight: torch.Tensor | None, *,
               visits: torch.Tensor, members: int, correctness: str, bad: torch.Tensor,
               nonfinite: torch.Tensor) -> BatchOutcome:
    """The batch's rows on ``visits``' device.

    ``visits``: the recorder's (N + 1,) visit counts (rows dropped by ``weight`` or out of
    ``[0, N)`` go to slot N); ``bad``: the counts of ``checks.BAD_*`` errors; ``nonfinite``:
    rows with a NaN/inf logit per member (K + 1, the last for dropped rows). Both are added to
    on the device. The arguments passed ``checks.check_batch``.
    """
    device, n = visits.device, len(visits) - 1
    idx = indices.to(device, non_blocking=True).long().reshape(-1)
    valid = (idx >= 0) & (idx < n)
    bad[checks.BAD_INDEX].add_((~valid).sum())  # raised in end_epoch, after all_reduce
    keep = valid if weight is None else valid & (weight.to(device).reshape(-1) > 0)
    idx = torch.where(keep, idx, n)  # dropped rows land in the spare slot
    first = visits[idx] == 0  # equal for repeats of an index: a deterministic reset
    if logits is None:
        assert correct is not None  # check_batch
        hit = correct.to(device).reshape(-1).float()
        bad[checks.BAD_CORRECT].add_((~((hit >= 0) & (hit <= 1)) & keep).sum())
        row_loss = (torch.full(idx.shape, float("nan"), device=device) if loss is None
                    else loss.detach().to(device).reshape(-1))
        return BatchOutcome(idx, first, hit, row_loss)
    assert targets is not None  # check_batch
    z = logits.detach().to(device)
    if z.dtype not in (torch.float32, torch.float64):  # bf16/fp16 autocast outputs
        z = z.float()
    if targets.ndim == 2:  # multi-hot (B, C)
        y = targets.to(device, z.dtype)
    else:
        y = targets.to(device).long().reshape(-1)
        in_range = (y >= 0) & (y < z.shape[1])
        bad[checks.BAD_TARGET].add_((~in_range & keep).sum())  # a view: no setitem
        y = y.clamp(0, z.shape[1] - 1)
    nonfinite.index_add_(0, idx // (n // members), (~torch.isfinite(z).all(dim=1)).long())
    hit = correctness_of(z, y, correctness)  # NaN rows: 0
    row_loss = per_sample_loss(z, y) if loss is None else loss.detach().to(device).reshape(-1)
    return BatchOutcome(idx, first, hit, row_loss, z, y)
