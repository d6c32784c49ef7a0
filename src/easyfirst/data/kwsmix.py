"""``kwsmix``: two synthkws keywords overlaid in noise at known SNRs; multi-label, offline.

Built at load time from the shipped synthkws clips (see :mod:`easyfirst.data.synthkws`),
split by speaker exactly as synthkws: train 1,280, dev 320, test 320 samples, one per clip
of the split (that clip is *word A*). Everything is a function of ``(seed, ids)``:

- pairing: the split's clips (sorted by file) in a fixed permutation drawn from
  ``(seed, split)``; word B of the clip at permutation position ``k`` is the next clip in
  that order (cyclically) whose word differs. Both words come from the same split, so no
  speaker is in two splits.
- single-word samples: a sample keeps word A only when a hash of ``(seed, file A)`` falls
  below ``single_fraction`` (default 20 %), so label cardinality is 1 or 2.
- timing: A starts at 0 s, B at ``offset_s`` uniform in 0.2-0.5 s (hash), so the words
  overlap only partly; the window is 1.5 s (inputs ``(N, 1, 64, 151)``).
- levels: synthkws' coloured noise (white+pink+brown+blue, Dirichlet weights) at RMS
  ``NOISE_RMS``; each word is scaled so that its power over its spoken part (first to last
  non-zero sample) over the noise power is its SNR, ``snr_a_db`` and ``snr_b_db`` each uniform
  in ``snr_db`` (default -5..25 dB, a hash of ``(seed, file A)``).

Labels: multi-hot over the 10 synthkws words. ``split.meta`` columns (length N, numeric):
``snr_a_db``, ``snr_b_db`` (NaN without B), ``weaker_snr_db`` (the minimum over the words
present: the known difficulty, lower is harder), ``num_words`` (1 or 2), ``offset_s`` (NaN
without B), ``word_a``, ``word_b`` (class ids; -1 without B). Ids are ``FILE_A+FILE_B`` or
``FILE_A``.
"""

from __future__ import annotations

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
from easyfirst.data.synthkws import (
    SPLITS,
    SYNTHKWS_DIR,
    _hash_int,
    _read_metadata,
    coloured_noise,
    sample_snr,
)
from easyfirst.errors import InputError

KWSMIX_VERSION = 1  # bump when the mixing recipe below changes
DURATION = 1.5  # seconds: a 1 s clip A at 0 s, a 1 s clip B at <= 0.5 s
OFFSET_S = (0.2, 0.5)
NOISE_RMS = 0.05
DEFAULTS: dict[str, Any] = {"seed": 0, "snr_db": (-5.0, 25.0), "single_fraction": 0.2}
NOISE_RULE = (
    f"synthkws' white+pink+brown+blue noise (Dirichlet(1,1,1,1) weights) at RMS {NOISE_RMS}; "
    f"each word scaled to its SNR over its spoken part"
)


def _unit(text: str) -> float:
    return _hash_int(text) / 2.0**64


def spoken_power(clip: np.ndarray) -> float:
    """Mean power of ``clip (T,)`` from its first to its last non-zero sample."""
    voiced = np.flatnonzero(clip)
    part = clip[voiced[0] : voiced[-1] + 1] if len(voiced) else clip
    return float(np.mean(part.astype(np.float64) ** 2)) or 1e-10


def plan_split(files: list[str], labels: list[str], split: str, *, seed: int,
               snr_db: tuple[float, float], single_fraction: float) -> dict[str, np.ndarray]:
    """Who is mixed with whom, how loud and when: one row per clip of ``files`` (word A).

    Returns:
        ``{"a", "b"}`` clip indices (b = -1 without B), ``snr_a``, ``snr_b``, ``offset_s``
        (NaN without B), each of length N in ``files`` order.
    """
    n = len(files)
    perm = np.random.default_rng(_hash_int(f"kwsmix-pair|{seed}|{split}")).permutation(n)
    b = np.full(n, -1, dtype=np.int64)
    snr_a, snr_b, offset = np.zeros(n), np.full(n, np.nan), np.full(n, np.nan)
    for k, a in enumerate(perm):
        levels = word_levels(files[a], seed=seed, snr_db=snr_db)
        snr_a[a] = levels[0]
        if _unit(f"kwsmix-single|{seed}|{files[a]}") < single_fraction:
            continue
        partners = (perm[(k + j) % n] for j in range(1, n))
        b[a] = next((p for p in partners if labels[p] != labels[a]), -1)
        if b[a] >= 0:
            snr_b[a], offset[a] = levels[1:]
    return {"a": np.arange(n), "b": b, "snr_a": snr_a, "snr_b": snr_b, "offset_s": offset}


