"""Hugging Face audio datasets on a local path: a ``save_to_disk`` folder or an audiofolder.

``--dataset hf --root PATH`` (never the hub). Two layouts:

- ``save_to_disk``: the folder ``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk`` wrote
  (``state.json`` or ``dataset_dict.json``), read with ``datasets.load_from_disk`` (the
  optional extra ``pip install 'easyfirst[hf]'``). The audio column (the ``Audio`` feature,
  or ``audio_column``) is cast to ``Audio(decode=False)`` and its bytes, or the files it
  names, are decoded here with soundfile: recent ``datasets`` decode with ``torchcodec``,
  which a CPU build of torch may not run. Rows keep the dataset's order; a row's id is its
  audio ``path`` when every row of the split has one and they are unique, else ``row:<i>``.
- ``audiofolder`` (🤗's audiofolder layout, read without ``datasets``): audio files in
  ``root/<split>/<label>/`` (or ``root/<label>/``: all of it is train), the label being the
  folder's name; or a ``metadata.csv``/``metadata.jsonl`` in the split folder (in root without
  split folders) with a ``file_name`` column, relative to it, and the label column. Ids are
  file paths relative to root, sorted.

Splits: ``train_split`` (default ``train``), ``dev_split`` and ``test_split`` (default: the
first present of 🤗's names ``validation valid dev val`` and ``test testing eval
evaluation``; ``""`` for none). Classes: the names of a ``ClassLabel`` label feature, else
train's sorted labels (numerically when all are integers). Features are cached log-Mel rows
(:mod:`easyfirst.audio.cache`), as for the ``folder`` datasets.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import soundfile as sf

from easyfirst.audio.cache import FeatureSpec, build_feature_cache, file_signature
from easyfirst.audio.io import AudioError, audio_info, check_finite, load_audio, resample
from easyfirst.data.audio_splits import Features, audio_split, bundle_info, longest_duration
from easyfirst.data.audioset import AUDIO_EXTS
from easyfirst.data.base import ArraySplit, DatasetBundle
from easyfirst.data.clips import register_clips
from easyfirst.data.labels import check_known_labels, encode_labels, sorted_labels
from easyfirst.data.registry import register_dataset
from easyfirst.errors import InputError, MissingFileError

INSTALL = "pip install 'easyfirst[hf]'"
DEV_NAMES = ("validation", "valid", "dev", "val")
TEST_NAMES = ("test", "testing", "eval", "evaluation")
TRAIN_NAMES = ("train", "training")


class Rows(NamedTuple):
    """One split as its layout gives it: ids, labels (class names), how to cache its features
    and its longest clip in seconds; ``class_names`` of a ``ClassLabel`` feature, if any."""

    ids: list[str]
    labels: list[str]
    cache: Callable[..., ArraySplit]
    longest: Callable[[], float]
    class_names: list[str] | None = None


def _pick_splits(found: Sequence[str], root: Path, train: str, dev: str | None,
                 test: str | None) -> dict[str, str]:
    """``{"train": name, "dev": name, "test": name}`` of the splits in use (dev/test optional)."""
    got = ", ".join(found) or "none"
    picked = {}
    for role, name, defaults in (("train", train, ()), ("dev", dev, DEV_NAMES),
                                 ("test", test, TEST_NAMES)):
        name = next((s for s in defaults if s in found), "") if name is None else name
        if (name and name not in found) or (role == "train" and not name):
            raise InputError(f"Expected a {role} split {name!r} in '{root}'; got splits {got}. "
                             f"Pass --dataset-opt {role}_split=NAME"
                             + (" ('' for none)." if role != "train" else "."))
        if name:
            picked[role] = name
    if len(set(picked.values())) < len(picked):
        raise InputError(f"Expected distinct train, dev and test splits; got {picked}. Pass "
                         "other --dataset-opt train_split/dev_split/test_split names.")
    return picked


def _missing_column(what: str, column: str, split: str, root: Path, columns: Sequence[str],
                    option: str) -> ValueError:
    return ValueError(f"Expected {what} column {column!r} in split {split!r} of '{root}'; got "
                      f"columns {', '.join(columns) or 'none'}. Pass --dataset-opt "
                      f"{option}=NAME.")


# --- save_to_disk ---------------------------------------------------------------------------


def _load_from_disk(root: Path) -> dict[str, Any]:
    try:
        import datasets
    except ImportError:
        raise ImportError(f"Reading the save_to_disk folder '{root}' expected the 'datasets' "
                          f"package; got none installed. Install it: {INSTALL}") from None
    loaded = datasets.load_from_disk(str(root))
    return dict(loaded) if isinstance(loaded, datasets.DatasetDict) else {"train": loaded}


def _decode(blob: bytes, rate: int, what: str) -> np.ndarray:
    """Mono float32 at ``rate`` from encoded audio bytes (WAV, FLAC, OGG, ...)."""
    try:
        data, sr = sf.read(io.BytesIO(blob), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        raise AudioError(f"cannot decode the audio bytes of {what}: {e}; expected WAV/FLAC/OGG "
                         "bytes readable by soundfile — re-encode that row") from None
    if data.shape[0] == 0:
        raise AudioError(f"the audio bytes of {what} hold 0 samples; remove that row")
    return resample(check_finite(data.mean(axis=1), f"the audio of {what}", int(sr)), int(sr),
                    rate)


def _disk_rows(ds: Any, split: str, root: Path, label_column: str,
               audio_column: str | None) -> Rows:
    from datasets import Audio, ClassLabel

    cols = list(ds.column_names)
    audio = audio_column or next((c for c, f in ds.features.items() if isinstance(f, Audio)), "")
    if audio not in cols:
        raise _missing_column("an audio", audio or "(an Audio feature)", split, root, cols,
                              "audio_column")
    if label_column not in cols:
        raise _missing_column("the label", label_column, split, root, cols, "label_column")
    feature = ds.features[label_column]
    names = list(feature.names) if isinstance(feature, ClassLabel) else None
    labels: list[str] = []
    for i, v in enumerate(ds[label_column]):
        if v is None or (names is not None and v < 0):
            raise InputError(f"Expected a label in every row; got {v!r} in row {i} of split "
                             f"{split!r} of '{root}'. Label it or drop the row.")
        labels.append(names[v] if names is not None else str(v))
    cells = ds.cast_column(audio, Audio(decode=False))[audio]  # no torchcodec: soundfile
    refs = [(c["path"], c["bytes"] is None) for c in cells]
    files = [root / path if linked and path else None for path, linked in refs]
    paths = [path for path, _ in refs]
    ids = paths if all(paths) and len(set(paths)) == len(paths) else [
        f"row:{i}" for i in range(len(refs))]

    def load(i: int, rate: int) -> np.ndarray:
        f = files[i]
        return load_audio(f, sample_rate=rate) if f else _decode(cells[i]["bytes"], rate,
                                                                 f"row {i} of split {split!r}")

    def longest() -> float:
        seconds = 0.0
        for i, f in enumerate(files):
            frames, rate = audio_info(f) if f else _header(cells[i]["bytes"])
            seconds = max(seconds, frames / rate)
        return math.ceil(seconds * 100) / 100  # up to 10 ms, as for audio folders

    def cache(spec: FeatureSpec, class_names: list[str], **options: Any) -> ArraySplit:
        sources = {"arrow": file_signature([c["filename"] for c in ds.cache_files], root),
                   "audio_files": file_signature([f for f in files if f], "/"),
                   "audio_column": audio, "ids": ids}
        feats = build_feature_cache(lambda i: load(i, spec.sample_rate), len(ids), spec,
                                    sources=sources, name=f"hf-{split}", **options)
        return ArraySplit(feats, encode_labels(labels, class_names), ids)

    return Rows(ids, labels, cache, longest, names)


def _header(blob: bytes) -> tuple[int, int]:
    try:
        info = sf.info(io.BytesIO(blob))
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        raise AudioError(f"cannot read the audio bytes' header: {e}; expected WAV/FLAC/OGG "
                         "bytes readable by soundfile — re-encode them") from None
    return max(1, int(info.frames)), int(info.samplerate)


# --- audiofolder ----------------------------------------------------------------------------


def _metadata(folder: Path) -> list[dict[str, Any]] | None:
    """The rows of ``folder/metadata.csv`` or ``folder/metadata.jsonl``; None without one."""
    if (folder / "metadata.csv").is_file():
        with open(folder / "metadata.csv", newline="") as f:
            return list(csv.DictReader(f))
    if (folder / "metadata.jsonl").is_file():
        lines = (folder / "metadata.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]
    return None


def _folder_rows(root: Path, folder: Path, split: str, label_column: str) -> Rows:
    meta = _metadata(folder)
    if meta is not None:
        cols = list(meta[0]) if meta else []
        if "file_name" not in cols:
            raise InputError(f"Expected a file_name column in the metadata of '{folder}'; got "
                             f"columns {', '.join(cols) or 'none'}. Add it: the audio files' "
                             "paths relative to that folder.")
        if label_column not in cols:
            raise _missing_column("the label", label_column, split, root, cols, "label_column")
        table = {(folder / str(r["file_name"])).relative_to(root).as_posix(): str(
            r[label_column]) for r in meta}
    else:
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_EXTS)
        nested = all(len(p.relative_to(folder).parts) == 2 for p in files)
        if label_column != "label" or not nested:
            raise _missing_column("the label", label_column, split, root,
                                  ["audio", "label"] if nested else ["audio"], "label_column")
        table = {p.relative_to(root).as_posix(): p.parent.name for p in files}
    ids = sorted(table)

    def cache(spec: FeatureSpec, class_names: list[str], **options: Any) -> ArraySplit:
        return audio_split(root, ids, [table[f] for f in ids], class_names, spec,
                           name=f"hf-{split}", **options)

    return Rows(ids, [table[f] for f in ids], cache, lambda: longest_duration(root, ids))


def _folder_splits(root: Path, names: Sequence[str]) -> dict[str, Path]:
    """Split folders (subfolders named like splits), else root as the one split ``train``."""
    dirs = {p.name: p for p in sorted(root.iterdir()) if p.is_dir()}
    known = {*names, *TRAIN_NAMES, *DEV_NAMES, *TEST_NAMES}
    splits = {name: p for name, p in dirs.items() if name in known}
    return splits or {"train": root}


# --- the loader -----------------------------------------------------------------------------


def _layout(root: Path) -> str:
    if not root.is_dir():
        raise MissingFileError(f"Expected a folder at '{root}'; got no such folder. Pass "
                               "--root PATH of a save_to_disk folder or an audiofolder.")
    if (root / "dataset_dict.json").is_file() or (root / "state.json").is_file():
        return "save_to_disk"
    if any(p.suffix.lower() in AUDIO_EXTS for p in root.rglob("*")):
        return "audiofolder"
    raise MissingFileError(
        f"Expected a datasets save_to_disk folder (dataset_dict.json or state.json) or an "
        f"audiofolder (audio files in root/<split>/<label>/) at '{root}'; got neither. Pass the "
        "folder save_to_disk wrote, or the audio folder's root.")


@register_dataset("hf")
def load_hf(
    root: str | Path,
    *,
    label_column: str = "label",
    audio_column: str | None = None,
    train_split: str = "train",
    dev_split: str | None = None,
    test_split: str | None = None,
    features: Features = "panns16k",
    sample_rate: int | None = None,
    duration: float | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    chunk_size: int | None = None,
) -> DatasetBundle:
    """A Hugging Face audio dataset on a local path (layouts and rules in the module notes).

    Args:
        root: a ``save_to_disk`` folder or an audiofolder root.
        label_column: the column of class labels (audiofolder: ``label`` is the folder name).
        audio_column: save_to_disk only; default: the column of ``Audio`` feature.
        train_split, dev_split, test_split: the dataset's split names; ``None`` (dev/test):
            the first present of 🤗's names; ``""``: none.
        features, sample_rate, duration, cache_dir, progress, chunk_size: as in
            :func:`easyfirst.data.folder.load_folder`.

    Returns:
        Bundle ``hf`` with inputs ``(N, 1, M, L)``; ``dev``/``test`` ``None`` when absent.

    Raises:
        FileNotFoundError: no such folder, or one of neither layout.
        ValueError: a missing split or column (naming those found), a row without a label,
            a dev/test label that train lacks.
        ImportError: a save_to_disk folder without the ``datasets`` package.
    """
    root = Path(root).expanduser()
    layout = _layout(root)
    if layout == "save_to_disk":
        found: Mapping[str, Any] = _load_from_disk(root)
    else:
        found = _folder_splits(root, [s for s in (train_split, dev_split, test_split) if s])
    picked = _pick_splits(list(found), root, train_split, dev_split, test_split)
    rows = {role: _disk_rows(found[name], name, root, label_column, audio_column)
            if layout == "save_to_disk" else _folder_rows(root, found[name], name, label_column)
            for role, name in picked.items()}
    for role, r in rows.items():
        if not r.ids:
            raise InputError(f"Expected samples in split {picked[role]!r} of '{root}'; got "
                             "none. Add them, or name another split.")
    class_names = rows["train"].class_names or sorted_labels(rows["train"].labels)
    for role in [r for r in rows if r != "train"]:
        check_known_labels(dict(zip(rows[role].ids, rows[role].labels, strict=True)),
                           class_names, f"split {picked[role]!r}")
    if duration is None:
        duration = max(r.longest() for r in rows.values())
    spec = FeatureSpec.resolve(features, duration=duration, sample_rate=sample_rate)
    splits = {role: r.cache(spec, class_names, cache_dir=cache_dir, progress=progress,
                            chunk_size=chunk_size) for role, r in rows.items()}
    return DatasetBundle("hf", splits["train"], splits.get("dev"), splits.get("test"),
                         class_names, info=bundle_info(root, spec, layout=layout, splits=picked,
                                                       label_column=label_column,
                                                       audio_column=audio_column))


@register_clips("hf")
def hf_clip(info: Mapping[str, Any], sample_id: str) -> np.ndarray:
    """A training sample's audio for the report: its file under the root (audiofolders,
    save_to_disk rows that link files), else its row's bytes in the train split's arrow
    files (ids ``row:I``, or the row's stored path)."""
    root, rate = Path(info["source"]), int(info["sample_rate"])
    if (root / sample_id).is_file():
        return load_audio(root / sample_id, sample_rate=rate)
    ids, cells = _train_cells(str(root), info["splits"]["train"], info.get("audio_column"))
    i = int(sample_id[4:]) if sample_id.startswith("row:") else ids.index(sample_id)
    return _decode(cells[i]["bytes"], rate, f"sample {sample_id!r} of '{root}'")


@functools.lru_cache(maxsize=2)
def _train_cells(root: str, split: str, audio_column: str | None
                 ) -> tuple[list[str | None], list[dict[str, Any]]]:
    """The (undecoded) audio cells of a save_to_disk split and their stored paths."""
    from datasets import Audio

    ds = _load_from_disk(Path(root))[split]
    audio = audio_column or next(c for c, f in ds.features.items() if isinstance(f, Audio))
    cells = list(ds.cast_column(audio, Audio(decode=False))[audio])
    return [c["path"] for c in cells], cells
