"""Batch augmentations for the training loop, built from names (``--augment a,b``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from easyfirst.audio.augment import AUGMENTATIONS, build_augmentation
from easyfirst.data.image_augment import RandomCrop, RandomHorizontalFlip
from easyfirst.training.loop import Augment

IMAGE_AUGMENTATIONS = ("hflip", "random_crop")


def augmentation_names() -> list[str]:
    return sorted([*AUGMENTATIONS.names(), *IMAGE_AUGMENTATIONS])


def build_batch_augment(names: Sequence[str], input_shape: tuple[int, ...]) -> Augment | None:
    """Chain the named augmentations into ``augment(x, generator) -> x`` (None if no names).

    Audio names come from ``easyfirst.audio.augment.AUGMENTATIONS`` with their defaults;
    ``random_crop`` pads 4 pixels and crops back to ``input_shape``; ``hflip`` flips with p=0.5.
    """
    steps: list[Any] = []
    for name in names:
        if name == "random_crop":
            steps.append(RandomCrop((input_shape[-2], input_shape[-1]), padding=4))
        elif name == "hflip":
            steps.append(RandomHorizontalFlip(0.5))
        elif name == "mixup":
            raise ValueError(
                "Augmentation 'mixup' changes the targets and is not supported by the training "
                "loop; use it in your own loop (easyfirst.audio.augment.Mixup)."
            )
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