def word_levels(file_a: str, *, seed: int, snr_db: tuple[float, float]
                ) -> tuple[float, float, float]:
    """``(snr_a_db, snr_b_db, offset_s)`` of the sample whose word A is ``file_a`` (the last
    two apply when it has a word B)."""
    return (sample_snr(f"kwsmix-a|{file_a}", seed=seed, snr_db=snr_db),
            sample_snr(f"kwsmix-b|{file_a}", seed=seed, snr_db=snr_db),
            OFFSET_S[0] + _unit(f"kwsmix-offset|{seed}|{file_a}") * (OFFSET_S[1] - OFFSET_S[0]))


def mixture(root: Path, file_a: str, file_b: str | None, levels: tuple[float, float, float],
            *, seed: int, sample_rate: int) -> np.ndarray:
    """One sample, ``(T,)`` float32: word A (and B) at ``word_levels`` in its own noise."""
    snr_a, snr_b, offset_s = levels
    words = [(load_audio(root / file_a, sample_rate=sample_rate), 0, snr_a)]
    if file_b is not None:
        words.append((load_audio(root / file_b, sample_rate=sample_rate),
                      round(offset_s * sample_rate), snr_b))
    sample_id = file_a if file_b is None else f"{file_a}+{file_b}"
    rng = np.random.default_rng(_hash_int(f"kwsmix-noise|{seed}|{sample_id}"))
    return mix_words(words, NOISE_RMS * coloured_noise(round(DURATION * sample_rate), rng))


@register_clips("kwsmix")
def kwsmix_clip(info: Mapping[str, Any], sample_id: str) -> np.ndarray:
    """The mixture of ``sample_id`` (``FILE_A`` or ``FILE_A+FILE_B``; a clip reader)."""
    file_a, _, file_b = sample_id.partition("+")
    lo, hi = (float(v) for v in info["snr_db"])
    seed = int(info["seed"])
    return mixture(Path(info["source"]), file_a, file_b or None,
                   word_levels(file_a, seed=seed, snr_db=(lo, hi)), seed=seed,
                   sample_rate=int(info["sample_rate"]))


def mix_words(words: list[tuple[np.ndarray, int, float]], noise: np.ndarray) -> np.ndarray:
    """Overlay ``(clip, start sample, snr_db)`` words on ``noise (T,)`` (its power is the
    reference of every SNR); returns ``(T,)`` float32."""
    out = noise.astype(np.float64)
    noise_power = float(np.mean(out**2))
    for clip, start, snr in words:
        gain = np.sqrt(noise_power * 10.0 ** (snr / 10.0) / spoken_power(clip))
        piece = clip[: len(out) - start].astype(np.float64)
        out[start : start + len(piece)] += gain * piece
    return out.astype(np.float32)


def _build_split(root: Path, part: list[dict[str, str]], split: str, index: dict[str, int],
                 spec: FeatureSpec, opts: dict[str, Any], cache: dict[str, Any]) -> ArraySplit:
    files = [r["file"] for r in part]
    labels = [r["label"] for r in part]
    plan = plan_split(files, labels, split, **opts)
    a, b = plan["a"], plan["b"]
    ids = [files[i] if j < 0 else f"{files[i]}+{files[j]}" for i, j in zip(a, b, strict=True)]

    def load(i: int) -> np.ndarray:
        levels = (plan["snr_a"][i], plan["snr_b"][i], plan["offset_s"][i])
        return mixture(root, files[a[i]], files[b[i]] if b[i] >= 0 else None, levels,
                       seed=opts["seed"], sample_rate=spec.sample_rate)

    sources = {"files": content_signature([root / f for f in files], root), **opts,
               "version": KWSMIX_VERSION, "offset_s": OFFSET_S, "noise_rms": NOISE_RMS}
    feats = build_feature_cache(load, len(ids), spec, sources=sources, name=f"kwsmix-{split}",
                                **cache)
    targets = np.zeros((len(ids), len(index)), dtype=np.float32)
    word_a = np.array([index[labels[i]] for i in a])
    word_b = np.array([index[labels[j]] if j >= 0 else -1 for j in b])
    targets[np.arange(len(ids)), word_a] = 1.0
    targets[np.flatnonzero(b >= 0), word_b[b >= 0]] = 1.0
    meta = {"snr_a_db": plan["snr_a"].astype(np.float32),
            "snr_b_db": plan["snr_b"].astype(np.float32),
            "weaker_snr_db": np.fmin(plan["snr_a"], plan["snr_b"]).astype(np.float32),
            "num_words": 1 + (b >= 0).astype(np.int64), "offset_s": plan["offset_s"].astype(
                np.float32), "word_a": word_a, "word_b": word_b}
    return ArraySplit(feats, targets, ids, meta=meta)


