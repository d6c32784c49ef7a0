"""Feature cache: fixed-size log-Mel features of many clips in one resumable ``.npy`` memmap.

A cache file holds ``(N, 1, M, L)`` float32 rows, row ``i`` computed from clip ``i``: the
waveform is read (and resampled) once, zero-padded at the end or cropped from the start to
``FeatureSpec.num_samples`` and turned into a log-Mel spectrogram. Files are named by a
fingerprint: SHA-256 of the sources (e.g. ``(relative path, size, mtime_ns)`` per file, in
row order), the feature parameters and :data:`FEATURE_VERSION`, so changing any of them gives
a new file and an old one is never read by mistake.

Writing is crash-safe and resumable: rows go into ``<stem>.partial.npy`` chunk by chunk; after
each chunk is flushed, ``<stem>.progress`` records the rows done, so a rerun continues from the
last completed chunk. Only when every row is written and flushed is the file renamed to
``<stem>.npy`` and ``<stem>.complete`` written; a cache without that marker is never trusted.
A file lock (POSIX) lets concurrent processes (e.g. DDP ranks) wait for one writer.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from easyfirst.audio.io import check_audio_file, load_audio
from easyfirst.audio.logmel import LOGMEL_PRESETS, log_mel_spectrogram
from easyfirst.errors import InputError
from easyfirst.monitor.progress import progress_bar

try:  # POSIX only; without it concurrent writers are not serialised
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

FEATURE_VERSION = 1
"""Bump when the waveform -> feature code changes; old caches then stop matching."""

_CHUNK_BYTES = 1 << 24  # waveform bytes (float32) per chunk when ``chunk_size`` is None


def default_cache_dir() -> Path:
    """``$EASYFIRST_CACHE`` if set, else ``~/.cache/easyfirst``."""
    env = os.environ.get("EASYFIRST_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "easyfirst"


@dataclass(frozen=True)
class FeatureSpec:
    """What one cached row is: log-Mel keyword arguments plus a fixed clip duration.

    Attributes:
        logmel: keyword arguments of :func:`~easyfirst.audio.logmel.log_mel_spectrogram`,
            including ``sample_rate``.
        duration: clip length in seconds; every waveform is padded/cropped to it.
    """

    logmel: Mapping[str, Any] = field(hash=False)
    duration: float

    @classmethod
    def resolve(
        cls,
        features: str | Mapping[str, Any],
        *,
        duration: float,
        sample_rate: int | None = None,
    ) -> FeatureSpec:
        """Build from a preset name (``"panns16k"``, ...) or a kwargs mapping.

        Args:
            features: a :data:`LOGMEL_PRESETS` name or log-Mel keyword arguments.
            duration: clip length in seconds (> 0).
            sample_rate: overrides the preset's rate (files are resampled to it).

        Raises:
            ValueError: unknown preset, non-positive duration, or ``f_max`` above Nyquist.
        """
        if isinstance(features, str):
            if features not in LOGMEL_PRESETS:
                raise InputError(
                    f"Unknown features {features!r}. Available: {', '.join(sorted(LOGMEL_PRESETS))}"
                    " (or pass a dict of log_mel_spectrogram keywords)."
                )
            kwargs = dict(LOGMEL_PRESETS[features])
        else:
            kwargs = dict(features)
        if sample_rate is not None:
            kwargs["sample_rate"] = int(sample_rate)
        kwargs.setdefault("sample_rate", 16000)
        f_max = kwargs.get("f_max", 8000.0)
        if f_max is not None and f_max > kwargs["sample_rate"] / 2:
            raise InputError(
                f"features {features if isinstance(features, str) else 'dict'!r} have f_max "
                f"{f_max:g} Hz, above the Nyquist frequency of sample_rate="
                f"{kwargs['sample_rate']}; pick a matching preset (panns8k/16k/32k) or lower f_max."
            )
        if not duration > 0:
            raise InputError(f"Expected duration > 0 seconds, got {duration!r}.")
        return cls(kwargs, float(duration))

    @property
    def sample_rate(self) -> int:
        return int(self.logmel["sample_rate"])

    @property
    def num_samples(self) -> int:
        """Waveform length ``T = round(duration * sample_rate)``."""
        return max(1, round(self.duration * self.sample_rate))

    @property
    def shape(self) -> tuple[int, int, int]:
        """Row shape ``(1, M, L)``."""
        m, frames = self.compute(np.zeros((1, self.num_samples), np.float32)).shape[-2:]
        return (1, int(m), int(frames))

    def to_json(self) -> dict[str, Any]:
        """JSON-able description (dtypes as strings) for fingerprints and ``info``."""
        return {
            "logmel": {k: v if isinstance(v, (int, float, str, type(None))) else str(v)
                       for k, v in sorted(self.logmel.items())},
            "duration": self.duration,
        }

    def compute(self, waveforms: np.ndarray) -> np.ndarray:
        """Features of ``waveforms (B, T)`` as float32 ``(B, 1, M, L)``."""
        x = torch.from_numpy(np.ascontiguousarray(waveforms, dtype=np.float32))
        with torch.no_grad():
            feats = log_mel_spectrogram(x, **self.logmel)
        return feats.unsqueeze(1).numpy()


def fix_length(waveform: np.ndarray, num_samples: int) -> np.ndarray:
    """Zero-pad at the end or keep the first ``num_samples`` samples of ``waveform (T,)``."""
    if len(waveform) >= num_samples:
        return waveform[:num_samples]
    return np.pad(waveform, (0, num_samples - len(waveform)))


def file_signature(paths: Sequence[str | Path], root: str | Path) -> list[list[Any]]:
    """``[relative path, size, mtime_ns]`` per file, in the given order (cheap; no reading)."""
    out = []
    for p in paths:
        check_audio_file(p)
        st = os.stat(p)
        out.append([Path(p).relative_to(root).as_posix(), st.st_size, st.st_mtime_ns])
    return out


def content_signature(paths: Sequence[str | Path], root: str | Path) -> list[list[str]]:
    """``[relative path, sha256 of content]`` per file: for small shipped files whose mtime
    changes on every install."""
    return [
        [Path(p).relative_to(root).as_posix(), hashlib.sha256(Path(p).read_bytes()).hexdigest()]
        for p in paths
    ]


def cache_key(sources: Any, spec: FeatureSpec) -> str:
    """SHA-256 hex of the JSON of ``sources``, the feature spec and :data:`FEATURE_VERSION`."""
    blob = json.dumps(
        {"version": FEATURE_VERSION, "features": spec.to_json(), "sources": sources},
        sort_keys=True, separators=(",", ":"), default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    if fcntl is None:  # pragma: no cover
        yield
        return
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj))
    os.replace(tmp, path)


def _open_complete(final: Path, marker: Path, shape: tuple[int, ...], key: str) -> np.memmap | None:
    """The finished cache, or None when it is absent, unmarked or does not match."""
    if not (final.is_file() and marker.is_file()):
        return None
    try:
        mark = json.loads(marker.read_text())
        mm = np.load(final, mmap_mode="r")
    except (OSError, ValueError):
        return None
    if mark.get("key") != key or tuple(mm.shape) != shape or mm.dtype != np.float32:
        return None
    return mm


def _open_partial(partial: Path, progress: Path, shape: tuple[int, ...], key: str
                  ) -> tuple[np.memmap, int]:
    """Resume a partial file when its progress mark matches, else start a fresh one."""
    if partial.is_file() and progress.is_file():
        try:
            mark = json.loads(progress.read_text())
            mm = np.lib.format.open_memmap(partial, mode="r+")
            if mark.get("key") == key and tuple(mm.shape) == shape and mm.dtype == np.float32:
                return mm, int(mark["rows_done"])
            del mm
        except (OSError, ValueError, KeyError, TypeError):
            pass
    progress.unlink(missing_ok=True)
    mm = np.lib.format.open_memmap(partial, mode="w+", dtype=np.float32, shape=shape)
    _write_json(progress, {"key": key, "rows_done": 0})
    return mm, 0


def build_feature_cache(
    load: Callable[[int], np.ndarray],
    num_rows: int,
    spec: FeatureSpec,
    *,
    sources: Any,
    name: str = "features",
    cache_dir: str | Path | None = None,
    chunk_size: int | None = None,
    progress: bool = True,
) -> np.memmap:
    """Compute (or reuse) the features of ``num_rows`` clips as a read-only memmap.

    Args:
        load: ``load(i) -> waveform (T_i,)`` float32 at ``spec.sample_rate``; called once per
            row, in row order, only for rows not yet cached.
        num_rows: ``N``.
        spec: feature parameters and clip duration.
        sources: JSON-able description of the inputs (e.g. :func:`file_signature`) that
            identifies them; part of the fingerprint.
        name: readable file-name prefix (``"fsdd-train"``).
        cache_dir: directory; defaults to :func:`default_cache_dir`.
        chunk_size: rows per chunk (progress mark granularity); default keeps about 16 MB
            of waveforms in memory.
        progress: show progress while computing (a bar on a terminal, else plain lines).

    Returns:
        ``np.memmap`` of shape ``(N, 1, M, L)``, float32, opened read-only.

    Example:
        >>> import tempfile
        >>> spec = FeatureSpec.resolve("panns16k", duration=0.5)
        >>> mm = build_feature_cache(lambda i: np.zeros(100, np.float32), 3, spec,
        ...                          sources=["zeros"], cache_dir=tempfile.mkdtemp(),
        ...                          progress=False)
        >>> mm.shape
        (3, 1, 64, 51)
    """
    if num_rows < 1:
        raise InputError(f"Expected at least one row to cache, got {num_rows}; check the inputs.")
    key = cache_key(sources, spec)
    shape = (num_rows, *spec.shape)
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    stem = f"{name}-{key[:20]}"
    final, marker = root / f"{stem}.npy", root / f"{stem}.complete"
    found = _open_complete(final, marker, shape, key)
    if found is not None:
        return found
    with _locked(root / f"{stem}.lock"):
        found = _open_complete(final, marker, shape, key)  # another process may have finished
        if found is not None:
            return found
        marker.unlink(missing_ok=True)
        partial, mark = root / f"{stem}.partial.npy", root / f"{stem}.progress"
        mm, done = _open_partial(partial, mark, shape, key)
        if chunk_size is None:
            chunk_size = max(1, min(256, _CHUNK_BYTES // (4 * spec.num_samples)))
        with progress_bar(total=num_rows, initial=done, disable=not progress, desc=name,
                          unit="clip") as bar:
            for start in range(done, num_rows, chunk_size):
                stop = min(start + chunk_size, num_rows)
                wave = np.stack([fix_length(load(i), spec.num_samples) for i in range(start, stop)])
                mm[start:stop] = spec.compute(wave)
                mm.flush()
                _write_json(mark, {"key": key, "rows_done": stop})
                bar.update(stop - start)
        mm.flush()
        del mm
        os.replace(partial, final)
        _write_json(marker, {"key": key, "shape": list(shape), "features": spec.to_json(),
                             "feature_version": FEATURE_VERSION})
        mark.unlink(missing_ok=True)
    found = _open_complete(final, marker, shape, key)
    if found is None:  # pragma: no cover - only if the file changed under us
        raise RuntimeError(f"Feature cache {final} did not verify after writing; delete it, rerun.")
    return found


def cached_audio_features(
    paths: Sequence[str | Path],
    spec: FeatureSpec,
    *,
    root: str | Path,
    name: str = "features",
    cache_dir: str | Path | None = None,
    chunk_size: int | None = None,
    progress: bool = True,
    content_hash: bool = False,
    extra: Any = None,
) -> np.memmap:
    """Features of audio files, row ``i`` from ``paths[i]`` (give them in a stable order).

    Args:
        paths: audio files under ``root``, shape (N,).
        spec: feature parameters and clip duration.
        root: directory the fingerprint's relative paths are taken from.
        name, cache_dir, chunk_size, progress: as in :func:`build_feature_cache`.
        content_hash: fingerprint by content (small shipped files) instead of size and mtime.
        extra: more JSON-able fingerprint input (e.g. a noise seed).

    Returns:
        ``np.memmap (N, 1, M, L)`` float32, read-only.

    Raises:
        AudioError: one line naming the first file that cannot be read.
    """
    signature = content_signature(paths, root) if content_hash else file_signature(paths, root)
    return build_feature_cache(
        lambda i: load_audio(paths[i], sample_rate=spec.sample_rate),
        len(paths), spec, sources={"files": signature, "extra": extra}, name=name,
        cache_dir=cache_dir, chunk_size=chunk_size, progress=progress,
    )
