"""The ``index,score,rank[,id,label]`` rows of a score CSV, chunk by chunk (bounded memory),
vectorised: no Python call per row or cell.

:func:`format_rows` writes exactly what ``f"{i},{v!r},{rank}"`` per row would (``repr`` of each
score: exact and shortest, computed by ``easyfirst.scores.float_text``), then the sample's id
and label when given (CSV-quoted where they hold a comma, quote or line break).
:func:`parse_rows` reads the first three cells as ``int()`` and ``float()`` would, and returns
``None`` for anything but plain ``digits,float,digits-or-nothing[,id,label]`` rows ending in
newlines (no quotes); ``easyfirst.scores.csv_file`` then reads row by row, which accepts what
``int()`` and ``float()`` accept and says what is wrong.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from easyfirst.errors import InputError
from easyfirst.scores.float_text import KEEP_BYTES, float_texts, int_texts, joined

CHUNK = 1 << 15  # rows at a time (their temporary arrays stay in the CPU's cache)
MAX_CELL = 40  # bytes; a longer cell takes the row-by-row path
MAX_DIGITS = 18  # of an index or rank the fast path reads (int64 holds 18 digits)
COMMA, NEWLINE, QUOTE = ord(","), ord("\n"), ord('"')
BLOCK = 1 << 18  # bytes of rows parsed at a time (their temporary arrays stay in cache)
PAD = 8  # zero bytes before a block
# Eight ASCII bytes in a uint64 (little-endian): '0's, the checks that each is a digit
ZEROS, SIXES = np.uint64(0x3030303030303030), np.uint64(0x0606060606060606)
HIGH_NIBBLES, THREES = np.uint64(0xF0F0F0F0F0F0F0F0), np.uint64(0x3333333333333333)
PAIRS = np.uint64(0x000000FF000000FF)

Rows = tuple[np.ndarray, np.ndarray, np.ndarray]  # index, score, rank (-1: empty), row order


def quote(cell: str) -> str:
    """``cell`` as one CSV cell: quoted (``"`` doubled) where it holds ``,``, ``"`` or a line
    break, else as it is."""
    if "," in cell or '"' in cell or "\n" in cell or "\r" in cell:
        return '"' + cell.replace('"', '""') + '"'
    return cell


def format_rows(values: np.ndarray, ranks: np.ndarray | None,
                samples: tuple[list[str], list[str]] | None = None) -> Iterator[bytes]:
    """The rows ``i,repr(values[i]),ranks[i]\\n`` (empty ranks when ``None``), chunk by chunk;
    with ``samples = (ids, labels)`` (quoted cells) each row ends ``,ids[i],labels[i]``."""
    n = values.size
    for lo in range(0, n, CHUNK):
        hi = min(n, lo + CHUNK)
        tails = None if samples is None else _sample_tails(samples, lo, hi)
        if samples is not None and tails is None:  # a cell holds a zero byte
            yield _format_one_by_one(values, ranks, samples, lo, hi)
            continue
        comma, newline = (np.full((hi - lo, 1), c, dtype=np.uint8) for c in (COMMA, NEWLINE))
        parts = [int_texts(np.arange(lo, hi)), comma, float_texts(values[lo:hi]), comma]
        if ranks is not None:
            parts.append(int_texts(ranks[lo:hi]))
        yield joined(np.hstack([*parts, *([] if tails is None else [tails]), newline]))


def _sample_tails(samples: tuple[list[str], list[str]], lo: int, hi: int) -> np.ndarray | None:
    """(rows, W) uint8: ``,id,label`` of rows ``lo:hi`` in UTF-8, with zero bytes as padding;
    None where a cell holds a zero byte (the padding could not be told from it)."""
    ids, labels = (_text_cells(part[lo:hi]) for part in samples)
    if ids is None or labels is None:
        return None
    comma = np.full((hi - lo, 1), COMMA, dtype=np.uint8)
    return np.hstack([comma, ids, comma, labels])


def _text_cells(cells: list[str]) -> np.ndarray | None:
    """(rows, W) uint8: each cell in UTF-8, padded with zero bytes; None where one holds a
    zero byte. ASCII cells go through numpy at once, others one by one."""
    codes = np.array(cells, dtype=str).view(np.uint32).reshape(len(cells), -1)
    if (codes < 128).all():
        out, size = codes.astype(np.uint8), sum(map(len, cells))
    else:
        utf8 = [c.encode() for c in cells]
        out = np.array(utf8, dtype=bytes).view(np.uint8).reshape(len(cells), -1)
        size = sum(map(len, utf8))
    return out if np.count_nonzero(out) == size else None


def _format_one_by_one(values: np.ndarray, ranks: np.ndarray | None,
                       samples: tuple[list[str], list[str]], lo: int, hi: int) -> bytes:
    """Rows ``lo:hi`` with their id and label cells formatted by Python, one ``%`` template."""
    row = "%d,%r," + ("%d" if ranks is not None else "%s") + ",%s,%s\n"
    columns: list[Sequence[object]] = [
        range(lo, hi), values[lo:hi].tolist(),
        ranks[lo:hi].tolist() if ranks is not None else [""] * (hi - lo),
        *(part[lo:hi] for part in samples)]
    cells: list[object] = [None] * (len(columns) * (hi - lo))
    for k, column in enumerate(columns):
        cells[k::len(columns)] = column
    return ((row * (hi - lo)) % tuple(cells)).encode("utf-8")


def parse_rows(body: bytes, columns: int = 3, *, start: int = 0) -> Rows | None:
    """Index, score and rank (-1 where empty) of each row of ``body[start:]`` (rows of
    ``columns`` cells, 3 or 5; the id and label cells are skipped), or ``None``."""
    if start >= len(body) or not body.endswith(b"\n"):
        return None
    n = body.count(b"\n", start)
    rows = np.empty(n, dtype=np.int64), np.empty(n), np.empty(n, dtype=np.int64)
    lo, done = start, 0
    while lo < len(body):  # blocks of whole rows, each padded with zero bytes
        hi = body.rfind(b"\n", lo, lo + BLOCK) + 1 or body.find(b"\n", lo + BLOCK) + 1
        padded = np.frombuffer(bytes(PAD) + body[lo:hi] + bytes(MAX_CELL), dtype=np.uint8)
        block = _parse_block(padded, hi - lo, columns)
        if block is None:
            return None
        for whole, part in zip(rows, block, strict=True):
            whole[done:done + part.size] = part
        done, lo = done + block[0].size, hi
    return rows


def _parse_block(padded: np.ndarray, size: int, columns: int) -> Rows | None:
    """``parse_rows`` of the rows in ``padded[PAD:PAD + size]`` (ending in a newline; the
    zero bytes around them let every cell be read as a window of fixed width)."""
    a = padded[PAD:PAD + size]
    n = int(np.count_nonzero(a == NEWLINE))
    if np.count_nonzero((a == 0) | (a == QUOTE)) or np.count_nonzero(a == COMMA) != (
            columns - 1) * n:
        return None
    ends = np.flatnonzero((a == COMMA) | (a == NEWLINE)).reshape(n, columns) + PAD
    if (padded[ends[:, -1]] != NEWLINE).any():  # each row: its commas, then its newline
        return None
    starts = np.empty(n, dtype=np.int64)
    starts[0], starts[1:] = PAD, ends[:-1, -1] + 1
    try:
        index = _whole_numbers(padded, starts, ends[:, 0])
        score = _floats(padded, ends[:, 0] + 1, ends[:, 1])
        rank = _whole_numbers(padded, ends[:, 1] + 1, ends[:, 2], empty=-1)
    except ValueError:  # a cell as int() and float() would not read it, or too long
        return None
    return index, score, rank


def _whole_numbers(padded: np.ndarray, lo: np.ndarray, hi: np.ndarray, *,
                   empty: int | None = None) -> np.ndarray:
    """The cells ``padded[lo:hi]``, each plain decimal digits, as int64; ``empty`` where blank
    (ValueError if not allowed, or a cell holds anything but digits)."""
    widths = hi - lo
    width = int(widths.max(initial=0))
    if width > MAX_DIGITS or (empty is None and not widths.all()):
        raise InputError("a cell is too long, or blank where a number must be")
    if width <= 8:
        out = _eight_digits(padded, lo, hi)
    else:
        out = np.zeros(widths.size, dtype=np.int64)
        for j in range(width):  # the digit j places from the right
            there = widths > j
            digit = np.where(there, padded[hi - 1 - j] - np.uint8(ord("0")), 0)
            if (digit > 9).any():
                raise InputError("a cell holds more than digits")
            out += digit.astype(np.int64) * 10**j
    if empty is not None:
        out[widths == 0] = empty
    return out


def _eight_digits(padded: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The cells ``padded[lo:hi]`` of at most 8 digits as int64, eight bytes at a time (the
    cell's bytes in the top of a little-endian word, ``'0'`` below: Lemire's method)."""
    words = np.ndarray((padded.size - 7,), dtype="<u8", buffer=padded, strides=(1,))
    below = KEEP_BYTES[np.minimum(hi - lo, 8)]  # the bytes before the cell, to read as '0'
    w = (words[hi - 8] & ~below) | (ZEROS & below)
    if ((w & HIGH_NIBBLES) | (((w + SIXES) & HIGH_NIBBLES) >> np.uint64(4)) != THREES).any():
        raise InputError("a cell holds more than digits")
    d = w - ZEROS
    d = d * np.uint64(10) + (d >> np.uint64(8))
    d = ((d & PAIRS) * np.uint64(100 + (1000000 << 32))
         + ((d >> np.uint64(16)) & PAIRS) * np.uint64(1 + (10000 << 32))) >> np.uint64(32)
    return d.astype(np.int64)


def _floats(padded: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The cells ``padded[lo:hi]`` converted as by ``float()`` (ValueError where one is not);
    ``padded`` ends in ``MAX_CELL`` zero bytes."""
    widths = hi - lo
    width = int(widths.max(initial=0))
    if width > MAX_CELL or not widths.all():
        raise InputError("a cell is too long, or blank where a number must be")
    windows = np.ndarray((padded.size - width,), dtype=f"S{width}", buffer=padded, strides=(1,))
    text = windows[lo].view(np.uint8).reshape(lo.size, width)  # each cell and what follows
    text[np.arange(width) >= widths[:, None]] = 0
    return text.view(f"S{width}").ravel().astype(np.float64)
