"""Import and export of aucurriculum (0.1.x) score CSVs.

aucurriculum's final score file has the dataset's columns, then ``encoded, decoded, mean,
ranks`` (CumAcc adds ``sum, count``); row position = training-set index; ``ranks`` is the
min-max normalised rank, lower = easier, ties broken by row order. Its per-run ``scores.csv``
has a ``scores`` column (or ``sum``/``count`` for CumAcc).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from easyfirst.scores import Scores, ScoresFileError, atomic_write_text

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
    if not p.is_file():
        raise ScoresFileError(f"aucurriculum file {str(p)!r} does not exist; check the path.")
    with open(p, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ScoresFileError(f"{str(p)!r}: expected aucurriculum score rows; the file is empty.")
    cols = rows[0].keys()
    try:
        if "mean" in cols:
            values = np.array([float(r["mean"]) for r in rows])
        elif "scores" in cols:
            values = np.array([float(r["scores"]) for r in rows])
        elif {"sum", "count"} <= set(cols):
            values = np.array([float(r["sum"]) / float(r["count"]) for r in rows])
        else:
            raise ScoresFileError(
                f"{str(p)!r}: expected a 'mean', 'scores' or 'sum'+'count' column; got "
                f"{', '.join(cols)}. Is this an aucurriculum score file?"
            )
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ScoresFileError):
            raise
        raise ScoresFileError(f"{str(p)!r}: a score value is not a number ({exc}).") from None
    name = scorer or (p.parent.parent.name if p.name == "scores.csv" else p.stem)
    known = AUCURRICULUM_SCORERS.get(name)
    if higher_is_easier is None and "ranks" in cols:
        ranks = np.array([float(r["ranks"]) for r in rows])
        if np.ptp(values) > 0:
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
        meta["targets"] = [int(r["encoded"]) for r in rows]
    return Scores(values, higher_is_easier=higher_is_easier, meta=meta)


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
        raise ValueError(f"Expected {n} targets (one per score); got {len(targets)}.")
    cols = dict(dataset_columns) if dataset_columns else {"index": list(range(n))}
    for k, v in cols.items():
        if len(v) != n:
            raise ValueError(f"Dataset column {k!r} has {len(v)} rows; expected {n}.")
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
