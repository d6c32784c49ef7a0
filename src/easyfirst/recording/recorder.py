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
Each group is declared once in ``recording/outcomes.py``.

A sample visited several times in one epoch counts as correct in that epoch when at least half
of its visits were (graded correctness: its mean correctness is added to CumAcc); every
sampler easyfirst uses visits each sample once per epoch. A row whose logits hold a NaN or inf
counts as incorrect; their number is ``dynamics().meta["nonfinite_logits"]``. Shapes and
dtypes are checked in ``update`` (host metadata, no sync); values out of range (indices
outside ``[0, N)``, targets outside ``[0, C)``, ``correct=`` outside ``[0, 1]`` or NaN) are
counted on the device and raised in ``end_epoch``. Error and NaN/inf-logit counts
are per-member scalars. Each buffer has a spare slot ``N``
where dropped rows (weight 0, index out of range) land: no update needs a host-side mask.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import fields
from typing import Any

import torch

from easyfirst.deprecation import renamed
from easyfirst.errors import InputError
from easyfirst.recording import checks
from easyfirst.recording.batch import is_graded, read_batch
from easyfirst.recording.buffers import OutcomeBuffers
from easyfirst.recording.dynamics import TrainingDynamics
from easyfirst.recording.outcomes import (
    ALWAYS,
    OUTCOME_GROUPS,
    EpochOutcome,
    resolve_outcomes,
)
from easyfirst.recording.sync import reduce_epoch
from easyfirst.targets import DEFAULT_CORRECTNESS, check_correctness

LAYOUT = 2  # state_dict layout (1: float64 (N, 7))


class OutcomeRecorder:
    """Records how every training sample is classified, epoch after epoch.

    ``update`` runs every batch and never synchronises with the host: all state is ``(N,)``
    tensors on ``device`` (layout in the module notes) updated with ``index_add_``.
    ``end_epoch`` is the single sync point (one ``all_reduce`` under torch.distributed).

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
        epochs = renamed("OutcomeRecorder", "max_epochs", max_epochs, "epochs", epochs)
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
        dev = self.device
        self.epoch = 0
        specs = []
        for group in self.groups:
            group.to(dev)
            group.end_epoch(0)
            specs += group.states
        self.buffers = OutcomeBuffers(specs, self.num_samples, dev, self.counter)
        self._bad = torch.zeros(3, device=dev, dtype=torch.int64)  # checks.BAD_*
        self._rows = 0  # rows passed to update this epoch (host metadata)
        self._nonfinite_epoch = torch.zeros(self.members + 1, device=dev, dtype=torch.int64)
        self.nonfinite = torch.zeros(self.members, device=dev, dtype=torch.int64)

    @property
    def state(self) -> dict[str, torch.Tensor]:
        """The groups' per-sample buffers by name (``(N + 1, ...)``: the last is spare)."""
        return self.buffers.tensors

    @property
    def max_epochs(self) -> int:
        """Deprecated name of :attr:`epochs`."""
        warnings.warn("OutcomeRecorder.max_epochs is renamed epochs.", DeprecationWarning,
                      stacklevel=2)
        return self.epochs

    @property
    def bytes_per_sample(self) -> int:
        """Bytes of state per sample (history included; the layout in the module notes)."""
        return self.buffers.bytes_per_sample

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
        self.buffers.set_form(is_graded(logits, targets, correct, self.correctness))
        batch = read_batch(indices, logits, targets, correct, loss, weight,
                           visits=self.state["visits"], members=self.members,
                           correctness=self.correctness, bad=self._bad,
                           nonfinite=self._nonfinite_epoch)
        for group in self.groups:
            group.update(self.state, batch)

    def end_epoch(self) -> None:
        """Fold the epoch's outcomes into the cumulative state. The one sync point."""
        limit = torch.iinfo(self.counter).max
        if self.epoch >= limit:
            raise InputError(f"The recorder counts up to {limit} epochs; got epoch "
                             f"{self.epoch + 1}. Pass epochs (up to 32767) to record longer runs.")
        reduced = [spec for group in self.groups for spec in group.reduced(self.epoch)]
        sums = self.buffers.partial_sums(reduced)
        counts = reduce_epoch(sums, torch.cat([self._bad, self._nonfinite_epoch[:-1]]),
                              self.sync)
        checks.raise_bad([int(b) for b in counts[:3].tolist()], self.num_samples)  # host-sync
        self.nonfinite += counts[3:]
        visits = sums["visits"]
        done = EpochOutcome(self.epoch, self.num_samples, sums, visits > 0,
                            visits.clamp(min=1).float())
        for group in self.groups:  # the core group first: the others read its counts
            group.fold(self.state, done)
        self.buffers.zero_per_epoch()
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
        sel, m = checks.member_rows(rows, self.num_samples, self.members)
        if m is None and self.members > 1:
            raise InputError(f"Expected the rows of one of the {self.members} members; got "
                             "none. Pass rows=slice(m * N/K, (m + 1) * N/K).")
        s = self.buffers.rows(sel)
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

    def state_dict(self, rows: slice | None = None) -> dict[str, Any]:
        """Everything needed to resume exactly (tensors are copied to CPU).

        ``rows`` gives the state of a one-member recorder over that member's block (see
        :meth:`dynamics`).
        """
        sel, m = checks.member_rows(rows, self.num_samples, self.members)
        ms = slice(None) if m is None else slice(m, m + 1)
        state: dict[str, Any] = self.buffers.rows(sel)  # without the spare slot
        state.update(layout=LAYOUT, epoch=self.epoch, num_samples=sel.stop - sel.start,
                     el2n_epoch=self.el2n_epoch, epochs=self.epochs,
                     outcomes=list(self.outcomes), graded=self.buffers.graded,
                     bad=self._bad.cpu().clone(), nonfinite=self.nonfinite[ms].cpu().clone(),
                     nonfinite_epoch=self._nonfinite_epoch[:-1][ms].cpu().clone())
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` (the same samples, at least these outcomes)."""
        checks.check_resumable_state(state, self.num_samples, self.outcomes, LAYOUT)
        self.epoch, self.el2n_epoch = int(state["epoch"]), int(state["el2n_epoch"])
        self.buffers.load(state)
        for group in self.groups:
            group.el2n_epoch = self.el2n_epoch
            group.end_epoch(self.epoch)
        self._bad[: len(state["bad"])] = state["bad"].to(self.device)  # older: 2 counts
        self.nonfinite = state["nonfinite"].to(self.device).clone()
        src = state["nonfinite_epoch"]
        self._nonfinite_epoch[: len(src)] = src.to(self.device)
