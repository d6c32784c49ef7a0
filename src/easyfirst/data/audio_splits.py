"""Audio files as one split of a dataset: their cached log-Mel features as an ``ArraySplit``.

The audio loaders (``folder``, ``fsdd``, DCASE, AudioSet, Hugging Face folders) turn their
file lists into splits here, and describe the bundle with the same ``info`` facts (source,
sample rate, feature parameters).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from easyfirst.audio.cache import FEATURE_VERSION, FeatureSpec, cached_audio_features
from easyfirst.audio.io import audio_info
from easyfirst.data.base import ArraySplit
from easyfirst.data.labels import Label, encode_labels

Features = str | Mapping[str, Any]


def audio_split(
    root: Path,
    files: Sequence[str],
    labels: Sequence[Label],
    class_names: Sequence[str],
    spec: FeatureSpec,
    *,
    name: str,
    cache_dir: str | Path | None,
    progress: bool,
    chunk_size: int | None = None,
    meta: dict[str, Any] | None = None,
    ids: Sequence[str] | None = None,
) -> ArraySplit:
    """Cache features of ``root/files`` and wrap them as an :class:`ArraySplit`.

    Args:
        root: dataset root.
        files: paths relative to ``root`` (POSIX), shape (N,), already sorted; they are the ids.
        labels: label of each file, shape (N,): a class name, or a tuple of class names
            (multi-label); every one must be in ``class_names``.
        class_names: the C class names; targets are indices into it.
        spec: feature parameters and clip duration.
        name: cache file prefix, e.g. ``"fsdd-train"``.
        cache_dir, progress, chunk_size: see :func:`~easyfirst.audio.cache.build_feature_cache`.
        meta: optional per-sample columns (each of length N).
        ids: sample ids instead of ``files`` (e.g. AudioSet's YouTube ids).

    Returns:
        Split: inputs ``(N, 1, M, L)`` float32 memmap, targets by
        :func:`~easyfirst.data.labels.encode_labels`, ids."""
    feats = cached_audio_features(
        [root / f for f in files], spec, root=root, name=name, cache_dir=cache_dir,
        chunk_size=chunk_size, progress=progress,
    )
    return ArraySplit(feats, encode_labels(labels, class_names),
                      list(files if ids is None else ids), meta=meta)


def bundle_info(root: Path, spec: FeatureSpec, **facts: Any) -> dict[str, Any]:
    """The ``info`` facts every audio bundle carries: source, sample rate, feature params."""
    return {
        "source": str(root),
        "sample_rate": spec.sample_rate,
        "duration": spec.duration,
        "features": spec.to_json()["logmel"],
        "feature_version": FEATURE_VERSION,
        **facts,
    }


def longest_duration(root: Path, files: Iterable[str]) -> float:
    """Longest file in seconds, rounded up to 10 ms (reads headers only)."""
    longest = 0.0
    for rel in files:
        frames, rate = audio_info(root / rel)
        longest = max(longest, frames / rate)
    return math.ceil(longest * 100) / 100

