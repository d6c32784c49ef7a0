"""What an ``OutcomeRecorder`` records and what ``update`` accepts (host metadata only)."""

from __future__ import annotations

from collections.abc import Iterable

import torch

OUTCOMES = ("probs", "margins", "el2n")
"""The optional outcome groups; ``"all"`` is every one, ``"core"`` none (module notes)."""


def resolve_outcomes(outcomes: str | Iterable[str]) -> tuple[str, ...]:
    """``"all"``, ``"core"`` or a collection of :data:`OUTCOMES` names, as a sorted tuple."""
    if isinstance(outcomes, str):
        outcomes = {"all": OUTCOMES, "core": ()}.get(outcomes, outcomes.split(","))
    chosen = tuple(sorted({o for o in outcomes if o}))
    bad = [o for o in chosen if o not in OUTCOMES]
    if bad:
        raise ValueError(f"Unknown outcome {bad[0]!r}; expected 'all', 'core' or names among "
                         f"{', '.join(OUTCOMES)}.")
    return chosen


def check_batch(indices: torch.Tensor, logits: torch.Tensor | None,
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
