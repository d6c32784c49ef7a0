"""The score CSV: a first line ``# {json header}``, then the columns ``index,score,rank`` and
one row per sample, with ``id,label`` columns too where the writer knows the samples
(``easyfirst score``: the sample's id and class name, ``;``-joined for multi-label data;
readers skip them). Rows go through the fast path of ``easyfirst.scores.csv_rows``; what it
leaves out is read row by row here, naming the line of anything wrong.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from easyfirst.errors import InputError
from easyfirst.scores.checks import Body, ScoresFileError, check_count, is_permutation
from easyfirst.scores.csv_rows import Rows, format_rows, parse_rows, quote

ZIP = b"PK\x03\x04"  # how an .npz starts
AUCURRICULUM_HINT = (
    " It looks like an aucurriculum score file: convert it with easyfirst.scores.aucurriculum."
    "read_aucurriculum(path, dataset_fingerprint=easyfirst.load_dataset(NAME).fingerprint)"
    ".save(NEW_CSV)."
)
EXPECTED_COLUMNS = "index,score,rank[,id,label]"
OWN_CSV_HINT = (
    " A table of your own (one score per training sample, in dataset order: the id column "
    "of easyfirst export): save it from Python, easyfirst.Scores(values, "
    "higher_is_easier=True).save('mine.csv')."
)
COLUMNS = ["index", "score", "rank"]
SAMPLE_COLUMNS = ["id", "label"]  # optional, after COLUMNS


def label_texts(targets: Any, class_names: Sequence[str]) -> list[str]:
    """Each sample's label as text (the CSV's ``label`` column): its class name, or for
    (N, C) multi-hot targets the names of its classes joined by ``;``.

    Example:
        >>> label_texts(np.array([1, 0]), ["cat", "dog"])
        ['dog', 'cat']
        >>> label_texts(np.array([[1, 1], [0, 1]]), ["cat", "dog"])
        ['cat;dog', 'dog']
    """
    t = np.asarray(targets)
    if t.ndim == 2:
        return [";".join(class_names[int(c)] for c in np.flatnonzero(row >= 0.5)) for row in t]
    return [class_names[int(c)] if 0 <= c < len(class_names) else str(int(c)) for c in t]


def sample_cells(samples: tuple[Sequence[str], Sequence[str]], n: int
                 ) -> tuple[list[str], list[str]]:
    """The ``id`` and ``label`` cells of ``samples = (ids, labels)``, one of each per score."""
    ids, labels = samples
    if len(ids) != n or len(labels) != n:
        raise InputError(
            f"Expected one id and one label per score ({n}); got {len(ids)} ids and "
            f"{len(labels)} labels. Pass the ids and labels of the scored training split."
        )
    return _quoted(list(map(str, ids))), _quoted(list(map(str, labels)))


def _quoted(cells: list[str]) -> list[str]:
    """``cells`` CSV-quoted where needed (most sets need none: one look at them all)."""
    text = "".join(cells)
    if "," in text or '"' in text or "\n" in text or "\r" in text:
        return [quote(c) for c in cells]
    return cells


def write_csv(fh: IO[bytes], header: str, values: np.ndarray, ranks: np.ndarray | None,
              cells: tuple[list[str], list[str]] | None) -> None:
    """The header line, the column names and the rows (``cells``: the id and label cells)."""
    names = ",".join(COLUMNS + (SAMPLE_COLUMNS if cells else []))
    fh.write(f"# {header}\n{names}\n".encode())
    for chunk in format_rows(values, ranks, cells):
        fh.write(chunk)


def open_csv(p: Path) -> tuple[str, Callable[[int], Body]]:
    """The header text of CSV file ``p``, and a reader of its N scores and ranks."""
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
    first_end = data.find(b"\n")  # the lines by position: the rows are most of the file
    line = (data if first_end < 0 else data[:first_end]).decode("utf-8")
    if not line.startswith("# {"):
        hint = AUCURRICULUM_HINT if "ranks" in line or "mean" in line else OWN_CSV_HINT \
            if "," in line else ""
        raise ScoresFileError(
            f"{str(p)!r}: expected a first line '# {{json header}}' then the columns "
            f"{EXPECTED_COLUMNS}; got {line.strip()[:60]!r}.{hint}"
        )
    names_start = len(data) if first_end < 0 else first_end + 1
    names_end = data.find(b"\n", names_start)
    names = data[names_start:len(data) if names_end < 0 else names_end]
    columns = next(csv.reader([names.decode("utf-8").rstrip("\r")]), [])
    if columns not in (COLUMNS, COLUMNS + SAMPLE_COLUMNS):
        raise ScoresFileError(
            f"{str(p)!r}: expected the columns {EXPECTED_COLUMNS} on line 2; got "
            f"{','.join(columns) or 'nothing'!r}. Rename the columns on line 2 to those (index: "
            "the training-set position; rank may be empty), or rewrite the file (easyfirst "
            "score)."
        )
    rows_start = len(data) if names_end < 0 else names_end + 1
    return line[2:], lambda n: _csv_body(p, data, rows_start, n, len(columns))


def _csv_body(p: Path, data: bytes, start: int, n: int, columns: int) -> Body:
    rows = parse_rows(data, columns, start=start)
    if rows is None or rows[0].size != n or not is_permutation(rows[0], n):
        rows = _parse_rows_one_by_one(p, data[start:].decode("utf-8"), n, columns)
    index, values, ranks = rows
    if not np.array_equal(index, np.arange(n)):
        values[index], ranks[index] = values.copy(), ranks.copy()
    return values, None if (ranks < 0).all() else ranks


def _parse_rows_one_by_one(p: Path, text: str, n: int, columns: int) -> Rows:
    """What ``parse_rows`` leaves out (quoted cells, CRLF, ...), and what is wrong where: a
    row of another number of cells than ``columns``, a cell that is not a number, an index
    or rank out of range."""
    body = list(csv.reader(io.StringIO(text, newline=None)))
    check_count(p, n, len(body), "rows")
    index, values, ranks = np.empty(n, np.int64), np.empty(n), np.full(n, -1, np.int64)
    seen = np.zeros(n, dtype=bool)
    for lineno, row in enumerate(body, start=3):
        try:
            if len(row) != columns:
                raise InputError(row)
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
