"""Reading audio files: mono float32 at a requested sample rate, with one-line errors.

Resampling happens here, once, when a file is read for the feature cache: a polyphase
Kaiser-windowed sinc filter (``scipy.signal.resample_poly``), exact for any integer rate
ratio, computed in float64.
"""

from __future__ import annotations

import os
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf

from easyfirst.errors import InputError, MissingFileError
from easyfirst.file_errors import looks_like

_FIX = "expected a WAV/FLAC/OGG file readable by soundfile — re-export or remove it"


class AudioError(InputError):
    """An audio file that cannot be used: missing, empty, corrupt or of unsupported format."""


class AudioFileNotFoundError(AudioError, MissingFileError):
    """A missing audio file; catchable as ``AudioError`` or ``FileNotFoundError``."""


def _error(path: Path, reason: str) -> AudioError:
    cls = AudioFileNotFoundError if reason == "no such file" else AudioError
    return cls(f"cannot read '{path}': {reason}; {_FIX}")


def check_audio_file(path: str | Path) -> None:
    """Raise a one-line :class:`AudioError` if ``path`` is missing or 0 bytes long."""
    path = Path(path)
    if not path.is_file():
        raise _error(path, "no such file")
    if path.stat().st_size == 0:
        raise _error(path, "the file is empty (0 bytes)")


def _reason(path: Path) -> str:
    """Why soundfile could not read ``path``: permission denied, or what the file looks like
    (libsndfile's own words, e.g. "Format not recognised", "System error", say less)."""
    return "permission denied" if not os.access(path, os.R_OK) else f"it is {looks_like(path)}"


def audio_info(path: str | Path) -> tuple[int, int]:
    """Read a file's header only.

    Args:
        path: audio file.

    Returns:
        ``(num_frames, sample_rate)`` as stored in the file.

    Raises:
        AudioError: if the file is missing, unreadable or holds no samples.
    """
    path = Path(path)
    check_audio_file(path)
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError):
        raise _error(path, _reason(path)) from None
    if info.frames == 0:
        raise _error(path, "it contains 0 samples")
    return int(info.frames), int(info.samplerate)


def check_finite(waveform: np.ndarray, what: str, sample_rate: int) -> np.ndarray:
    """``waveform`` itself; a one-line :class:`AudioError` naming ``what`` (the file or row)
    when it holds NaN or infinite samples (a float WAV can), which would end training as a
    NaN loss far from its cause."""
    bad = ~np.isfinite(waveform)
    if bad.any():
        first = int(np.flatnonzero(bad.reshape(-1))[0])
        raise AudioError(
            f"{what} holds {int(bad.sum())} NaN or infinite sample(s) of {bad.size} (first: "
            f"sample {first}, {first / sample_rate:.3f} s); expected finite audio. Re-export it "
            "(e.g. as 16-bit PCM) or remove it from the dataset.")
    return waveform


def resample(waveform: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """Resample ``waveform (T,)`` from ``orig_rate`` to ``new_rate`` Hz (polyphase sinc).

    Returns:
        float32 array of length ``ceil(T * new_rate / orig_rate)``.

    Example:
        >>> resample(np.zeros(8000, np.float32), 8000, 16000).shape
        (16000,)
    """
    if orig_rate <= 0 or new_rate <= 0:
        raise InputError(f"Expected positive sample rates, got {orig_rate} and {new_rate}.")
    if orig_rate == new_rate:
        return waveform.astype(np.float32, copy=False)
    g = gcd(orig_rate, new_rate)
    from scipy.signal import resample_poly  # here: importing easyfirst should not load scipy

    y = resample_poly(waveform.astype(np.float64), new_rate // g, orig_rate // g)
    return y.astype(np.float32)


def load_audio(path: str | Path, *, sample_rate: int) -> np.ndarray:
    """Read an audio file as mono float32 at ``sample_rate`` Hz.

    Channels are averaged; a file stored at another rate is resampled (see :func:`resample`).

    Args:
        path: a file soundfile can read (WAV, FLAC, OGG, ...).
        sample_rate: the rate to return, in Hz.

    Returns:
        Waveform of shape ``(T,)``, float32, full scale ±1.

    Raises:
        AudioError: one line naming the file when it is missing (also a
            ``FileNotFoundError``), empty, corrupt, of an unsupported format, or holds NaN or
            infinite samples.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "a.wav")
        >>> sf.write(p, np.zeros(800), 8000)
        >>> load_audio(p, sample_rate=16000).shape
        (1600,)
    """
    path = Path(path)
    check_audio_file(path)
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError):
        raise _error(path, _reason(path)) from None
    if data.shape[0] == 0:
        raise _error(path, "it contains 0 samples")
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    return resample(check_finite(mono, f"'{path}'", int(rate)), int(rate), sample_rate)
