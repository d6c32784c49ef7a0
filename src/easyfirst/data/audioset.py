"""AudioSet (Gemmeke et al., 2017) from a local download: 527 sound classes, multi-label.

Layout (the official files; never downloads)::

    root/class_labels_indices.csv       index,mid,display_name   (names may hold quoted commas)
    root/balanced_train_segments.csv    # 3 comment lines, then one segment per row:
    root/unbalanced_train_segments.csv  YTID, start_seconds, end_seconds, "mid,mid,..."
    root/eval_segments.csv
    root/audio/**                       the downloaded clips (or ``clips=PATH``), any subfolders

Clip files are found by name, whatever downloader wrote them. The folder is searched once,
recursively, and indexed by file stem; a segment ``YTID, 30.000, 40.000`` matches any of

- ``YTID.ext``                          (plain)
- ``YYTID.ext``                         (``Y`` prefix: PANNs' ``audioset_tagging_cnn``)
- ``[Y]YTID_30.ext``, ``[Y]YTID_30.000.ext``          (start)
- ``[Y]YTID_30_40.ext``, ``[Y]YTID_30.000_40.000.ext`` (start and end; DCASE/DESED style)

with times written as in the CSV, with 3 or 1 decimals, or as integers when whole, and
``ext`` one of ``wav flac ogg opus mp3`` (what ``soundfile``/libsndfile reads; MP3 and Opus
need libsndfile >= 1.1 / 1.0.29, as in the soundfile wheels; M4A/WebM/AAC are not read:
convert them). Listed clips that are not found (or are 0-byte files) are counted, written to
a segments CSV in the official format (so a downloader can fetch them), reported in one line
and in ``bundle.info["missing"]``, and skipped; a CSV with no clip found is refused.
"""

from __future__ import annotations

import csv
import hashlib
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import soundfile as sf

from easyfirst.atomic import atomic_write_text
from easyfirst.audio.cache import FeatureSpec, default_cache_dir
from easyfirst.data.audio_splits import Features, audio_split, bundle_info
from easyfirst.data.base import ArraySplit, DatasetBundle
from easyfirst.data.labels import check_disjoint
from easyfirst.data.registry import register_dataset
from easyfirst.errors import InputError, MissingFileError

CLASS_TABLE = "class_labels_indices.csv"
AUDIO_EXTS = (".wav", ".flac", ".ogg", ".opus", ".mp3")
NAME_SCHEMES = "[Y]YTID, [Y]YTID_START, [Y]YTID_START_END"
TRAIN_CSV, TEST_CSV = "balanced_train_segments.csv", "eval_segments.csv"
DEFAULTS: dict[str, Any] = {"train": TRAIN_CSV, "test": TEST_CSV, "dev_fraction": 0.1}


class Segment(NamedTuple):
    """One row of a segments CSV: ``start``/``end`` as written there (e.g. ``"30.000"``)."""

    ytid: str
    start: str
    end: str
    mids: tuple[str, ...]
    line: int

    def row(self) -> str:
        """The row in the official format: ``YTID, 30.000, 40.000, "/m/a,/m/b"``."""
        return f'{self.ytid}, {self.start}, {self.end}, "{",".join(self.mids)}"'


def read_class_table(path: Path) -> tuple[list[str], list[str]]:
    """``(mids, display names)`` of ``class_labels_indices.csv``, in ``index`` order.

    Raises:
        FileNotFoundError: no such file.
        ValueError: missing columns, or indices that are not ``0..C-1`` (names the line).
    """
    if not path.is_file():
        raise MissingFileError(
            f"No {path.name} in '{path.parent}'; expected the AudioSet layout ({CLASS_TABLE}, "
            f"balanced_train_segments.csv, eval_segments.csv, audio/): pass its folder as root."
        )
    with open(path, newline="") as f:
        reader = csv.DictReader(f, skipinitialspace=True)
        if not {"index", "mid", "display_name"} <= set(reader.fieldnames or []):
            raise InputError(f"{path}: expected a header 'index,mid,display_name', got "
                             f"{reader.fieldnames}; use the official {CLASS_TABLE}.")
        rows = [(reader.line_num, r) for r in reader]
    table: dict[int, tuple[str, str]] = {}
    for line, r in rows:
        try:
            index = int(r["index"])
        except (TypeError, ValueError):
            index = -1
        if not 0 <= index < len(rows) or index in table or not (r["mid"] or "").strip():
            raise InputError(f"{path.name} line {line}: expected a unique index in "
                             f"0..{len(rows) - 1} and a mid, got {r}; use the official "
                             f"{CLASS_TABLE}.")
        table[index] = (r["mid"].strip(), (r["display_name"] or "").strip())
    mids, names = zip(*(table[i] for i in range(len(rows))), strict=True) if rows else ((), ())
    return list(mids), list(names)


