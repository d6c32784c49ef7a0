"""Batch image augmentations that run where the batch lives (CPU or GPU), without host syncs.

Each transform takes ``x (B, C, H, W)`` and an explicit ``torch.Generator`` (never the global
RNG), draws one random decision per sample in a single call and applies it vectorised. For GPU
batches pass a generator on the same device (``torch.Generator(device="cuda")``) so the draws
never leave it; a CPU generator also works (its few numbers are copied over asynchronously).

Example:
    >>> import torch
    >>> from easyfirst.audio.augment import Compose
    >>> aug = Compose([RandomCrop(32, padding=4), RandomHorizontalFlip(0.5)])
    >>> x = torch.rand(8, 3, 32, 32)
    >>> aug(x, generator=torch.Generator().manual_seed(0)).shape
    torch.Size([8, 3, 32, 32])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from easyfirst.audio.augment import (
    Augmentation,
    GeneratorLike,
    register_augmentation,
    resolve_generator,
)
from easyfirst.errors import InputError


def _generator(generator: GeneratorLike, device: torch.device) -> torch.Generator:
    """A seed makes a generator on ``device``; a generator on any device is used as is."""
    return generator if isinstance(generator, torch.Generator) else resolve_generator(
        generator, device)


def _check_batch(x: torch.Tensor, name: str) -> None:
    if x.ndim != 4:
        raise InputError(
            f"{name} expects images (B, C, H, W); got shape {tuple(x.shape)}. Add the batch axis."
        )


class RandomCrop(Augmentation):
    """Zero-pad by ``padding`` on every side, then crop ``size`` at a random offset per sample.

    Args:
        size: output ``(h, w)``, or one int for square crops; None keeps the input's size.
        padding: pixels of zero padding added to each side first.

    Shapes:
        ``(B, C, H, W) -> (B, C, h, w)`` (same shape for the usual CIFAR ``RandomCrop(32, 4)``).
    """

    def __init__(self, size: int | tuple[int, int] | None = None, *, padding: int = 0) -> None:
        super().__init__()
        self.size = (size, size) if isinstance(size, int) else tuple(size or (1, 1))
        self.same = size is None  # crop back to the input's own size
        self.padding = padding
        if len(self.size) != 2 or min(self.size) < 1 or padding < 0:
            raise InputError(
                f"Expected size > 0 (int or (h, w)) and padding >= 0; got size={size}, "
                f"padding={padding}."
            )

    def forward(self, x: torch.Tensor, *, generator: GeneratorLike) -> torch.Tensor:
        _check_batch(x, "RandomCrop")
        size = tuple(x.shape[-2:]) if self.same else self.size
        return _pad_and_crop(x, self.padding, size, _generator(generator, x.device))


class RandomShift(Augmentation):
    """Translate each image by up to ``fraction`` of its smaller side (at least 1 pixel).

    A zero-padded shift, drawn per sample and per axis from ``[-s, s]`` with
    ``s = max(1, round(fraction * min(H, W)))``: 1 pixel on 8x8 digits, 2 on 28x28 and 32x32
    images. Unlike a flip it keeps the meaning of any image whose class does not depend on
    where the object sits (digits and letters included); unlike CIFAR's 4-pixel crop it does
    not push half of a tiny image out of the frame.

    Shapes:
        ``(B, C, H, W) -> (B, C, H, W)``.
    """

    def __init__(self, fraction: float = 1 / 16) -> None:
        super().__init__()
        if not 0.0 < fraction < 0.5:
            raise InputError(
                f"Expected a shift fraction 0 < fraction < 0.5 of the image side; got {fraction}."
            )
        self.fraction = fraction

    def max_shift(self, height: int, width: int) -> int:
        """The largest shift in pixels for an image of ``height`` x ``width``."""
        return max(1, round(self.fraction * min(height, width)))

    def forward(self, x: torch.Tensor, *, generator: GeneratorLike) -> torch.Tensor:
        _check_batch(x, "RandomShift")
        h, w = tuple(x.shape[-2:])
        return _pad_and_crop(x, self.max_shift(h, w), (h, w), _generator(generator, x.device))

    def extra_repr(self) -> str:
        return f"fraction={self.fraction:g}"


def _pad_and_crop(x: torch.Tensor, p: int, size: tuple[int, ...],
                  generator: torch.Generator) -> torch.Tensor:
    """Zero-pad ``x (B, C, H, W)`` by ``p`` on every side, crop ``size`` at per-sample offsets."""
    h, w = size
    if p:
        x = F.pad(x, (p, p, p, p))
    b, _, hp, wp = x.shape
    if h > hp or w > wp:
        raise InputError(
            f"RandomCrop: crop {(h, w)} exceeds the padded image {(hp, wp)}; use a smaller "
            "size or more padding."
        )
    # Offsets come from the generator's device, then move (async) to the batch's device.
    top = torch.randint(0, hp - h + 1, (b,), generator=generator, device=generator.device)
    left = torch.randint(0, wp - w + 1, (b,), generator=generator, device=generator.device)
    rows = (top.to(x.device, non_blocking=True)[:, None]
            + torch.arange(h, device=x.device))  # (B, h)
    cols = (left.to(x.device, non_blocking=True)[:, None]
            + torch.arange(w, device=x.device))  # (B, w)
    batch = torch.arange(b, device=x.device)[:, None, None]
    # Advanced indices split by the channel slice land first: (B, h, w, C).
    out = x[batch, :, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()


class RandomHorizontalFlip(Augmentation):
    """Mirror each image left-right with probability ``p``.

    Shapes:
        ``(B, C, H, W) -> (B, C, H, W)``.
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise InputError(f"Expected a probability 0 <= p <= 1; got p={p}.")
        self.p = p

    def forward(self, x: torch.Tensor, *, generator: GeneratorLike) -> torch.Tensor:
        _check_batch(x, "RandomHorizontalFlip")
        generator = _generator(generator, x.device)
        u = torch.rand(x.shape[0], generator=generator, device=generator.device)
        flip = (u < self.p).to(x.device, non_blocking=True)[:, None, None, None]
        return torch.where(flip, x.flip(-1), x)


@register_augmentation("random_crop")
def random_crop() -> RandomCrop:
    """Zero-pad 4 pixels on every side, crop back to the image size (CIFAR's crop)."""
    return RandomCrop(padding=4)


@register_augmentation("hflip")
def hflip() -> RandomHorizontalFlip:
    """Mirror each image left-right with probability 0.5."""
    return RandomHorizontalFlip(0.5)


@register_augmentation("random_shift")
def random_shift() -> RandomShift:
    """Zero-padded shift by up to 1/16 of the image side, at least 1 pixel (any images)."""
    return RandomShift(1 / 16)
