"""``OutcomeRecorder``: per-sample training outcomes kept on the device, one sync per epoch.

Layout per sample (``C``: one byte when ``epochs`` <= 255 is given, else int16, up to
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
Each group is declared once in ``recording/outcomes.py``. Error and NaN/inf-logit counts
are per-member scalars. Each buffer has a spare slot ``N``
where dropped rows (weight 0, index out of range) land: no update needs a host-side mask.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import fields
from typing import Any

import torch
import torch.distributed as dist

from easyfirst.recording import checks
from easyfirst.recording.dynamics import TrainingDynamics
from easyfirst.recording.outcomes import (
    ALWAYS,
    OUTCOME_GROUPS,
    BatchOutcome,
    EpochOutcome,
    StateSpec,
    resolve_outcomes,
)
from easyfirst.targets import (
    DEFAULT_CORRECTNESS,
    check_correctness,
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
        epochs: the number of epochs, when known: the history's capacity, and one-byte
            counters when it is at most 255 (else two bytes; more than 32767 is refused).
        correctness: multi-label targets: when a sample is correct (``easyfirst.targets``:
            ``exact``, ``label-mean``, ``recall``, ``f1``); single-label: argmax == label.
        outcomes: ``"core"`` (CumAcc, FIT, forgetting, last-epoch loss), ``"all"``, or names
            of registered outcome groups (``recording/outcomes.py``; ``probs``: confidence
            and variability; ``margins``: AUM; ``el2n``).
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
                 el2n_epoch: int = 0, keep_history: bool = False, epochs: int = 0,
                 correctness: str = DEFAULT_CORRECTNESS, outcomes: str | Iterable[str] = "core",
                 members: int = 1, sync: bool | None = None,
                 max_epochs: int | None = None) -> None:
        if max_epochs is not None:
            warnings.warn("OutcomeRecorder(max_epochs=) is renamed epochs=; max_epochs will be "
                          "removed in easyfirst 0.3.", DeprecationWarning, stacklevel=2)
            epochs = max_epochs
        checks.check_settings(num_samples, members, el2n_epoch, keep_history, epochs)
        self.num_samples = num_samples
        self.members = members
        self.device = torch.device(device)
        self.el2n_epoch = el2n_epoch
        self.keep_history = keep_history
        self.epochs = epochs
        self.correctness = check_correctness(correctness)
        self.outcomes = resolve_outcomes(outcomes)
        self.sync = sync
        self.counter = torch.uint8 if 0 < epochs <= 255 else torch.int16
        names = [*ALWAYS, *self.outcomes, *(["history"] if keep_history else [])]
        self.groups = [OUTCOME_GROUPS.get(name)(epochs=epochs, el2n_epoch=el2n_epoch)
                       for name in names]
        self.reset()

    def reset(self) -> None:
        """Forget everything recorded: the state of a new recorder with these settings."""
        n1, dev = self.num_samples + 1, self.device  # + the slot of dropped rows
        self.graded: bool | None = None  # set by the first update (host metadata)
        self.epoch = 0
        self.state: dict[str, torch.Tensor] = {}
        for group in self.groups:
            group.to(dev)
            group.end_epoch(0)
            for spec in group.states:
                shape = (n1, spec.width) if spec.width else (n1,)
                self.state[spec.name] = torch.full(shape, spec.fill, device=dev,
                                                   dtype=self._dtype(spec))
        self._bad = torch.zeros(3, device=dev, dtype=torch.int64)  # checks.BAD_*
        self._rows = 0  # rows passed to update this epoch (host metadata)
        self._nonfinite_epoch = torch.zeros(self.members + 1, device=dev, dtype=torch.int64)
        self.nonfinite = torch.zeros(self.members, device=dev, dtype=torch.int64)

    def _dtype(self, spec: StateSpec) -> torch.dtype:
        if spec.graded and self.graded:
            return torch.float32
        return {"float32": torch.float32, "int32": torch.int32, "uint8": torch.uint8,
                "counter": self.counter}[spec.dtype]

    @property
    def max_epochs(self) -> int:
        """Deprecated name of :attr:`epochs`."""
        warnings.warn("OutcomeRecorder.max_epochs is renamed epochs.", DeprecationWarning,
                      stacklevel=2)
        return self.epochs

    @property
    def bytes_per_sample(self) -> int:
        """Bytes of state per sample (history included; the layout in the module notes)."""
        return sum(t[0].numel() * t.element_size() for t in self.state.values())

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
        n = self.num_samples
        idx = indices.to(self.device, non_blocking=True).long().reshape(-1)
        valid = (idx >= 0) & (idx < n)
        self._bad[checks.BAD_INDEX].add_((~valid).sum())  # raised in end_epoch, after all_reduce
        keep = valid if weight is None else valid & (weight.to(self.device).reshape(-1) > 0)
        idx = torch.where(keep, idx, n)  # dropped rows land in the spare slot
        if logits is not None:
            assert targets is not None  # check_batch
            self._set_form(targets.ndim == 2 and self.correctness != "exact")
            batch = self._from_logits(idx, logits, targets, loss, keep)
        else:
            assert correct is not None  # check_batch
            self._set_form(correct.dtype.is_floating_point)
            hit = correct.to(self.device).reshape(-1).float()
            self._bad[checks.BAD_CORRECT].add_((~((hit >= 0) & (hit <= 1)) & keep).sum())
            row_loss = (torch.full(idx.shape, float("nan"), device=self.device) if loss is None
                        else loss.detach().to(self.device).reshape(-1))
            batch = BatchOutcome(idx, self._first(idx), hit, row_loss)
        for group in self.groups:
            group.update(self.state, batch)

    def _first(self, idx: torch.Tensor) -> torch.Tensor:
        """Each row's first visit this epoch (equal for repeats of an index: a deterministic
        reset)."""
        return self.state["visits"][idx] == 0

    def _set_form(self, graded: bool) -> None:
        """The first update fixes binary (one-byte) or graded (float32) correctness sums."""
        if self.graded is None:
            self.graded = graded
            if graded:
                for spec in self._specs():
                    if spec.graded:
                        self.state[spec.name] = self.state[spec.name].float()
        elif graded and not self.graded:
            raise ValueError("Expected the same kind of correctness in every update; got "
                             "graded (fractional) correctness after 0/1 correctness. Use one "
                             "recorder per kind of target.")

    def _specs(self) -> list[StateSpec]:
        return [spec for group in self.groups for spec in group.states]

    def _from_logits(self, idx: torch.Tensor, logits: torch.Tensor, targets: torch.Tensor,
                     loss: torch.Tensor | None, keep: torch.Tensor) -> BatchOutcome:
        """The batch's outcomes from (B, C) logits; bad targets and non-finite rows are
        counted on the device."""
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
        return BatchOutcome(idx, self._first(idx), hit, row_loss, z, y)

    def _epoch_sums(self) -> tuple[dict[str, torch.Tensor], list[int], torch.Tensor]:
        """This epoch's reduced per-sample sums (one all_reduce under ``sync``), the error
        counts, and non-finite rows per member. A ``sum_seen`` buffer counts only where this
        process visited the sample."""
        n, s = self.num_samples, self.state
        mine = s["visits"][:n] > 0
        specs = [spec for group in self.groups for spec in group.reduced(self.epoch)]
        cols = {spec.name: (torch.where(mine, s[spec.name][:n], 0.0)
                            if spec.reduce == "sum_seen" else s[spec.name][:n])
                for spec in specs}
        counts = torch.cat([self._bad, self._nonfinite_epoch[:-1]])
        on = self.sync if self.sync is not None else dist.is_available() and dist.is_initialized()
        if not on:
            return cols, [int(b) for b in self._bad.tolist()], counts[3:]  # host-sync: 1/epoch
        packed = torch.cat([torch.stack([c.float() for c in cols.values()], 1).reshape(-1),
                            counts.float()])  # float32: counts below 2**24 are exact
        dist.all_reduce(packed, op=dist.ReduceOp.SUM)
        sums = packed[: n * len(cols)].view(n, len(cols)).unbind(1)
        tail = packed[n * len(cols):].round().long()
        return dict(zip(cols, sums, strict=True)), [int(b) for b in tail[:3].tolist()], tail[3:]

    def end_epoch(self) -> None:
        """Fold the epoch's outcomes into the cumulative state. The one sync point."""
        limit = torch.iinfo(self.counter).max
        if self.epoch >= limit:
            raise ValueError(f"The recorder counts up to {limit} epochs; got epoch "
                             f"{self.epoch + 1}. Pass epochs (up to 32767) to record longer runs.")
        sums, bad, nonfinite = self._epoch_sums()
        checks.raise_bad(bad, self.num_samples)
        self.nonfinite += nonfinite
        visits = sums["visits"]
        done = EpochOutcome(self.epoch, self.num_samples, sums, visits > 0,
                            visits.clamp(min=1).float())
        for group in self.groups:  # the core group first: the others read its counts
            group.fold(self.state, done)
        for spec in self._specs():
            if spec.per_epoch:
                self.state[spec.name].zero_()
        self._bad.zero_()
        self._nonfinite_epoch.zero_()
        self.epoch, self._rows = self.epoch + 1, 0
        for group in self.groups:
            group.end_epoch(self.epoch)

    def dynamics(self, rows: slice | None = None, **meta: Any) -> TrainingDynamics:
        """The record so far (at least one ``end_epoch``) as a ``TrainingDynamics`` on CPU.

        ``meta`` is stored with it. ``rows`` picks one member's block (``slice(m * N/K, (m +
        1) * N/K)``) of K stacked members. ``meta["nonfinite_logits"]``: that member's visits
        whose logits held a NaN or inf (counted as incorrect); ``meta["outcomes"]``: groups.
        A group's fields that ``TrainingDynamics`` does not name go to its ``extra``.
        """
        checks.check_recorded(self.epoch)
        sel, m = self._member_rows(rows)
        if m is None and self.members > 1:
            raise ValueError(f"Expected the rows of one of the {self.members} members; got "
                             "none. Pass rows=slice(m * N/K, (m + 1) * N/K).")
        s = {k: v[sel].detach().cpu().clone() for k, v in self.state.items()}
        found: dict[str, torch.Tensor] = {}
        for group in self.groups:
            found.update(group.fields(s))
        named = {f.name for f in fields(TrainingDynamics)}
        nonfinite = int(self.nonfinite[m or 0].item())  # host-sync: once per call
        return TrainingDynamics(
            epochs=self.epoch, el2n_epoch=self.el2n_epoch,
            meta={**meta, "nonfinite_logits": nonfinite, "outcomes": list(self.outcomes)},
            extra={k: v for k, v in found.items() if k not in named},
            **{k: v for k, v in found.items() if k in named})

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

    def state_dict(self, rows: slice | None = None) -> dict[str, Any]:
        """Everything needed to resume exactly (tensors are copied to CPU).

        ``rows`` gives the state of a one-member recorder over that member's block (see
        :meth:`dynamics`).
        """
        sel, m = self._member_rows(rows)
        ms = slice(None) if m is None else slice(m, m + 1)
        state: dict[str, Any] = {k: v[sel].detach().cpu().clone()
                                 for k, v in self.state.items()}  # without the spare slot
        state.update(layout=LAYOUT, epoch=self.epoch, num_samples=sel.stop - sel.start,
                     el2n_epoch=self.el2n_epoch, max_epochs=self.epochs,
                     outcomes=list(self.outcomes), graded=self.graded,
                     bad=self._bad.cpu().clone(), nonfinite=self.nonfinite[ms].cpu().clone(),
                     nonfinite_epoch=self._nonfinite_epoch[:-1][ms].cpu().clone())
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` (the same samples, at least these outcomes)."""
        checks.check_resumable_state(state, self.num_samples, self.outcomes, LAYOUT)
        self.epoch, self.el2n_epoch = int(state["epoch"]), int(state["el2n_epoch"])
        if state["graded"] is not None:
            self._set_form(bool(state["graded"]))
        for name, cur in self.state.items():  # + the spare slot
            src = torch.cat([state[name], cur[-1:].cpu()])
            self.state[name] = src.to(self.device, cur.dtype).clone()
        for group in self.groups:
            group.el2n_epoch = self.el2n_epoch
            group.end_epoch(self.epoch)
        self._bad[: len(state["bad"])] = state["bad"].to(self.device)  # older: 2 counts
        self.nonfinite = state["nonfinite"].to(self.device).clone()
        src = state["nonfinite_epoch"]
        self._nonfinite_epoch[: len(src)] = src.to(self.device)