def _segment(path: Path, line: int, row: list[str], known: Mapping[str, int]) -> Segment:
    expected = 'YTID, start_seconds, end_seconds, "mid,mid,..."'
    if len(row) != 4 or not row[0].strip():
        raise InputError(f"{path.name} line {line}: expected {expected}, got {row}; fix or "
                         f"remove the row.")
    ytid, start, end = (c.strip() for c in row[:3])
    try:
        float(start), float(end)
    except ValueError:
        raise InputError(f"{path.name} line {line}: start/end seconds {start!r}, {end!r} are "
                         f"not numbers; expected {expected}.") from None
    mids = tuple(dict.fromkeys(m.strip() for m in row[3].split(",") if m.strip()))
    if not mids:
        raise InputError(f"{path.name} line {line}: segment {ytid} has no label; expected "
                         f"{expected}.")
    for mid in mids:
        if mid not in known:
            raise InputError(f"{path.name} line {line}: label {mid!r} of segment {ytid} is not "
                             f"in {CLASS_TABLE}; use the class table that matches the CSV.")
    return Segment(ytid, start, end, mids, line)


def read_segments(path: Path, known: Mapping[str, int]) -> list[Segment]:
    """The segments of an AudioSet CSV; ``#`` lines are comments.

    Args:
        path: e.g. ``root/balanced_train_segments.csv``.
        known: the class MIDs (``{mid: index}``); every label must be one.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a malformed row, an unknown MID or a YTID listed twice (names the line).
    """
    if not path.is_file():
        raise MissingFileError(f"No {path.name} in '{path.parent}'; download the AudioSet "
                               f"segment lists there or pass the file name (train=/test=).")
    out: list[Segment] = []
    seen: dict[str, int] = {}
    with open(path, newline="") as f:
        for line, text in enumerate(f, start=1):
            if not text.strip() or text.lstrip().startswith("#"):
                continue
            seg = _segment(path, line, next(csv.reader([text], skipinitialspace=True)), known)
            if seg.ytid in seen:
                raise InputError(f"{path.name} line {line}: segment {seg.ytid} is already listed "
                                 f"on line {seen[seg.ytid]}; remove one row.")
            seen[seg.ytid] = line
            out.append(seg)
    return out


def index_clips(clips: Path) -> dict[str, list[str]]:
    """``{file stem: [paths relative to clips (POSIX)]}`` of every audio file under ``clips``."""
    index: dict[str, list[str]] = {}
    for folder, dirs, files in os.walk(clips):
        dirs.sort()
        for name in sorted(files):
            stem, ext = os.path.splitext(name)
            if ext.lower() in AUDIO_EXTS:
                rel = Path(folder, name).relative_to(clips).as_posix()
                index.setdefault(stem, []).append(rel)
    return index


def _times(value: str) -> list[str]:
    v = float(value)
    out = [value, f"{v:.3f}", f"{v:.1f}"]
    return out + [str(int(v))] if v.is_integer() else out


def clip_stems(seg: Segment) -> list[str]:
    """The file stems a segment's clip may have (see the module docstring), most usual first."""
    stems = [seg.ytid]
    stems += [f"{seg.ytid}_{s}" for s in _times(seg.start)]
    stems += [f"{seg.ytid}_{s}_{e}" for s in _times(seg.start) for e in _times(seg.end)]
    return list(dict.fromkeys(p + s for p in ("", "Y") for s in stems))


def _readable(ext: str) -> bool:
    if ext == ".mp3":
        return "MP3" in sf.available_formats()
    return ext != ".opus" or "OPUS" in sf.available_subtypes("OGG")


