"""A sample's audio, to listen to: how each audio dataset gives back the clip of an id.

The feature cache keeps log-Mel features only. To play the samples it shows,
``easyfirst report`` asks the dataset's *clip reader*, registered here under the dataset's
registry name: ``reader(info, sample_id) -> waveform``, where ``info`` is the loaded
bundle's ``info`` (``source``, ``sample_rate``, ``duration`` and the dataset's own facts,
e.g. synthkws' noise ``seed``) and the waveform is mono float32 at ``info["sample_rate"]``,
the signal the features were computed from (before it was cut or padded to the duration).

The sets whose ids are file paths under ``source`` (``FILE_SETS``) read the file
(:func:`file_clip`); synthkws and kwsmix register readers that rebuild their noisy mixtures
with the functions their loaders use; ``hf`` reads the file or the arrow row (``data/hf.py``).
A dataset without a reader (the image sets, audioset, whose ids are YouTube ids) has no clips
to play.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from easyfirst.audio.io import load_audio
from easyfirst.registry import Registry

ClipReader = Callable[[Mapping[str, Any], str], np.ndarray]
CLIPS: Registry[ClipReader] = Registry("clip reader")
register_clips = CLIPS.register


def file_clip(info: Mapping[str, Any], sample_id: str) -> np.ndarray:
    """The file ``info["source"]/sample_id``; an id ``FILE@START`` with no such file (the
    speechcommands silence windows) is the clip-length window of ``FILE`` from sample START."""
    root, rate = Path(info["source"]), int(info["sample_rate"])
    name, _, start = sample_id.rpartition("@")
    if not (root / sample_id).is_file() and name and start.isdigit():
        size = max(1, round(float(info["duration"]) * rate))
        return load_audio(root / name, sample_rate=rate)[int(start):int(start) + size]
    return load_audio(root / sample_id, sample_rate=rate)


FILE_SETS = ("folder", "fsdd", "dcase2020", "speechcommands")
for _name in FILE_SETS:
    register_clips(_name)(file_clip)


def has_clips(dataset: str) -> bool:
    """True when the dataset registered as ``dataset`` can give back its clips."""
    return dataset in CLIPS


def read_clip(dataset: str, info: Mapping[str, Any], sample_id: str) -> np.ndarray:
    """The waveform of ``sample_id`` (module docstring); raises ``AudioError`` naming a file
    that is gone, ``UnknownNameError`` for a dataset without a reader (see :func:`has_clips`)."""
    return CLIPS.get(dataset)(info, sample_id)
