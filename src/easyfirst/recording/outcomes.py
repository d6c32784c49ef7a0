"""Outcome groups: what the recorder keeps per sample, each declared once.

A group declares its per-sample buffers with :meth:`OutcomeGroup.add_state` (dtype, fill, and
whether the buffer holds an epoch's partial sums that are added over processes), says what a
batch adds to them (:meth:`~OutcomeGroup.update`), how the epoch's reduced sums fold into the
cumulative record (:meth:`~OutcomeGroup.fold`) and which ``TrainingDynamics`` fields it yields
(:meth:`~OutcomeGroup.fields`). ``OutcomeRecorder`` is generic over the groups: it allocates,
reduces (one packed ``all_reduce``), zeroes, saves, loads and resets what they declare.

A new outcome is one class in one file::

    @register_outcome("loss_sum")
    class LossSum(OutcomeGroup):
        '''Sum over epochs of each sample's mean training loss.'''

        def declare(self) -> None:
            self.add_state("loss_epoch", reduce="sum", per_epoch=True)
            self.add_state("loss_sum")

        def update(self, s, batch):
            s["loss_epoch"].index_add_(0, batch.idx, batch.loss.float())

        def fold(self, s, epoch):
            got = epoch.sums["loss_epoch"] / epoch.per_visit
            s["loss_sum"][: epoch.n] += torch.where(epoch.seen, got, 0.0)

        def fields(self, s):
            return {"loss_sum": s["loss_sum"].double()}

``OutcomeRecorder(N, outcomes=["loss_sum"])`` then records it and
``dynamics().outcome("loss_sum")`` returns it. The built-in groups follow; the layout per
sample is in ``recording/recorder.py``'s notes.

Dtypes: ``"float32"``, ``"int32"``, ``"uint8"`` and ``"counter"`` (one byte when the run has
at most 255 epochs, else int16); a buffer declared ``graded=True`` turns float32 once the
correctness is graded. Every buffer has a spare slot ``N`` where dropped rows land.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

import torch

from easyfirst.errors import InputError
from easyfirst.recording.batch import BatchOutcome
from easyfirst.registry import Registry

DTYPES = ("float32", "int32", "uint8", "counter")


@dataclass(frozen=True)
class StateSpec:
    """One per-sample buffer of a group: ``(N + 1,)``, or ``(N + 1, width)``.

    ``reduce``: ``"sum"``, the buffer holds this epoch's partial sums, added over processes
    before ``fold``; ``"sum_seen"``, the same but a process adds only the samples it visited
    (the buffer holds another value for the others). ``per_epoch``: zeroed after each epoch.
    ``graded``: float32 once the correctness is graded (a sum of fractions).
    """

    name: str
    dtype: str = "float32"
    fill: float = 0.0
    reduce: str | None = None
    per_epoch: bool = False
    width: int = 0
    graded: bool = False


@dataclass
class EpochOutcome:
    """What ``fold`` gets at the end of epoch ``index`` (0-based), for the first ``n`` slots.

    ``sums``: the reduced partial sums of the buffers declared with ``reduce``; ``seen``:
    visited this epoch; ``per_visit``: visits clamped to >= 1 (divide a sum by it for the
    epoch's mean); ``correct``: correct this epoch (set by the core group, which folds first).
    """

    index: int
    n: int
    sums: dict[str, torch.Tensor]
    seen: torch.Tensor
    per_visit: torch.Tensor
    correct: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.bool))


State = dict[str, torch.Tensor]


class OutcomeGroup:
    """Base of outcome groups (module notes). ``epochs``: the run's length when known (0:
    unknown); ``el2n_epoch``: the 0-based epoch EL2N is taken at."""

    name: ClassVar[str] = ""
    selectable: ClassVar[bool] = True  # by name in ``outcomes=`` (core and history: no)

    def __init__(self, *, epochs: int = 0, el2n_epoch: int = 0) -> None:
        self.epochs, self.el2n_epoch = epochs, el2n_epoch
        self.states: list[StateSpec] = []
        self.declare()

    def add_state(self, name: str, dtype: str = "float32", *, fill: float = 0.0,
                  reduce: str | None = None, per_epoch: bool = False, width: int = 0,
                  graded: bool = False) -> None:
        """Declare a per-sample buffer (``StateSpec``)."""
        if dtype not in DTYPES or reduce not in (None, "sum", "sum_seen"):
            raise InputError(f"Expected dtype among {', '.join(DTYPES)} and reduce None, 'sum' "
                             f"or 'sum_seen'; got {dtype!r} and {reduce!r} for {name!r}.")
        self.states.append(StateSpec(name, dtype, fill, reduce, per_epoch, width, graded))

    def declare(self) -> None:
        """Declare the buffers (``add_state``)."""

    def reduced(self, epoch: int) -> list[StateSpec]:
        """The buffers whose partial sums epoch ``epoch`` reduces (default: those declared
        with ``reduce``)."""
        return [s for s in self.states if s.reduce]

    def to(self, device: torch.device) -> None:
        """Move any device state of the group's own (the buffers are the recorder's)."""

    def update(self, s: State, batch: BatchOutcome) -> None:
        """Add one batch (device work only: no host synchronisation)."""

    def fold(self, s: State, epoch: EpochOutcome) -> None:
        """Fold the epoch's reduced sums into the cumulative buffers."""

    def end_epoch(self, epoch: int) -> None:
        """After the epoch's buffers were zeroed; ``epoch`` is the next one (0-based)."""

    def fields(self, s: State) -> dict[str, torch.Tensor]:
        """The ``TrainingDynamics`` fields of one member's rows ``s`` (CPU copies)."""
        return {}


