"""Short synthetic clips for loader tests (a tone plus a little noise)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


def write_wav(path: Path, seconds: float = 0.2, sr: int = 16000, seed: int = 0) -> None:
    """Write a ``seconds`` long clip at ``sr`` Hz; ``seed`` picks the tone and the noise."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * sr)) / sr
    x = 0.3 * np.sin(2 * np.pi * (200 + 50 * seed) * t) + 0.05 * rng.standard_normal(len(t))
    sf.write(path, x.astype(np.float32), sr)