def find_clip(seg: Segment, index: Mapping[str, list[str]], clips: Path, source: str
              ) -> str | None:
    """The clip of ``seg`` (relative to ``clips``), or None when absent or 0 bytes long.

    Raises:
        ValueError: two files match the segment, or its format cannot be read here.
    """
    found = sorted({rel for stem in clip_stems(seg) for rel in index.get(stem, ())
                    if (clips / rel).stat().st_size > 0})
    if len(found) > 1:
        raise InputError(f"{source} line {seg.line}: segment {seg.ytid} matches {len(found)} "
                         f"files under '{clips}' ({', '.join(found)}); keep one of them.")
    if found and not _readable(Path(found[0]).suffix.lower()):
        raise InputError(f"'{clips / found[0]}': this soundfile/libsndfile "
                         f"({sf.__libsndfile_version__}) cannot read {Path(found[0]).suffix} "
                         f"files; convert the clips to FLAC or WAV, or upgrade soundfile.")
    return found[0] if found else None


def in_dev(ytid: str, dev_fraction: float) -> bool:
    """Whether a training segment goes to dev: the first 8 bytes of ``sha256(YTID)``, as a
    big-endian integer, are below ``dev_fraction * 2**64``."""
    return int.from_bytes(hashlib.sha256(ytid.encode()).digest()[:8], "big") < (
        dev_fraction * 2.0**64)


def _report_missing(missing: list[Segment], listed: int, source: str, clips: Path,
                    report_dir: Path) -> dict[str, Any]:
    """Write the missing segments as a segments CSV; ``{"count", "listed", "file"}``."""
    tag = hashlib.sha256(f"{clips.resolve()}|{source}".encode()).hexdigest()[:10]
    path = report_dir / f"audioset-missing-{Path(source).stem}-{tag}.csv"
    if not missing:
        path.unlink(missing_ok=True)
        return {"count": 0, "listed": listed, "file": None}
    header = (f"# segments listed in {source} whose clip is not under {clips} "
              f"({len(missing)} of {listed}; names tried: {NAME_SCHEMES})\n"
              f"# YTID, start_seconds, end_seconds, positive_labels\n")
    atomic_write_text(path, header + "".join(s.row() + "\n" for s in missing))
    return {"count": len(missing), "listed": listed, "file": str(path)}


def find_clips(segments: list[Segment], source: str, clips: Path, index: Mapping[str, list[str]],
               report_dir: Path, progress: bool) -> tuple[dict[str, tuple[Segment, str]],
                                                          dict[str, Any]]:
    """``({YTID: (segment, clip)} of the found clips, missing report)``; refuses none found."""
    found: dict[str, tuple[Segment, str]] = {}
    missing: list[Segment] = []
    for seg in segments:
        rel = find_clip(seg, index, clips, source)
        if rel is None:
            missing.append(seg)
        else:
            found[seg.ytid] = (seg, rel)
    report = _report_missing(missing, len(segments), source, clips, report_dir)
    if progress:
        tail = f"{len(missing)} missing, listed in {report['file']}" if missing else "none missing"
        print(f"audioset: found {len(found)} of {len(segments)} clips listed in {source}; {tail}",
              file=sys.stderr)
    if not found:
        raise MissingFileError(
            f"audioset: none of the {len(segments)} clips listed in {source} is under '{clips}' "
            f"({sum(map(len, index.values()))} audio files there; names tried: {NAME_SCHEMES}, "
            f"ext {'/'.join(e[1:] for e in AUDIO_EXTS)}); download them or pass clips=PATH."
        )
    return found, report


def _split(clips: Path, table: Mapping[str, tuple[Segment, str]], mids: list[str],
           spec: FeatureSpec, **cache: Any) -> ArraySplit:
    ytids = sorted(table)
    return audio_split(clips, [table[y][1] for y in ytids], [table[y][0].mids for y in ytids],
                       mids, spec, ids=ytids, **cache)


def _name(options: Mapping[str, Any]) -> str:
    changed = [f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
               for k, v in options.items() if v != DEFAULTS[k]]
    return "audioset" + (":" + ",".join(changed) if changed else "")


