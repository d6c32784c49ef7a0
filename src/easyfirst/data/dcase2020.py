"""DCASE 2020 Task 1A (TAU Urban Acoustic Scenes 2020 Mobile) from a local copy.

Layout (never downloads)::

    root/audio/SCENE-CITY-LOCATION-SEGMENT-DEVICE.wav      10 s clips, 44.1 kHz
    root/evaluation_setup/fold1_train.csv                  filename<TAB>scene_label (header)
    root/evaluation_setup/fold1_evaluate.csv               filename<TAB>scene_label (header)

``filename`` is relative to ``root`` (``audio/airport-lisbon-1000-40000-a.wav``).
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from pathlib import Path

from easyfirst.audio.cache import FeatureSpec
from easyfirst.data.audio_splits import Features, audio_split, bundle_info
from easyfirst.data.base import DatasetBundle
from easyfirst.data.labels import (
    check_disjoint,
    check_known_labels,
    read_label_table,
    sorted_labels,
)
from easyfirst.data.registry import register_dataset
from easyfirst.errors import InputError, MissingFileError

SETUP = "evaluation_setup"


def recording_location(rel: str) -> str:
    """``SCENE-CITY-LOCATION`` of a Task 1A file name: the unit that must not leak across splits.

    Raises:
        ValueError: the name does not follow ``SCENE-CITY-LOCATION-SEGMENT-DEVICE.wav``.
    """
    parts = Path(rel).stem.split("-")
    if len(parts) != 5:
        raise InputError(
            f"DCASE file '{rel}' does not follow SCENE-CITY-LOCATION-SEGMENT-DEVICE.wav (e.g. "
            f"airport-lisbon-1000-40000-a.wav); the dev split needs the location: rename it."
        )
    return "-".join(parts[:3])


def dev_locations(train: dict[str, str], dev_fraction: float) -> set[str]:
    """Per scene, the ``ceil(dev_fraction * L)`` of its L training locations with the
    smallest SHA-256 of the location name (none when a scene has a single location)."""
    by_scene: dict[str, set[str]] = defaultdict(set)
    for rel, scene in train.items():
        by_scene[scene].add(recording_location(rel))
    chosen: set[str] = set()
    for locations in by_scene.values():
        if len(locations) < 2:
            continue
        ranked = sorted(locations, key=lambda s: hashlib.sha256(s.encode()).hexdigest())
        chosen.update(ranked[: math.ceil(dev_fraction * len(locations))])
    return chosen


@register_dataset("dcase2020")
def load_dcase2020(
    root: str | Path,
    *,
    dev_fraction: float = 0.1,
    features: Features = "panns32k",
    sample_rate: int | None = None,
    duration: float = 10.0,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    chunk_size: int | None = None,
) -> DatasetBundle:
    """DCASE 2020 Task 1A: 10 acoustic scenes; test = ``fold1_evaluate.csv``.

    Dev is carved from ``fold1_train.csv`` by recording location so that no location is in
    both train and dev: per scene, the ``ceil(dev_fraction * L)`` of its L locations
    (``SCENE-CITY-LOCATION``) with the smallest SHA-256 of that name go to dev.

    Args:
        root: dataset folder (holds ``audio/`` and ``evaluation_setup/``).
        dev_fraction: share of each scene's training locations moved to dev, in [0, 1).
        features, sample_rate, duration, cache_dir, progress, chunk_size: as in
            :func:`easyfirst.data.folder.load_folder` (defaults ``panns32k``, 10 s: inputs
            ``(N, 1, 64, 1001)``; 44.1 kHz files are resampled to 32 kHz once, at caching).

    Raises:
        FileNotFoundError: a missing setup file, or a listed file that does not exist.
        ValueError: an evaluate label unknown to train, or an unparsable file name.
    """
    if not 0.0 <= dev_fraction < 1.0:
        raise InputError(f"Expected 0 <= dev_fraction < 1, got {dev_fraction}.")
    root = Path(root).expanduser()
    paths = {s: root / SETUP / f"fold1_{s}.csv" for s in ("train", "evaluate")}
    for path in paths.values():
        if not path.is_file():
            raise MissingFileError(
                f"No {path.relative_to(root)} in '{root}'; expected the DCASE 2020 Task 1A "
                f"development layout (audio/, evaluation_setup/): pass its folder as root."
            )
    tables = {s: read_label_table(p, root, file_col="filename", label_col="scene_label",
                                  delimiter="\t") for s, p in paths.items()}
    class_names = sorted_labels(tables["train"].values())
    check_known_labels(tables["evaluate"], class_names, paths["evaluate"].name)
    held_out = dev_locations(tables["train"], dev_fraction)
    train = tables["train"]
    groups = {
        "train": {f: y for f, y in train.items() if recording_location(f) not in held_out},
        "dev": {f: y for f, y in train.items() if recording_location(f) in held_out},
        "test": tables["evaluate"],
    }
    check_disjoint(groups)
    spec = FeatureSpec.resolve(features, duration=duration, sample_rate=sample_rate)
    out = {
        g: audio_split(root, sorted(t), [t[f] for f in sorted(t)], class_names, spec,
                       name=f"dcase2020-{g}", cache_dir=cache_dir, progress=progress,
                       chunk_size=chunk_size) if t else None
        for g, t in groups.items()
    }
    if out["train"] is None:
        raise InputError(f"fold1_train.csv in '{root}' lists no files; check the dataset.")
    rule = (f"test: fold1_evaluate.csv; dev: per scene ceil({dev_fraction} x locations) of "
            f"fold1_train.csv by smallest sha256(SCENE-CITY-LOCATION); train: the rest")
    return DatasetBundle("dcase2020", out["train"], out["dev"], out["test"], class_names,
                         info=bundle_info(root, spec, split_rule=rule))
