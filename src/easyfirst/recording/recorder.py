"""``OutcomeRecorder``: per-sample training outcomes kept on the device, one sync per epoch."""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist

from easyfirst.recording.dynamics import TrainingDynamics
from easyfirst.targets import (
    DEFAULT_CORRECTNESS,
    check_correctness,
    outcome_columns,
    per_sample_loss,
)
from easyfirst.targets import correctness as correctness_of

# Per-epoch accumulators, packed into one (N, K) float64 buffer so that ``end_epoch`` needs
# exactly one all_reduce. float64 holds integer visit counts exactly. _NONFINITE counts the
# visits whose logits had a NaN or inf.
_VISITS, _CORRECT, _LOSS, _PROB, _MARGIN, _EL2N, _NONFINITE = range(7)
_NUM_ACC = 7
# The per-epoch error counts in ``_bad``: indices outside [0, N), targets outside [0, C).
_BAD_INDEX, _BAD_TARGET = range(2)


class OutcomeRecorder:
    """Records how every training sample is classified, epoch after epoch.

    ``update`` runs every batch and never synchronises with the host: all state is ``(N,)``
    tensors on ``device`` updated with ``index_add_``. ``end_epoch`` is the single sync point
    (one ``all_reduce`` under torch.distributed). A sample visited several times in an epoch
    (``DistributedSampler`` padding) counts as the fraction of its visits that were correct,
    so CumAcc never exceeds 1. A row whose logits hold a NaN or inf counts as incorrect; the
    run's number of such rows is ``dynamics().meta["nonfinite_logits"]``.

    Shapes and dtypes are checked in ``update`` (host metadata, no sync); values that are
    out of range (indices outside ``[0, N)``, targets outside ``[0, C)``) are counted on the
    device and raised in ``end_epoch``.

    Args:
        num_samples: N, the size of the training set (indices are in ``[0, N)``).
        device: where the state lives (the model's device).
        el2n_epoch: 0-based epoch at which EL2N (Paul et al. 2021) is taken; default 0.
        keep_history: also keep the full per-epoch correctness, bit-packed (1 bit per sample
            per epoch).
        max_epochs: capacity of the history (only with ``keep_history``).
        correctness: multi-label targets: when a sample is correct (``easyfirst.targets``:
            ``exact``, ``label-mean``, ``recall``, ``f1``); single-label: argmax == label.

    Example:
        >>> rec = OutcomeRecorder(4)
        >>> rec.update(torch.tensor([0, 1]), torch.tensor([[2.0, 0.0], [0.0, 1.0]]),
        ...            torch.tensor([0, 0]))
        >>> rec.update(torch.tensor([2, 3]), torch.tensor([[1.0, 0.0], [1.0, 0.0]]),
        ...            torch.tensor([0, 1]))
        >>> rec.end_epoch()
        >>> rec.dynamics().cumacc().tolist()
        [1.0, 0.0, 1.0, 0.0]
    """

    def __init__(
        self,
        num_samples: int,
        *,
        device: torch.device | str = "cpu",
        el2n_epoch: int = 0,
        keep_history: bool = False,
        max_epochs: int = 0,
        correctness: str = DEFAULT_CORRECTNESS,
    ) -> None:
        if num_samples < 1:
            raise ValueError(f"Expected num_samples >= 1; got {num_samples}.")
        if keep_history and max_epochs < 1:
            raise ValueError(
                f"keep_history needs max_epochs >= 1; got {max_epochs}. Pass the epoch count."
            )
        self.num_samples = num_samples
        self.device = torch.device(device)
        self.el2n_epoch = el2n_epoch
        self.keep_history = keep_history
        self.max_epochs = max_epochs
        self.correctness = check_correctness(correctness)
        n, dev = num_samples, self.device
        f64: dict[str, Any] = {"device": dev, "dtype": torch.float64}
        self._acc = torch.zeros(n, _NUM_ACC, **f64)
        self._bad = torch.zeros(2, device=dev, dtype=torch.int64)  # _BAD_INDEX, _BAD_TARGET
        self.nonfinite = torch.zeros(n, **f64)  # per sample: visits with NaN/inf logits
        self.epoch = 0
        # Cumulative state (what TrainingDynamics is derived from).
        self.epochs_seen = torch.zeros(n, device=dev, dtype=torch.int32)
        self.correct_sum = torch.zeros(n, **f64)
        self.correct_now = torch.zeros(n, device=dev, dtype=torch.bool)
        self.first_learned = torch.full((n,), -1, device=dev, dtype=torch.int32)
        self.learned_since = torch.full((n,), -1, device=dev, dtype=torch.int32)
        self.forgetting = torch.zeros(n, device=dev, dtype=torch.int32)
        self.prob_sum = torch.zeros(n, **f64)
        self.prob_sqsum = torch.zeros(n, **f64)
        self.margin_sum = torch.zeros(n, **f64)
        self.last_loss = torch.full((n,), float("nan"), **f64)
        self.el2n = torch.full((n,), float("nan"), **f64)
        self.history = (
            torch.zeros(n, (max_epochs + 7) // 8, device=dev, dtype=torch.uint8)
            if keep_history
            else None
        )

    @torch.no_grad()
    def update(
        self,
        indices: torch.Tensor,
        logits: torch.Tensor | None = None,
        targets: torch.Tensor | None = None,
        *,
        correct: torch.Tensor | None = None,
        loss: torch.Tensor | None = None,
        weight: torch.Tensor | None = None,
    ) -> None:
        """Record one batch. No host synchronisation.

        Args:
            indices: (B,) dataset indices of the batch.
            logits: (B, C) model outputs (detached internally); or pass ``correct``.
            targets: (B,) class ids, or (B, C) multi-hot rows (needed with ``logits``).
            correct: (B,) precomputed correctness (bool/0-1), used when ``logits`` is None.
            loss: (B,) precomputed per-sample loss; defaults to cross-entropy of ``logits``.
            weight: (B,) optional 0/1 mask; 0 drops the row (e.g. sampler padding).
        """
        _check_batch(indices, logits, targets, correct, loss, weight)
        idx = indices.to(self.device, non_blocking=True).long().reshape(-1)
        valid = (idx >= 0) & (idx < self.num_samples)
        self._bad[_BAD_INDEX].add_((~valid).sum())  # raised in end_epoch, after the collective
        idx = idx.clamp(0, self.num_samples - 1)
        w = valid.to(torch.float64)
        if weight is not None:
            w = w * weight.to(self.device).reshape(-1).double()
        cols = torch.zeros(idx.numel(), _NUM_ACC, device=self.device, dtype=torch.float64)
        cols[:, _VISITS] = w
        if logits is not None:
            assert targets is not None  # _check_batch
            self._logit_columns(cols, logits, targets, loss, w)
        else:
            assert correct is not None  # _check_batch
            cols[:, _CORRECT] = correct.to(self.device).reshape(-1).double()
            cols[:, _PROB] = float("nan")
            cols[:, _MARGIN] = float("nan")
            cols[:, _EL2N] = float("nan")
            cols[:, _LOSS] = (
                loss.detach().to(self.device).reshape(-1).double()
                if loss is not None
                else float("nan")
            )
        # where, not a product alone: a dropped row's NaN (NaN * 0) must not reach the sums
        self._acc.index_add_(0, idx, torch.where(w[:, None] > 0, cols * w[:, None], 0.0))

    def _logit_columns(self, cols: torch.Tensor, logits: torch.Tensor, targets: torch.Tensor,
                       loss: torch.Tensor | None, w: torch.Tensor) -> None:
        """Fill ``cols`` from (B, C) logits; bad targets are counted, clamped, and raised later."""
        z = logits.detach().to(self.device)
        if z.dtype not in (torch.float32, torch.float64):  # bf16/fp16 autocast outputs
            z = z.float()
        if targets.ndim == 2:  # multi-hot (B, C)
            y = targets.to(self.device, z.dtype)
        else:
            y = targets.to(self.device).long().reshape(-1)
            in_range = (y >= 0) & (y < z.shape[1])
            self._bad[_BAD_TARGET].add_((~in_range & (w > 0)).sum())  # a view: no setitem
            y = y.clamp(0, z.shape[1] - 1)
        finite = torch.isfinite(z).all(dim=1)
        confidence, margin, el2n = outcome_columns(z, y)
        cols[:, _CORRECT] = correctness_of(z, y, self.correctness).double()  # NaN rows: 0
        cols[:, _NONFINITE] = (~finite).double()
        cols[:, _PROB] = confidence.double()
        cols[:, _MARGIN] = margin.double()
        cols[:, _EL2N] = el2n.double()
        per_loss = loss if loss is not None else per_sample_loss(z, y)
        cols[:, _LOSS] = per_loss.detach().to(self.device).reshape(-1).double()

    def end_epoch(self) -> None:
        """Fold the epoch's outcomes into the cumulative state. The one sync point."""
        acc = self._acc
        if dist.is_available() and dist.is_initialized():
            packed = torch.cat([acc.reshape(-1), self._bad.double()])
            dist.all_reduce(packed, op=dist.ReduceOp.SUM)
            acc = packed[: acc.numel()].reshape(acc.shape)
            bad = [int(b) for b in packed[acc.numel():].tolist()]  # host-sync: once per epoch
        else:
            bad = self._bad.tolist()  # host-sync: once per epoch
        if bad[_BAD_INDEX]:
            raise IndexError(
                f"Expected sample indices in [0, {self.num_samples}); got {bad[_BAD_INDEX]} "
                "outside it this epoch. Wrap the dataset with WithIndex and pass its indices to "
                "update()."
            )
        if bad[_BAD_TARGET]:
            raise ValueError(
                f"Expected targets in [0, C) for logits of C classes; got {bad[_BAD_TARGET]} "
                "outside it this epoch. Check the dataset's labels against the model's "
                "num_classes."
            )
        self.nonfinite += acc[:, _NONFINITE]
        visits = acc[:, _VISITS]
        seen = visits > 0
        denom = visits.clamp(min=1)
        frac = acc[:, _CORRECT] / denom
        correct = seen & (frac >= 0.5)
        e = self.epoch
        self.epochs_seen += seen.int()
        self.correct_sum += torch.where(seen, frac, 0.0)
        self.forgetting += (seen & self.correct_now & ~correct).int()
        newly = seen & correct & (self.learned_since < 0)
        self.learned_since = torch.where(seen & ~correct, -1, self.learned_since)
        self.learned_since = torch.where(newly, e, self.learned_since)
        self.first_learned = torch.where(correct & (self.first_learned < 0), e, self.first_learned)
        self.correct_now = torch.where(seen, correct, self.correct_now)
        mean = acc[:, [_LOSS, _PROB, _MARGIN, _EL2N]] / denom[:, None]
        self.prob_sum += torch.where(seen, mean[:, 1], 0.0)
        self.prob_sqsum += torch.where(seen, mean[:, 1] ** 2, 0.0)
        self.margin_sum += torch.where(seen, mean[:, 2], 0.0)
        self.last_loss = torch.where(seen, mean[:, 0], self.last_loss)
        if e == self.el2n_epoch:
            self.el2n = torch.where(seen, mean[:, 3], self.el2n)
        if self.history is not None:
            if e >= self.max_epochs:
                raise ValueError(
                    f"History holds {self.max_epochs} epochs; epoch {e + 1} does not fit. "
                    "Raise max_epochs."
                )
            bit = (correct.to(torch.uint8) << (e % 8)).to(torch.uint8)
            self.history[:, e // 8] |= bit
        self._acc.zero_()
        self._bad.zero_()
        self.epoch += 1

    def dynamics(self, rows: slice | None = None, **meta: Any) -> TrainingDynamics:
        """The record so far as a ``TrainingDynamics`` on CPU; ``meta`` is stored with it.

        ``rows`` picks a block of samples: a recorder over ``K * N`` slots serves K stacked
        members, member ``m`` owning ``slice(m * N, (m + 1) * N)``. ``meta["nonfinite_logits"]``
        is the number of those rows' visits, over all finished epochs, whose logits held a NaN
        or inf (counted as incorrect).
        """
        sel = rows or slice(None)
        cpu = {k: v[sel].detach().cpu().clone() for k, v in self._state_tensors().items()}
        nonfinite = round(self.nonfinite[sel].sum().item())  # host-sync: once per call
        return TrainingDynamics(
            num_epochs=self.epoch, el2n_epoch=self.el2n_epoch,
            meta={**meta, "nonfinite_logits": nonfinite}, **cpu
        )

    def _state_tensors(self) -> dict[str, torch.Tensor]:
        out = {
            "epochs_seen": self.epochs_seen,
            "correct_sum": self.correct_sum,
            "correct_now": self.correct_now,
            "first_learned": self.first_learned,
            "learned_since": self.learned_since,
            "forgetting": self.forgetting,
            "prob_sum": self.prob_sum,
            "prob_sqsum": self.prob_sqsum,
            "margin_sum": self.margin_sum,
            "last_loss": self.last_loss,
            "el2n": self.el2n,
        }
        if self.history is not None:
            out["history"] = self.history
        return out

    def state_dict(self, rows: slice | None = None) -> dict[str, Any]:
        """Everything needed to resume exactly (tensors are copied to CPU).

        ``rows`` gives the state of a recorder over just that block of samples (see
        :meth:`dynamics`).
        """
        sel = rows or slice(None)
        tensors = {**self._state_tensors(), "acc": self._acc, "nonfinite": self.nonfinite}
        state: dict[str, Any] = {k: v[sel].detach().cpu().clone() for k, v in tensors.items()}
        state.update(
            epoch=self.epoch,
            num_samples=len(range(self.num_samples)[sel]),
            el2n_epoch=self.el2n_epoch,
            max_epochs=self.max_epochs,
        )
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["num_samples"] != self.num_samples:
            raise ValueError(
                f"Recorder state is for {state['num_samples']} samples; this recorder has "
                f"{self.num_samples}. Resume with the same dataset."
            )
        self.epoch = int(state["epoch"])
        self.el2n_epoch = int(state["el2n_epoch"])
        acc = state["acc"].to(self.device, torch.float64)
        self._acc = torch.zeros(self.num_samples, _NUM_ACC, device=self.device,
                                dtype=torch.float64)
        self._acc[:, : acc.shape[1]] = acc  # a state of before _NONFINITE has 6 columns
        for name in (*self._state_tensors(), "nonfinite"):
            if name in state:
                setattr(self, name, state[name].to(self.device).clone())


def _check_batch(indices: torch.Tensor, logits: torch.Tensor | None,
                 targets: torch.Tensor | None, correct: torch.Tensor | None,
                 loss: torch.Tensor | None, weight: torch.Tensor | None) -> None:
    """Refuse wrong dtypes and shapes (host metadata only: no device sync)."""
    if indices.dtype.is_floating_point or indices.dtype.is_complex or indices.dtype == torch.bool:
        raise ValueError(
            f"Expected integer sample indices; got dtype {indices.dtype} (converting it would "
            "silently change them). Pass the indices from WithIndex, e.g. torch.long."
        )
    b = indices.numel()
    if logits is not None:
        if targets is None:
            raise ValueError("update(indices, logits, targets): targets are required with logits.")
        if logits.ndim != 2 or logits.shape[0] != b:
            raise ValueError(
                f"Expected logits of shape (B, C) = ({b}, C) for {b} indices; got "
                f"{tuple(logits.shape)}. Pass one row of class scores per index."
            )
        if targets.ndim == 2 and targets.shape != logits.shape:
            raise ValueError(
                f"Expected multi-hot targets of the logits' shape {tuple(logits.shape)}; got "
                f"{tuple(targets.shape)}. Pass one (B, C) 0/1 row per index, or (B,) class ids."
            )
        if targets.ndim != 2 and (targets.dtype.is_floating_point or targets.dtype.is_complex):
            raise ValueError(
                f"Expected integer class-id targets; got dtype {targets.dtype}. Pass class "
                "indices (torch.long), not probabilities, or (B, C) multi-hot rows."
            )
    elif correct is None:
        raise ValueError("update() needs logits (with targets) or correct=...; got neither.")
    for name, t in (("targets", targets if logits is not None else None),
                    ("correct", correct if logits is None else None),
                    ("loss", loss), ("weight", weight)):
        if t is not None and (t.numel() if t is not targets else len(t)) != b:
            raise ValueError(
                f"Expected {name} with one value per index ({b}); got shape {tuple(t.shape)}. "
                "Pass (B,) tensors for the batch's B samples."
            )
