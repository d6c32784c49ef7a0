"""``synthkws``: the embedded default dataset; synthetic keywords in noise of known SNR.

1,920 one-second espeak-ng clips of 10 keywords by 96 synthetic speakers ship with the
package (``easyfirst/data/synthkws/``, about 6 MB; see its README and
``scripts/make_synthkws.py``). At load time every clip gets its own synthetic noise, mixed at
a per-sample SNR drawn from ``snr_db``, so the set has a known ground-truth difficulty:
``split.meta["snr_db"]`` (N,). Everything is a function of ``(seed, sample id)``, so the
features are identical in every run and load order, and they are cached like any dataset.

Noise: the sum of white, pink, brown and blue noise (power spectra ``f^0, f^-1, f^-2, f^+1``,
each scaled to unit RMS) with Dirichlet(1, 1, 1, 1) weights, rescaled so that speech power
over the spoken part (first to last non-zero sample) divided by noise power is the SNR.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from easyfirst.audio.cache import FeatureSpec, build_feature_cache, content_signature
from easyfirst.audio.io import load_audio
from easyfirst.data.audio_splits import Features, bundle_info
from easyfirst.data.base import ArraySplit, DatasetBundle
from easyfirst.data.clips import register_clips
from easyfirst.data.labels import sorted_labels
from easyfirst.data.registry import register_dataset
from easyfirst.errors import InputError, MissingFileError

SYNTHKWS_DIR = Path(__file__).with_name("synthkws")
NOISE_VERSION = 1  # bump when the noise recipe below changes
NOISE_EXPONENTS = (0.0, 1.0, 2.0, -1.0)  # white, pink, brown, blue (power ~ f^-exponent)
SPLITS = ("train", "dev", "test")
NOISE_RULE = (
    "white+pink+brown+blue noise, unit RMS each, Dirichlet(1,1,1,1) weights, scaled to the "
    "per-sample SNR over the spoken part"
)


def _hash_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def sample_snr(sample_id: str, *, seed: int, snr_db: tuple[float, float]) -> float:
    """The SNR in dB of one sample: uniform in ``snr_db`` from a hash of ``(seed, id)``."""
    u = _hash_int(f"snr|{seed}|{sample_id}") / 2.0**64
    return snr_db[0] + u * (snr_db[1] - snr_db[0])


def coloured_noise(num_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS mix of white/pink/brown/blue noise, shape ``(num_samples,)`` float64."""
    freqs = np.arange(num_samples // 2 + 1, dtype=np.float64)
    freqs[0] = 1.0
    weights = rng.dirichlet(np.ones(len(NOISE_EXPONENTS)))
    out = np.zeros(num_samples)
    for w, exponent in zip(weights, NOISE_EXPONENTS, strict=True):
        spectrum = np.fft.rfft(rng.standard_normal(num_samples)) * freqs ** (-exponent / 2)
        colour = np.fft.irfft(spectrum, n=num_samples)
        out += w * colour / np.sqrt(np.mean(colour**2))
    return out / np.sqrt(np.mean(out**2))


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``speech + noise`` with noise scaled to ``snr_db`` below the power of the spoken part.

    Args:
        speech: ``(T,)`` clip; silence is exact zeros around the word.
        noise: ``(T,)`` unit-RMS noise.
        snr_db: target SNR.

    Returns:
        ``(T,)`` float32 mixture.
    """
    voiced = np.flatnonzero(speech)
    part = speech[voiced[0] : voiced[-1] + 1] if len(voiced) else speech
    power = float(np.mean(part.astype(np.float64) ** 2)) or 1e-10
    gain = np.sqrt(power / 10.0 ** (snr_db / 10.0))
    return (speech + gain * noise).astype(np.float32)


def noisy_clip(root: Path, sample_id: str, *, seed: int, snr: float, sample_rate: int
               ) -> np.ndarray:
    """One sample: the clip ``root/sample_id`` with its own noise at ``snr`` dB, ``(T,)``."""
    speech = load_audio(root / sample_id, sample_rate=sample_rate)
    rng = np.random.default_rng(_hash_int(f"noise|{seed}|{sample_id}"))
    return mix_at_snr(speech, coloured_noise(len(speech), rng), snr)


@register_clips("synthkws")
def synthkws_clip(info: Mapping[str, Any], sample_id: str) -> np.ndarray:
    """The mixture the features of ``sample_id`` were computed from (a clip reader)."""
    lo, hi = (float(v) for v in info["snr_db"])
    seed = int(info["seed"])
    return noisy_clip(Path(info["source"]), sample_id, seed=seed,
                      snr=sample_snr(sample_id, seed=seed, snr_db=(lo, hi)),
                      sample_rate=int(info["sample_rate"]))


def _read_metadata(root: Path) -> list[dict[str, str]]:
    path = root / "metadata.csv"
    if not path.is_file():
        raise MissingFileError(
            f"No metadata.csv in '{root}'; the synthkws clips are missing from the install. "
            f"Reinstall easyfirst or run scripts/make_synthkws.py."
        )
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for line, row in enumerate(rows, start=2):
        if row.get("split") not in SPLITS or not row.get("file") or not row.get("label"):
            raise InputError(
                f"{path} line {line}: expected file,label,voice,speed,pitch,split with split in "
                f"train/dev/test, got {row}; regenerate with scripts/make_synthkws.py."
            )
    return rows


@register_dataset("synthkws")
def load_synthkws(
    root: str | Path | None = None,
    *,
    seed: int = 0,
    snr_db: tuple[float, float] = (-10.0, 30.0),
    features: Features = "panns16k",
    cache_dir: str | Path | None = None,
    progress: bool = True,
    chunk_size: int | None = None,
) -> DatasetBundle:
    """Synthetic keyword spotting in noise, offline: 10 classes, inputs ``(N, 1, 64, 101)``.

    Split, by speaker (voice + variant, as generated): per base voice, one speaker is test,
    one dev and four are train, so every accent is in every split and no speaker is in two:
    train 1,280, dev 320, test 320 clips.

    Args:
        root: clip folder; defaults to the shipped ``easyfirst/data/synthkws``.
        seed: noise seed; a different seed gives other noise and SNRs (a different dataset).
        snr_db: ``(low, high)`` range of the per-sample SNR in dB.
        features: log-Mel preset name or keyword dict.
        cache_dir, progress, chunk_size: see :func:`easyfirst.audio.cache.build_feature_cache`.

    Returns:
        Bundle whose splits carry ``meta`` columns ``snr_db`` (float32), ``voice``, ``speed``
        and ``pitch``, each of length N. Lower SNR means a harder sample.

    Example:
        >>> ds = load_synthkws(progress=False)  # doctest: +SKIP
        >>> ds.train.inputs.shape, ds.train.meta["snr_db"].shape  # doctest: +SKIP
        ((1280, 1, 64, 101), (1280,))
    """
    lo, hi = (float(v) for v in snr_db)
    if not lo <= hi:
        raise InputError(f"Expected snr_db=(low, high) with low <= high, got {snr_db}.")
    root = SYNTHKWS_DIR if root is None else Path(root).expanduser()
    rows = sorted(_read_metadata(root), key=lambda r: r["file"])
    class_names = sorted_labels(r["label"] for r in rows)
    index = {c: i for i, c in enumerate(class_names)}
    spec = FeatureSpec.resolve(features, duration=1.0)
    splits: dict[str, ArraySplit] = {}
    for split in SPLITS:
        part = [r for r in rows if r["split"] == split]
        ids = [r["file"] for r in part]
        snrs = np.array([sample_snr(i, seed=seed, snr_db=(lo, hi)) for i in ids])

        def load(i: int, ids: list[str] = ids, snrs: np.ndarray = snrs) -> np.ndarray:
            return noisy_clip(root, ids[i], seed=seed, snr=float(snrs[i]),
                              sample_rate=spec.sample_rate)

        sources = {"files": content_signature([root / i for i in ids], root), "seed": seed,
                   "snr_db": [lo, hi], "noise_version": NOISE_VERSION}
        feats = build_feature_cache(load, len(ids), spec, sources=sources,
                                    name=f"synthkws-{split}", cache_dir=cache_dir,
                                    progress=progress, chunk_size=chunk_size)
        meta = {
            "snr_db": snrs.astype(np.float32),
            "voice": np.array([r["voice"] for r in part]),
            "speed": np.array([int(r["speed"]) for r in part]),
            "pitch": np.array([int(r["pitch"]) for r in part]),
        }
        splits[split] = ArraySplit(feats, [index[r["label"]] for r in part], ids, meta=meta)
    default = seed == 0 and (lo, hi) == (-10.0, 30.0)
    name = "synthkws" if default else f"synthkws:seed={seed},snr={lo:g}..{hi:g}"
    return DatasetBundle(
        name, splits["train"], splits["dev"], splits["test"], class_names,
        info=bundle_info(root, spec, seed=seed, snr_db=[lo, hi], noise=NOISE_RULE,
                         split_rule="by speaker: per base voice 1 test, 1 dev, 4 train speakers"),
    )
