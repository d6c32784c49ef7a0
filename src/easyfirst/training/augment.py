"""Batch augmentations for the training loop, built from names (``--augment a,b``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from easyfirst.audio.augment import Mixup, build_augmentation

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def build_batch_augment(names: Sequence[str]) -> Augment | None:
    """Chain the named augmentations (``easyfirst augmentations``) into ``augment(x, gen)``.

    Each is built with its defaults; ``mixup`` changes the targets and is applied by the
    training engine itself (see :func:`build_mixup`), after these. None if there are none.
    """
    steps: list[Any] = [build_augmentation(n) for n in names if n != "mixup"]
    if not steps:
        return None

    def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        for step in steps:
            if isinstance(step, torch.nn.Module):
                step.to(x.device)
            x = step(x, generator=generator)
        return x

    return augment


def build_mixup(names: Sequence[str]) -> Mixup | None:
    """``Mixup(alpha=0.4)`` when ``mixup`` is among ``names``, else None."""
    return Mixup() if "mixup" in names else None
