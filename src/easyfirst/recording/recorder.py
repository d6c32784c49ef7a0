"""``OutcomeRecorder``: per-sample training outcomes kept on the device, one sync per epoch."""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F

from easyfirst.recording.dynamics import TrainingDynamics

# Per-epoch accumulators, packed into one (N, K) float64 buffer so that ``end_epoch`` needs
# exactly one all_reduce. float64 holds integer visit counts exactly.
_VISITS, _CORRECT, _LOSS, _PROB, _MARGIN, _EL2N = range(6)
_NUM_ACC = 6


class OutcomeRecorder:
    """Records how every training sample is classified, epoch after epoch.

    ``update`` runs every batch and never synchronises with the host: all state is ``(N,)``
    tensors on ``device`` updated with ``index_add_``. ``end_epoch`` is the single sync point
    (one ``all_reduce`` under torch.distributed). A sample visited several times in an epoch
    (``DistributedSampler`` padding) counts as the fraction of its visits that were correct,
    so CumAcc never exceeds 1.

    Args:
        num_samples: N, the size of the training set (indices are in ``[0, N)``).
        device: where the state lives (the model's device).
        el2n_epoch: 0-based epoch at which EL2N (Paul et al. 2021) is taken; default 0.
        keep_history: also keep the full per-epoch correctness, bit-packed (1 bit per sample
            per epoch).
        max_epochs: capacity of the history (only with ``keep_history``).

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
        n, dev = num_samples, self.device
        f64: dict[str, Any] = {"device": dev, "dtype": torch.float64}
        self._acc = torch.zeros(n, _NUM_ACC, **f64)
        self._bad = torch.zeros((), device=dev, dtype=torch.int64)
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
            targets: (B,) class ids (needed with ``logits``).
            correct: (B,) precomputed correctness (bool/0-1), used when ``logits`` is None.
            loss: (B,) precomputed per-sample loss; defaults to cross-entropy of ``logits``.
            weight: (B,) optional 0/1 mask; 0 drops the row (e.g. sampler padding).
        """
        idx = indices.to(self.device, non_blocking=True).long().reshape(-1)
        valid = (idx >= 0) & (idx < self.num_samples)
        self._bad += (~valid).sum()  # raised in end_epoch, after the collective
        idx = idx.clamp(0, self.num_samples - 1)
        w = valid.to(torch.float64)
        if weight is not None:
            w = w * weight.to(self.device).reshape(-1).double()
        cols = torch.zeros(idx.numel(), _NUM_ACC, device=self.device, dtype=torch.float64)
        cols[:, _VISITS] = w
        if logits is not None:
            if targets is None:
                raise ValueError(
                    "update(indices, logits, targets): targets are required with logits."
                )
            z = logits.detach().to(self.device)
            if z.dtype not in (torch.float32, torch.float64):  # bf16/fp16 autocast outputs
                z = z.float()
            y = targets.to(self.device).long().reshape(-1)
            p = z.softmax(dim=1)
            p_true = p.gather(1, y[:, None]).squeeze(1)
            z_true = z.gather(1, y[:, None]).squeeze(1)
            z_other = z.scatter(1, y[:, None], float("-inf")).amax(dim=1)
            cols[:, _CORRECT] = (z.argmax(dim=1) == y).double()
            cols[:, _PROB] = p_true.double()
            cols[:, _MARGIN] = (z_true - z_other).double()
            # ||p - onehot(y)||_2 without materialising the one-hot matrix
            cols[:, _EL2N] = ((p * p).sum(1) - 2 * p_true + 1).clamp(min=0).sqrt().double()
            per_loss = loss if loss is not None else F.cross_entropy(z, y, reduction="none")
            cols[:, _LOSS] = per_loss.detach().to(self.device).reshape(-1).double()
        elif correct is not None:
            cols[:, _CORRECT] = correct.to(self.device).reshape(-1).double()
            cols[:, _PROB] = float("nan")
            cols[:, _MARGIN] = float("nan")
            cols[:, _EL2N] = float("nan")
            cols[:, _LOSS] = (
                loss.detach().to(self.device).reshape(-1).double()
                if loss is not None
                else float("nan")
            )
        else:
            raise ValueError("update() needs logits (with targets) or correct=...; got neither.")
        self._acc.index_add_(0, idx, cols * w[:, None])

    def end_epoch(self) -> None:
        """Fold the epoch's outcomes into the cumulative state. The one sync point."""
        acc = self._acc
        if dist.is_available() and dist.is_initialized():
            packed = torch.cat([acc.reshape(-1), self._bad.double().reshape(1)])
            dist.all_reduce(packed, op=dist.ReduceOp.SUM)
            acc = packed[:-1].reshape(acc.shape)
            bad = int(packed[-1].item())  # host-sync: once per epoch
        else:
            bad = int(self._bad.item())  # host-sync: once per epoch
        if bad:
            raise IndexError(
                f"Expected sample indices in [0, {self.num_samples}); got {bad} outside it this "
                "epoch. Wrap the dataset with WithIndex and pass its indices to update()."
            )
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
        members, member ``m`` owning ``slice(m * N, (m + 1) * N)``.
        """
        sel = rows or slice(None)
        cpu = {k: v[sel].detach().cpu().clone() for k, v in self._state_tensors().items()}
        return TrainingDynamics(
            num_epochs=self.epoch, el2n_epoch=self.el2n_epoch, meta=dict(meta), **cpu
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
        tensors = {**self._state_tensors(), "acc": self._acc}
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
        self._acc = state["acc"].to(self.device).clone()
        for name in self._state_tensors():
            if name in state:
                setattr(self, name, state[name].to(self.device).clone())
