"""A file that could not be read, described in easyfirst's own words.

NumPy, torch and the zip module explain a bad file in their own terms (``allow_pickle``
advice, the ``weights_only`` essay, ``No data left in file``). The one-line errors of
easyfirst say instead what the file looks like: :func:`looks_like` (empty, a damaged zip
archive, a pickle, text, ...), beside what was expected and what to do.
"""

from __future__ import annotations

import os
from pathlib import Path

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
