"""Audio folders on a local path: autrainer-style ``train/dev/test.csv`` and FSDD file naming.

Both loaders return cached log-Mel features ``(N, 1, M, L)`` float32 memmaps (see
:mod:`easyfirst.audio.cache`) with ids = file paths relative to the dataset root, sorted, so
ids and row order do not depend on directory listing or CSV row order. The helpers here
(:func:`audio_split`, :func:`read_label_table`, ...) are shared by the other audio loaders.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from easyfirst.audio.cache import FEATURE_VERSION, FeatureSpec, cached_audio_features
from easyfirst.audio.io import AudioFileNotFoundError, audio_info
from easyfirst.data.base import ArraySplit, DatasetBundle
from easyfirst.data.registry import register_dataset

Features = str | Mapping[str, Any]


def sorted_labels(labels: Iterable[str]) -> list[str]:
    """Unique labels, numerically sorted when all are integers ("2" < "10"), else by string."""
    unique = set(labels)
    if unique and all(re.fullmatch(r"-?\d+", s) for s in unique):
        return sorted(unique, key=int)
    return sorted(unique)


def audio_split(
    root: Path,
    files: Sequence[str],
    labels: Sequence[str],
    class_names: Sequence[str],
    spec: FeatureSpec,
    *,
    name: str,
    cache_dir: str | Path | None,
    progress: bool,
    chunk_size: int | None = None,
    meta: dict[str, Any] | None = None,
) -> ArraySplit:
    """Cache features of ``root/files`` and wrap them as an :class:`ArraySplit`.

    Args:
        root: dataset root.
        files: paths relative to ``root`` (POSIX), shape (N,), already sorted; they are the ids.
        labels: label of each file, shape (N,); every one must be in ``class_names``.
        class_names: the C class names; targets are indices into it.
        spec: feature parameters and clip duration.
        name: cache file prefix, e.g. ``"fsdd-train"``.
        cache_dir, progress, chunk_size: see :func:`~easyfirst.audio.cache.build_feature_cache`.
        meta: optional per-sample columns (each of length N).

    Returns:
        Split with inputs ``(N, 1, M, L)`` float32 memmap, targets ``(N,)``, ids = ``files``.
    """
    index = {c: i for i, c in enumerate(class_names)}
    feats = cached_audio_features(
        [root / f for f in files], spec, root=root, name=name, cache_dir=cache_dir,
        chunk_size=chunk_size, progress=progress,
    )
    return ArraySplit(feats, np.array([index[y] for y in labels], dtype=np.int64), list(files),
                      meta=meta)


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


def read_label_table(
    path: Path,
    root: Path,
    *,
    file_col: str = "file",
    label_col: str = "label",
    delimiter: str = ",",
) -> dict[str, str]:
    """Read a ``file,label`` table; every file must exist under ``root``.

    Args:
        path: the CSV/TSV file (with a header row).
        root: directory the ``file`` column is relative to.
        file_col, label_col: header names of the two columns used (others are ignored).
        delimiter: ``","`` for CSV, ``"\\t"`` for DCASE's TSV.

    Returns:
        ``{relative file (POSIX): label}`` in row order.

    Raises:
        ValueError: missing columns, an empty label or a file listed twice (names the line).
        AudioFileNotFoundError: a listed file does not exist (names the line and file).
    """
    with open(path, newline="") as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        cols = reader.fieldnames or []
        if file_col not in cols or label_col not in cols:
            sep = "\\t" if delimiter == "\t" else delimiter
            raise ValueError(
                f"{path}: expected a header with columns '{file_col}{sep}{label_col}', got "
                f"{cols}; add the header row."
            )
        out: dict[str, str] = {}
        for row in reader:
            line = reader.line_num
            rel = Path((row[file_col] or "").strip()).as_posix()
            label = (row[label_col] or "").strip()
            if not label or rel in ("", "."):
                raise ValueError(
                    f"{path.name} line {line}: empty file or label; fill in or remove the row."
                )
            if rel in out:
                raise ValueError(
                    f"{path.name} line {line}: file '{rel}' is listed twice; remove one row."
                )
            if not (root / rel).is_file():
                raise AudioFileNotFoundError(
                    f"{path.name} line {line}: audio file '{rel}' not found under '{root}'; fix "
                    f"the path (relative to the dataset root) or remove the row."
                )
            out[rel] = label
    return out


def check_known_labels(table: Mapping[str, str], class_names: Sequence[str], source: str) -> None:
    """Raise a one-line ``ValueError`` naming the first file whose label is not a class."""
    known = set(class_names)
    for rel, label in table.items():
        if label not in known:
            raise ValueError(
                f"{source}: file '{rel}' has label {label!r}, which is not among the training "
                f"labels ({', '.join(class_names)}); fix the label or add the class to training."
            )


def check_disjoint(tables: Mapping[str, Mapping[str, str]]) -> None:
    """Raise a one-line ``ValueError`` if a file sits in two splits (leakage)."""
    seen: dict[str, str] = {}
    for split, table in tables.items():
        for rel in table:
            if rel in seen:
                raise ValueError(
                    f"file '{rel}' is in both the {seen[rel]} and the {split} split; a sample "
                    f"must be in one split only: remove it from one of them."
                )
            seen[rel] = split


def longest_duration(root: Path, files: Iterable[str]) -> float:
    """Longest file in seconds, rounded up to 10 ms (reads headers only)."""
    longest = 0.0
    for rel in files:
        frames, rate = audio_info(root / rel)
        longest = max(longest, frames / rate)
    return math.ceil(longest * 100) / 100


@register_dataset("folder")
def load_folder(
    root: str | Path,
    *,
    features: Features = "panns16k",
    sample_rate: int | None = None,
    duration: float | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    chunk_size: int | None = None,
) -> DatasetBundle:
    """A folder of audio files with ``train.csv`` (required), ``dev.csv`` and ``test.csv``.

    Layout (autrainer-style)::

        root/train.csv   file,label      paths relative to ``root``, e.g. ``audio/dog_1.wav``
        root/dev.csv     file,label      optional
        root/test.csv    file,label      optional
        root/...         the audio files (WAV/FLAC/OGG; any rate, resampled at caching)

    Classes are the labels of ``train.csv`` (sorted; numerically if all are integers).

    Args:
        root: dataset directory.
        features: log-Mel preset name or keyword dict (see ``LOGMEL_PRESETS``).
        sample_rate: overrides the preset's rate.
        duration: clip length in seconds; ``None`` uses the longest file (nothing cropped).
        cache_dir: feature cache directory (default ``$EASYFIRST_CACHE`` or
            ``~/.cache/easyfirst``).
        progress: show progress bars while caching.
        chunk_size: rows per cache chunk.

    Returns:
        Bundle ``folder`` with inputs ``(N, 1, M, L)``; ``dev``/``test`` are ``None`` when
        their CSV is absent.

    Raises:
        FileNotFoundError: no ``train.csv``, or a listed file is missing (names the CSV line).
        ValueError: a dev/test label unknown to train, or a malformed row (names it).
        AudioError: a file that cannot be read (names it).
    """
    root = Path(root).expanduser()
    if not (root / "train.csv").is_file():
        raise FileNotFoundError(
            f"No train.csv in '{root}'; expected root/train.csv (and optional dev.csv, "
            f"test.csv) with columns file,label: pass the dataset folder as root."
        )
    tables = {
        split: read_label_table(root / f"{split}.csv", root)
        for split in ("train", "dev", "test")
        if (root / f"{split}.csv").is_file()
    }
    class_names = sorted_labels(tables["train"].values())
    for split in ("dev", "test"):
        if split in tables:
            check_known_labels(tables[split], class_names, f"{split}.csv")
    check_disjoint(tables)
    if duration is None:
        duration = longest_duration(root, (f for t in tables.values() for f in t))
    spec = FeatureSpec.resolve(features, duration=duration, sample_rate=sample_rate)
    splits: dict[str, ArraySplit | None] = {"train": None, "dev": None, "test": None}
    for split, table in tables.items():
        files = sorted(table)
        splits[split] = audio_split(
            root, files, [table[f] for f in files], class_names, spec,
            name=f"folder-{split}", cache_dir=cache_dir, progress=progress, chunk_size=chunk_size,
        )
    train = splits["train"]
    assert train is not None  # train.csv is required above
    return DatasetBundle("folder", train, splits["dev"], splits["test"], class_names,
                         info=bundle_info(root, spec, layout="train/dev/test.csv (file,label)"))


FSDD_PATTERN = re.compile(r"^(\d)_([^_]+)_(\d+)\.wav$")
FSDD_SPEAKER_SPLIT = {"test": "theo", "dev": "lucas"}
FSDD_SPLIT_RULES = {
    "official": "test: index 0-4 (upstream rule); dev: index 5-9; train: index >= 10",
    "speaker": "test: speaker theo; dev: speaker lucas; train: the other speakers",
}


def fsdd_default_root() -> Path:
    """``$EASYFIRST_FSDD``, else ``../shared/data/fsdd/recordings`` from the cwd if present.

    Raises:
        FileNotFoundError: neither exists; the message says to pass ``--root``.
    """
    env = os.environ.get("EASYFIRST_FSDD")
    if env:
        return Path(env).expanduser()
    guess = Path("..") / "shared" / "data" / "fsdd" / "recordings"
    if guess.is_dir():
        return guess.resolve()
    raise FileNotFoundError(
        "FSDD recordings not found: set $EASYFIRST_FSDD or pass --root (root=...) pointing at "
        "the folder of {digit}_{speaker}_{index}.wav files (free-spoken-digit-dataset/recordings)."
    )


@register_dataset("fsdd")
def load_fsdd(
    root: str | Path | None = None,
    *,
    split: str = "official",
    features: Features = "panns8k",
    sample_rate: int | None = None,
    duration: float = 1.0,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    chunk_size: int | None = None,
) -> DatasetBundle:
    """Free Spoken Digit Dataset: ``{digit}_{speaker}_{index}.wav`` files, classes 0-9.

    Split rules:

    - ``"official"``: index 0-4 test (upstream's rule), index 5-9 dev, index >= 10 train
      (2,400 / 300 / 300 for the 3,000-file release).
    - ``"speaker"``: speaker-disjoint; test = ``theo``, dev = ``lucas``, train = the others
      (2,000 / 500 / 500).

    Files are 8 kHz; the default ``panns8k`` features and 1 s clips (about 0.7 % of the
    recordings are longer and are cropped) give inputs ``(N, 1, 64, 101)``.

    Args:
        root: folder of the recordings; default :func:`fsdd_default_root`.
        split: ``"official"`` or ``"speaker"``.
        features, sample_rate, duration, cache_dir, progress, chunk_size: as in
            :func:`load_folder` (``duration`` defaults to 1 s here).

    Raises:
        ValueError: unknown ``split``, or a ``.wav`` whose name does not follow the scheme.
        FileNotFoundError: no root found, or no FSDD files in it.
    """
    if split not in FSDD_SPLIT_RULES:
        raise ValueError(f"Unknown FSDD split {split!r}. Available: official, speaker.")
    root = fsdd_default_root() if root is None else Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"FSDD root '{root}' is not a directory; pass --root (root=...).")
    groups: dict[str, list[str]] = {"train": [], "dev": [], "test": []}
    labels: dict[str, str] = {}
    speakers: set[str] = set()
    for p in sorted(root.glob("*.wav")):
        m = FSDD_PATTERN.match(p.name)
        if m is None:
            raise ValueError(
                f"FSDD file '{p}' does not follow the {{digit}}_{{speaker}}_{{index}}.wav "
                f"naming (e.g. 7_jackson_32.wav); rename or remove it."
            )
        digit, speaker, index = m.group(1), m.group(2), int(m.group(3))
        speakers.add(speaker)
        labels[p.name] = digit
        if split == "official":
            group = "test" if index < 5 else "dev" if index < 10 else "train"
        else:
            group = next((g for g, s in FSDD_SPEAKER_SPLIT.items() if s == speaker), "train")
        groups[group].append(p.name)
    if not labels:
        raise FileNotFoundError(
            f"No FSDD files ({{digit}}_{{speaker}}_{{index}}.wav) in '{root}'; pass the "
            f"recordings folder as root."
        )
    if split == "speaker":
        missing = sorted(set(FSDD_SPEAKER_SPLIT.values()) - speakers)
        if missing:
            raise ValueError(
                f"FSDD speaker split needs speakers {', '.join(FSDD_SPEAKER_SPLIT.values())}; "
                f"'{root}' lacks {', '.join(missing)}. Use split='official'."
            )
    spec = FeatureSpec.resolve(features, duration=duration, sample_rate=sample_rate)
    class_names = [str(d) for d in range(10)]
    out = {
        g: audio_split(root, files, [labels[f] for f in files], class_names, spec,
                       name=f"fsdd-{g}", cache_dir=cache_dir, progress=progress,
                       chunk_size=chunk_size) if files else None
        for g, files in groups.items()
    }
    if out["train"] is None:
        raise ValueError(f"FSDD split {split!r} left no training files in '{root}'.")
    name = "fsdd" if split == "official" else f"fsdd:{split}"
    return DatasetBundle(name, out["train"], out["dev"], out["test"], class_names,
                         info=bundle_info(root, spec, split=split,
                                          split_rule=FSDD_SPLIT_RULES[split]))
