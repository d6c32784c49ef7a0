"""Audio folders on a local path: autrainer-style ``train/dev/test.csv`` and FSDD file naming.

Both loaders return cached log-Mel features ``(N, 1, M, L)`` float32 memmaps (see
:mod:`easyfirst.audio.cache`) with ids = file paths relative to the dataset root, sorted, so
ids and row order do not depend on directory listing or CSV row order. The tables are read
by :mod:`easyfirst.data.labels` and the splits built by :mod:`easyfirst.data.audio_splits`,
as for the other audio loaders.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Mapping
from pathlib import Path

from easyfirst.audio.cache import FeatureSpec
from easyfirst.data.audio_splits import Features, audio_split, bundle_info, longest_duration
from easyfirst.data.base import ArraySplit, DatasetBundle
from easyfirst.data.labels import (
    Label,
    check_disjoint,
    check_known_labels,
    names_of,
    read_csv_text,
    read_label_table,
    read_labels_table,
    sorted_labels,
)
from easyfirst.data.registry import register_dataset
from easyfirst.errors import InputError, MissingFileError


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

    Classes are the labels of ``train.csv`` (sorted; numerically if all are integers). Samples
    are in the order of their sorted file paths (the ids), not the CSVs' row order: index
    ``i`` of a score file is ``ids[i]`` (score CSVs carry the ``id`` column).

    Multi-label: if ``train.csv`` has a ``labels`` column (and no ``label``), every CSV needs
    ``file,labels``, each row one or more ``;``-separated labels (``a.wav,dog; bark``; spaces
    stripped); classes are the sorted union of train's, targets ``(N, C)`` float32 multi-hot.

    Args:
        root: the dataset folder: train.csv, optional dev.csv and test.csv, the audio files.
        features: log-Mel preset name or keyword dict (panns8k, panns16k, panns32k).
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
        ValueError: a dev/test label unknown to train, a malformed row (names it), a CSV
            with no rows, or one that is not UTF-8.
        AudioError: a file that cannot be read (names it).
    """
    root = Path(root).expanduser()
    if not (root / "train.csv").is_file():
        got = ("has no train.csv" if root.is_dir() else "is a file, not a folder"
               if root.exists() else "does not exist")
        raise MissingFileError(
            f"'{root}' {got}; expected a folder with train.csv (and optional dev.csv, test.csv)"
            " with columns file,label: pass the dataset folder as root (--root).")
    header = next(csv.reader(io.StringIO(read_csv_text(root / "train.csv"), newline="")), [])
    multi = {"labels"} <= set(header) - {"label"}
    read = read_labels_table if multi else read_label_table
    tables: dict[str, Mapping[str, Label]] = {
        s: read(root / f"{s}.csv", root) for s in ("train", "dev", "test")
        if (root / f"{s}.csv").is_file()}
    for split in [s for s, t in tables.items() if not t]:
        raise InputError(
            f"{root / f'{split}.csv'}: expected at least one row of "
            f"file,{'labels' if multi else 'label'} after the header; got none. Add the "
            f"{split} files, one per row{'' if split == 'train' else f', or delete {split}.csv'}.")
    class_names = sorted_labels(y for ys in tables["train"].values() for y in names_of(ys))
    for split in [s for s in tables if s != "train"]:
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
            name=f"folder-{split}", cache_dir=cache_dir, progress=progress, chunk_size=chunk_size)
    train = splits["train"]
    assert train is not None  # train.csv is required above
    layout = f"train/dev/test.csv (file,{'labels' if multi else 'label'})"
    return DatasetBundle("folder", train, splits["dev"], splits["test"], class_names,
                         info=bundle_info(root, spec, layout=layout))


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
    raise MissingFileError(
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
        raise InputError(f"Unknown FSDD split {split!r}. Available: official, speaker.")
    root = fsdd_default_root() if root is None else Path(root).expanduser()
    if not root.is_dir():
        raise MissingFileError(f"FSDD root '{root}' is not a directory; pass --root (root=...).")
    groups: dict[str, list[str]] = {"train": [], "dev": [], "test": []}
    labels: dict[str, str] = {}
    speakers: set[str] = set()
    for p in sorted(root.glob("*.wav")):
        m = FSDD_PATTERN.match(p.name)
        if m is None:
            raise InputError(
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
        raise MissingFileError(
            f"No FSDD files ({{digit}}_{{speaker}}_{{index}}.wav) in '{root}'; pass the "
            f"recordings folder as root."
        )
    if split == "speaker":
        missing = sorted(set(FSDD_SPEAKER_SPLIT.values()) - speakers)
        if missing:
            raise InputError(
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
        raise InputError(f"FSDD split {split!r} left no training files in '{root}'.")
    name = "fsdd" if split == "official" else f"fsdd:{split}"
    return DatasetBundle(name, out["train"], out["dev"], out["test"], class_names,
                         info=bundle_info(root, spec, split=split,
                                          split_rule=FSDD_SPLIT_RULES[split]))
