"""What a score file must hold, checked the same for CSV and ``.npz``: the header (format,
version, N, direction, dataset fingerprint, tie rule, the kinds of its optional fields) and the
body (N finite scores; ranks empty or a permutation that orders the scores easiest first).
Each failure is a ``ScoresFileError`` that names the file and says what to do.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from easyfirst.errors import InputError
from easyfirst.scores.ties import tie_problem

FORMAT = "easyfirst.scores"
VERSION = 1
Body = tuple[np.ndarray, np.ndarray | None]  # scores and ranks, in sample order


class ScoresFileError(InputError):
    """A score file that cannot be used as it is; the message says what to do."""


def is_permutation(a: np.ndarray, n: int) -> bool:
    """Whether integer ``a`` holds each of ``0..n-1`` exactly once (O(N), no sort)."""
    if a.size != n or (n and (a.min() < 0 or a.max() >= n)):
        return False
    seen = np.zeros(n, dtype=bool)
    seen[a] = True
    return bool(seen.all())


# -- the header -----------------------------------------------------------------------------
def _whole(low: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def _list_of(ok: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, list) and all(ok(x) for x in v)


# The optional header fields Scores.save writes, each absent, null or of its kind.
HEADER_FIELDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "scorer": ("a name", lambda v: isinstance(v, str)),
    "seeds": ("a list of whole numbers >= 0", _list_of(_whole(0))),
    "epochs": ("a whole number >= 1", _whole(1)),
    "ensemble_size": ("a whole number >= 1", _whole(1)),
    "members": ("a list of file names or objects",
                _list_of(lambda v: isinstance(v, str | dict))),
    "params": ("an object", lambda v: isinstance(v, dict)),
    "cost": ("an object", lambda v: isinstance(v, dict)),
    "dataset_fingerprint": ("a string", lambda v: isinstance(v, str)),
    "tie_evidence": ("a name", lambda v: isinstance(v, str)),
}


def parse_header(p: Path, text: str) -> dict[str, Any]:
    """The JSON header ``text`` of file ``p``: an object of this format and a known version."""
    try:
        header = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScoresFileError(
            f"{str(p)!r}: expected the JSON header Scores.save writes; got one that breaks off "
            f"at column {exc.colno}. Rewrite the file (easyfirst score)."
        ) from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        got = header.get("format") if isinstance(header, dict) else header
        raise ScoresFileError(
            f"{str(p)!r}: expected format {FORMAT!r}; got {got!r}. Check the path (is it an "
            "easyfirst score file?)."
        )
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
    return header


def header_count(p: Path, header: dict[str, Any]) -> int:
    n = header.get("N")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ScoresFileError(
            f"{str(p)!r}: expected the header's N to be the number of samples (>= 1); got "
            f"{n!r}. The header was edited; rewrite the file (easyfirst score)."
        )
    return n


def check_dataset(
    p: Path, header: dict[str, Any], n: int, fingerprint: str | None, num_samples: int | None
) -> None:
    if num_samples is not None and n != num_samples:
        raise ScoresFileError(
            f"{str(p)!r} has scores for {n} samples but the dataset's training split has "
            f"{num_samples}. Score this dataset first (easyfirst score)."
        )
    fp = header.get("dataset_fingerprint")
    if fingerprint is not None and fp is None:
        raise ScoresFileError(
            f"{str(p)!r} records no dataset fingerprint; expected {fingerprint}. "
            "Import it with read_aucurriculum(path, dataset_fingerprint=...) or score this "
            "dataset (easyfirst score)."
        )
    if fingerprint is not None and fp != fingerprint:
        raise ScoresFileError(
            f"{str(p)!r} was computed on dataset fingerprint {fp}, not on this dataset "
            f"({fingerprint}). Score this dataset first (easyfirst score)."
        )
    direction = header.get("direction")
    if direction not in ("higher_is_easier", "lower_is_easier"):
        raise ScoresFileError(
            f"{str(p)!r}: expected direction higher_is_easier or lower_is_easier; got "
            f"{direction!r}. The header was edited; rewrite the file (easyfirst score)."
        )


def check_header(p: Path, header: dict[str, Any]) -> None:
    """The tie rule and the kinds of the optional fields (``HEADER_FIELDS``)."""
    problem = tie_problem(header)
    for key, (want, ok) in HEADER_FIELDS.items():
        if problem is None and header.get(key) is not None and not ok(header[key]):
            problem = f"expected the header's {key} to be {want} (or null); got {header[key]!r}"
    if problem is not None:
        raise ScoresFileError(f"{str(p)!r}: {problem}. The header was edited; rewrite the "
                              "file (easyfirst score).")


# -- the body -------------------------------------------------------------------------------
def check_count(p: Path, n: int, got: int, what: str) -> None:
    if got != n:
        raise ScoresFileError(
            f"{str(p)!r}: header says N={n} but the file has {got} {what}; the file is "
            "truncated or edited. Rewrite it."
        )


def check_finite(p: Path, values: np.ndarray, *, allow_nan: bool) -> None:
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


def check_ranks(p: Path, ranks: np.ndarray | None, n: int) -> None:
    if ranks is None or is_permutation(ranks, n):
        return
    valid = (ranks >= 0) & (ranks < n)
    bad = int((~valid).sum()) + int(valid.sum()) - int(np.count_nonzero(
        np.bincount(ranks[valid], minlength=n)))
    raise ScoresFileError(
        f"{str(p)!r}: expected the ranks to be empty or a permutation of 0..{n - 1} (each "
        f"sample's easy-to-hard position); got {bad} of {n} empty, out of range or repeated. "
        "The file was edited; rewrite it (Scores.save)."
    )


def check_order(p: Path, header: dict[str, Any], values: np.ndarray,
                ranks: np.ndarray | None) -> None:
    """Refuse ranks that do not order the scores easiest first in the header's direction."""
    if ranks is None:
        return
    key = np.empty_like(values)
    key[ranks] = -values if header["direction"] == "higher_is_easier" else values
    step = np.diff(key)  # by rank: never decreasing (NaN: no comparison)
    if not (step < 0).any():
        return
    flipped = not (step > 0).any()
    why = (f"they order the scores the other way; the header's direction "
           f"{header['direction']} was flipped" if flipped else
           f"{int((step < 0).sum())} ranks contradict the scores (an easier rank holds a harder "
           "score); ranks or scores were edited")
    raise ScoresFileError(f"{str(p)!r}: expected ranks that order the scores easiest first; "
                          f"{why}. Rewrite the file (easyfirst score, or Scores.save).")
