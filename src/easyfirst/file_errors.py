"""Files that may be damaged, read or described in easyfirst's own words.

NumPy, torch and the zip module explain a bad file in their own terms (``allow_pickle``
advice, the ``weights_only`` essay, ``No data left in file``). The one-line errors of
easyfirst say instead what the file looks like: :func:`looks_like` (empty, a damaged zip
archive, a pickle, text, ...), beside what was expected and what to do. :func:`read_npz`
and :func:`load_npy` read arrays (a run's or a user's) that way.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from easyfirst.errors import InputError

_SIGNATURES = ((b"PK", "a damaged or truncated zip archive, or one holding Python objects"),
               (b"\x93NUMPY", "a NumPy .npy array (holding Python objects, or cut short)"),
               (b"\x80", "a Python pickle"))


def looks_like(path: str | os.PathLike[str]) -> str:
    """What the file at ``path`` looks like, for the ``got ...`` of a one-line error."""
    p = Path(path)
    try:
        size = p.stat().st_size
        with open(p, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        return f"a file that cannot be opened ({(exc.strerror or 'unreadable').lower()})"
    if size == 0:
        return "an empty file"
    for magic, what in _SIGNATURES:
        if head.startswith(magic):
            return what
    text = head.isascii() and all(32 <= b < 127 or b in b"\t\r\n" for b in head)
    return f"{'a text file' if text else 'a file in another format'} ({size} bytes)"


def read_npz(path: str | os.PathLike[str], *, what: str, fix: str) -> dict[str, np.ndarray]:
    """The arrays of the ``.npz`` file ``path`` by name, or one line naming the file, saying it
    is not ``what`` (garbage, truncated, a lone ``.npy`` array, pickled objects), and ``fix``."""
    try:
        with open(path, "rb") as fh:  # closed here even when numpy gives up half-way
            z = np.load(fh, allow_pickle=False)
            if isinstance(z, np.ndarray):
                got = "a single .npy array"
            else:
                with z:
                    return {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, zlib.error):
        got = looks_like(path)
    raise InputError(f"{str(path)!r} is not {what}: expected a NumPy .npz archive of named "
                     f"arrays; got {got}. {fix}")


def load_npy(p: str | os.PathLike[str], *, what: str) -> np.ndarray:
    """The array of the ``.npy`` file ``p`` (a user's input), or one line naming it."""
    try:
        with open(p, "rb") as fh:  # closed here even when numpy gives up half-way
            arr = np.load(fh, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        arr = None
    if not isinstance(arr, np.ndarray):
        raise InputError(f"{str(p)!r} is not {what}: expected a numeric array saved with "
                         f"numpy.save; got {looks_like(p)}. Save it again with numpy.save.")
    return arr
