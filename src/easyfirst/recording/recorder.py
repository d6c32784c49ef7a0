"""``OutcomeRecorder``: per-sample training outcomes kept on the device, one sync per epoch.

Layout per sample (``C``: one byte when ``max_epochs`` <= 255 is given, else int16, up to
32767 epochs; graded correctness, i.e. multi-label rules other than ``exact`` or a float
``correct=``, keeps ``hits`` and ``epochs_correct`` in float32):

==================  =========  ===========================================================
``visits``          int32      this epoch's visits (any sampler: an epoch of more than
                               2**31 - 1 rows is refused before a counter could wrap)
``hits``            int32/f32  this epoch's correct visits (graded: sum of correctness)
``epochs_seen``     C          epochs with a visit
``epochs_correct``  C/f32      epochs at least half of whose visits were correct (CumAcc)
``since``           C          1 + first epoch of the final unbroken correct run, 0 when the
                               last epoch seen was incorrect (correct-now is ``since > 0``)
``forgetting``      C          correct-to-incorrect transitions (Toneva et al. 2019)
``last_loss``       float32    mean loss of the last epoch seen (mid-epoch: that epoch's sum,
                               reset at the sample's first visit)
==================  =========  ===========================================================

``outcomes="core"`` is those: 16 B (binary correctness, <= 255 epochs), 20 B (longer runs),
19 B (graded, <= 255 epochs), 22 B (graded, longer). ``"all"`` adds 24 B, float32: ``probs``
(this epoch's true-class probability sum, its Welford mean and M2 over epochs: confidence,
variability), ``margins`` (epoch sum, sum over epochs: AUM), ``el2n`` (at ``el2n_epoch``).
Error and NaN/inf-logit counts are per-member scalars. Each buffer has a spare slot ``N``
where dropped rows (weight 0, index out of range) land: no update needs a host-side mask.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.distributed as dist

from easyfirst.recording import checks
from easyfirst.recording.dynamics import TrainingDynamics
from easyfirst.targets import (
    DEFAULT_CORRECTNESS,
    check_correctness,
    outcome_columns,
    per_sample_loss,
)
from easyfirst.targets import correctness as correctness_of

LAYOUT = 2  # state_dict layout (1: float64 (N, 7))


class OutcomeRecorder:
    """Records how every training sample is classified, epoch after epoch.

    ``update`` runs every batch and never synchronises with the host: all state is ``(N,)``
    tensors on ``device`` (layout in the module notes) updated with ``index_add_``.
    ``end_epoch`` is the single sync point (one ``all_reduce`` under torch.distributed). A
    sample visited several times in one epoch counts as correct in that epoch when at least
    half of its visits were (graded correctness: its mean correctness is added to CumAcc);
    every sampler easyfirst uses visits each sample once per epoch. A row whose logits hold a
    NaN or inf counts as incorrect; their number is ``dynamics().meta["nonfinite_logits"]``.

    Shapes and dtypes are checked in ``update`` (host metadata, no sync); values that are
    out of range (indices outside ``[0, N)``, targets outside ``[0, C)``, ``correct=`` outside
    ``[0, 1]`` or NaN) are counted on the device and raised in ``end_epoch``.

    Args:
        num_samples: N, the size of the training set (indices are in ``[0, N)``); with
            ``members`` K, the K * N slots of K stacked members (member m owns
            ``m * N/K .. (m + 1) * N/K``).
        device: where the state lives (the model's device).
        el2n_epoch: 0-based epoch at which EL2N (Paul et al. 2021) is taken; default 0.
        keep_history: also keep the full per-epoch correctness, bit-packed (1 bit per sample
            per epoch).
        max_epochs: the number of epochs, when known: the history's capacity, and one-byte
            counters when it is at most 255 (else two bytes; more than 32767 is refused).
        correctness: multi-label targets: when a sample is correct (``easyfirst.targets``:
            ``exact``, ``label-mean``, ``recall``, ``f1``); single-label: argmax == label.
        outcomes: ``"core"`` (CumAcc, FIT, forgetting, last-epoch loss), ``"all"``, or names
            among :data:`OUTCOMES` (``probs``: confidence and variability; ``margins``: AUM;
            ``el2n``).
        members: K, the number of stacked members sharing the slots.
        sync: all_reduce the epoch's counts in ``end_epoch``; default: when a process group
            exists.

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

    def __init__(self, num_samples: int, *, device: torch.device | str = "cpu",
                 el2n_epoch: int = 0, keep_history: bool = False, max_epochs: int = 0,
                 correctness: str = DEFAULT_CORRECTNESS, outcomes: str | Iterable[str] = "core",
                 members: int = 1, sync: bool | None = None) -> None:
        checks.check_settings(num_samples, members, el2n_epoch, keep_history, max_epochs)
        self.num_samples, self.members = num_samples, members
        self.device = torch.device(device)
        self.el2n_epoch, self.keep_history, self.max_epochs = el2n_epoch, keep_history, max_epochs
        self.correctness = check_correctness(correctness)
        self.outcomes = checks.resolve_outcomes(outcomes)
        self.sync = sync
        self.counter = torch.uint8 if 0 < max_epochs <= 255 else torch.int16
        self.graded: bool | None = None  # set by the first update (host metadata)
        self.epoch = 0
        n1, dev = num_samples + 1, self.device  # + the slot of dropped rows

        def zeros(dtype: torch.dtype = torch.float32, fill: float = 0.0) -> torch.Tensor:
            return torch.full((n1,), fill, device=dev, dtype=dtype)

        self.visits, self.hits = zeros(torch.int32), zeros(torch.int32)
        self.epochs_seen, self.epochs_correct = zeros(self.counter), zeros(self.counter)
        self.since, self.forgetting = zeros(self.counter), zeros(self.counter)
        self.last_loss = zeros(fill=float("nan"))
        if "probs" in self.outcomes:
            self.prob_epoch, self.prob_mean, self.prob_m2 = zeros(), zeros(), zeros()
        if "margins" in self.outcomes:
            self.margin_epoch, self.margin_sum = zeros(), zeros()
        if "el2n" in self.outcomes:
            self.el2n = zeros(fill=float("nan"))
        self._bad = torch.zeros(3, device=dev, dtype=torch.int64)  # checks.BAD_*
        self._rows = 0  # rows passed to update this epoch (host metadata)
        self._el2n_on = torch.tensor(el2n_epoch == 0, device=dev)
        self._nonfinite_epoch = torch.zeros(members + 1, device=dev, dtype=torch.int64)
        self.nonfinite = torch.zeros(members, device=dev, dtype=torch.int64)
        self.history = (torch.zeros(num_samples, (max_epochs + 7) // 8, device=dev,
                                    dtype=torch.uint8) if keep_history else None)

    @property
    def bytes_per_sample(self) -> int:
        """Bytes of state per sample (history included; the layout in the module notes)."""
        return sum(t[0].numel() * t.element_size() for t in self._state().values())

    @torch.no_grad()
    def update(self, indices: torch.Tensor, logits: torch.Tensor | None = None,
               targets: torch.Tensor | None = None, *, correct: torch.Tensor | None = None,
               loss: torch.Tensor | None = None, weight: torch.Tensor | None = None) -> None:
        """Record one batch. No host synchronisation.

        Args:
            indices: (B,) dataset indices of the batch.
            logits: (B, C) model outputs (detached internally); or pass ``correct``.
            targets: (B,) class ids, or (B, C) multi-hot rows (needed with ``logits``).
            correct: (B,) precomputed correctness (bool/0-1, or a float in [0, 1]), used
                when ``logits`` is None.
            loss: (B,) precomputed per-sample loss; defaults to cross-entropy of ``logits``.
            weight: (B,) optional 0/1 mask; 0 drops the row (e.g. sampler padding).
        """
        checks.check_batch(indices, logits, targets, correct, loss, weight)
        self._rows += indices.numel()
        checks.check_epoch_rows(self._rows)
        idx, n = indices.to(self.device, non_blocking=True).long().reshape(-1), self.num_samples
        valid = (idx >= 0) & (idx < n)
        self._bad[checks.BAD_INDEX].add_((~valid).sum())  # raised in end_epoch, after all_reduce
        keep = valid if weight is None else valid & (weight.to(self.device).reshape(-1) > 0)
        idx = torch.where(keep, idx, n)  # dropped rows land in the spare slot
        if logits is not None:
            assert targets is not None  # check_batch
            self._set_form(targets.ndim == 2 and self.correctness != "exact")
            hit, row_loss, extra = self._from_logits(idx, logits, targets, loss, keep)
        else:
            assert correct is not None  # check_batch
            nan = torch.full(idx.shape, float("nan"), device=self.device)
            self._set_form(correct.dtype.is_floating_point)
            hit = correct.to(self.device).reshape(-1).float()
            self._bad[checks.BAD_CORRECT].add_((~((hit >= 0) & (hit <= 1)) & keep).sum())
            row_loss = nan if loss is None else loss.detach().to(self.device).reshape(-1)
            extra = (nan, nan, nan)
        first = self.visits[idx] == 0  # equal for repeats of an index: a deterministic reset
        on = self._el2n_on  # a device flag: a CUDA graph captured in any epoch replays right
        resets = [(self.last_loss, first)]
        if "el2n" in self.outcomes:
            resets.append((self.el2n, first & on))
        for buf, reset in resets:
            buf.index_put_((idx,), torch.where(reset, 0.0, buf[idx]))
        self.visits.index_add_(0, idx, torch.ones_like(idx, dtype=torch.int32))
        self.hits.index_add_(0, idx, hit.to(self.hits.dtype))
        self.last_loss.index_add_(0, idx, row_loss.float())
        p_true, margin, el2n = extra
        if "probs" in self.outcomes:
            self.prob_epoch.index_add_(0, idx, p_true.float())
        if "margins" in self.outcomes:
            self.margin_epoch.index_add_(0, idx, margin.float())
        if "el2n" in self.outcomes:
            self.el2n.index_add_(0, idx, torch.where(on, el2n.float(), 0.0))

    def _set_form(self, graded: bool) -> None:
        """The first update fixes binary (one-byte) or graded (float32) correctness sums."""
        if self.graded is None:
            self.graded = graded
            if graded:
                self.hits = self.hits.float()
                self.epochs_correct = self.epochs_correct.float()
        elif graded and not self.graded:
            raise ValueError("Expected the same kind of correctness in every update; got "
                             "graded (fractional) correctness after 0/1 correctness. Use one "
                             "recorder per kind of target.")

    def _el2n_now(self) -> bool:
        return "el2n" in self.outcomes and self.epoch == self.el2n_epoch

    def _from_logits(self, idx: torch.Tensor, logits: torch.Tensor, targets: torch.Tensor,
                     loss: torch.Tensor | None, keep: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
        """Correctness, loss and (confidence, margin, el2n) of (B, C) logits; bad targets and
        non-finite rows are counted on the device."""
        z = logits.detach().to(self.device)
        if z.dtype not in (torch.float32, torch.float64):  # bf16/fp16 autocast outputs
            z = z.float()
        if targets.ndim == 2:  # multi-hot (B, C)
            y = targets.to(self.device, z.dtype)
        else:
            y = targets.to(self.device).long().reshape(-1)
            in_range = (y >= 0) & (y < z.shape[1])
            self._bad[checks.BAD_TARGET].add_((~in_range & keep).sum())  # a view: no setitem
            y = y.clamp(0, z.shape[1] - 1)
        per = self.num_samples // self.members
        self._nonfinite_epoch.index_add_(0, idx // per, (~torch.isfinite(z).all(dim=1)).long())
        hit = correctness_of(z, y, self.correctness)  # NaN rows: 0
        row_loss = loss.detach().to(self.device).reshape(-1) if loss is not None else (
            per_sample_loss(z, y))
        extra = outcome_columns(z, y) if self.outcomes else (hit, hit, hit)
        return hit, row_loss, extra

    def _epoch_sums(self) -> tuple[list[torch.Tensor], list[int], torch.Tensor]:
        """This epoch's per-sample sums over all processes (one all_reduce under ``sync``):
        visits, hits, loss, [prob, margin, el2n], the error counts, and non-finite rows per
        member. A process's loss/el2n sums exist only where it saw the sample."""
        n = self.num_samples
        mine = self.visits[:n] > 0
        cols = [self.visits[:n], self.hits[:n], torch.where(mine, self.last_loss[:n], 0.0)]
        cols += [self.prob_epoch[:n]] if "probs" in self.outcomes else []
        cols += [self.margin_epoch[:n]] if "margins" in self.outcomes else []
        cols += [torch.where(mine, self.el2n[:n], 0.0)] if self._el2n_now() else []
        counts = torch.cat([self._bad, self._nonfinite_epoch[:-1]])
        on = self.sync if self.sync is not None else dist.is_available() and dist.is_initialized()
        if not on:
            return cols, [int(b) for b in self._bad.tolist()], counts[3:]  # host-sync: 1/epoch
        packed = torch.cat([torch.stack([c.float() for c in cols], 1).reshape(-1),
                            counts.float()])  # float32: counts below 2**24 are exact
        dist.all_reduce(packed, op=dist.ReduceOp.SUM)
        sums = packed[: n * len(cols)].view(n, len(cols)).unbind(1)
        tail = packed[n * len(cols):].round().long()
        return list(sums), [int(b) for b in tail[:3].tolist()], tail[3:]  # host-sync: 1/epoch

    def end_epoch(self) -> None:
        """Fold the epoch's outcomes into the cumulative state. The one sync point."""
        n, e = self.num_samples, self.epoch
        limit = torch.iinfo(self.counter).max
        if e >= limit:
            raise ValueError(f"The recorder counts up to {limit} epochs; got epoch {e + 1}. "
                             "Pass max_epochs (up to 32767) to record longer runs.")
        sums, bad, nonfinite = self._epoch_sums()
        checks.raise_bad(bad, n)
        self.nonfinite += nonfinite
        visits, hits, loss = sums[:3]
        seen, per_visit = visits > 0, visits.clamp(min=1).float()
        if self.graded:
            correct = seen & (hits.float() / per_visit >= 0.5)
            self.epochs_correct[:n] += torch.where(seen, hits.float() / per_visit, 0.0)
        else:
            correct = seen & (2 * hits.long() >= visits.long())
            self.epochs_correct[:n] += correct.to(self.counter)
        since = self.since[:n]
        self.forgetting[:n] += (seen & (since > 0) & ~correct).to(self.counter)
        since.copy_(torch.where(seen & ~correct, 0, since))
        since.copy_(torch.where(correct & (since == 0), e + 1, since))
        self.epochs_seen[:n] += seen.to(self.counter)
        self.last_loss[:n] = torch.where(seen, loss / per_visit, self.last_loss[:n])
        rest = iter(sums[3:])
        if "probs" in self.outcomes:  # Welford: no cancellation in the variability
            x, count = next(rest) / per_visit, self.epochs_seen[:n].float().clamp(min=1)
            delta = torch.where(seen, x - self.prob_mean[:n], 0.0)
            self.prob_mean[:n] += delta / count
            self.prob_m2[:n] += torch.where(seen, delta * (x - self.prob_mean[:n]), 0.0)
        if "margins" in self.outcomes:
            self.margin_sum[:n] += torch.where(seen, next(rest) / per_visit, 0.0)
        if self._el2n_now():
            self.el2n[:n] = torch.where(seen, next(rest) / per_visit, self.el2n[:n])
        if self.history is not None:
            if e >= self.max_epochs:
                raise ValueError(f"History holds {self.max_epochs} epochs; epoch {e + 1} does "
                                 "not fit. Raise max_epochs.")
            self.history[:, e // 8] |= (correct.to(torch.uint8) << (e % 8)).to(torch.uint8)
        for buf in (self.visits, self.hits, getattr(self, "prob_epoch", None),
                    getattr(self, "margin_epoch", None), self._bad, self._nonfinite_epoch):
            if buf is not None:
                buf.zero_()
        self.epoch, self._rows = self.epoch + 1, 0
        self._el2n_on.fill_(self._el2n_now())

    def dynamics(self, rows: slice | None = None, **meta: Any) -> TrainingDynamics:
        """The record so far (at least one ``end_epoch``) as a ``TrainingDynamics`` on CPU.

        ``meta`` is stored with it. ``rows`` picks one member's block (``slice(m * N/K, (m +
        1) * N/K)``) of K stacked members. ``meta["nonfinite_logits"]``: that member's visits
        whose logits held a NaN or inf (counted as incorrect); ``meta["outcomes"]``: groups.
        """
        checks.check_recorded(self.epoch)
        sel, m = self._member_rows(rows)
        if m is None and self.members > 1:
            raise ValueError(f"Expected the rows of one of the {self.members} members; got "
                             "none. Pass rows=slice(m * N/K, (m + 1) * N/K).")
        m = m or 0
        s = {k: v[sel].detach().cpu() for k, v in self._state().items() if k != "history"}
        seen = s["epochs_seen"].double()
        opt: dict[str, torch.Tensor] = {}
        if "probs" in self.outcomes:
            mean = s["prob_mean"].double()
            opt.update(prob_sum=mean * seen, prob_sqsum=s["prob_m2"].double() + seen * mean**2)
        if "margins" in self.outcomes:
            opt["margin_sum"] = s["margin_sum"].double()
        if "el2n" in self.outcomes:
            opt["el2n"] = s["el2n"].double()
        nonfinite = int(self.nonfinite[m].item())  # host-sync: once per call
        return TrainingDynamics(
            num_epochs=self.epoch, el2n_epoch=self.el2n_epoch,
            epochs_seen=s["epochs_seen"].int(), correct_sum=s["epochs_correct"].double(),
            correct_now=s["since"] > 0, learned_since=s["since"].int() - 1,
            forgetting=s["forgetting"].int(), last_loss=s["last_loss"].double(),
            history=None if self.history is None else self.history[sel].cpu().clone(),
            meta={**meta, "nonfinite_logits": nonfinite, "outcomes": list(self.outcomes)},
            **opt)

    def _member_rows(self, rows: slice | None) -> tuple[slice, int | None]:
        """``rows`` and its member (None: all slots)."""
        per = self.num_samples // self.members
        if rows is None:
            return slice(0, self.num_samples), None
        m = (rows.start or 0) // per
        if rows != slice(m * per, (m + 1) * per) or m >= self.members:
            raise ValueError(f"Expected rows of one member, slice(m * {per}, (m + 1) * {per}) "
                             f"for m < {self.members}; got {rows}. Pass a member's block.")
        return rows, m

    def _state(self) -> dict[str, torch.Tensor]:
        names = ["visits", "hits", "epochs_seen", "epochs_correct", "since", "forgetting",
                 "last_loss"]
        names += ["prob_epoch", "prob_mean", "prob_m2"] if "probs" in self.outcomes else []
        names += ["margin_epoch", "margin_sum"] if "margins" in self.outcomes else []
        names += ["el2n"] if "el2n" in self.outcomes else []
        names += ["history"] if self.history is not None else []
        return {k: getattr(self, k) for k in names}

    def state_dict(self, rows: slice | None = None) -> dict[str, Any]:
        """Everything needed to resume exactly (tensors are copied to CPU).

        ``rows`` gives the state of a one-member recorder over that member's block (see
        :meth:`dynamics`).
        """
        sel, m = self._member_rows(rows)
        ms = slice(None) if m is None else slice(m, m + 1)
        state: dict[str, Any] = {k: v[sel].detach().cpu().clone()
                                 for k, v in self._state().items()}  # without the spare slot
        state.update(layout=LAYOUT, epoch=self.epoch, num_samples=sel.stop - sel.start,
                     el2n_epoch=self.el2n_epoch, max_epochs=self.max_epochs,
                     outcomes=list(self.outcomes), graded=self.graded,
                     bad=self._bad.cpu().clone(), nonfinite=self.nonfinite[ms].cpu().clone(),
                     nonfinite_epoch=self._nonfinite_epoch[:-1][ms].cpu().clone())
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("layout") != LAYOUT:
            raise ValueError("Expected a recorder state of this easyfirst version; got one of "
                             "an earlier layout. Restart the run (--overwrite) instead of "
                             "resuming it.")
        if state["num_samples"] != self.num_samples:
            raise ValueError(
                f"Recorder state is for {state['num_samples']} samples; this recorder has "
                f"{self.num_samples}. Resume with the same dataset."
            )
        missing = [o for o in self.outcomes if o not in state["outcomes"]]
        if missing:
            raise ValueError(f"Expected a recorder state with outcomes {', '.join(missing)}; "
                             f"got {', '.join(state['outcomes']) or 'core'} only. Restart the "
                             "run (--overwrite) to record them.")
        self.epoch, self.el2n_epoch = int(state["epoch"]), int(state["el2n_epoch"])
        self._el2n_on.fill_(self._el2n_now())
        if state["graded"] is not None:
            self._set_form(bool(state["graded"]))
        for name, cur in self._state().items():
            src = state[name]
            if name != "history":  # + the spare slot
                src = torch.cat([src, cur[-1:].cpu()])
            setattr(self, name, src.to(self.device, cur.dtype).clone())
        self._bad[: len(state["bad"])] = state["bad"].to(self.device)  # older: 2 counts
        self.nonfinite = state["nonfinite"].to(self.device).clone()
        src = state["nonfinite_epoch"]
        self._nonfinite_epoch[: len(src)] = src.to(self.device)
