"""Python's ``repr()`` of many floats and ``str()`` of many whole numbers at once, vectorised:
the text of a score CSV's cells without a Python call per cell.

``repr(x)`` is the shortest decimal that reads back as ``x`` (the one nearest ``x`` where
several do), written with an exponent below 1e-4 and from 1e16 on. Formatting 2 M scores one
``repr`` at a time takes about 1 s; here numpy computes the same text for every value whose
magnitude is in [1e-6, 1e15) (scores are), exactly:

- ``x * 10**k`` is ``hi + lo`` exactly (Dekker's product; ``10**k`` is a double for k <= 22),
  which gives the 17-digit integer nearest ``x``'s scaled value, and from it the nearest
  decimals of 15 and 16 digits;
- a decimal reads back as ``x`` when it lies inside ``x``'s rounding interval (half a unit in
  the last place on either side), decided from the same exact sum; the first of 15, 16, 17
  digits that does, stripped of trailing zeros, is ``repr``'s digits: a shorter decimal that
  reads back is the 15-digit one with zeros, and at 16 or 17 digits the nearest wins.

What that leaves out goes through ``repr`` itself: other magnitudes, zeros, NaN, powers of two
(their rounding interval is lopsided), and values within 1e-6 of a rounding boundary, where
double arithmetic cannot tell the side. ``tests/test_score_files.py`` compares the two on
millions of values.

The texts come as rows of bytes in which zero bytes are padding, also between characters:
the writer drops every zero byte of a chunk at once (:func:`joined`).
"""

from __future__ import annotations

import numpy as np

DIGITS = 17
WIDTH = 1 + 24  # a sign column, then the longest repr of a float64: '2.2250738585072014e-308'
POW10 = np.array([float(10**k) for k in range(23)])  # each exact
SPLIT = 134217729.0  # 2**27 + 1: Veltkamp's split of a double into two 26-bit halves
POW10_HI = SPLIT * POW10 - (SPLIT * POW10 - POW10)  # POW10 split so (Dekker's product)
POW10_LO = POW10 - POW10_HI
MARGIN = 1e-6  # this close to a rounding boundary (in units of the last digit): repr() decides
ASCII_0, DOT, MINUS = ord("0"), ord("."), ord("-")
# "0000" .. "9999": four ASCII digits of each number below 10**4, one uint32 each
QUADS = np.frombuffer(b"".join(b"%04d" % i for i in range(10**4)), dtype=np.uint32)
# KEEP_BYTES[b]: a mask of the lowest 8 - b bytes of a uint64 (its first 8 - b characters)
KEEP_BYTES = np.array([(1 << 8 * (8 - b)) - 1 for b in range(9)], dtype=np.uint64)
TAILS = np.array([list(b"e-06"), list(b"e-05"), [0] * 4], dtype=np.uint8)  # -6, -5, other
POWERS = np.array([10**j for j in range(1, 19)], dtype=np.int64)  # 10 .. 10**18


def joined(rows: np.ndarray) -> bytes:
    """The bytes of (N, W) uint8 ``rows``, row after row, without their zero bytes."""
    flat = rows.ravel()
    return flat[flat != 0].tobytes()


