"""Import and export of aucurriculum (0.1.x) score CSVs.

aucurriculum's final score file has the dataset's columns, then ``encoded, decoded, mean,
ranks`` (CumAcc adds ``sum, count``); row position = training-set index; ``ranks`` is the
min-max normalised rank, lower = easier, ties broken by row order. Its per-run ``scores.csv``
has a ``scores`` column (or ``sum``/``count`` for CumAcc).
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from easyfirst.atomic import atomic_write_text
from easyfirst.errors import InputError
from easyfirst.scores.base import Scores
from easyfirst.scores.checks import ScoresFileError

# aucurriculum scorer class -> (easyfirst name, higher_is_easier); reverse_score=True means
# a higher mean is easier.
AUCURRICULUM_SCORERS: dict[str, tuple[str, bool]] = {
    "CumulativeAccuracy": ("cumacc", True),
    "TransferTeacher": ("transfer_teacher", True),
    "CELoss": ("celoss", False),
    "FirstIteration": ("fit", False),
    "CVLoss": ("cvloss", False),
    "PredictionDepth": ("prediction_depth", False),
    "CScore": ("cscore", True),
}


def read_aucurriculum(
    path: str | os.PathLike[str],
    *,
    scorer: str | None = None,
    higher_is_easier: bool | None = None,
    dataset_fingerprint: str | None = None,
) -> Scores:
    """Read an aucurriculum score CSV (final ``<ScoreId>.csv`` or per-run ``scores.csv``).

    The direction comes from ``higher_is_easier``, else from the ``ranks`` column, else from
    the scorer name (the file's stem, or its folder's name for ``scores.csv``). The tie rule is
    ``dataset-order``, aucurriculum's, so ``ranks()`` reproduces the file's ranks.
    """
    p = Path(path)
    rows = _read_rows(p)
    cols = rows[0].keys()
    if "mean" in cols:
        values = _column(p, rows, "mean")
    elif "scores" in cols:
        values = _column(p, rows, "scores")
    elif {"sum", "count"} <= set(cols):
        count = _column(p, rows, "count")
        if (count <= 0).any():
            raise ScoresFileError(
                f"{str(p)!r} line {int(np.argmax(count <= 0)) + 2}: column 'count' is "
                f"{count[count <= 0][0]:g}; expected a positive count per sample."
            )
        values = _column(p, rows, "sum") / count
    else:
        raise ScoresFileError(
            f"{str(p)!r}: expected a 'mean', 'scores' or 'sum'+'count' column; got "
            f"{', '.join(cols)}. Is this an aucurriculum score file?"
        )
    name = scorer or (p.parent.parent.name if p.name == "scores.csv" else p.stem)
    known = AUCURRICULUM_SCORERS.get(name)
    if higher_is_easier is None and "ranks" in cols:
        ranks = _column(p, rows, "ranks")
        if np.ptp(values) > 0 and np.ptp(ranks) > 0:
            higher_is_easier = bool(np.corrcoef(values, ranks)[0, 1] < 0)
    if higher_is_easier is None:
        if known is None:
            raise ScoresFileError(
                f"{str(p)!r}: cannot tell whether higher scores are easier for scorer {name!r}; "
                "pass higher_is_easier=True/False."
            )
        higher_is_easier = known[1]
    meta: dict[str, Any] = {
        "scorer": known[0] if known else name,
        "params": {"source": "aucurriculum", "file": p.name},
        "seeds": [],
        "dataset_fingerprint": dataset_fingerprint,
        "tie_break": "dataset-order",
    }
    if "encoded" in cols:
        meta["targets"] = [int(t) for t in _column(p, rows, "encoded")]
    return Scores(values, higher_is_easier=higher_is_easier, meta=meta)


def _read_rows(p: Path) -> list[dict[str, str]]:
    if not p.is_file():
        what = "is a folder, not a file" if p.is_dir() else "does not exist"
        raise ScoresFileError(f"aucurriculum file {str(p)!r} {what}; check the path.")
    try:
        with open(p, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except UnicodeDecodeError as exc:
        raise ScoresFileError(
            f"{str(p)!r} is not a text CSV (byte {exc.object[exc.start]:#04x} at offset "
            f"{exc.start} is not UTF-8); expected an aucurriculum score CSV. Check the path."
        ) from None
    except csv.Error as exc:
        raise ScoresFileError(f"{str(p)!r} is not a readable CSV ({exc}).") from None
    if not rows:
        raise ScoresFileError(f"{str(p)!r}: expected aucurriculum score rows; the file is empty.")
    return rows


def _column(p: Path, rows: list[dict[str, str]], name: str) -> np.ndarray:
    """Column ``name`` as finite floats; a bad cell is named by its line (header = line 1)."""
    cells = [r.get(name) for r in rows]
    ok = [_is_finite_number(c) for c in cells]
    if not all(ok):
        i = ok.index(False)
        raise ScoresFileError(
            f"{str(p)!r} line {i + 2}: column {name!r} is {cells[i]!r}, not a finite number "
            f"({ok.count(False)} of {len(rows)} rows are not); expected a number per sample. "
            "Re-export the scores from aucurriculum."
        )
    return np.array([float(c) for c in cells])  # type: ignore[arg-type]


def _is_finite_number(cell: str | None) -> bool:
    try:
        return math.isfinite(float(cell))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def write_aucurriculum(
    scores: Scores,
    path: str | os.PathLike[str],
    *,
    targets: Sequence[int],
    class_names: Sequence[str],
    dataset_columns: dict[str, Sequence[Any]] | None = None,
) -> Path:
    """Write a file aucurriculum's ``CurriculumPaceManager`` can read.

    Columns: ``dataset_columns`` (default ``index`` = row position), then ``encoded``,
    ``decoded``, ``mean``, ``ranks``; row order = training-set order. ``ranks`` encodes this
    Scores' own easy-to-hard order (with its tie rule) as ``rank / (N - 1)``.
    """
    n = scores.num_samples
    if len(targets) != n:
        raise InputError(f"Expected {n} targets (one per score); got {len(targets)}.")
    cols = dict(dataset_columns) if dataset_columns else {"index": list(range(n))}
    for k, v in cols.items():
        if len(v) != n:
            raise InputError(f"Dataset column {k!r} has {len(v)} rows; expected {n}.")
    ranks = scores.ranks() / max(n - 1, 1)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*cols, "encoded", "decoded", "mean", "ranks"])
    for i in range(n):
        t = int(targets[i])
        w.writerow(
            [
                *(cols[k][i] for k in cols),
                t,
                class_names[t],
                repr(float(scores.values[i])),
                repr(float(ranks[i])),
            ]
        )
    return atomic_write_text(path, buf.getvalue())
