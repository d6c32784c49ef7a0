"""Score files: a CSV (text) and an ``.npz`` (binary) format, one set of checks for both.

Both hold the same JSON header (format, version, N, direction, meta), N scores in sample order
and their easy-to-hard ranks (none when a score is NaN). The suffix picks the format:

- ``.npz``: arrays ``header`` (the JSON text), ``values`` (float64) and ``rank`` (int64, empty
  without ranks); the fast one at large N (no text to format or parse: see
  ``benchmarks/scale.py``).
- anything else: CSV, a first line ``# {json header}`` then ``index,score,rank`` rows, with
  ``id,label`` columns too where the writer knows the samples (``easyfirst score``: the
  sample's id and class name, ``;``-joined for multi-label data); readers skip them.

Writes are atomic (``easyfirst.atomic``); reads validate everything and name the file.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from easyfirst.atomic import atomic_write
from easyfirst.file_errors import looks_like
from easyfirst.score_csv import Rows, format_rows, parse_rows, quote

FORMAT = "easyfirst.scores"
VERSION = 1
NPZ_ARRAYS = ["header", "rank", "values"]
ZIP = b"PK\x03\x04"  # how an .npz starts
AUCURRICULUM_HINT = (
    " It looks like an aucurriculum score file: convert it with easyfirst.aucurriculum."
    "read_aucurriculum(path, dataset_fingerprint=easyfirst.load_dataset(NAME).fingerprint)"
    ".save(NEW_CSV)."
)

EXPECTED_COLUMNS = "index,score,rank[,id,label]"
OWN_CSV_HINT = (
    " A table of your own (one score per training sample, in dataset order: the id column "
    "of easyfirst export): save it from Python, easyfirst.Scores(values, "
    "higher_is_easier=True).save('mine.csv')."
)

TIE_RULES = ("evidence", "random", "dataset-order")
"""How ties are ordered: by finer evidence of the same runs (``tie_key``, e.g. AUM; its ties
then at random), by a permutation seeded with ``tie_seed``, or by index (the paper quick
start's rule)."""
Body = tuple[np.ndarray, np.ndarray | None]  # scores and ranks, in sample order
COLUMNS = ["index", "score", "rank"]
SAMPLE_COLUMNS = ["id", "label"]  # optional, after COLUMNS


class ScoresFileError(ValueError):
    """A score file that cannot be used as it is; the message says what to do."""


def is_permutation(a: np.ndarray, n: int) -> bool:
    """Whether integer ``a`` holds each of ``0..n-1`` exactly once (O(N), no sort)."""
    if a.size != n or (n and (a.min() < 0 or a.max() >= n)):
        return False
    seen = np.zeros(n, dtype=bool)
    seen[a] = True
    return bool(seen.all())


def is_npz(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() == ".npz"


def write_score_file(
    path: str | os.PathLike[str], header: dict[str, Any], values: np.ndarray,
    ranks: np.ndarray | None, samples: tuple[Sequence[str], Sequence[str]] | None = None,
) -> Path:
    """Write ``header``, ``values`` and ``ranks`` atomically, as ``.npz`` or CSV by suffix;
    ``samples = (ids, labels)``, one of each per score, become the CSV's ``id,label``
    columns (an ``.npz`` leaves them out)."""
    p, text = Path(path), json.dumps(header, sort_keys=True)
    cells = None if samples is None else _sample_cells(samples, values.size)

    def npz(fh: IO[bytes]) -> None:
        rank = np.empty(0, np.int64) if ranks is None else ranks
        np.savez(fh, header=np.array(text), values=values, rank=rank)

    def csv_rows(fh: IO[bytes]) -> None:
        names = ",".join(COLUMNS + (SAMPLE_COLUMNS if cells else []))
        fh.write(f"# {text}\n{names}\n".encode())
        for chunk in format_rows(values, ranks, cells):
            fh.write(chunk)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            (npz if is_npz(p) else csv_rows)(fh)
            fh.flush()
            os.fsync(fh.fileno())

    try:
        return atomic_write(p, write)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        raise OSError(
            errno.ENOSPC, f"disk full while writing {str(p)!r} (the previous file, if any, "
            "is unchanged); free some space or write elsewhere", str(p)
        ) from exc


def _sample_cells(samples: tuple[Sequence[str], Sequence[str]], n: int
                  ) -> tuple[list[str], list[str]]:
    ids, labels = samples
    if len(ids) != n or len(labels) != n:
        raise ValueError(
            f"Expected one id and one label per score ({n}); got {len(ids)} ids and "
            f"{len(labels)} labels. Pass the ids and labels of the scored training split."
        )
    return [quote(str(i)) for i in ids], [quote(str(lab)) for lab in labels]


def read_score_file(
    path: str | os.PathLike[str],
    *,
    expect_fingerprint: str | None = None,
    expect_num_samples: int | None = None,
    allow_nan: bool = False,
) -> tuple[dict[str, Any], np.ndarray, np.ndarray | None]:
    """The validated header, (N,) scores and (N,) ranks (None where the file has none) of a
    file ``write_score_file`` wrote.

    Raises:
        ScoresFileError: not a score file, wrong format/version, N or index mismatch, bad or
            non-finite numbers, ranks that are not a permutation or contradict the scores (a
            flipped direction), a bad tie rule, or a dataset fingerprint other than
            ``expect_fingerprint``.
    """
    p = Path(path)
    if not p.is_file():
        what = "is a folder, not a file" if p.is_dir() else "does not exist"
        raise ScoresFileError(f"Score file {str(p)!r} {what}; check the path.")
    text, body = (_open_npz if is_npz(p) else _open_csv)(p)
    header = _parse_header(p, text)
    n = _header_count(p, header)
    _check_dataset(p, header, n, expect_fingerprint, expect_num_samples)
    _check_header(p, header)
    values, ranks = body(n)
    _check_finite(p, values, allow_nan=allow_nan)
    _check_ranks(p, ranks, n)
    _check_order(p, header, values, ranks)
    return header, values, ranks


def read_score_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON header of a score file, parsed but not checked against a dataset.

    Raises:
        ScoresFileError: not a score file (as :func:`read_score_file` says).
    """
    p = Path(path)
    text, _ = (_open_npz if is_npz(p) else _open_csv)(p)
    return _parse_header(p, text)


def tie_problem(meta: dict[str, Any]) -> str | None:
    """What is wrong with ``meta``'s tie rule (``tie_break``, ``tie_seed``), or None."""
    rule, seed = meta.get("tie_break", "random"), meta.get("tie_seed", 0)
    if rule not in TIE_RULES:
        return f"expected tie_break among {', '.join(TIE_RULES)}; got {rule!r}"
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        return f"expected tie_seed to be a whole number >= 0; got {seed!r}"
    return None


# -- the checks both formats share ---------------------------------------------------------
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


def _check_header(p: Path, header: dict[str, Any]) -> None:
    problem = tie_problem(header)
    for key, (want, ok) in HEADER_FIELDS.items():
        if problem is None and header.get(key) is not None and not ok(header[key]):
            problem = f"expected the header's {key} to be {want} (or null); got {header[key]!r}"
    if problem is not None:
        raise ScoresFileError(f"{str(p)!r}: {problem}. The header was edited; rewrite the "
                              "file (easyfirst score).")


def _check_order(p: Path, header: dict[str, Any], values: np.ndarray,
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


def _parse_header(p: Path, text: str) -> dict[str, Any]:
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


def _header_count(p: Path, header: dict[str, Any]) -> int:
    n = header.get("N")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ScoresFileError(
            f"{str(p)!r}: expected the header's N to be the number of samples (>= 1); got "
            f"{n!r}. The header was edited; rewrite the file (easyfirst score)."
        )
    return n


def _check_dataset(
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


def _check_count(p: Path, n: int, got: int, what: str) -> None:
    if got != n:
        raise ScoresFileError(
            f"{str(p)!r}: header says N={n} but the file has {got} {what}; the file is "
            "truncated or edited. Rewrite it."
        )


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


def _check_ranks(p: Path, ranks: np.ndarray | None, n: int) -> None:
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


# -- .npz -----------------------------------------------------------------------------------
def _open_npz(p: Path) -> tuple[str, Callable[[int], Body]]:
    try:
        with open(p, "rb") as fh:  # closed here even when numpy gives up half-way
            z = np.load(fh, allow_pickle=False)
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise ValueError("one .npy array, not an .npz archive")
            with z:
                names = sorted(z.files)
                arrays = {k: z[k] for k in names if k in NPZ_ARRAYS}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        raise ScoresFileError(
            f"{str(p)!r} is not a readable .npz score file: expected one written by "
            f"Scores.save(PATH.npz); got {looks_like(p)}. Check the path, or rewrite the file."
        ) from None
    header, values, rank = (arrays.get(k) for k in ("header", "values", "rank"))
    if names != NPZ_ARRAYS or header is None or header.ndim or header.dtype.kind != "U":
        raise ScoresFileError(
            f"{str(p)!r}: expected the arrays {', '.join(NPZ_ARRAYS)} (header a JSON string); "
            f"got {', '.join(names) or 'none'}. Rewrite the file (Scores.save(PATH.npz))."
        )

    def body(n: int) -> Body:
        assert values is not None and rank is not None
        for name, a, kinds in (("values", values, "f"), ("rank", rank, "iu")):
            if a.ndim != 1 or a.dtype.kind not in kinds:
                raise ScoresFileError(
                    f"{str(p)!r}: expected array {name!r} of shape (N,) and kind "
                    f"{'float' if kinds == 'f' else 'integer'}; got {a.dtype} {a.shape}. "
                    "Rewrite the file (Scores.save(PATH.npz))."
                )
        _check_count(p, n, values.size, "scores")
        if rank.size:
            _check_count(p, n, rank.size, "ranks")
        return values.astype(np.float64, copy=False), rank.astype(np.int64) if rank.size else None

    return str(header[()]), body


# -- CSV ------------------------------------------------------------------------------------
def _open_csv(p: Path) -> tuple[str, Callable[[int], Body]]:
    data = p.read_bytes()
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            npz = " (it looks like an .npz score file: name it *.npz)" if data[:4] == ZIP else ""
            raise ScoresFileError(
                f"{str(p)!r} is not a text score file (byte {exc.object[exc.start]:#04x} at "
                f"offset {exc.start} is not UTF-8); expected a CSV written by easyfirst score. "
                f"Check the path{npz}."
            ) from None
    first, _, rest = data.partition(b"\n")
    line = first.decode("utf-8")
    if not line.startswith("# {"):
        hint = AUCURRICULUM_HINT if "ranks" in line or "mean" in line else OWN_CSV_HINT \
            if "," in line else ""
        raise ScoresFileError(
            f"{str(p)!r}: expected a first line '# {{json header}}' then the columns "
            f"{EXPECTED_COLUMNS}; got {line.strip()[:60]!r}.{hint}"
        )
    names, _, rows = rest.partition(b"\n")
    columns = next(csv.reader([names.decode("utf-8").rstrip("\r")]), [])
    if columns not in (COLUMNS, COLUMNS + SAMPLE_COLUMNS):
        raise ScoresFileError(
            f"{str(p)!r}: expected the columns {EXPECTED_COLUMNS} on line 2; got "
            f"{','.join(columns) or 'nothing'!r}. Rename the columns on line 2 to those (index: "
            "the training-set position; rank may be empty), or rewrite the file (easyfirst "
            "score)."
        )
    return line[2:], lambda n: _csv_body(p, rows, n, len(columns))


def _csv_body(p: Path, body: bytes, n: int, columns: int) -> Body:
    rows = parse_rows(body, columns)
    if rows is None or rows[0].size != n or not is_permutation(rows[0], n):
        rows = _parse_rows_one_by_one(p, body.decode("utf-8"), n, columns)
    index, values, ranks = rows
    if not np.array_equal(index, np.arange(n)):
        values[index], ranks[index] = values.copy(), ranks.copy()
    return values, None if (ranks < 0).all() else ranks


def _parse_rows_one_by_one(p: Path, text: str, n: int, columns: int) -> Rows:
    """What ``parse_rows`` leaves out (quoted cells, CRLF, ...), and what is wrong where: a
    row of another number of cells than ``columns``, a cell that is not a number, an index
    or rank out of range."""
    body = list(csv.reader(io.StringIO(text, newline=None)))
    _check_count(p, n, len(body), "rows")
    index, values, ranks = np.empty(n, np.int64), np.empty(n), np.full(n, -1, np.int64)
    seen = np.zeros(n, dtype=bool)
    for lineno, row in enumerate(body, start=3):
        try:
            if len(row) != columns:
                raise ValueError(row)
            i, v = int(row[0]), float(row[1])
            r = int(row[2]) if row[2] else -1
        except ValueError:
            raise ScoresFileError(
                f"{str(p)!r} line {lineno}: expected {columns} cells like "
                f"'{','.join((COLUMNS + SAMPLE_COLUMNS)[:columns])}'; got {row!r}."
            ) from None
        if not 0 <= i < n or seen[i] or not -1 <= r < n:
            raise ScoresFileError(
                f"{str(p)!r} line {lineno}: index {i} or rank {r} is out of range [0, {n}), or "
                "the index is repeated; expected each index once and ranks in that range."
            )
        seen[i] = True
        index[lineno - 3], values[lineno - 3], ranks[lineno - 3] = i, v, r
    return index, values, ranks
