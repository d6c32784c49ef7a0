"""Log-Mel spectrograms: a functional core and a thin ``nn.Module`` shell.

The filterbank (``audio/melscale.py``) is built in float64 and cast by default, which matches
librosa and the PANNs / autrainer ``PannMel`` features to about 1e-9. ``torchaudio`` is never
imported.

Shapes: ``T`` samples, ``F = n_fft // 2 + 1`` frequency bins, ``M`` mel bands,
``L = 1 + T // hop_length`` frames (``center=True``), ``...`` any leading batch dims.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from easyfirst.audio.melscale import MEL_SCALES, NORMS, mel_filterbank
from easyfirst.audio.presets import LOGMEL_PRESETS, preset_kwargs
from easyfirst.errors import InputError

__all__ = ["LOGMEL_PRESETS", "MEL_SCALES", "NORMS", "LogMel", "log_mel_spectrogram",
           "mel_filterbank", "spectrogram_power"]

_CACHE_MAX = 32
_CPU_CHUNK_BYTES = 2 * 1024 * 1024
_cache: dict[tuple[Any, ...], Tensor] = {}


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    # torch.stft has no half kernels on every device; compute in float32 and cast back.
    return dtype if dtype in (torch.float32, torch.float64) else torch.float32


def _cached(key: tuple[Any, ...], build: Any) -> Tensor:
    value = _cache.get(key)
    if value is None:
        if len(_cache) >= _CACHE_MAX:
            _cache.clear()
        value = build()
        _cache[key] = value
    return value


def _hann(win_length: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    return _cached(
        ("hann", win_length, device, dtype),
        lambda: torch.hann_window(win_length, periodic=True, device=device, dtype=dtype),
    )


def _filterbank(
    params: dict[str, Any], build_dtype: torch.dtype, device: torch.device, dtype: torch.dtype
) -> Tensor:
    key = ("fb", tuple(sorted(params.items())), build_dtype, device, dtype)
    return _cached(
        key, lambda: mel_filterbank(**params, dtype=build_dtype).to(device=device, dtype=dtype)
    )


def _check_waveform(waveform: Tensor, n_fft: int, center: bool, pad_mode: str) -> None:
    if not waveform.is_floating_point():
        raise TypeError(
            f"Expected a floating-point waveform, got dtype {waveform.dtype}; "
            f"convert with waveform.float() (int16 audio: waveform / 32768)."
        )
    if waveform.ndim == 0 or waveform.shape[-1] == 0:
        raise InputError(
            f"Expected a waveform of shape (..., T) with T > 0 samples, got shape "
            f"{tuple(waveform.shape)}; drop empty clips before feature extraction."
        )
    if center and pad_mode == "reflect" and waveform.shape[-1] <= n_fft // 2:
        raise InputError(
            f"Reflect padding needs more than n_fft // 2 = {n_fft // 2} samples, got "
            f"{waveform.shape[-1]}; zero-pad short clips or pass pad_mode='constant'."
        )
    if not center and waveform.shape[-1] < n_fft:
        raise InputError(
            f"center=False needs at least n_fft = {n_fft} samples, got {waveform.shape[-1]}; "
            f"zero-pad short clips or use center=True."
        )


def _stft_power(
    waveform: Tensor, window: Tensor, n_fft: int, hop_length: int, center: bool, pad_mode: str
) -> Tensor:
    lead = waveform.shape[:-1]
    spec = torch.stft(
        waveform.reshape(-1, waveform.shape[-1]),
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=window.shape[0],
        window=window,
        center=center,
        pad_mode=pad_mode,
        normalized=False,
        onesided=True,
        return_complex=True,
    )
    power = spec.abs().pow(2.0)  # same op order as torchaudio (abs, then pow)
    return power.reshape(*lead, power.shape[-2], power.shape[-1])


def spectrogram_power(
    waveform: Tensor,
    *,
    n_fft: int,
    hop_length: int,
    win_length: int | None = None,
    center: bool = True,
    pad_mode: str = "reflect",
) -> Tensor:
    """Power spectrogram ``|STFT|^2`` with a periodic Hann window.

    Args:
        waveform: Audio of shape ``(..., T)``, floating point.
        n_fft: FFT size.
        hop_length: Hop between frames in samples.
        win_length: Window length (``<= n_fft``); defaults to ``n_fft``.
        center: Pad ``n_fft // 2`` on both sides so frame ``l`` is centred on ``l * hop``.
        pad_mode: Padding mode used when ``center`` is true.

    Returns:
        Power of shape ``(..., n_fft // 2 + 1, L)`` in the waveform's dtype (half
        precision inputs are computed in float32).

    Example:
        >>> spectrogram_power(torch.zeros(2, 16000), n_fft=512, hop_length=160).shape
        torch.Size([2, 257, 101])
    """
    win_length = n_fft if win_length is None else win_length
    _check_waveform(waveform, n_fft, center, pad_mode)
    dtype = _compute_dtype(waveform.dtype)
    window = _hann(win_length, waveform.device, dtype)
    power = _stft_power(waveform.to(dtype), window, n_fft, hop_length, center, pad_mode)
    return power.to(waveform.dtype)


def _to_db(mel: Tensor, amin: float, ref: float, top_db: float | None) -> Tensor:
    db = 10.0 * torch.log10(torch.clamp(mel, min=amin))
    db = db - 10.0 * math.log10(max(amin, ref))
    if top_db is not None:
        # Per spectrogram (as torchaudio), not over the whole batch (as torchlibrosa), so a
        # clip's features do not depend on the batch it sits in. No host sync.
        db = torch.maximum(db, db.amax(dim=(-2, -1), keepdim=True) - top_db)
    return db


def _log_mel(
    waveform: Tensor,
    window: Tensor,
    fb: Tensor,
    *,
    n_fft: int,
    hop_length: int,
    center: bool,
    pad_mode: str,
    log: bool,
    amin: float,
    ref: float,
    top_db: float | None,
) -> Tensor:
    lead, num_samples = waveform.shape[:-1], waveform.shape[-1]
    flat = waveform.reshape(-1, num_samples)  # (N, T)
    chunk = flat.shape[0]
    if flat.device.type == "cpu":
        # On CPU a whole batch's complex STFT falls out of cache and runs ~2x slower than a
        # per-clip loop; chunks of about _CPU_CHUNK_BYTES of STFT output keep it resident.
        frames = 1 + (num_samples if center else num_samples - n_fft) // hop_length
        stft_bytes = frames * (n_fft // 2 + 1) * 2 * flat.element_size()
        chunk = max(1, _CPU_CHUNK_BYTES // stft_bytes)
    outs = []
    for part in flat.split(chunk):
        power = _stft_power(part, window, n_fft, hop_length, center, pad_mode)  # (n, F, L)
        # (n, L, F) @ (F, M): the multiplication order of torchaudio's MelScale.
        mel = torch.matmul(power.transpose(-1, -2), fb).transpose(-1, -2)  # (n, M, L)
        outs.append(_to_db(mel, amin, ref, top_db) if log else mel)
    out = outs[0] if len(outs) == 1 else torch.cat(outs)
    return out.reshape(*lead, out.shape[-2], out.shape[-1])


def _validate_log_args(amin: float, ref: float, top_db: float | None) -> None:
    if amin <= 0:
        raise InputError(f"amin must be > 0, got {amin}; use e.g. 1e-10.")
    if ref <= 0:
        raise InputError(f"ref must be > 0, got {ref}; use 1.0 for absolute dB.")
    if top_db is not None and top_db < 0:
        raise InputError(f"top_db must be >= 0 or None, got {top_db}; e.g. 80.0.")


def log_mel_spectrogram(
    waveform: Tensor,
    *,
    sample_rate: int = 16000,
    n_fft: int = 512,
    hop_length: int = 160,
    win_length: int | None = None,
    n_mels: int = 64,
    f_min: float = 50.0,
    f_max: float | None = 8000.0,
    mel_scale: str = "slaney",
    norm: str | None = "slaney",
    center: bool = True,
    pad_mode: str = "reflect",
    log: bool = True,
    amin: float = 1e-10,
    ref: float = 1.0,
    top_db: float | None = None,
    filterbank_dtype: torch.dtype = torch.float64,
) -> Tensor:
    """Log-Mel spectrogram in dB (or linear mel power), batched, on the waveform's device.

    ``dB = 10*log10(clamp(mel, amin)) - 10*log10(max(amin, ref))``, then, if ``top_db`` is
    set, values below each spectrogram's maximum minus ``top_db`` are raised to that floor.
    The defaults are the PANNs / autrainer ``log_mel_16k`` recipe. Window and filterbank are
    cached per parameters, device and dtype.

    Args:
        waveform: Audio of shape ``(..., T)``, floating point, on any device.
        sample_rate: Sample rate in Hz.
        n_fft: FFT size; the STFT has ``n_fft // 2 + 1`` bins.
        hop_length: Hop between frames in samples.
        win_length: Hann window length; defaults to ``n_fft``.
        n_mels: Number of mel bands ``M``.
        f_min: Lowest band edge in Hz.
        f_max: Highest band edge in Hz; ``None`` means ``sample_rate / 2``.
        mel_scale: ``"slaney"`` or ``"htk"``.
        norm: ``"slaney"`` (unit-area bands) or ``None``.
        center: Centre frames (reflect padding of ``n_fft // 2``).
        pad_mode: Padding mode when ``center`` is true.
        log: Return dB if true, linear mel power if false.
        amin: Floor applied before the log.
        ref: Reference power for 0 dB.
        top_db: Dynamic range per spectrogram, or ``None`` for no clipping.
        filterbank_dtype: Dtype the filterbank is built in before casting to the
            waveform's dtype: float64 matches librosa, float32 matches torchaudio exactly.

    Returns:
        Tensor of shape ``(..., M, L)`` with ``L = 1 + T // hop_length`` when centred, in
        the waveform's dtype (half-precision inputs are computed in float32).

    Raises:
        ValueError: On an invalid parameter or an empty / too short waveform.
        TypeError: On an integer waveform.

    Example:
        >>> x = torch.randn(8, 16000)
        >>> log_mel_spectrogram(x).shape
        torch.Size([8, 64, 101])
    """
    f_max = sample_rate / 2 if f_max is None else float(f_max)
    _validate_log_args(amin, ref, top_db)
    params = {
        "n_freqs": n_fft // 2 + 1,
        "sample_rate": sample_rate,
        "n_mels": n_mels,
        "f_min": float(f_min),
        "f_max": f_max,
        "mel_scale": mel_scale,
        "norm": norm,
    }
    win_length = n_fft if win_length is None else win_length
    dtype = _compute_dtype(waveform.dtype)
    fb = _filterbank(params, filterbank_dtype, waveform.device, dtype)  # validates params
    _check_waveform(waveform, n_fft, center, pad_mode)
    window = _hann(win_length, waveform.device, dtype)
    out = _log_mel(
        waveform.to(dtype),
        window,
        fb,
        n_fft=n_fft,
        hop_length=hop_length,
        center=center,
        pad_mode=pad_mode,
        log=log,
        amin=amin,
        ref=ref,
        top_db=top_db,
    )
    return out.to(waveform.dtype)


class LogMel(nn.Module):
    """Module form of :func:`log_mel_spectrogram`; window and filterbank are buffers.

    The buffers are non-persistent (not in ``state_dict``) and follow ``.to(device)``.
    They are stored in float32 (filterbank built in ``filterbank_dtype`` then cast) and
    cast to the input's dtype on the fly when it differs.

    Args:
        sample_rate: Sample rate in Hz.
        n_fft: FFT size.
        hop_length: Hop in samples.
        win_length: Hann window length; defaults to ``n_fft``.
        n_mels: Number of mel bands ``M``.
        f_min: Lowest band edge in Hz.
        f_max: Highest band edge in Hz; ``None`` means ``sample_rate / 2``.
        mel_scale: ``"slaney"`` or ``"htk"``.
        norm: ``"slaney"`` or ``None``.
        center: Centre frames.
        pad_mode: Padding mode when centred.
        log: dB if true, linear mel power if false.
        amin: Floor before the log.
        ref: Reference power for 0 dB.
        top_db: Dynamic range per spectrogram, or ``None``.
        filterbank_dtype: Dtype the filterbank is built in.

    Shapes:
        ``(..., T) -> (..., M, L)``.

    Example:
        >>> LogMel.from_preset("panns16k")(torch.randn(2, 1, 16000)).shape
        torch.Size([2, 1, 64, 101])
    """

    window: Tensor
    fb: Tensor

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        n_fft: int = 512,
        hop_length: int = 160,
        win_length: int | None = None,
        n_mels: int = 64,
        f_min: float = 50.0,
        f_max: float | None = 8000.0,
        mel_scale: str = "slaney",
        norm: str | None = "slaney",
        center: bool = True,
        pad_mode: str = "reflect",
        log: bool = True,
        amin: float = 1e-10,
        ref: float = 1.0,
        top_db: float | None = None,
        filterbank_dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        _validate_log_args(amin, ref, top_db)
        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.win_length = n_fft if win_length is None else win_length
        self.n_mels = n_mels
        self.f_min = float(f_min)
        self.f_max = sample_rate / 2 if f_max is None else float(f_max)
        self.mel_scale = mel_scale
        self.norm = norm
        self.center = center
        self.pad_mode = pad_mode
        self.log = log
        self.amin = amin
        self.ref = ref
        self.top_db = top_db
        self.filterbank_dtype = filterbank_dtype
        fb = mel_filterbank(n_freqs=n_fft // 2 + 1, sample_rate=sample_rate, n_mels=n_mels,
                            f_min=self.f_min, f_max=self.f_max, mel_scale=mel_scale, norm=norm,
                            dtype=filterbank_dtype)
        self.register_buffer("fb", fb.to(torch.float32), persistent=False)
        self.register_buffer(
            "window", torch.hann_window(self.win_length, periodic=True), persistent=False
        )

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> LogMel:
        """Build from a :data:`LOGMEL_PRESETS` entry, with keyword overrides.

        Raises:
            ValueError: If ``name`` is not a preset (the message lists them).
        """
        return cls(**{**preset_kwargs(name), **overrides})

    def forward(self, waveform: Tensor) -> Tensor:
        """Compute features: ``(..., T) -> (..., M, L)`` in the input's dtype."""
        _check_waveform(waveform, self.n_fft, self.center, self.pad_mode)
        dtype = _compute_dtype(waveform.dtype)
        out = _log_mel(
            waveform.to(dtype),
            self.window.to(dtype),
            self.fb.to(dtype),
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            center=self.center,
            pad_mode=self.pad_mode,
            log=self.log,
            amin=self.amin,
            ref=self.ref,
            top_db=self.top_db,
        )
        return out.to(waveform.dtype)

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, n_fft={self.n_fft}, hop_length="
            f"{self.hop_length}, n_mels={self.n_mels}, f_min={self.f_min:g}, "
            f"f_max={self.f_max:g}, mel_scale={self.mel_scale!r}, norm={self.norm!r}, "
            f"log={self.log}"
        )
