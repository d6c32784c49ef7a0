"""Google Speech Commands v0.02 from a local copy (never downloads).

Layout::

    root/WORD/*.wav                   1 s, 16 kHz clips, one folder per word (35 in v0.02)
    root/validation_list.txt          'WORD/FILE.wav' per line -> dev
    root/testing_list.txt             'WORD/FILE.wav' per line -> test
    root/_background_noise_/*.wav     long noise recordings (used for _silence_)

Everything in a word folder that is in neither list is train.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from easyfirst.audio.cache import FeatureSpec, build_feature_cache, file_signature
from easyfirst.audio.io import AudioFileNotFoundError, audio_info, load_audio
from easyfirst.data.audio_splits import Features, bundle_info
from easyfirst.data.base import ArraySplit, DatasetBundle
from easyfirst.data.registry import register_dataset
from easyfirst.errors import InputError, MissingFileError

KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
UNKNOWN, SILENCE = "_unknown_", "_silence_"
NOISE_DIR = "_background_noise_"
# Silence clips of a split are cut from this part of every noise recording, so no noise
# sample is in two splits.
SILENCE_REGIONS = {"train": (0.0, 0.8), "dev": (0.8, 0.9), "test": (0.9, 1.0)}
TASKS = ("35", "12")


def _read_list(root: Path, name: str) -> set[str]:
    path = root / name
    if not path.is_file():
        raise MissingFileError(
            f"No {name} in '{root}'; expected the Speech Commands v0.02 layout (word folders, "
            f"validation_list.txt, testing_list.txt): pass the extracted dataset folder as root."
        )
    out = set()
    for line_no, line in enumerate(path.read_text().splitlines(), start=1):
        rel = line.strip()
        if not rel:
            continue
        if not (root / rel).is_file():
            raise AudioFileNotFoundError(
                f"{name} line {line_no}: audio file '{rel}' not found under '{root}'; restore "
                f"the file or remove the line."
            )
        out.add(rel)
    return out


def _silence_plan(
    noise_files: list[Path], split: str, count: int, sample_rate: int, num_samples: int
) -> list[tuple[Path, int]]:
    """``count`` (noise file, start sample) pairs: round-robin over files, evenly spaced."""
    lo, hi = SILENCE_REGIONS[split]
    per_file = [count // len(noise_files) + (k < count % len(noise_files))
                for k in range(len(noise_files))]
    plan = []
    for path, n in zip(noise_files, per_file, strict=True):
        frames, rate = audio_info(path)
        length = frames * sample_rate // rate
        first, last = int(lo * length), max(int(lo * length), int(hi * length) - num_samples)
        for j in range(n):
            plan.append((path, first + (last - first) * j // max(1, n - 1)))
    return plan


@register_dataset("speechcommands")
def load_speechcommands(
    root: str | Path,
    *,
    task: str = "35",
    features: Features = "panns16k",
    sample_rate: int | None = None,
    duration: float = 1.0,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    chunk_size: int | None = None,
) -> DatasetBundle:
    """Speech Commands v0.02 keyword spotting from ``root``.

    Tasks:

    - ``"35"``: one class per word folder (35 in v0.02), sorted by name.
    - ``"12"``: ``yes no up down left right on off stop go`` + ``_unknown_`` (every other
      word, all kept) + ``_silence_``. Each split gets as many silence clips as its average
      keyword class has clips; they are 1 s windows cut deterministically (evenly spaced,
      round-robin over the sorted noise files) from a split-specific part of every
      ``_background_noise_`` recording: train 0-80 %, dev 80-90 %, test 90-100 % of its length.

    Ids are ``WORD/FILE.wav``; silence ids are ``_background_noise_/FILE.wav@START`` (START in
    samples at the feature rate). Rows are sorted by id.

    Args:
        root: extracted dataset folder.
        task: ``"35"`` or ``"12"``.
        features, sample_rate, duration, cache_dir, progress, chunk_size: as in
            :func:`easyfirst.data.folder.load_folder` (``duration`` defaults to 1 s).

    Returns:
        Bundle ``speechcommands:35`` or ``speechcommands:12``, inputs ``(N, 1, 64, 101)`` with
        the default features.

    Raises:
        FileNotFoundError: missing lists, a listed file that does not exist, a missing keyword
            folder (task 12) or no noise files (task 12); each names what to fix.
    """
    if task not in TASKS:
        raise InputError(f"Unknown speechcommands task {task!r}. Available: {', '.join(TASKS)}.")
    root = Path(root).expanduser()
    dev_set = _read_list(root, "validation_list.txt")
    test_set = _read_list(root, "testing_list.txt")
    words = sorted(p.name for p in root.iterdir()
                   if p.is_dir() and not p.name.startswith((".", "_")))
    if task == "12":
        missing = [w for w in KEYWORDS if w not in words]
        if missing:
            raise MissingFileError(
                f"speechcommands task '12' needs word folders {', '.join(KEYWORDS)} in '{root}'; "
                f"missing: {', '.join(missing)}. Check root or use task='35'."
            )
        class_names = [*KEYWORDS, UNKNOWN, SILENCE]
    else:
        class_names = words
    if len(class_names) < 2:
        raise MissingFileError(f"Found {len(words)} word folders in '{root}'; expected 35.")
    items: dict[str, list[tuple[str, str]]] = {"train": [], "dev": [], "test": []}
    for word in words:
        label = word if task == "35" or word in KEYWORDS else UNKNOWN
        for p in sorted((root / word).glob("*.wav")):
            rel = f"{word}/{p.name}"
            group = "test" if rel in test_set else "dev" if rel in dev_set else "train"
            items[group].append((rel, label))
    spec = FeatureSpec.resolve(features, duration=duration, sample_rate=sample_rate)
    noise_files = sorted((root / NOISE_DIR).glob("*.wav"))
    if task == "12" and not noise_files:
        raise MissingFileError(
            f"No {NOISE_DIR}/*.wav in '{root}'; task '12' cuts _silence_ clips from them. "
            f"Restore the folder or use task='35'."
        )
    splits: dict[str, ArraySplit | None] = {}
    for group, rows in items.items():
        silence: list[tuple[Path, int]] = []
        if task == "12":
            n_keyword = sum(label in KEYWORDS for _, label in rows)
            count = max(1, round(n_keyword / len(KEYWORDS))) if rows else 0
            silence = _silence_plan(noise_files, group, count, spec.sample_rate,
                                    spec.num_samples)
        splits[group] = _split(root, rows, silence, class_names, spec, name=f"sc{task}-{group}",
                               cache_dir=cache_dir, progress=progress, chunk_size=chunk_size)
    train = splits["train"]
    if train is None:
        raise MissingFileError(f"No training clips found in '{root}'; check the root folder.")
    rule = ("dev: validation_list.txt; test: testing_list.txt; train: the rest"
            + ("; _silence_ from noise regions train 0-80 %, dev 80-90 %, test 90-100 %"
               if task == "12" else ""))
    return DatasetBundle(f"speechcommands:{task}", train, splits["dev"], splits["test"],
                         class_names, info=bundle_info(root, spec, task=task, split_rule=rule))


def _split(
    root: Path,
    rows: list[tuple[str, str]],
    silence: list[tuple[Path, int]],
    class_names: list[str],
    spec: FeatureSpec,
    **cache: Any,
) -> ArraySplit | None:
    entries: list[tuple[str, str, Path, int | None]] = [
        (rel, label, root / rel, None) for rel, label in rows
    ] + [(f"{NOISE_DIR}/{p.name}@{start}", SILENCE, p, start) for p, start in silence]
    if not entries:
        return None
    entries.sort(key=lambda e: e[0])
    noise: dict[Path, np.ndarray] = {}

    def load(i: int) -> np.ndarray:
        _, _, path, start = entries[i]
        if start is None:
            return load_audio(path, sample_rate=spec.sample_rate)
        if path not in noise:  # a handful of ~1 min recordings: keep them while caching
            noise[path] = load_audio(path, sample_rate=spec.sample_rate)
        return noise[path][start : start + spec.num_samples]

    files = sorted({e[2] for e in entries})
    sources = {"files": file_signature(files, root),
               "rows": [e[0] for e in entries], "silence_regions": SILENCE_REGIONS}
    feats = build_feature_cache(load, len(entries), spec, sources=sources, **cache)
    index = {c: i for i, c in enumerate(class_names)}
    return ArraySplit(feats, np.array([index[e[1]] for e in entries], dtype=np.int64),
                      [e[0] for e in entries])
