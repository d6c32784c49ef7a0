"""The ``index,score,rank[,id,label]`` rows of a score CSV, chunk by chunk (bounded memory).

:func:`format_rows` writes exactly what ``f"{i},{v!r},{rank}"`` per row would (``repr`` of each
score: exact and shortest; formatting floats is most of its time), then the sample's id and
label when given (CSV-quoted where they hold a comma, quote or line break). :func:`parse_rows`
is a vectorised fast path (numpy, no Python loop over rows) that reads the first three cells
as ``int()`` and ``float()`` would, and returns ``None`` for anything but plain
``int,float,int-or-nothing[,id,label]`` rows ending in newlines (no quotes);
``easyfirst.scores.csv_file`` then reads row by row to say what is wrong.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

CHUNK = 1 << 17  # rows at a time
MAX_CELL = 40  # bytes; a longer cell takes the row-by-row path
COMMA, NEWLINE, QUOTE = ord(","), ord("\n"), ord('"')

Rows = tuple[np.ndarray, np.ndarray, np.ndarray]  # index, score, rank (-1: empty), row order


def quote(cell: str) -> str:
    """``cell`` as one CSV cell: quoted (``"`` doubled) where it holds ``,``, ``"`` or a line
    break, else as it is."""
    if not any(c in cell for c in ',"\r\n'):
        return cell
    return '"' + cell.replace('"', '""') + '"'


def format_rows(values: np.ndarray, ranks: np.ndarray | None,
                samples: tuple[list[str], list[str]] | None = None) -> Iterator[bytes]:
    """The rows ``i,repr(values[i]),ranks[i]\\n`` (empty ranks when ``None``), chunk by chunk;
    with ``samples = (ids, labels)`` (quoted cells) each row ends ``,ids[i],labels[i]``."""
    n = values.size
    row = "%d,%r," + ("%d" if ranks is not None else "%s") + (",%s,%s" if samples else "") + "\n"
    for lo in range(0, n, CHUNK):
        hi = min(n, lo + CHUNK)
        columns: list[Sequence[object]] = [
            range(lo, hi), values[lo:hi].tolist(),
            ranks[lo:hi].tolist() if ranks is not None else [""] * (hi - lo),
            *((part[lo:hi] for part in samples) if samples else ())]
        cells: list[object] = [None] * (len(columns) * (hi - lo))
        for k, column in enumerate(columns):
            cells[k::len(columns)] = column
        yield ((row * (hi - lo)) % tuple(cells)).encode("utf-8")


def parse_rows(body: bytes, columns: int = 3) -> Rows | None:
    """Index, score and rank (-1 where empty) of each row of ``body`` (rows of ``columns``
    cells, 3 or 5; the id and label cells are skipped), or ``None``."""
    a = np.frombuffer(body, dtype=np.uint8)
    ends = np.flatnonzero(a == NEWLINE)
    commas = np.flatnonzero(a == COMMA)
    n, k = ends.size, columns - 1  # k commas a row
    if not n or ends[-1] != a.size - 1 or commas.size != k * n or (a == 0).any() or (
            a == QUOTE).any():
        return None
    starts, c1, c2 = np.r_[0, ends[:-1] + 1], commas[0::k], commas[1::k]
    c3 = commas[2::k] if k > 2 else ends  # where the rank cell ends
    if not ((starts <= c1) & (commas[k - 1::k] < ends)).all():  # each row holds k commas
        return None
    index, score, rank = np.empty(n, np.int64), np.empty(n), np.empty(n, np.int64)
    try:
        for lo in range(0, n, CHUNK):
            part = slice(lo, lo + CHUNK)
            index[part] = _cells(a, starts[part], c1[part], np.int64)
            score[part] = _cells(a, c1[part] + 1, c2[part], np.float64)
            rank[part] = _cells(a, c2[part] + 1, c3[part], np.int64, empty=-1)
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