@register_dataset("audioset")
def load_audioset(
    root: str | Path,
    *,
    clips: str | Path | None = None,
    train: str = TRAIN_CSV,
    test: str | None = TEST_CSV,
    dev_fraction: float = 0.1,
    features: Features = "panns16k",
    sample_rate: int | None = None,
    duration: float = 10.0,
    cache_dir: str | Path | None = None,
    report_dir: str | Path | None = None,
    progress: bool = True,
    chunk_size: int | None = None,
) -> DatasetBundle:
    """AudioSet tagging: C = 527 classes (the rows of ``class_labels_indices.csv``), multi-hot.

    Splits: test = the ``test`` CSV (``eval_segments.csv``); dev = the training segments
    whose ``sha256(YTID)`` falls in the lowest ``dev_fraction`` of its range (no RNG: the same
    segments in every run and download); train = the rest. Only found clips are used (see the
    module docstring for the file names searched). Ids are YTIDs, rows sorted by them.

    Args:
        root: folder holding the class table and segment CSVs (layout in the module docstring).
        clips: folder of the audio clips (searched recursively); default ``root/audio``.
        train: training segment list, e.g. ``"unbalanced_train_segments.csv"`` (about 2 M).
        test: test segment list, or ``None`` for no test split.
        dev_fraction: share of the training segments moved to dev, in [0, 1).
        features, sample_rate, cache_dir, progress, chunk_size: as in
            :func:`easyfirst.data.folder.load_folder`.
        duration: clip length in seconds (10 s segments: inputs ``(N, 1, 64, 1001)`` with
            ``panns16k``); shorter clips are zero-padded.
        report_dir: where the missing-clip lists go; default the feature cache folder.

    Returns:
        Bundle ``audioset`` (options that differ from the defaults are appended, e.g.
        ``audioset:train=unbalanced_train_segments.csv``) with float32 ``(N, 527)`` targets;
        ``info["missing"]`` is ``{csv name: {"count", "listed", "file"}}``, one per CSV
        (``file`` is the missing-segments CSV, ``None`` when nothing is missing).

    Raises:
        FileNotFoundError: a missing table, CSV or clips folder, or a CSV with no clip found.
        ValueError: a malformed row, an unknown MID, a YTID in two CSVs or listed twice, two
            files for one segment, or an unreadable format (each names the line or file).
    """
    if not 0.0 <= dev_fraction < 1.0:
        raise InputError(f"Expected 0 <= dev_fraction < 1, got {dev_fraction}.")
    dev_fraction = float(dev_fraction)
    root = Path(root).expanduser()
    mids, names = read_class_table(root / CLASS_TABLE)
    known = {m: i for i, m in enumerate(mids)}
    folder = root / "audio" if clips is None else Path(clips).expanduser()
    if not folder.is_dir():
        raise MissingFileError(f"AudioSet clips folder '{folder}' is not a directory; put the "
                               f"clips under root/audio or pass clips=PATH.")
    sources = {"train": train, **({"test": test} if test else {})}
    listed = {s: read_segments(root / csv_name, known) for s, csv_name in sources.items()}
    check_disjoint({s: [seg.ytid for seg in segs] for s, segs in listed.items()})
    index = index_clips(folder)
    reports = Path(report_dir or cache_dir or default_cache_dir()).expanduser()
    found: dict[str, dict[str, tuple[Segment, str]]] = {}
    missing: dict[str, Any] = {}
    for s, csv_name in sources.items():
        found[s], missing[csv_name] = find_clips(listed[s], csv_name, folder, index, reports,
                                                 progress)
    groups = {"train": {y: v for y, v in found["train"].items() if not in_dev(y, dev_fraction)},
              "dev": {y: v for y, v in found["train"].items() if in_dev(y, dev_fraction)},
              "test": found.get("test", {})}
    if not groups["train"]:
        raise InputError(f"audioset: dev_fraction={dev_fraction} moved all {len(found['train'])}"
                         f" training clips to dev; lower dev_fraction.")
    spec = FeatureSpec.resolve(features, duration=duration, sample_rate=sample_rate)
    out = {g: _split(folder, t, mids, spec, name=f"audioset-{g}", cache_dir=cache_dir,
                     progress=progress, chunk_size=chunk_size) if t else None
           for g, t in groups.items()}
    assert out["train"] is not None
    rule = (f"test: {test}; dev: segments of {train} with sha256(YTID)[:8]/2^64 < {dev_fraction}; "
            f"train: the rest; only clips found on disk")
    info = bundle_info(root, spec, train=train, test=test, dev_fraction=dev_fraction,
                       split_rule=rule, missing=missing)
    return DatasetBundle(_name({"train": train, "test": test, "dev_fraction": dev_fraction}),
                         out["train"], out["dev"], out["test"], names, info=info)
