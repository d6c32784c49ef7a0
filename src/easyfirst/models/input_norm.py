"""Per-bin input standardisation with statistics from the training split only.

Log-Mel inputs mix two kinds of values: real sound, and *digital silence* at the log floor
(``10 * log10(amin / ref)``, -100 dB for the PANNs presets) from zero padding of short clips
and from empty bands (8 kHz audio has nothing above 4 kHz). In FSDD's 1 s windows 55 % of the
values are digital silence. A BatchNorm over all of it learns mostly the padding.

:class:`InputNorm` standardises each bin (mel band) with the mean and standard deviation of
the *non-silent* training values, and raises everything (silence included) to a floor
``floor_sigma`` standard deviations below the bin's mean, so padding looks like the quietest
real sound instead of an outlier. The statistics are buffers: they are saved with the model
(``model.pt``, checkpoints) and reused unchanged for dev, test and any later evaluation.
:func:`fit_input_norms` computes them once per run from the training split.
"""

from __future__ import annotations

import math
import weakref

import numpy as np
import torch
from torch import nn

from easyfirst.errors import InputError

DEFAULT_FLOOR_SIGMA = 3.0


class InputNorm(nn.Module):
    """``(x - mean[bin]) / std[bin]``, clamped below at ``-floor_sigma``; identity until fitted.

    Args:
        num_bins: size of the normalised axis (mel bins M).
        dim: that axis in the input, counted without the batch axis (1 for ``(B, 1, M, T)``).
        floor_sigma: the floor, in standard deviations below each bin's mean.

    Shapes:
        any ``(B, ...)`` with ``num_bins`` entries on axis ``dim + 1``; same shape out.

    Example:
        >>> norm = InputNorm(2, dim=0)
        >>> norm.set_stats(torch.tensor([1.0, -1.0]), torch.tensor([2.0, 1.0]))
        >>> norm(torch.tensor([[[3.0], [-9.0]]])).flatten().tolist()
        [1.0, -3.0]
    """

    mean: torch.Tensor
    std: torch.Tensor
    fitted: torch.Tensor

    def __init__(self, num_bins: int, *, dim: int = 1,
                 floor_sigma: float = DEFAULT_FLOOR_SIGMA) -> None:
        super().__init__()
        if not floor_sigma > 0:
            raise InputError(f"Expected floor_sigma > 0, got {floor_sigma}.")
        self.dim, self.floor_sigma = dim, float(floor_sigma)
        self.register_buffer("mean", torch.zeros(num_bins))
        self.register_buffer("std", torch.ones(num_bins))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    def set_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Set the per-bin statistics, shapes ``(M,)`` each; ``std`` must be positive."""
        if mean.shape != self.mean.shape or std.shape != self.std.shape:
            raise InputError(
                f"Expected mean and std of shape {tuple(self.mean.shape)}; got "
                f"{tuple(mean.shape)} and {tuple(std.shape)}."
            )
        self.mean.copy_(mean)
        self.std.copy_(std)
        self.fitted.fill_(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = [1] * x.ndim
        shape[self.dim + 1] = -1
        z = (x - self.mean.view(shape).to(x.dtype)) / self.std.view(shape).to(x.dtype)
        return z.clamp_min(-self.floor_sigma)

    def extra_repr(self) -> str:
        return f"{self.mean.numel()}, dim={self.dim}, floor_sigma={self.floor_sigma:g}"


def bin_statistics(
    inputs: torch.Tensor | np.ndarray, *, dim: int = 1, silence: float | None = None,
    chunk_rows: int = 512,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std per bin of ``inputs (N, ...)`` along axis ``dim + 1``, skipping silence.

    Args:
        inputs: the training split's inputs (a memmap is read in chunks of ``chunk_rows``).
        dim: the bin axis without the batch axis.
        silence: values at or below this are digital silence and left out; ``None`` keeps all.
        chunk_rows: rows per chunk (bounded memory).

    Returns:
        ``(mean (M,), std (M,))`` float32. A bin with no non-silent value gets mean
        ``silence`` and std 1; std is at least 1e-3 of the data's overall spread (or 1e-6).
    """
    n = len(inputs)
    axis = dim + 1
    m = inputs.shape[axis]
    count = np.zeros(m)
    total = np.zeros(m)
    squares = np.zeros(m)
    for start in range(0, n, chunk_rows):
        chunk = inputs[start:start + chunk_rows]
        x = chunk.double().numpy() if isinstance(chunk, torch.Tensor) else np.asarray(
            chunk, dtype=np.float64)
        x = np.moveaxis(x, axis, 0).reshape(m, -1)
        keep = np.ones_like(x, dtype=bool) if silence is None else x > silence
        count += keep.sum(1)
        total += np.where(keep, x, 0.0).sum(1)
        squares += np.where(keep, x * x, 0.0).sum(1)
    empty = count == 0
    mean = np.where(empty, 0.0 if silence is None else silence, total / np.maximum(count, 1))
    var = np.maximum(squares / np.maximum(count, 1) - mean**2, 0.0)
    spread = math.sqrt(float(var[~empty].mean())) if (~empty).any() else 1.0
    std = np.where(empty, 1.0, np.maximum(np.sqrt(var), max(1e-3 * spread, 1e-6)))
    return torch.tensor(mean, dtype=torch.float32), torch.tensor(std, dtype=torch.float32)


_STATS: dict[tuple[int, int, float | None], tuple[torch.Tensor, torch.Tensor]] = {}


def split_statistics(inputs: torch.Tensor | np.ndarray, *, dim: int, silence: float | None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`bin_statistics` of a split's inputs, computed once while that array lives: the
    seeds of a score run and the members of a stack share one pass over the data. The key is
    the array itself, not its values: change a split's inputs by a new array, not in place."""
    key = (id(inputs), dim, silence)
    if key not in _STATS:
        stats = bin_statistics(inputs, dim=dim, silence=silence)
        try:
            weakref.finalize(inputs, _STATS.pop, key, None)  # forgotten with the array
        except TypeError:  # an object without weak references: not cached
            return stats
        _STATS[key] = stats
    mean, std = _STATS[key]
    return mean.clone(), std.clone()


def fit_input_norms(
    model: nn.Module, inputs: torch.Tensor | np.ndarray, *, silence: float | None = None
) -> dict[str, object] | None:
    """Fit every :class:`InputNorm` of ``model`` on the training inputs; None if it has none.

    Returns:
        ``{"mean": [...], "std": [...]}`` of the (one) statistics set, for run metadata.
    """
    norms = [m for m in model.modules() if isinstance(m, InputNorm)]
    if not norms:
        return None
    stats: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    for norm in norms:
        if norm.dim not in stats:
            stats[norm.dim] = split_statistics(inputs, dim=norm.dim, silence=silence)
        mean, std = stats[norm.dim]
        norm.set_stats(mean.to(norm.mean.device), std.to(norm.std.device))
    mean, std = next(iter(stats.values()))
    return {"mean": [round(float(v), 4) for v in mean], "std": [round(float(v), 4) for v in std],
            "silence": silence, "floor_sigma": norms[0].floor_sigma}


def silence_level(features: dict[str, object] | None) -> float | None:
    """The digital-silence value of log-Mel ``features`` (``info["features"]``), or None.

    ``10 * log10(amin / ref)`` in dB; None for linear features or when unknown.
    """
    if not features or features.get("log", True) is False:
        return None
    amin, ref = features.get("amin", 1e-10), features.get("ref", 1.0)
    if not isinstance(amin, int | float) or not isinstance(ref, int | float) or amin <= 0:
        return None
    return 10.0 * math.log10(float(amin) / float(ref)) + 1e-3
