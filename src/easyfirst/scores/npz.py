"""The ``.npz`` score file: arrays ``header`` (the JSON text), ``values`` (float64) and
``rank`` (int64, empty without ranks); the fast one at large N (no text to format or parse:
see ``benchmarks/score_file_speed.py``)."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np

from easyfirst.errors import InputError
from easyfirst.file_errors import looks_like
from easyfirst.scores.checks import Body, ScoresFileError, check_count

NPZ_ARRAYS = ["header", "rank", "values"]


def write_npz(fh: IO[bytes], header: str, values: np.ndarray, ranks: np.ndarray | None) -> None:
    rank = np.empty(0, np.int64) if ranks is None else ranks
    np.savez(fh, header=np.array(header), values=values, rank=rank)


def open_npz(p: Path) -> tuple[str, Callable[[int], Body]]:
    """The header text of ``.npz`` file ``p``, and a reader of its N scores and ranks."""
    try:
        with open(p, "rb") as fh:  # closed here even when numpy gives up half-way
            z = np.load(fh, allow_pickle=False)
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise InputError("one .npy array, not an .npz archive")
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
        check_count(p, n, values.size, "scores")
        if rank.size:
            check_count(p, n, rank.size, "ranks")
        return values.astype(np.float64, copy=False), rank.astype(np.int64) if rank.size else None

    return str(header[()]), body
