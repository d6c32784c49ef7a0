"""Batch augmentations for the training loop, built from names (``--augment a,b``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from easyfirst.audio.augment import AUGMENTATIONS, Mixup, build_augmentation
from easyfirst.data.image_augment import RandomCrop, RandomHorizontalFlip

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
IMAGE_AUGMENTATIONS = ("hflip", "random_crop")


def augmentation_names() -> list[str]:
    return sorted([*AUGMENTATIONS.names(), *IMAGE_AUGMENTATIONS])


def build_batch_augment(names: Sequence[str], input_shape: tuple[int, ...]) -> Augment | None:
    """Chain the named augmentations into ``augment(x, generator) -> x`` (None if no names).

    Audio names come from ``easyfirst.audio.augment.AUGMENTATIONS`` with their defaults;
    ``random_crop`` pads 4 pixels and crops back to ``input_shape``; ``hflip`` flips with p=0.5.
    ``mixup`` changes the targets and is applied by the training loop itself (see
    :func:`build_mixup`), after these.
    """
    steps: list[Any] = []
    for name in names:
        if name == "random_crop":
            steps.append(RandomCrop((input_shape[-2], input_shape[-1]), padding=4))
        elif name == "hflip":
            steps.append(RandomHorizontalFlip(0.5))
        elif name == "mixup":
            continue
        elif name in AUGMENTATIONS:
            steps.append(build_augmentation(name))
        else:
            raise ValueError(
                f"Unknown augmentation {name!r}. Available: {', '.join(augmentation_names())}."
            )
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
