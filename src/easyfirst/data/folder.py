"""Audio folders on a local path: autrainer-style ``train/dev/test.csv`` and FSDD file naming.

Both loaders return cached log-Mel features ``(N, 1, M, L)`` float32 memmaps (see
:mod:`easyfirst.audio.cache`) with ids = file paths relative to the dataset root, sorted, so
ids and row order do not depend on directory listing or CSV row order. The helpers here
(:func:`audio_split`, :func:`read_label_table`, ...) are shared by the other audio loaders.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from easyfirst.audio.cache import FEATURE_VERSION, FeatureSpec, cached_audio_features
from easyfirst.audio.io import AudioFileNotFoundError, audio_info
from easyfirst.data.base import ArraySplit, DatasetBundle
from easyfirst.data.registry import register_dataset

Features = str | Mapping[str, Any]
Label = str | tuple[str, ...]  # a class name, or a tuple of them (multi-label)
LABELS_SEP = ";"  # separates the labels of one file in a ``labels`` column
T = TypeVar("T")


def sorted_labels(labels: Iterable[str]) -> list[str]:
    """Unique labels, numerically sorted when all are integers ("2" < "10"), else by string."""
    unique = set(labels)
    if unique and all(re.fullmatch(r"-?\d+", s) for s in unique):
        return sorted(unique, key=int)
    return sorted(unique)


def names_of(label: Label) -> tuple[str, ...]:
    """The class names of one label: ``("dog",)`` for ``"dog"``, a tuple as it is."""
    return (label,) if isinstance(label, str) else label


def encode_labels(labels: Sequence[Label], class_names: Sequence[str]) -> np.ndarray:
    """Class ids ``(N,)`` int64 when every label is a name, else multi-hot ``(N, C)`` float32.

    Example:
        >>> encode_labels([("b",), ("a", "b")], ["a", "b"]).tolist()
        [[0.0, 1.0], [1.0, 1.0]]
    """
    index = {c: i for i, c in enumerate(class_names)}
    if all(isinstance(y, str) for y in labels):
        return np.array([index[names_of(y)[0]] for y in labels], dtype=np.int64)
    out = np.zeros((len(labels), len(class_names)), dtype=np.float32)
    for row, y in enumerate(labels):
        out[row, [index[c] for c in names_of(y)]] = 1.0
    return out


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
        Split: inputs ``(N, 1, M, L)`` float32 memmap, targets by :func:`encode_labels`, ids."""
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
        ValueError: missing columns, an empty label, an absolute path or a file listed
            twice (names the line); a file that is not UTF-8 (a BOM is accepted).
        AudioFileNotFoundError: a listed file does not exist (names the line and file).
    """
    return _read_table(path, root, file_col, label_col, delimiter, lambda s: s or None,
                       "empty file or label; fill in or remove the row")


def split_labels(cell: str) -> tuple[str, ...]:
    """The ``;``-separated labels of a cell, stripped, without empty pieces or repeats."""
    return tuple(dict.fromkeys(p.strip() for p in cell.split(LABELS_SEP) if p.strip()))


def read_labels_table(path: Path, root: Path, *, file_col: str = "file",
                      label_col: str = "labels") -> dict[str, tuple[str, ...]]:
    """Read a multi-label ``file,labels`` CSV (``;``-separated: ``a.wav,dog; bark``) as
    ``{relative file: labels}``; errors as :func:`read_label_table` (also a row with none)."""
    return _read_table(path, root, file_col, label_col, ",", lambda s: split_labels(s) or None,
                       f"no label; give one or more, '{LABELS_SEP}'-separated, or remove the row")


def read_csv_text(path: Path) -> str:
    """The text of a UTF-8 table (a byte-order mark, as spreadsheets write it, is dropped).

    Raises:
        ValueError: one line naming the file when it is not UTF-8 (e.g. Latin-1).
    """
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(
            f"{path}: expected UTF-8 text; byte 0x{data[e.start]:02x} at offset {e.start} is "
            "not UTF-8 (a Latin-1 or Windows-1252 file?). Save the file as UTF-8 (a "
            "spreadsheet's 'CSV UTF-8') and rerun.") from None


def _read_table(path: Path, root: Path, file_col: str, label_col: str, delimiter: str,
                parse: Callable[[str], T | None], empty: str) -> dict[str, T]:
    reader = csv.DictReader(io.StringIO(read_csv_text(path), newline=""), delimiter=delimiter)
    cols = reader.fieldnames or []
    if file_col not in cols or label_col not in cols:
        sep = "\\t" if delimiter == "\t" else delimiter
        raise ValueError(
            f"{path}: expected a header with columns '{file_col}{sep}{label_col}', got "
            f"{cols}; add the header row.")
    out: dict[str, T] = {}
    for row in reader:
        line = reader.line_num
        raw = (row[file_col] or "").strip()
        rel = Path(raw).as_posix()
        label = parse((row[label_col] or "").strip())
        if label is None or rel in ("", "."):
            raise ValueError(f"{path.name} line {line}: {empty}.")
        if Path(raw).is_absolute():
            raise ValueError(
                f"{path} line {line}: expected a file path relative to the dataset folder "
                f"'{root}'; got the absolute path '{raw}'. Write it relative to that folder "
                "(e.g. audio/x.wav), moving the file under it if needed.")
        if os.path.normpath(rel).split(os.sep)[0] == "..":
            raise ValueError(
                f"{path} line {line}: expected a file inside the dataset folder '{root}'; got "
                f"'{raw}', which leads out of it. Move the file under that folder and write "
                "its path relative to it.")
        if rel in out:
            raise ValueError(f"{path.name} line {line}: file '{rel}' is listed twice; "
                             f"remove one row.")
        if not (root / rel).is_file():
            raise AudioFileNotFoundError(
                f"{path.name} line {line}: audio file '{rel}' not found under '{root}'; fix "
                f"the path (relative to the dataset root) or remove the row."
            )
        out[rel] = label
    return out


def check_known_labels(table: Mapping[str, Label], class_names: Sequence[str], source: str) -> None:
    """Raise a one-line ``ValueError`` naming the first file with a label that is not a class."""
    known = set(class_names)
    for rel, labels in table.items():
        for label in [y for y in names_of(labels) if y not in known]:
            raise ValueError(
                f"{source}: file '{rel}' has label {label!r}, which is not among the training "
                f"labels ({', '.join(class_names)}); fix the label or add the class to training."
            )


def check_disjoint(tables: Mapping[str, Iterable[str]]) -> None:
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
        raise FileNotFoundError(
            f"'{root}' {got}; expected a folder with train.csv (and optional dev.csv, test.csv)"
            " with columns file,label: pass the dataset folder as root (--root).")
    header = next(csv.reader(io.StringIO(read_csv_text(root / "train.csv"), newline="")), [])
    multi = {"labels"} <= set(header) - {"label"}
    read = read_labels_table if multi else read_label_table
    tables: dict[str, Mapping[str, Label]] = {
        s: read(root / f"{s}.csv", root) for s in ("train", "dev", "test")
        if (root / f"{s}.csv").is_file()}
    for split in [s for s, t in tables.items() if not t]:
        raise ValueError(
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