OUTCOME_GROUPS: Registry[type[OutcomeGroup]] = Registry(
    "outcome group", packages=("easyfirst.recording",), entry_points="easyfirst.outcomes")
ALWAYS = ("core",)  # recorded whatever ``outcomes`` says
OPTIONAL_BUILTIN = ("el2n", "margins", "probs")  # ``"all"``


G = TypeVar("G", bound=type[OutcomeGroup])


def register_outcome(name: str) -> Callable[[G], G]:
    """Register an ``OutcomeGroup`` subclass under ``name`` (its ``name`` attribute too)."""

    def decorator(cls: G) -> G:
        cls.name = name
        OUTCOME_GROUPS.register(name)(cls)
        return cls

    return decorator


def optional_outcomes() -> list[str]:
    """The names ``outcomes=`` accepts: the registered groups that are ``selectable``."""
    return [n for n, group in OUTCOME_GROUPS.items() if group.selectable]


def resolve_outcomes(outcomes: str | Iterable[str]) -> tuple[str, ...]:
    """``"all"`` (the built-in optional groups), ``"core"`` (none) or names of registered
    groups (a collection or a comma-separated string), as a sorted tuple."""
    if isinstance(outcomes, str):
        outcomes = {"all": OPTIONAL_BUILTIN, "core": ()}.get(outcomes, outcomes.split(","))
    chosen = tuple(sorted({o for o in outcomes if o}))
    known = optional_outcomes()
    bad = [o for o in chosen if o not in known]
    if bad:
        raise InputError(f"Unknown outcome {bad[0]!r}; expected 'all', 'core' or names among "
                         f"{', '.join(known)}.")
    return chosen


@register_outcome("core")
class Core(OutcomeGroup):
    """CumAcc, FIT, forgetting and the last epoch's loss (always recorded)."""

    selectable = False

    def declare(self) -> None:
        self.add_state("visits", "int32", reduce="sum", per_epoch=True)
        self.add_state("hits", "int32", reduce="sum", per_epoch=True, graded=True)
        self.add_state("epochs_seen", "counter")
        self.add_state("epochs_correct", "counter", graded=True)
        self.add_state("since", "counter")  # 1 + first epoch of the final correct run, or 0
        self.add_state("forgetting", "counter")
        # mid-epoch: that epoch's sum (reset at the first visit); after it: its mean
        self.add_state("last_loss", fill=float("nan"), reduce="sum_seen")

    def update(self, s: State, batch: BatchOutcome) -> None:
        idx = batch.idx
        last = s["last_loss"]
        last.index_put_((idx,), torch.where(batch.first, 0.0, last[idx]))
        s["visits"].index_add_(0, idx, torch.ones_like(idx, dtype=torch.int32))
        s["hits"].index_add_(0, idx, batch.hit.to(s["hits"].dtype))
        last.index_add_(0, idx, batch.loss.float())

    def fold(self, s: State, epoch: EpochOutcome) -> None:
        n, seen, per_visit = epoch.n, epoch.seen, epoch.per_visit
        visits, hits = epoch.sums["visits"], epoch.sums["hits"]
        counter = s["epochs_seen"].dtype
        if s["epochs_correct"].dtype.is_floating_point:  # graded correctness
            correct = seen & (hits.float() / per_visit >= 0.5)
            s["epochs_correct"][:n] += torch.where(seen, hits.float() / per_visit, 0.0)
        else:
            correct = seen & (2 * hits.long() >= visits.long())
            s["epochs_correct"][:n] += correct.to(counter)
        since = s["since"][:n]
        s["forgetting"][:n] += (seen & (since > 0) & ~correct).to(counter)
        since.copy_(torch.where(seen & ~correct, 0, since))
        since.copy_(torch.where(correct & (since == 0), epoch.index + 1, since))
        s["epochs_seen"][:n] += seen.to(counter)
        loss = epoch.sums["last_loss"] / per_visit
        s["last_loss"][:n] = torch.where(seen, loss, s["last_loss"][:n])
        epoch.correct = correct

    def fields(self, s: State) -> dict[str, torch.Tensor]:
        return {"epochs_seen": s["epochs_seen"].int(),
                "correct_sum": s["epochs_correct"].double(),
                "correct_now": s["since"] > 0, "learned_since": s["since"].int() - 1,
                "forgetting": s["forgetting"].int(), "last_loss": s["last_loss"].double()}


