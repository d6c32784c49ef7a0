"""Log-Mel presets: the PANNs / autrainer ``log_mel_{8,16,32}k`` feature parameters."""

from __future__ import annotations

from typing import Any

import torch

from easyfirst.errors import InputError

LOGMEL_PRESETS: dict[str, dict[str, Any]] = {
    # PANNs / autrainer ``log_mel_{8,16,32}k``: Slaney scale and area norm, librosa-style
    # filterbank built in float64, dB with amin 1e-10, ref 1.0 and no top_db clipping.
    "panns8k": {
        "sample_rate": 8000,
        "n_fft": 256,
        "hop_length": 80,
        "n_mels": 64,
        "f_min": 50.0,
        "f_max": 4000.0,
        "mel_scale": "slaney",
        "norm": "slaney",
        "amin": 1e-10,
        "ref": 1.0,
        "top_db": None,
        "filterbank_dtype": torch.float64,
    },
    "panns16k": {
        "sample_rate": 16000,
        "n_fft": 512,
        "hop_length": 160,
        "n_mels": 64,
        "f_min": 50.0,
        "f_max": 8000.0,
        "mel_scale": "slaney",
        "norm": "slaney",
        "amin": 1e-10,
        "ref": 1.0,
        "top_db": None,
        "filterbank_dtype": torch.float64,
    },
    "panns32k": {
        "sample_rate": 32000,
        "n_fft": 1024,
        "hop_length": 320,
        "n_mels": 64,
        "f_min": 50.0,
        "f_max": 14000.0,
        "mel_scale": "slaney",
        "norm": "slaney",
        "amin": 1e-10,
        "ref": 1.0,
        "top_db": None,
        "filterbank_dtype": torch.float64,
    },
}


def preset_kwargs(name: str) -> dict[str, Any]:
    """A copy of preset ``name``'s keyword arguments (unknown names list the valid ones)."""
    try:
        return dict(LOGMEL_PRESETS[name])
    except KeyError:
        raise InputError(
            f"Unknown log-Mel preset {name!r}. Available: {', '.join(sorted(LOGMEL_PRESETS))}."
        ) from None
