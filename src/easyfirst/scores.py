"""``Scores``: per-sample difficulty values, their orderings, and their file format.

File format (``.csv``): a first line ``# {json header}`` then ``index,score,rank`` rows, where
``rank`` is the position in the easy-to-hard order (0 = easiest) under the tie rule recorded
in the header. Files are written atomically and validated on read.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from easyfirst._version import __version__
from easyfirst.atomic import atomic_write_text

FORMAT = "easyfirst.scores"
VERSION = 1
TIE_RULES = ("random", "dataset-order")


def distinct_values(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct finite values and their counts, equal to 12 decimals.

    Seed means of equal counts can differ in the last bit (0.1 + 0.2 != 0.3), so values are
    compared after rounding.
    """
    v = np.asarray(values, dtype=np.float64)
    return np.unique(np.round(v[np.isfinite(v)], 12), return_counts=True)


class ScoresFileError(ValueError):
    """A score file that cannot be used as it is; the message says what to do."""


@dataclass
class Scores:
    """Difficulty scores for N samples of one dataset.

    Args:
        values: (N,) float scores.
        higher_is_easier: direction of ``values``.
        meta: scorer, params, seeds, epochs, dataset_fingerprint, library_version, and the
            tie rule (``tie_break``, ``tie_seed``).

    Example:
        >>> s = Scores(np.array([0.5, 1.0, 0.5, 0.0]), higher_is_easier=True,
        ...            meta={"tie_break": "dataset-order"})
        >>> s.easy_to_hard().tolist()
        [1, 0, 2, 3]
    """

    values: np.ndarray
    higher_is_easier: bool
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float64)
        if self.values.ndim != 1 or self.values.size == 0:
            raise ValueError(
                f"Expected scores of shape (N,) with N >= 1; got shape {self.values.shape}."
            )
        self.meta.setdefault("tie_break", "random")
        self.meta.setdefault("tie_seed", 0)
        if self.meta["tie_break"] not in TIE_RULES:
            raise ValueError(
                f"Unknown tie rule {self.meta['tie_break']!r}. Available: {', '.join(TIE_RULES)}."
            )

    @property
    def num_samples(self) -> int:
        return int(self.values.size)

    @property
    def scorer(self) -> str:
        return str(self.meta.get("scorer", "unknown"))

    @property
    def fingerprint(self) -> str | None:
        fp = self.meta.get("dataset_fingerprint")
        return None if fp is None else str(fp)

    def with_tie_rule(self, tie_break: str, *, seed: int | None = None) -> Scores:
        meta = dict(self.meta, tie_break=tie_break)
        if seed is not None:
            meta["tie_seed"] = int(seed)
        return Scores(self.values.copy(), higher_is_easier=self.higher_is_easier, meta=meta)

    # -- orderings --------------------------------------------------------------------------
    def easy_to_hard(self) -> np.ndarray:
        """Sample indices from easiest to hardest, (N,) int64, ties broken by the stated rule.

        ``tie_break="random"`` (default): ties are ordered by a random permutation seeded with
        ``meta["tie_seed"]``. ``"dataset-order"``: the seed document's rule, lower index first.
        """
        nan = int(np.isnan(self.values).sum())
        if nan:
            raise ValueError(
                f"{nan} of {self.num_samples} scores are NaN (samples never seen in training?); "
                "expected finite scores. Rescore with every sample in the training split."
            )
        key = -self.values if self.higher_is_easier else self.values
        if self.meta["tie_break"] == "dataset-order":
            return np.argsort(key, kind="stable")
        perm = np.random.default_rng(int(self.meta["tie_seed"])).permutation(self.num_samples)
        return perm[np.argsort(key[perm], kind="stable")]

    def hard_to_easy(self) -> np.ndarray:
        return self.easy_to_hard()[::-1].copy()

    def ranks(self) -> np.ndarray:
        """(N,) position of each sample in ``easy_to_hard`` (0 = easiest)."""
        ranks = np.empty(self.num_samples, dtype=np.int64)
        ranks[self.easy_to_hard()] = np.arange(self.num_samples)
        return ranks

    def summary(self, *, ids: Sequence[str] | None = None, top: int = 5) -> dict[str, Any]:
        """Distribution, number of unique values, largest tie, easiest and hardest samples."""
        v = self.values[~np.isnan(self.values)]
        uniq, counts = distinct_values(v)
        order = self.easy_to_hard() if v.size == self.num_samples else np.arange(0)
        name = (lambda i: ids[i]) if ids is not None else (lambda i: int(i))
        return {
            "scorer": self.scorer,
            "N": self.num_samples,
            "direction": "higher_is_easier" if self.higher_is_easier else "lower_is_easier",
            "min": float(v.min()) if v.size else math.nan,
            "max": float(v.max()) if v.size else math.nan,
            "mean": float(v.mean()) if v.size else math.nan,
            "std": float(v.std()) if v.size else math.nan,
            "quantiles": {str(q): float(np.quantile(v, q)) for q in (0.1, 0.25, 0.5, 0.75, 0.9)}
            if v.size
            else {},
            "num_nan": int(self.num_samples - v.size),
            "num_unique": int(uniq.size),
            "largest_tie": int(counts.max()) if counts.size else 0,
            "largest_tie_value": float(uniq[counts.argmax()]) if counts.size else math.nan,
            "easiest": [name(i) for i in order[:top]],
            "hardest": [name(i) for i in order[::-1][:top]],
        }

    # -- files ------------------------------------------------------------------------------
    def header(self) -> dict[str, Any]:
        h = {
            "format": FORMAT,
            "version": VERSION,
            "N": self.num_samples,
            "direction": "higher_is_easier" if self.higher_is_easier else "lower_is_easier",
        }
        meta = dict(self.meta)
        meta.setdefault("library_version", __version__)
        for k in ("scorer", "params", "seeds", "dataset_fingerprint"):
            meta.setdefault(k, None if k != "params" else {})
        h.update(meta)
        return h

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the CSV atomically (a temp file in the same folder, then ``os.replace``)."""
        ranks = self.ranks() if not np.isnan(self.values).any() else None
        buf = io.StringIO()
        buf.write("# " + json.dumps(self.header(), sort_keys=True) + "\n")
        buf.write("index,score,rank\n")
        for i, v in enumerate(self.values.tolist()):
            buf.write(f"{i},{v!r},{'' if ranks is None else ranks[i]}\n")
        return _write(Path(path), buf.getvalue())

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        expect_fingerprint: str | None = None,
        expect_num_samples: int | None = None,
        allow_nan: bool = False,
    ) -> Scores:
        """Read and validate a score CSV written by ``save``.

        ``allow_nan=True`` also reads NaN scores (samples a scorer never saw, e.g. C-score
        subsets that never held a sample out); by default every score must be finite.

        Raises:
            ScoresFileError: not a text file, wrong format/version, N or index mismatch, bad or
                non-finite numbers, or a dataset fingerprint other than ``expect_fingerprint``.
        """
        p = Path(path)
        header, body = _read_file(p)
        n = _header_count(p, header)
        if expect_num_samples is not None and n != expect_num_samples:
            raise ScoresFileError(
                f"{str(p)!r} has scores for {n} samples but the dataset's training split has "
                f"{expect_num_samples}. Score this dataset first (easyfirst score)."
            )
        fp = header.get("dataset_fingerprint")
        if expect_fingerprint is not None and fp is None:
            raise ScoresFileError(
                f"{str(p)!r} records no dataset fingerprint; expected {expect_fingerprint}. "
                "Import it with read_aucurriculum(path, dataset_fingerprint=...) or score this "
                "dataset (easyfirst score)."
            )
        if expect_fingerprint is not None and fp != expect_fingerprint:
            raise ScoresFileError(
                f"{str(p)!r} was computed on dataset fingerprint {fp}, not on this dataset "
                f"({expect_fingerprint}). Score this dataset first (easyfirst score)."
            )
        direction = header.get("direction")
        if direction not in ("higher_is_easier", "lower_is_easier"):
            raise ScoresFileError(
                f"{str(p)!r}: expected direction higher_is_easier or lower_is_easier; got "
                f"{direction!r}."
            )
        if len(body) != n:
            raise ScoresFileError(
                f"{str(p)!r}: header says N={n} but the file has {len(body)} rows; the file is "
                "truncated or edited. Rewrite it."
            )
        values = _parse_rows(p, body, n)
        _check_finite(p, values, allow_nan=allow_nan)
        meta = {k: v for k, v in header.items() if k not in ("format", "version", "N", "direction")}
        return cls(values, higher_is_easier=direction == "higher_is_easier", meta=meta)


def _write(path: Path, text: str) -> Path:
    """``atomic_write_text``; a full disk names the file (the previous version is kept)."""
    try:
        return atomic_write_text(path, text)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        raise OSError(
            errno.ENOSPC, f"disk full while writing {str(path)!r} (the previous file, if any, "
            "is unchanged); free some space or write elsewhere", str(path)
        ) from exc


AUCURRICULUM_HINT = (
    " It looks like an aucurriculum score file: convert it with easyfirst.aucurriculum."
    "read_aucurriculum(path, dataset_fingerprint=easyfirst.load_dataset(NAME).fingerprint)"
    ".save(NEW_CSV)."
)


def _read_file(p: Path) -> tuple[dict[str, Any], list[list[str]]]:
    """The header and the rows after it (the column names first)."""
    if not p.is_file():
        what = "is a folder, not a file" if p.is_dir() else "does not exist"
        raise ScoresFileError(f"Score file {str(p)!r} {what}; check the path.")
    try:
        with open(p, encoding="utf-8") as fh:
            first = fh.readline()
            if not first.startswith("# {"):
                hint = AUCURRICULUM_HINT if "ranks" in first or "mean" in first else ""
                raise ScoresFileError(
                    f"{str(p)!r}: expected a first line '# {{json header}}'; got "
                    f"{first.strip()[:60]!r}.{hint}"
                )
            rows = list(csv.reader(fh))
    except UnicodeDecodeError as exc:
        raise ScoresFileError(
            f"{str(p)!r} is not a text score file (byte {exc.object[exc.start]:#04x} at "
            f"offset {exc.start} is not UTF-8); expected a CSV written by easyfirst score. "
            "Check the path."
        ) from None
    try:
        header = json.loads(first[2:])
    except json.JSONDecodeError as exc:
        raise ScoresFileError(f"{str(p)!r}: header is not valid JSON ({exc}).") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        got = header.get("format") if isinstance(header, dict) else header
        raise ScoresFileError(f"{str(p)!r}: expected format {FORMAT!r}; got {got!r}.")
    version = header.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ScoresFileError(
            f"{str(p)!r}: expected an integer header version (1); got {version!r}. The "
            "header was edited; rewrite the file (easyfirst score)."
        )
    if version > VERSION:
        raise ScoresFileError(
            f"{str(p)!r}: file version {version} is newer than supported ({VERSION}); "
            "upgrade easyfirst."
        )
    if not rows or rows[0] != ["index", "score", "rank"]:
        raise ScoresFileError(
            f"{str(p)!r}: expected columns index,score,rank; got {rows[0] if rows else []}."
        )
    return header, rows[1:]


def _header_count(p: Path, header: dict[str, Any]) -> int:
    n = header.get("N")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ScoresFileError(
            f"{str(p)!r}: expected the header's N to be the number of samples (>= 1); got "
            f"{n!r}. The header was edited; rewrite the file (easyfirst score)."
        )
    return n


def _parse_rows(p: Path, body: list[list[str]], n: int) -> np.ndarray:
    values = np.empty(n, dtype=np.float64)
    seen = np.zeros(n, dtype=bool)
    for lineno, row in enumerate(body, start=3):
        try:
            i, v = int(row[0]), float(row[1])
        except (ValueError, IndexError):
            raise ScoresFileError(
                f"{str(p)!r} line {lineno}: expected 'index,score,rank'; got {row!r}."
            ) from None
        if not 0 <= i < n or seen[i]:
            raise ScoresFileError(
                f"{str(p)!r} line {lineno}: index {i} is out of range [0, {n}) or repeated."
            )
        seen[i] = True
        values[i] = v
    return values


def _check_finite(p: Path, values: np.ndarray, *, allow_nan: bool) -> None:
    nan, inf = np.isnan(values), np.isinf(values)
    bad = inf if allow_nan else nan | inf
    if not bad.any():
        return
    kinds = " or ".join(k for k, m in (("NaN", nan & bad), ("infinite", inf)) if m.any())
    why = ("Rescore with every sample in the training split" if not inf.any() else
           "Rescore (a diverged run? try a lower --lr)")
    raise ScoresFileError(
        f"{str(p)!r}: {int(bad.sum())} of {values.size} scores are {kinds} (first: index "
        f"{int(np.flatnonzero(bad)[0])}); expected finite scores. {why}."
    )
