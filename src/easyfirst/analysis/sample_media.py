"""The report's files to look at and listen to: a thumbnail and a short clip per sample.

:meth:`SampleMedia.open` loads the dataset of an ``easyfirst score`` folder again
(``run.json``'s ``config.dataset`` and ``dataset_options``; the features come from the
feature cache) and uses it only when it is the data that was scored (same fingerprint).
Then, for a training-split row index ``i``:

* :meth:`~SampleMedia.thumbnail`: ``OUT/report_samples/{tag}{i}.png``, a small PNG of the
  cached log-Mel features cropped to the clip's frames (audio sets) or of the image
  (``plots.thumbnail``);
* :meth:`~SampleMedia.clip`: ``OUT/report_samples/{tag}{i}.mp3``, the clip the features were
  computed from (``easyfirst.data.clips``), mono, resampled to at most 16 kHz, the first
  4 s, scaled down only where it would clip; MP3 where libsndfile writes it (about 5 KB a
  second), else 16-bit WAV (32 KB a second).

Both return the path relative to ``OUT`` (what the report links) or None;
:meth:`~SampleMedia.notes` says in one line each why something is missing and what was
written. The folder stays beside the report, so the report folder is self-contained.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from easyfirst.analysis import plots
from easyfirst.audio.io import AudioError, resample
from easyfirst.data import DATASETS, DatasetBundle, load_dataset
from easyfirst.data.clips import has_clips, read_clip
from easyfirst.run_folder import read_json

MEDIA_DIR = "report_samples"
MAX_SECONDS = 4.0
MAX_RATE = 16_000
CLIP_FORMAT = (("MP3", "MPEG_LAYER_III", ".mp3") if "MP3" in sf.available_formats()
               else ("WAV", "PCM_16", ".wav"))


def reload_dataset(name: str, options: dict[str, Any]) -> DatasetBundle:
    """``load_dataset(name, **options)`` without progress bars where the loader has them."""
    takes = inspect.signature(DATASETS.get(name)).parameters
    return load_dataset(name, **options, **({"progress": False} if "progress" in takes
                                            and "progress" not in options else {}))


def _scored_bundle(folder: Path) -> tuple[str, DatasetBundle | None, str]:
    """``(dataset name, the scored data loaded again or None, why not)``."""
    run = read_json(folder / "run.json", what="the runs' settings")
    settings = run.get("config") or run.get("settings") or {}  # settings: before v2
    name = str(settings.get("dataset") or "")
    if name not in DATASETS:
        return name, None, f"run.json names no registered dataset (got {name or 'none'!r})"
    options = dict(settings.get("dataset_options") or {})
    noise = run.get("label_noise")  # recorded however it was injected (CLI or Python)
    if isinstance(noise, dict) and "label_noise" not in options:
        options.update(label_noise=noise.get("rate", 0.0), noise_kind=noise.get("kind"),
                       noise_seed=noise.get("seed", 0))
    if options.get("root") and run.get("cwd"):  # a relative --root: where the run was started
        options["root"] = str(Path(run["cwd"]) / Path(options["root"]).expanduser())
    try:
        bundle = reload_dataset(name, options)
    except (OSError, ValueError, KeyError, TypeError, ImportError) as exc:
        line = (str(exc).splitlines() or [type(exc).__name__])[0]
        return name, None, f"loading dataset {name!r} again failed ({line})"
    if bundle.fingerprint != run.get("dataset_fingerprint"):
        return name, None, (f"dataset {name!r} loaded now has fingerprint {bundle.fingerprint}, "
                            f"the scores were made on {run.get('dataset_fingerprint')}: its "
                            "files or options changed")
    return name, bundle, ""


@dataclass
class SampleMedia:
    """Thumbnails and clips of one score folder's training samples (module docstring)."""

    out_dir: Path
    tag: str = ""
    dataset: str = ""
    bundle: DatasetBundle | None = None
    missing: str = ""
    failed: dict[int, str] = field(default_factory=dict)
    sizes: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def open(cls, folder: Path, out_dir: Path, *, tag: str = "") -> SampleMedia:
        """Load ``folder``'s dataset again; remove this tag's files of an earlier report."""
        name, bundle, why = _scored_bundle(folder)
        folder_out = out_dir / MEDIA_DIR
        own = re.compile(rf"{re.escape(tag)}\d+\.(png|mp3|wav)")
        for old in folder_out.glob(f"{tag}*") if folder_out.is_dir() else []:
            if own.fullmatch(old.name):
                old.unlink()
        return cls(out_dir, tag, name, bundle, why)

    @property
    def audio(self) -> bool:
        return self.bundle is not None and "features" in self.bundle.info

    def _path(self, index: int, suffix: str) -> Path:
        return self.out_dir / MEDIA_DIR / f"{self.tag}{index}{suffix}"

    def _done(self, path: Path) -> str:
        self.sizes.setdefault(path.suffix, []).append(path.stat().st_size)
        return path.relative_to(self.out_dir).as_posix()

    def thumbnail(self, index: int) -> str | None:
        """The sample's thumbnail (written once), relative to the report folder."""
        if self.bundle is None:
            return None
        path = self._path(index, ".png")
        if path.is_file():
            return path.relative_to(self.out_dir).as_posix()
        x = np.asarray(self.bundle.train.inputs[index])
        return self._done(plots.thumbnail(x, path, spectrogram=self.audio))

    def clip(self, index: int) -> str | None:
        """The sample's clip (written once), relative to the report folder; None where the
        dataset has no audio or the clip cannot be read (counted in ``notes``)."""
        if (self.bundle is None or not self.audio or not has_clips(self.dataset)
                or index in self.failed):
            return None
        path = self._path(index, CLIP_FORMAT[2])
        if path.is_file():
            return path.relative_to(self.out_dir).as_posix()
        sample_id = self.bundle.train.ids[index]
        try:
            wave = read_clip(self.dataset, self.bundle.info, sample_id)
        except (AudioError, OSError, KeyError) as exc:
            self.failed[index] = f"{sample_id}: {(str(exc).splitlines() or [repr(exc)])[0]}"
            return None
        rate = int(self.bundle.info["sample_rate"])
        wave = wave[: round(MAX_SECONDS * rate)]
        if rate > MAX_RATE:
            wave, rate = resample(wave, rate, MAX_RATE), MAX_RATE
        peak = float(np.max(np.abs(wave), initial=0.0))
        wave = wave / max(1.0, peak / 0.99)
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, wave.astype(np.float32), rate, format=CLIP_FORMAT[0],
                 subtype=CLIP_FORMAT[1])
        return self._done(path)

    def notes(self) -> list[str]:
        """One line each: why there are no thumbnails or players, failed clips, the files."""
        out = []
        if self.bundle is None:
            out.append(f"No thumbnails or players: {self.missing}.")
        elif not self.audio:
            out.append(f"Dataset {self.dataset!r} holds images: thumbnails, no players.")
        elif not has_clips(self.dataset):
            out.append(f"No players: dataset {self.dataset!r} cannot give back its clips "
                       "(no clip reader in easyfirst.data.clips).")
        if self.failed:
            first = next(iter(self.failed.values()))
            out.append(f"No player for {len(self.failed)} sample(s) whose clip could not be "
                       f"read (the dataset's files moved?), e.g. {first}.")
        kinds = {".png": "thumbnails (PNG)", ".mp3": "clips (MP3, mono, <= 16 kHz, <= 4 s)",
                 ".wav": "clips (16-bit WAV, mono, <= 16 kHz, <= 4 s)"}
        files = [f"{len(v)} {kinds[k]}, {sum(v) / 1024:.0f} KB" for k, v in self.sizes.items()]
        if files:
            out.append(f"Files beside this report in {MEDIA_DIR}/: " + "; ".join(files) + ".")
        return out
