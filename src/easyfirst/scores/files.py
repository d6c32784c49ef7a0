"""Score files: written atomically and read back validated, as CSV (text) or ``.npz``
(binary) by the path's suffix.

Both hold the same JSON header (format, version, N, direction, meta), N scores in sample order
and their easy-to-hard ranks (none when a score is NaN): the CSV is
``easyfirst.scores.csv_file``, the ``.npz`` ``easyfirst.scores.npz``, and both are checked by
``easyfirst.scores.checks``. Writes are atomic (``easyfirst.atomic``); reads validate
everything and name the file.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from easyfirst.atomic import atomic_write
from easyfirst.scores.checks import (
    ScoresFileError,
    check_dataset,
    check_finite,
    check_header,
    check_order,
    check_ranks,
    header_count,
    parse_header,
)
from easyfirst.scores.csv_file import open_csv, sample_cells, write_csv
from easyfirst.scores.npz import open_npz, write_npz


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
    cells = None if samples is None else sample_cells(samples, values.size)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            if is_npz(p):
                write_npz(fh, text, values, ranks)
            else:
                write_csv(fh, text, values, ranks, cells)
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
    text, body = (open_npz if is_npz(p) else open_csv)(p)
    header = parse_header(p, text)
    n = header_count(p, header)
    check_dataset(p, header, n, expect_fingerprint, expect_num_samples)
    check_header(p, header)
    values, ranks = body(n)
    check_finite(p, values, allow_nan=allow_nan)
    check_ranks(p, ranks, n)
    check_order(p, header, values, ranks)
    return header, values, ranks


def read_score_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON header of a score file, parsed but not checked against a dataset.

    Raises:
        ScoresFileError: not a score file (as :func:`read_score_file` says).
    """
    p = Path(path)
    text, _ = (open_npz if is_npz(p) else open_csv)(p)
    return parse_header(p, text)