def int_texts(n: np.ndarray) -> np.ndarray:
    """(N, W) uint8: ``str(n[i])`` of non-negative int64 ``n`` in row i, padded with zeros."""
    width = 8 * max(1, -(-len(str(int(n.max(initial=0)))) // 8))
    words = _ascii_digits(n, width).view(np.uint64)  # then clear the leading zeros:
    lead = width - 1 - np.searchsorted(POWERS, n, side="right")  # leading zeros of each
    for j in range(width // 8):  # (little-endian: a word's first byte is its lowest)
        words[:, j] &= ~KEEP_BYTES[8 - np.clip(lead - 8 * j, 0, 8)]
    return words.view(np.uint8)


def float_texts(values: np.ndarray) -> np.ndarray:
    """(N, W >= ``WIDTH``) uint8: ``repr(float(values[i]))`` in row i, with zero bytes between
    and after its characters (see :func:`joined`)."""
    v = np.asarray(values, dtype=np.float64)
    ax = np.abs(v)
    fast = (ax >= 1e-6) & (ax < 1e15) & (np.frexp(ax)[0] != 0.5)
    digits, exponent, sure = _shortest(np.where(fast, ax, 1.5))
    fast &= sure
    out = _lay_out(digits, np.where(fast, exponent, -1))
    out[:, 0] = np.where(v < 0, MINUS, 0)
    rest = np.flatnonzero(~fast)
    if rest.size:  # repr() of each distinct value left (by its bits: -0.0 is not 0.0)
        kinds, where = np.unique(v[rest].view(np.int64), return_inverse=True)
        texts = np.array([repr(x).encode() for x in kinds.view(np.float64).tolist()],
                         dtype=f"S{WIDTH - 1}")
        out[rest] = 0
        out[rest, 1:WIDTH] = texts.view(np.uint8).reshape(-1, WIDTH - 1)[where.ravel()]
    return out


def _ascii_digits(n: np.ndarray, width: int) -> np.ndarray:
    """(N, width) uint8: the last ``width`` (a multiple of 4) decimal digits of int64 ``n``."""
    quads = np.empty((n.size, width // 4), dtype=np.uint32)
    x = n
    for j in range(width // 4 - 1, -1, -1):
        x, r = np.divmod(x, 10**4)
        quads[:, j] = QUADS[r]
    return quads.view(np.uint8).reshape(n.size, width)


def _split(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Veltkamp's split: ``a == hi + lo`` with each half 26 bits long."""
    c = SPLIT * a
    hi = c - (c - a)
    return hi, a - hi


def _scaled(a: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(p, e)`` with ``p = fl(a * 10**k)`` and ``p + e == a * 10**k`` exactly (Dekker's
    product, no FMA needed), for ``k`` in [0, 22]."""
    b, bh, bl = POW10[k], POW10_HI[k], POW10_LO[k]
    p = a * b
    ah, al = _split(a)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _shortest(ax: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For positive ``ax`` in [1e-6, 1e15): ``repr``'s digits as a 17-digit int64 (trailing
    zeros where it has fewer), the decimal exponent of the first digit, and whether both are
    sure."""
    e = np.floor(np.log10(ax)).astype(np.int64)  # may be one off next to a power of 10
    hi, lo = _scaled(ax, np.clip(DIGITS - 1 - e, 0, 22))
    for step, wrong in ((-1, hi < 10 ** (DIGITS - 1)), (1, hi >= 10**DIGITS)):
        e[wrong] += step
        hi[wrong], lo[wrong] = _scaled(ax[wrong], np.clip(DIGITS - 1 - e[wrong], 0, 22))
    whole = np.floor(hi)
    frac = (hi - whole) + lo  # ax * 10**k == whole + frac, frac in (-9, 9)
    shift = np.floor(frac)
    w = whole.astype(np.int64) + shift.astype(np.int64)  # the integer part, 17 digits
    f = frac - shift  # the fractional part, in [0, 1)
    bound = np.spacing(ax) * 0.5 * POW10[np.clip(DIGITS - 1 - e, 0, 22)]  # half an ulp
    sure = (e >= -6) & (e <= 14) & (w >= 10 ** (DIGITS - 1)) & (w < 10**DIGITS)
    digits, todo = np.zeros_like(w), np.ones(ax.size, dtype=bool)
    for drop in (100, 10, 1):  # 15, 16, 17 digits: the nearest decimal of each
        q, r = np.divmod(w, drop) if drop > 1 else (w, 0)
        remainder = r + f  # in units of the 17th digit, below drop
        up = remainder > drop / 2
        off = up * drop - remainder  # the decimal less ax, in units of the 17th digit
        size = np.abs(off)
        sure &= ~(todo & ((np.abs(remainder - drop / 2) < MARGIN)
                          | (np.abs(size - bound) < MARGIN)))
        take = todo & (size < bound)
        digits = np.where(take, (q + up) * drop, digits)
        todo &= ~take
    carry = digits == 10**DIGITS  # 9.99..95 rounded up to 10.0
    digits[carry] //= 10
    return digits, e + carry, sure & ~todo


def _lay_out(digits: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    """(N, W >= ``WIDTH``) uint8, column 0 left for the sign: ``repr``'s text of ``digits``
    (17, padded with trailing zeros) with the decimal exponent ``exponent`` of the first, in
    [-6, 15], with zero bytes where a row leaves out a character.

    Every row has the same columns: a prefix ``0.``, ``0.0``, ... (below 1), then each digit
    followed by a slot for the point (after digit ``exponent`` from 1 on, after the first
    digit with an exponent), then the exponent (below 1e-4).
    """
    quads = np.zeros((digits.size, 6), dtype=np.uint32)  # a spare quad, then 20 digits
    quads[:, 1:] = _ascii_digits(digits, 20).view(np.uint32)
    text = quads.view(np.uint8)[:, 7:]  # the 17 digits
    last = DIGITS - 1 - np.argmax(text[:, ::-1] != ASCII_0, axis=1)  # the last nonzero digit
    drop = DIGITS - 1 - np.where(exponent < 0, last, np.maximum(last, exponent + 1))
    words = quads.view(np.uint64)  # the last 16 digits are words 1 and 2: drop their zeros
    words[:, 2] &= KEEP_BYTES[np.minimum(drop, 8)]
    words[:, 1] &= KEEP_BYTES[np.maximum(drop - 8, 0)]
    slots = max(1, int(exponent.max(initial=0)) + 1)  # points after the first `slots` digits
    scientific = exponent < -4
    out = np.zeros((digits.size, max(WIDTH, 6 + DIGITS + slots + 4)), dtype=np.uint8)
    below_one = (exponent < 0) & ~scientific  # 0.00123
    out[:, 1] = np.where(below_one, ASCII_0, 0)
    out[:, 2] = np.where(below_one, DOT, 0)
    for col, exp in ((3, -2), (4, -3), (5, -4)):
        out[:, col] = np.where(below_one & (exponent <= exp), ASCII_0, 0)
    out[:, 6:6 + 2 * slots:2] = text[:, :slots]
    point = np.where(exponent[:, None] == np.arange(slots), DOT, 0)
    point[:, 0] |= np.where(scientific & (last > 0), DOT, 0)
    out[:, 7:7 + 2 * slots:2] = point
    out[:, 6 + 2 * slots:6 + slots + DIGITS] = text[:, slots:]
    if scientific.any():
        out[:, 6 + slots + DIGITS:10 + slots + DIGITS] = TAILS[np.clip(exponent, -6, -4) + 6]
    return out

