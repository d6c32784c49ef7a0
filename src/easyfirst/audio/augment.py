"""Batch augmentations that run on the batch's device, with explicit randomness.

Every augmentation is called as ``aug(x, generator=g)`` where ``g`` is a
``torch.Generator`` on ``x``'s device or an ``int`` seed (a fresh generator on ``x``'s
device is made from it). The global RNG is never touched, and the per-batch path has no
host syncs (no ``.item()``, ``.cpu()``, ``.tolist()`` or data-dependent Python branches),
so a CUDA training loop keeps running ahead of the GPU.

Shapes: ``B`` batch, ``M`` mel bands, ``L`` frames, ``T`` samples. Feature batches are
``(B, 1, M, L)`` (or ``(B, M, L)``), waveform batches ``(B, T)`` or ``(B, C, T)``.

:class:`Mixup` also mixes targets, so it has its own signature (see its docstring) and
cannot sit inside :class:`Compose`.

Example:
    >>> aug = Compose([SpecAugment(freq_masks=2, freq_width=8), RandomTimeShift(max_shift=10)])
    >>> aug(torch.randn(4, 1, 64, 101), generator=0).shape
    torch.Size([4, 1, 64, 101])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from easyfirst.errors import InputError
from easyfirst.registry import Registry

GeneratorLike = torch.Generator | int

AUGMENTATIONS: Registry[Callable[..., nn.Module]] = Registry(
    "augmentation", packages=("easyfirst.audio", "easyfirst.data"),
    entry_points="easyfirst.augmentations")
register_augmentation = AUGMENTATIONS.register


def build_augmentation(name: str, **options: object) -> nn.Module:
    """Build a registered augmentation by name, e.g. ``build_augmentation("specaugment")``."""
    return AUGMENTATIONS.get(name)(**options)


def resolve_generator(generator: GeneratorLike, device: torch.device) -> torch.Generator:
    """Return a generator on ``device``: a seed makes a fresh one, a generator is checked.

    Raises:
        ValueError: If a ``torch.Generator`` lives on another device type than ``device``.
    """
    if isinstance(generator, int) and not isinstance(generator, bool):
        return torch.Generator(device=device).manual_seed(generator)
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"Expected a torch.Generator or an int seed, got {type(generator).__name__}; "
            f"pass generator=torch.Generator(device=x.device).manual_seed(seed)."
        )
    if generator.device.type != device.type:
        raise InputError(
            f"Expected a generator on {device.type} (the batch's device), got one on "
            f"{generator.device}; build it with torch.Generator(device=x.device) or pass a seed."
        )
    return generator


def _check_min_dims(name: str, x: Tensor, ndim: int, layout: str) -> None:
    if x.ndim < ndim:
        raise InputError(
            f"{name} expects a batch of shape {layout}, got shape {tuple(x.shape)}; "
            f"add the batch dimension (x.unsqueeze(0))."
        )


def _check_non_negative(name: str, value: int) -> None:
    if value < 0:
        raise InputError(f"{name} must be >= 0, got {value}; use 0 to disable.")


class Augmentation(nn.Module):
    """Base class: ``forward(x, *, generator) -> Tensor`` of the same shape as ``x``."""

    def forward(self, x: Tensor, *, generator: GeneratorLike) -> Tensor:  # pragma: no cover
        raise NotImplementedError


def _band_mask(
    batch: int, size: int, num: int, width: int, gen: torch.Generator, device: torch.device
) -> Tensor:
    """``(B, size)`` bool mask: ``num`` bands per row, widths uniform in ``[0, width]``."""
    width = min(width, size)
    u = torch.rand(batch, num, 2, generator=gen, device=device)
    widths = torch.floor(u[..., 0] * (width + 1))  # (B, num)
    starts = torch.floor(u[..., 1] * (size - widths + 1))  # (B, num)
    pos = torch.arange(size, device=device)  # (size,)
    inside = (pos >= starts.unsqueeze(-1)) & (pos < (starts + widths).unsqueeze(-1))
    return inside.any(dim=1)  # (B, size)


@register_augmentation("specaugment")
class SpecAugment(Augmentation):
    """Frequency and time masking (Park et al., 2019) on feature batches.

    Each example gets ``freq_masks`` bands of ``0..freq_width`` mel bins and
    ``time_masks`` bands of ``0..time_width`` frames, drawn independently per example.

    Args:
        freq_masks: Frequency masks per example.
        freq_width: Maximum width of a frequency mask in bins.
        time_masks: Time masks per example.
        time_width: Maximum width of a time mask in frames.
        fill: ``"mean"`` (the batch mean, computed on device) or ``"zero"``.

    Shapes:
        ``(B, 1, M, L)`` or ``(B, M, L)`` in, same shape out. The last two dims are
        (mel, frame).
    """

    def __init__(
        self,
        freq_masks: int = 2,
        freq_width: int = 8,
        time_masks: int = 2,
        time_width: int = 20,
        *,
        fill: str = "mean",
    ) -> None:
        super().__init__()
        for name, value in [
            ("freq_masks", freq_masks),
            ("freq_width", freq_width),
            ("time_masks", time_masks),
            ("time_width", time_width),
        ]:
            _check_non_negative(name, value)
        if fill not in ("mean", "zero"):
            raise InputError(f"Unknown fill {fill!r}. Available: 'mean', 'zero'.")
        self.freq_masks = freq_masks
        self.freq_width = freq_width
        self.time_masks = time_masks
        self.time_width = time_width
        self.fill = fill

    def forward(self, x: Tensor, *, generator: GeneratorLike) -> Tensor:
        _check_min_dims("SpecAugment", x, 3, "(B, 1, M, L) or (B, M, L)")
        gen = resolve_generator(generator, x.device)
        batch, n_mels, n_frames = x.shape[0], x.shape[-2], x.shape[-1]
        freq = _band_mask(batch, n_mels, self.freq_masks, self.freq_width, gen, x.device)
        time = _band_mask(batch, n_frames, self.time_masks, self.time_width, gen, x.device)
        mask = freq.unsqueeze(-1) | time.unsqueeze(-2)  # (B, M, L)
        mask = mask.view(batch, *([1] * (x.ndim - 3)), n_mels, n_frames)
        value = x.mean() if self.fill == "mean" else x.new_zeros(())
        return torch.where(mask, value, x)

    def extra_repr(self) -> str:
        return (
            f"freq_masks={self.freq_masks}, freq_width={self.freq_width}, "
            f"time_masks={self.time_masks}, time_width={self.time_width}, fill={self.fill!r}"
        )


@register_augmentation("time_shift")
class RandomTimeShift(Augmentation):
    """Shift each example along its last (time) axis by up to ``max_shift`` steps.

    Args:
        max_shift: Largest shift in steps (frames or samples); each example draws an
            integer shift uniformly from ``[-max_shift, max_shift]``.
        mode: ``"roll"`` (circular) or ``"pad"`` (shifted-in steps are zero).

    Shapes:
        ``(B, ..., L)`` in, same shape out.
    """

    def __init__(self, max_shift: int = 10, *, mode: str = "roll") -> None:
        super().__init__()
        _check_non_negative("max_shift", max_shift)
        if mode not in ("roll", "pad"):
            raise InputError(f"Unknown mode {mode!r}. Available: 'pad', 'roll'.")
        self.max_shift = max_shift
        self.mode = mode

    def forward(self, x: Tensor, *, generator: GeneratorLike) -> Tensor:
        _check_min_dims("RandomTimeShift", x, 2, "(B, ..., L)")
        gen = resolve_generator(generator, x.device)
        batch, length = x.shape[0], x.shape[-1]
        shift = torch.randint(
            -self.max_shift, self.max_shift + 1, (batch, 1), generator=gen, device=x.device
        )
        src = torch.arange(length, device=x.device) - shift  # (B, L): out[t] = x[t - s]
        view = (batch, *([1] * (x.ndim - 2)), length)
        if self.mode == "roll":
            return torch.take_along_dim(x, src.remainder(length).view(view), dim=-1)
        valid = (src >= 0) & (src < length)
        out = torch.take_along_dim(x, src.clamp(0, length - 1).view(view), dim=-1)
        return torch.where(valid.view(view), out, x.new_zeros(()))

    def extra_repr(self) -> str:
        return f"max_shift={self.max_shift}, mode={self.mode!r}"


@register_augmentation("noise_mix")
class NoiseMix(Augmentation):
    """Add noise to waveforms at a signal-to-noise ratio drawn per example.

    The SNR is ``10*log10(mean(x**2) / mean(noise**2))`` over each example's channels and
    samples. Silent examples stay silent (their noise is scaled to zero).

    Args:
        snr_db_range: ``(low, high)`` in dB; each example draws uniformly from it.
        noise: Optional noise bank ``(K, N)``; each example takes a random clip and a random
            offset (the bank is tiled along time when ``N < T``). ``None`` mixes white
            Gaussian noise. The bank is a buffer, so ``.to(device)`` moves it.

    Shapes:
        ``(B, T)`` or ``(B, C, T)`` in, same shape out (the same noise on every channel).
    """

    noise: Tensor | None

    def __init__(
        self, snr_db_range: tuple[float, float] = (10.0, 30.0), *, noise: Tensor | None = None
    ) -> None:
        super().__init__()
        low, high = (float(v) for v in snr_db_range)
        if low > high:
            raise InputError(
                f"snr_db_range must be (low, high) with low <= high, got {snr_db_range}; "
                f"swap the bounds."
            )
        if noise is not None and (noise.ndim != 2 or noise.shape[0] == 0 or noise.shape[1] == 0):
            raise InputError(
                f"noise must be a non-empty bank of shape (K, N), got {tuple(noise.shape)}; "
                f"stack clips with torch.stack or pass noise=None for white noise."
            )
        self.snr_db_range = (low, high)
        self.register_buffer("noise", noise, persistent=False)

    def _draw_noise(self, x: Tensor, gen: torch.Generator) -> Tensor:
        batch, length = x.shape[0], x.shape[-1]
        if self.noise is None:
            return torch.randn(batch, length, generator=gen, device=x.device, dtype=x.dtype)
        bank = self.noise.to(device=x.device, dtype=x.dtype)
        if bank.shape[1] < length:
            bank = bank.repeat(1, -(-length // bank.shape[1]))  # tile; shapes are host ints
        pick = torch.randint(0, bank.shape[0], (batch,), generator=gen, device=x.device)
        room = bank.shape[1] - length + 1
        offset = torch.floor(torch.rand(batch, generator=gen, device=x.device) * room).long()
        idx = offset.unsqueeze(-1) + torch.arange(length, device=x.device)  # (B, T)
        return torch.take_along_dim(bank[pick], idx, dim=-1)

    def forward(self, x: Tensor, *, generator: GeneratorLike) -> Tensor:
        _check_min_dims("NoiseMix", x, 2, "(B, T) or (B, C, T)")
        gen = resolve_generator(generator, x.device)
        batch = x.shape[0]
        noise = self._draw_noise(x, gen)  # (B, T)
        low, high = self.snr_db_range
        snr_db = low + (high - low) * torch.rand(batch, generator=gen, device=x.device)
        signal_power = x.pow(2).reshape(batch, -1).mean(dim=1)  # (B,)
        noise_power = noise.pow(2).mean(dim=1).clamp_min(torch.finfo(x.dtype).tiny)
        scale = torch.sqrt(signal_power / (noise_power * 10.0 ** (snr_db / 10.0)))
        noise = (scale.unsqueeze(-1) * noise).view(batch, *([1] * (x.ndim - 2)), x.shape[-1])
        return x + noise.to(x.dtype)

    def extra_repr(self) -> str:
        bank = "white" if self.noise is None else f"bank{tuple(self.noise.shape)}"
        return f"snr_db_range={self.snr_db_range}, noise={bank}"


class MixupResult(NamedTuple):
    """Output of :class:`Mixup`.

    Attributes:
        inputs: Mixed inputs, same shape as the input batch.
        targets_a: The original targets ``(B, ...)``.
        targets_b: The partners' targets ``(B, ...)``.
        lam: Weight of ``targets_a`` per example, shape ``(B,)``, in ``[0, 1]``.
    """

    inputs: Tensor
    targets_a: Tensor
    targets_b: Tensor
    lam: Tensor


@register_augmentation("mixup")
class Mixup(nn.Module):
    """Mixup (Zhang et al., 2018): ``x_i' = lam*x_i + (1-lam)*x_perm(i)``.

    Called as ``mixup(x, targets, generator=g) -> MixupResult``. Use the result with
    :func:`mixup_cross_entropy`, or any loss as ``lam*loss(out, a) + (1-lam)*loss(out, b)``
    with per-example reduction. ``lam ~ Beta(alpha, alpha)``, drawn once per batch
    (``per_example=False``, the paper's choice) or per example.

    Args:
        alpha: Beta concentration, > 0.
        per_example: Draw one ``lam`` per example instead of one per batch.

    Shapes:
        ``x``: ``(B, ...)``; ``targets``: ``(B,)`` class ids or ``(B, C)`` soft targets.

    Example:
        >>> mix = Mixup(alpha=0.4)
        >>> out = mix(torch.randn(4, 1, 64, 101), torch.tensor([0, 1, 2, 3]), generator=0)
        >>> out.inputs.shape, out.lam.shape
        (torch.Size([4, 1, 64, 101]), torch.Size([4]))
    """

    def __init__(self, alpha: float = 0.4, *, per_example: bool = False) -> None:
        super().__init__()
        if not alpha > 0:
            raise InputError(f"alpha must be > 0, got {alpha}; 0.2-0.4 are common.")
        self.alpha = float(alpha)
        self.per_example = per_example

    def forward(self, x: Tensor, targets: Tensor, *, generator: GeneratorLike) -> MixupResult:
        _check_min_dims("Mixup", x, 1, "(B, ...)")
        if targets.shape[:1] != x.shape[:1]:
            raise InputError(
                f"Expected targets with batch size {x.shape[0]}, got shape "
                f"{tuple(targets.shape)}; pass one target per example."
            )
        gen = resolve_generator(generator, x.device)
        batch = x.shape[0]
        draws = batch if self.per_example else 1
        concentration = torch.full((draws, 2), self.alpha, device=x.device, dtype=torch.float32)
        # Beta(a, a) as the first coordinate of Dirichlet(a, a): the public Beta sampler
        # has no generator argument, this op does.
        lam = torch._sample_dirichlet(concentration, generator=gen)[:, 0].expand(batch)
        perm = torch.randperm(batch, generator=gen, device=x.device)
        w = lam.to(x.dtype).view(batch, *([1] * (x.ndim - 1)))
        mixed = w * x + (1 - w) * x[perm]
        return MixupResult(mixed, targets, targets[perm], lam.contiguous())

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, per_example={self.per_example}"


def mixup_cross_entropy(
    logits: Tensor, targets_a: Tensor, targets_b: Tensor, lam: Tensor
) -> Tensor:
    """Mean mixup cross-entropy ``lam*CE(logits, a) + (1-lam)*CE(logits, b)``.

    Softmax CE; for multi-hot targets mix ``easyfirst.targets.per_sample_loss`` (BCE) alike.

    Args:
        logits: ``(B, C)``.
        targets_a: ``(B,)`` class ids or ``(B, C)`` probabilities.
        targets_b: Same layout as ``targets_a``.
        lam: ``(B,)`` weights from :class:`Mixup`.

    Returns:
        Scalar loss.
    """
    loss_a = F.cross_entropy(logits, targets_a, reduction="none")
    loss_b = F.cross_entropy(logits, targets_b, reduction="none")
    lam = lam.to(loss_a.dtype)
    return (lam * loss_a + (1 - lam) * loss_b).mean()


class Compose(Augmentation):
    """Apply augmentations in order, all drawing from the same generator.

    Args:
        augmentations: Shape-preserving augmentations (not :class:`Mixup`).

    Shapes:
        Whatever the members accept; output has the input's shape.
    """

    def __init__(self, augmentations: Sequence[nn.Module]) -> None:
        super().__init__()
        for aug in augmentations:
            if isinstance(aug, Mixup):
                raise TypeError(
                    "Compose takes shape-preserving augmentations, got Mixup; "
                    "apply Mixup separately after Compose, since it also mixes targets."
                )
        self.augmentations = nn.ModuleList(augmentations)

    def forward(self, x: Tensor, *, generator: GeneratorLike) -> Tensor:
        gen = resolve_generator(generator, x.device)
        for aug in self.augmentations:
            x = aug(x, generator=gen)
        return x


Augment = Callable[[Tensor, torch.Generator], Tensor]
"""``augment(x, generator) -> x``: a shape-preserving batch augmentation."""


def build_augmentations(names: Sequence[str]) -> Augment | None:
    """The named augmentations (``easyfirst augmentations``) chained as ``augment(x, gen)``.

    ``mixup`` is left out: it changes the targets, and the training engine applies it after
    these. None when no other name is given.
    """
    steps = [build_augmentation(n) for n in names if n != "mixup"]
    if not steps:
        return None
    chain = Compose(steps)
    return lambda x, generator: chain.to(x.device)(x, generator=generator)
