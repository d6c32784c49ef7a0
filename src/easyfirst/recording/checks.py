"""What an ``OutcomeRecorder`` records and what ``update`` accepts (host metadata only)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import torch

from easyfirst.errors import InputError
from easyfirst.limits import MAX_EPOCHS

SIGNATURE = ("update(indices, logits, targets) takes indices (B,) int, logits (B, C) float, "
             "targets (B,) int or (B, C)")


def _order_hint(indices: torch.Tensor, logits: torch.Tensor | None,
                targets: torch.Tensor | None) -> str:
    """What ``update`` takes and what it got: the fix for swapped arguments, one line."""
    got = ", ".join(f"{name} {tuple(t.shape)} {str(t.dtype).removeprefix('torch.')}"
                    for name, t in (("indices", indices), ("logits", logits),
                                    ("targets", targets)) if t is not None)
    return f"{SIGNATURE}; got {got}. Check the argument order."


def check_batch(indices: torch.Tensor, logits: torch.Tensor | None,
                targets: torch.Tensor | None, correct: torch.Tensor | None,
                loss: torch.Tensor | None, weight: torch.Tensor | None) -> None:
    """Refuse wrong dtypes and shapes (host metadata only: no device sync)."""
    def hint() -> str:  # built only for an error: update() runs every step
        return _order_hint(indices, logits, targets)

    if indices.dtype.is_floating_point or indices.dtype.is_complex or indices.dtype == torch.bool:
        raise InputError(
            f"Expected integer sample indices; got dtype {indices.dtype} (converting it would "
            f"silently change them). Pass the indices from WithIndex, e.g. torch.long. {hint()}"
        )
    if indices.ndim > 1 and indices.numel() != len(indices):
        raise InputError(f"Expected sample indices of shape (B,); got {tuple(indices.shape)}. "
                         f"{hint()}")
    b = indices.numel()
    if logits is not None:
        if targets is None:
            raise InputError("update(indices, logits, targets): targets are required with logits.")
        if logits.ndim != 2 or logits.shape[0] != b:
            raise InputError(
                f"Expected logits of shape (B, C) = ({b}, C) for {b} indices; got "
                f"{tuple(logits.shape)}. Pass one row of class scores per index. {hint()}"
            )
        if not logits.dtype.is_floating_point:
            raise InputError(f"Expected float logits (B, C); got dtype {logits.dtype}. {hint()}")
        if targets.ndim == 2 and targets.shape != logits.shape:
            raise InputError(
                f"Expected multi-hot targets of the logits' shape {tuple(logits.shape)}; got "
                f"{tuple(targets.shape)}. Pass one (B, C) 0/1 row per index, or (B,) class ids."
            )
        if targets.ndim != 2 and (targets.dtype.is_floating_point or targets.dtype.is_complex):
            raise InputError(
                f"Expected integer class-id targets; got dtype {targets.dtype}. Pass class "
                f"indices (torch.long), not probabilities, or (B, C) multi-hot rows. {hint()}"
            )
    elif correct is None:
        raise InputError("update() needs logits (with targets) or correct=...; got neither.")
    for name, t in (("targets", targets if logits is not None else None),
                    ("correct", correct if logits is None else None),
                    ("loss", loss), ("weight", weight)):
        if t is not None and (t.numel() if t is not targets else len(t)) != b:
            raise InputError(
                f"Expected {name} with one value per index ({b}); got shape {tuple(t.shape)}. "
                "Pass (B,) tensors for the batch's B samples."
                + (f" {hint()}" if name == "targets" else "")
            )


def check_recorded(epochs: int) -> None:
    """Refuse to read dynamics before any epoch ended (every score would be NaN or 0)."""
    if epochs < 1:
        raise InputError("Expected at least one finished epoch; got none (the record is "
                         "empty). Call recorder.end_epoch() after each epoch, then dynamics().")


MAX_EPOCH_ROWS = 2**31 - 1
"""The most rows one process may pass to ``update`` in one epoch: the int32 visit counter of
a sample can then never wrap, whatever the sampler repeats."""
BAD_INDEX, BAD_TARGET, BAD_CORRECT = range(3)
"""The value errors ``update`` counts on the device; ``end_epoch`` raises them."""


def check_settings(num_samples: int, members: int, el2n_epoch: int, keep_history: bool,
                   epochs: int) -> None:
    """Refuse a recorder that could not count what it is asked to (one line each)."""
    if num_samples < 1 or members < 1 or num_samples % members:
        raise InputError(f"Expected num_samples >= 1 split evenly over members >= 1; got "
                         f"{num_samples} and {members}.")
    if not isinstance(epochs, numbers.Integral) or not 0 <= epochs <= MAX_EPOCHS:
        raise InputError(f"Expected epochs from 1 to {MAX_EPOCHS} (the most the recorder "
                         f"counts; 0: unknown); got {epochs!r}. Train for fewer epochs.")
    if keep_history and epochs < 1:
        raise InputError(f"keep_history needs epochs >= 1; got {epochs}. Pass the "
                         "epoch count.")
    late = 0 < epochs <= el2n_epoch
    if not isinstance(el2n_epoch, numbers.Integral) or el2n_epoch < 0 or late:
        upper = f" below epochs ({epochs})" if epochs else ""
        raise InputError(f"Expected el2n_epoch, the 0-based epoch EL2N is taken at, >= 0"
                         f"{upper}; got {el2n_epoch!r}. Pass an epoch the run reaches.")


def check_epoch_rows(rows: int) -> None:
    """Refuse an epoch of more rows than the visit counters can count (host-side count)."""
    if rows > MAX_EPOCH_ROWS:
        raise InputError(f"Expected at most {MAX_EPOCH_ROWS} rows per epoch and process (a "
                         f"sample's visit counter would wrap); got {rows}. Call end_epoch() "
                         "after each epoch, or use shorter epochs.")


def raise_bad(bad: list[int], num_samples: int) -> None:
    """Raise the first value error ``update`` counted this epoch (after the collective)."""
    if bad[BAD_INDEX]:
        raise IndexError(f"Expected sample indices in [0, {num_samples}); got {bad[BAD_INDEX]} "
                         "outside it this epoch. Wrap the dataset with WithIndex and pass its "
                         "indices to update().")
    if bad[BAD_TARGET]:
        raise InputError(
            f"Expected targets in [0, C) for logits of C classes; got {bad[BAD_TARGET]} "
            "outside it this epoch. Check the dataset's labels against the model's "
            "num_classes, and the order of update(indices, logits, targets).")
    if bad[BAD_CORRECT]:
        raise InputError(f"Expected correct= values in [0, 1]; got {bad[BAD_CORRECT]} outside "
                         "it (or NaN) this epoch. Pass 0/1 or a fraction of the labels right.")


def check_resumable_state(state: dict[str, Any], num_samples: int, outcomes: Sequence[str],
                          layout: int) -> None:
    """Refuse a recorder state this recorder cannot continue (one line each)."""
    if state.get("layout") != layout:
        raise InputError("Expected a recorder state of this easyfirst version; got one of "
                         "an earlier layout. Restart the run (--overwrite) instead of "
                         "resuming it.")
    if state["num_samples"] != num_samples:
        raise InputError(
            f"Recorder state is for {state['num_samples']} samples; this recorder has "
            f"{num_samples}. Resume with the same dataset."
        )
    missing = [o for o in outcomes if o not in state["outcomes"]]
    if missing:
        raise InputError(f"Expected a recorder state with outcomes {', '.join(missing)}; "
                         f"got {', '.join(state['outcomes']) or 'core'} only. Restart the "
                         "run (--overwrite) to record them.")


def member_rows(rows: slice | None, num_samples: int, members: int
                ) -> tuple[slice, int | None]:
    """``rows`` (all slots when None) and the member whose block it is (None: all)."""
    per = num_samples // members
    if rows is None:
        return slice(0, num_samples), None
    m = (rows.start or 0) // per
    if rows != slice(m * per, (m + 1) * per) or m >= members:
        raise InputError(f"Expected rows of one member, slice(m * {per}, (m + 1) * {per}) "
                         f"for m < {members}; got {rows}. Pass a member's block.")
    return rows, m