@register_dataset("kwsmix")
def load_kwsmix(
    root: str | Path | None = None,
    *,
    seed: int = 0,
    snr_db: tuple[float, float] = (-5.0, 25.0),
    single_fraction: float = 0.2,
    features: Features = "panns16k",
    cache_dir: str | Path | None = None,
    progress: bool = True,
    chunk_size: int | None = None,
) -> DatasetBundle:
    """Multi-label keyword spotting: 1-2 overlapping synthkws words in noise, known SNRs.

    The recipe is in the module docstring; rows follow the synthkws clip order (sorted by
    file), one per clip: train 1,280, dev 320, test 320.

    Args:
        root: synthkws clip folder; defaults to the shipped ``easyfirst/data/synthkws``.
        seed: pairing, noise and SNR seed; another seed gives another dataset.
        snr_db: ``(low, high)`` range of each word's SNR in dB.
        single_fraction: share of samples with word A only, in [0, 1].
        features: log-Mel preset name or keyword dict.
        cache_dir, progress, chunk_size: see :func:`easyfirst.audio.cache.build_feature_cache`.

    Returns:
        Bundle ``kwsmix`` (options appended when not the defaults) with inputs
        ``(N, 1, 64, 151)``, float32 ``(N, 10)`` multi-hot targets and the meta columns of
        the module docstring; ``weaker_snr_db`` is the ground-truth difficulty.

    Example:
        >>> ds = load_kwsmix(progress=False)  # doctest: +SKIP
        >>> ds.train.targets.shape, ds.train.meta["weaker_snr_db"].shape  # doctest: +SKIP
        (torch.Size([1280, 10]), (1280,))
    """
    lo, hi = (float(v) for v in snr_db)
    if not lo <= hi:
        raise InputError(f"Expected snr_db=(low, high) with low <= high, got {snr_db}.")
    if not 0.0 <= single_fraction <= 1.0:
        raise InputError(f"Expected 0 <= single_fraction <= 1, got {single_fraction}.")
    root = SYNTHKWS_DIR if root is None else Path(root).expanduser()
    rows = sorted(_read_metadata(root), key=lambda r: r["file"])
    class_names = sorted_labels(r["label"] for r in rows)
    index = {c: i for i, c in enumerate(class_names)}
    spec = FeatureSpec.resolve(features, duration=DURATION)
    opts = {"seed": int(seed), "snr_db": (lo, hi), "single_fraction": float(single_fraction)}
    cache = {"cache_dir": cache_dir, "progress": progress, "chunk_size": chunk_size}
    splits = {s: _build_split(root, [r for r in rows if r["split"] == s], s, index, spec, opts,
                              cache) for s in SPLITS}
    changed = opts != DEFAULTS
    name = f"kwsmix:seed={seed},snr={lo:g}..{hi:g},single={single_fraction:g}" if changed else (
        "kwsmix")
    rule = ("per split, a (seed, split) permutation of its clips; word B = the next clip with "
            "another word; word A only when hash(seed, file) < single_fraction")
    return DatasetBundle(
        name, splits["train"], splits["dev"], splits["test"], class_names,
        info=bundle_info(root, spec, seed=seed, snr_db=[lo, hi], single_fraction=single_fraction,
                         offset_s=list(OFFSET_S), noise=NOISE_RULE, noise_rms=NOISE_RMS,
                         pairing=rule, mix_version=KWSMIX_VERSION,
                         split_rule="synthkws' speaker split (per base voice 1 test, 1 dev, "
                                    "4 train speakers)"),
    )
