"""Mel scales (HTK, Slaney) and the triangular mel filterbank, as torchaudio and librosa build it.

Built in float32 the filterbank reproduces torchaudio's ``melscale_fbanks`` bit for bit;
built in float64 and cast it matches librosa's ``filters.mel`` to about 1e-9.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from easyfirst.errors import InputError

MEL_SCALES = ("htk", "slaney")
NORMS = (None, "slaney")

# Slaney mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above it.
_SLANEY_F_SP = 200.0 / 3
_SLANEY_MIN_LOG_HZ = 1000.0
_SLANEY_MIN_LOG_MEL = _SLANEY_MIN_LOG_HZ / _SLANEY_F_SP  # 15.0
_SLANEY_LOGSTEP = math.log(6.4) / 27.0


def check_choice(name: str, value: object, valid: tuple[object, ...]) -> None:
    if value not in valid:
        listed = ", ".join(repr(v) for v in valid)
        raise InputError(f"Unknown {name} {value!r}. Available: {listed}.")


def _hz_to_mel(freq: float, mel_scale: str) -> float:
    if mel_scale == "htk":
        return 2595.0 * math.log10(1.0 + freq / 700.0)
    if freq >= _SLANEY_MIN_LOG_HZ:
        return _SLANEY_MIN_LOG_MEL + math.log(freq / _SLANEY_MIN_LOG_HZ) / _SLANEY_LOGSTEP
    # Written as a division by (200/3), the order torchaudio uses: ``f * 3 / 200`` rounds
    # differently in float32 and breaks bit-exact parity.
    return freq / _SLANEY_F_SP


def _mel_to_hz(mels: Tensor, mel_scale: str) -> Tensor:
    if mel_scale == "htk":
        return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    linear = _SLANEY_F_SP * mels
    log = _SLANEY_MIN_LOG_HZ * torch.exp(_SLANEY_LOGSTEP * (mels - _SLANEY_MIN_LOG_MEL))
    return torch.where(mels >= _SLANEY_MIN_LOG_MEL, log, linear)


def mel_filterbank(
    *,
    n_freqs: int,
    sample_rate: int,
    n_mels: int,
    f_min: float,
    f_max: float,
    mel_scale: str = "htk",
    norm: str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Triangular mel filterbank, built on the CPU in ``dtype``.

    Built in float32 it equals ``torchaudio.functional.melscale_fbanks`` bit for bit; built
    in float64 and cast to float32 it matches ``librosa.filters.mel(...).T`` to ~1e-9.

    Args:
        n_freqs: Number of STFT bins ``F`` (``n_fft // 2 + 1``).
        sample_rate: Sample rate in Hz.
        n_mels: Number of mel bands ``M``.
        f_min: Lowest band edge in Hz.
        f_max: Highest band edge in Hz, at most ``sample_rate / 2``.
        mel_scale: ``"htk"`` or ``"slaney"``.
        norm: ``None`` (peak 1) or ``"slaney"`` (each band has unit area).
        dtype: Floating dtype in which every step is computed.

    Returns:
        Filterbank of shape ``(F, M)``; ``power_spec.mT @ fb`` gives mel power.

    Example:
        >>> fb = mel_filterbank(n_freqs=257, sample_rate=16000, n_mels=64, f_min=50.0,
        ...                     f_max=8000.0, mel_scale="slaney", norm="slaney")
        >>> tuple(fb.shape)
        (257, 64)
    """
    check_choice("mel_scale", mel_scale, MEL_SCALES)
    check_choice("norm", norm, NORMS)
    if n_mels < 1:
        raise InputError(f"n_mels must be >= 1, got {n_mels}; pass a positive number of bands.")
    if n_freqs < 2:
        raise InputError(f"n_freqs must be >= 2, got {n_freqs}; use n_fft // 2 + 1.")
    if f_max > sample_rate / 2:
        raise InputError(
            f"f_max must be <= sample_rate / 2 = {sample_rate / 2:g} Hz, got {f_max:g}; "
            f"lower f_max or raise sample_rate."
        )
    if not 0.0 <= f_min < f_max:
        raise InputError(
            f"Expected 0 <= f_min < f_max, got f_min={f_min:g}, f_max={f_max:g}; "
            f"fix the band edges."
        )
    all_freqs = torch.linspace(0, sample_rate / 2, n_freqs, dtype=dtype)
    m_pts = torch.linspace(
        _hz_to_mel(f_min, mel_scale), _hz_to_mel(f_max, mel_scale), n_mels + 2, dtype=dtype
    )
    f_pts = _mel_to_hz(m_pts, mel_scale)  # (M + 2,) band edges and centres in Hz
    f_diff = f_pts[1:] - f_pts[:-1]  # (M + 1,)
    slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)  # (F, M + 2)
    down = (-1.0 * slopes[:, :-2]) / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    fb = torch.clamp(torch.minimum(down, up), min=0.0)
    if norm == "slaney":
        fb = fb * (2.0 / (f_pts[2 : n_mels + 2] - f_pts[:n_mels])).unsqueeze(0)
    return fb
