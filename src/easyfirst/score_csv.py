"""The ``index,score,rank`` rows of a score CSV, chunk by chunk (bounded memory).

:func:`format_rows` writes exactly what ``f"{i},{v!r},{rank}"`` per row would (``repr`` of each
score: exact and shortest; formatting floats is most of its time). :func:`parse_rows` is a
vectorised fast path (numpy, no Python loop over rows) that reads cells as ``int()`` and
``float()`` would, and returns ``None`` for anything but plain ``int,float,int-or-nothing``
rows ending in newlines; ``easyfirst.score_files`` then reads row by row to say what is wrong.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

CHUNK = 1 << 17  # rows at a time
MAX_CELL = 40  # bytes; a longer cell takes the row-by-row path
COMMA, NEWLINE = ord(","), ord("\n")

Rows = tuple[np.ndarray, np.ndarray, np.ndarray]  # index, score, rank (-1: empty), row order


def format_rows(values: np.ndarray, ranks: np.ndarray | None) -> Iterator[bytes]:
    """The rows ``i,repr(values[i]),ranks[i]\\n`` (empty ranks when ``None``), chunk by chunk."""
    n = values.size
    for lo in range(0, n, CHUNK):
        hi = min(n, lo + CHUNK)
        if ranks is None:
            cells: list[object] = [None] * (2 * (hi - lo))
            cells[0::2], cells[1::2] = range(lo, hi), values[lo:hi].tolist()
            yield (("%d,%r,\n" * (hi - lo)) % tuple(cells)).encode("ascii")
        else:
            cells = [None] * (3 * (hi - lo))
            cells[0::3], cells[1::3], cells[2::3] = (
                range(lo, hi), values[lo:hi].tolist(), ranks[lo:hi].tolist())
            yield (("%d,%r,%d\n" * (hi - lo)) % tuple(cells)).encode("ascii")


def parse_rows(body: bytes) -> Rows | None:
    """Index, score and rank (-1 where empty) of each row of ``body``, or ``None``."""
    a = np.frombuffer(body, dtype=np.uint8)
    ends = np.flatnonzero(a == NEWLINE)
    commas = np.flatnonzero(a == COMMA)
    n = ends.size
    if not n or ends[-1] != a.size - 1 or commas.size != 2 * n or (a == 0).any():
        return None
    starts, c1, c2 = np.r_[0, ends[:-1] + 1], commas[0::2], commas[1::2]
    if not ((starts <= c1) & (c2 < ends)).all():  # then each row holds exactly two commas
        return None
    index, score, rank = np.empty(n, np.int64), np.empty(n), np.empty(n, np.int64)
    try:
        for lo in range(0, n, CHUNK):
            part = slice(lo, lo + CHUNK)
            index[part] = _cells(a, starts[part], c1[part], np.int64)
            score[part] = _cells(a, c1[part] + 1, c2[part], np.float64)
            rank[part] = _cells(a, c2[part] + 1, ends[part], np.int64, empty=-1)
    except (ValueError, OverflowError):  # as int() and float() raise, or a cell too long
        return None
    return index, score, rank


def _cells(
    a: np.ndarray, lo: np.ndarray, hi: np.ndarray, dtype: type, *, empty: int | None = None
) -> np.ndarray:
    """The cells ``a[lo:hi]`` converted as by ``int()``/``float()``; ``empty`` where blank
    (ValueError if not allowed)."""
    widths = hi - lo
    live = widths > 0
    if widths.max(initial=0) > MAX_CELL or (empty is None and not live.all()):
        raise ValueError("a cell is too long, or blank where a number must be")
    out = np.full(widths.size, 0 if empty is None else empty, dtype=dtype)
    if live.any():
        text = _gather(a, lo[live], widths[live])
        out[live] = text.view(f"S{text.shape[1]}").ravel().astype(dtype)
    return out


def _gather(a: np.ndarray, starts: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """(rows, max width) uint8: row k holds ``a[starts[k]:starts[k] + widths[k]]``, then zeros."""
    rows, width = widths.size, int(widths.max(initial=0))
    out = np.zeros(rows * width, dtype=np.uint8)
    before = np.cumsum(widths) - widths  # bytes in the rows above
    k = np.arange(int(widths.sum()))
    out[k + np.repeat(np.arange(rows) * width - before, widths)] = a[
        k + np.repeat(starts - before, widths)]
    return out.reshape(rows, width)