@register_outcome("probs")
class Probs(OutcomeGroup):
    """Data-map confidence and variability: the true-class probability's mean and M2 over
    epochs (Welford: no cancellation in the variability)."""

    def declare(self) -> None:
        self.add_state("prob_epoch", reduce="sum", per_epoch=True)
        self.add_state("prob_mean")
        self.add_state("prob_m2")

    def update(self, s: State, batch: BatchOutcome) -> None:
        s["prob_epoch"].index_add_(0, batch.idx, batch.columns[0].float())

    def fold(self, s: State, epoch: EpochOutcome) -> None:
        n = epoch.n
        x = epoch.sums["prob_epoch"] / epoch.per_visit
        count = s["epochs_seen"][:n].float().clamp(min=1)  # the core group folded first
        delta = torch.where(epoch.seen, x - s["prob_mean"][:n], 0.0)
        s["prob_mean"][:n] += delta / count
        s["prob_m2"][:n] += torch.where(epoch.seen, delta * (x - s["prob_mean"][:n]), 0.0)

    def fields(self, s: State) -> dict[str, torch.Tensor]:
        seen, mean = s["epochs_seen"].double(), s["prob_mean"].double()
        return {"prob_sum": mean * seen, "prob_sqsum": s["prob_m2"].double() + seen * mean**2}


@register_outcome("margins")
class Margins(OutcomeGroup):
    """The area under the margin: the sum over epochs of the mean margin (true logit minus
    the largest other)."""

    def declare(self) -> None:
        self.add_state("margin_epoch", reduce="sum", per_epoch=True)
        self.add_state("margin_sum")

    def update(self, s: State, batch: BatchOutcome) -> None:
        s["margin_epoch"].index_add_(0, batch.idx, batch.columns[1].float())

    def fold(self, s: State, epoch: EpochOutcome) -> None:
        got = epoch.sums["margin_epoch"] / epoch.per_visit
        s["margin_sum"][: epoch.n] += torch.where(epoch.seen, got, 0.0)

    def fields(self, s: State) -> dict[str, torch.Tensor]:
        return {"margin_sum": s["margin_sum"].double()}


@register_outcome("el2n")
class El2n(OutcomeGroup):
    """EL2N (Paul et al. 2021), ||softmax - onehot||_2, at epoch ``el2n_epoch``.

    Whether this epoch is the one is a device flag, so a CUDA graph captured in any epoch
    replays right.
    """

    def declare(self) -> None:
        self.add_state("el2n", fill=float("nan"), reduce="sum_seen")
        self.on = torch.tensor(self.el2n_epoch == 0)

    def to(self, device: torch.device) -> None:
        self.on = self.on.to(device)

    def reduced(self, epoch: int) -> list[StateSpec]:
        return self.states if epoch == self.el2n_epoch else []

    def update(self, s: State, batch: BatchOutcome) -> None:
        idx, el2n = batch.idx, s["el2n"]
        el2n.index_put_((idx,), torch.where(batch.first & self.on, 0.0, el2n[idx]))
        el2n.index_add_(0, idx, torch.where(self.on, batch.columns[2].float(), 0.0))

    def fold(self, s: State, epoch: EpochOutcome) -> None:
        if epoch.index == self.el2n_epoch:
            got = epoch.sums["el2n"] / epoch.per_visit
            s["el2n"][: epoch.n] = torch.where(epoch.seen, got, s["el2n"][: epoch.n])

    def end_epoch(self, epoch: int) -> None:
        self.on.fill_(epoch == self.el2n_epoch)

    def fields(self, s: State) -> dict[str, torch.Tensor]:
        return {"el2n": s["el2n"].double()}


@register_outcome("history")
class History(OutcomeGroup):
    """The full per-epoch correctness, bit-packed: bit ``e % 8`` of byte ``e // 8``
    (``keep_history``; needs the number of epochs)."""

    selectable = False  # chosen by keep_history

    def declare(self) -> None:
        self.add_state("history", "uint8", width=(self.epochs + 7) // 8)

    def fold(self, s: State, epoch: EpochOutcome) -> None:
        e = epoch.index
        if e >= self.epochs:
            raise InputError(f"History holds {self.epochs} epochs; epoch {e + 1} does not "
                             "fit. Raise epochs.")
        bit = (epoch.correct.to(torch.uint8) << (e % 8)).to(torch.uint8)
        s["history"][: epoch.n, e // 8] |= bit

    def fields(self, s: State) -> dict[str, torch.Tensor]:
        return {"history": s["history"]}
