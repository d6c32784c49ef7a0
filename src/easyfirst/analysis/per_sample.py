"""Per-sample results of a score folder: ``easyfirst export`` and ``easyfirst report --hardest``.

One row per training sample, easiest first by one scorer (the score run's first scorer, or ``by``):
``rank`` (0 = easiest; empty where that scorer has no score), ``index`` (training-set
position), ``id`` and ``label`` (``samples.npz``), ``predicted`` (the class the eval passes
over the training set predict, the majority over the seeds, ties to the lower class; empty
without those passes or for multi-label data), each scorer's seed-ensemble score, and
``seed_agreement``: the fraction of seeds whose own rank of the sample (by ``by``) lies in
the same decile as the ensemble's rank (1 = every seed places it alike; empty with fewer than
two seeds' scores).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from easyfirst.analysis.results import Table
from easyfirst.errors import InputError, MissingFileError
from easyfirst.recording.dynamics import TrainingDynamics
from easyfirst.run_folder import read_sample_meta, read_summary
from easyfirst.scores import Scores, atomic_write_text, label_texts

DECILES = 10
FIXED = ["rank", "index", "id", "label", "predicted"]


def is_score_folder(p: Path) -> bool:
    return (p / "run.json").is_file() and any((p / "scores").glob("*.csv"))


def score_folders(root: Path) -> list[Path]:
    """``root`` if it is an ``easyfirst score`` folder, else the score folders in it."""
    if is_score_folder(root):
        return [root]
    return sorted(c for c in root.iterdir() if c.is_dir() and is_score_folder(c))


def seed_dirs(folder: Path) -> list[Path]:
    """A score folder's ``seeds/seed_*`` folders, by seed."""
    dirs = [d for d in (folder / "seeds").glob("seed_*") if d.is_dir()]
    return sorted(dirs, key=lambda d: int(d.name.split("_")[1]) if d.name[5:].isdigit() else 0)


def easy_to_hard(s: Scores) -> np.ndarray:
    """Sample indices from easiest to hardest; samples without a score (NaN) left out."""
    v = np.asarray(s.values, dtype=np.float64)
    if np.isfinite(v).all():
        return s.easy_to_hard()
    finite = np.flatnonzero(np.isfinite(v))
    easiness = v[finite] if s.higher_is_easier else -v[finite]
    return finite[np.argsort(-easiness, kind="stable")]


def _ranks(s: Scores) -> np.ndarray:
    """(N,) position in ``easy_to_hard`` (0 = easiest), -1 where there is no score."""
    ranks = np.full(s.num_samples, -1, dtype=np.int64)
    order = easy_to_hard(s)
    ranks[order] = np.arange(order.size)
    return ranks


def find_score_folder(root: str | Path) -> Path:
    """The score folder of ``root`` (itself, or the one inside a reproduce folder)."""
    p = Path(root)
    found = score_folders(p) if p.is_dir() else []
    if not found:
        raise MissingFileError(
            f"{str(p)!r} is not an easyfirst score folder (expected run.json and scores/*.csv, "
            "or a reproduce folder holding one); per-sample results come from scoring. Pass "
            "the --out folder of easyfirst score or reproduce."
        )
    return found[0]


def seed_agreement(ensemble: Scores, members: list[Scores]) -> np.ndarray:
    """(N,) fraction of ``members`` whose rank lies in the ensemble rank's decile; NaN where
    the ensemble has no score, all NaN with fewer than two members."""
    n = ensemble.num_samples
    if len(members) < 2:
        return np.full(n, np.nan)
    decile = _ranks(ensemble) * DECILES // n
    same = np.mean([_ranks(m) * DECILES // n == decile for m in members], axis=0)
    return np.where(decile >= 0, same, np.nan)


def load_runs(folder: Path) -> list[TrainingDynamics]:
    """The ``dynamics.pt`` of each seed of a score folder, by seed (seeds without one left
    out)."""
    return [TrainingDynamics.load(sd / "dynamics.pt") for sd in seed_dirs(folder)
            if (sd / "dynamics.pt").is_file()]


def _predicted(folder: Path, n: int) -> np.ndarray | None:
    """Majority over the seeds of the eval passes' predicted classes, or ``None``."""
    preds = [d.eval_predicted.numpy() for d in load_runs(folder)
             if d.eval_predicted is not None and d.eval_predicted.numel() == n]
    if not preds:
        return None
    stacked = np.stack(preds)
    votes = np.zeros((n, int(stacked.max()) + 1))
    np.add.at(votes, (np.broadcast_to(np.arange(n), stacked.shape), stacked), 1)
    return votes.argmax(1)


def load_ensembles(folder: Path) -> dict[str, Scores]:
    """The seed-ensemble scores of a score folder, by scorer name."""
    return {p.stem: Scores.load(p, allow_nan=True)
            for p in sorted((folder / "scores").glob("*.csv"))}


def class_names(folder: Path) -> list[str]:
    """The class names a score folder's ``summary.json`` lists ([] without one)."""
    return list(read_summary(folder).get("class_names") or [])


def main_scorer(folder: Path) -> str | None:
    """A score folder's main scorer: the first its run computed (``--scorers cumacc,fit``:
    cumacc), as its ``summary.json`` lists them; without one, the first by name (None: the
    folder holds no scores)."""
    names = [p.stem for p in sorted((folder / "scores").glob("*.csv"))]
    listed = [name for name in read_summary(folder).get("scorers") or {} if name in names]
    return (listed or names)[0] if listed or names else None


def sample_table(root: str | Path, *, by: str | None = None) -> tuple[list[str], list[list[Any]]]:
    """Columns and rows (easiest first) of every training sample of ``root``'s score folder.

    Args:
        root: an ``easyfirst score`` folder, or a reproduce folder holding one.
        by: the scorer that ranks the samples (default: :func:`main_scorer`).

    Returns:
        ``(columns, rows)``: ``rank, index, id, label, predicted, <each scorer>,
        seed_agreement`` (module docstring); ``None`` for an empty cell, floats as they are.
    """
    folder = find_score_folder(root)
    ensembles = load_ensembles(folder)
    by = by or main_scorer(folder) or next(iter(ensembles))
    if by not in ensembles:
        raise InputError(
            f"Unknown scorer {by!r} for --by; {str(folder)!r} has scores of "
            f"{', '.join(ensembles)}. Pass one of those."
        )
    ranking = ensembles[by]
    n = ranking.num_samples
    meta = read_sample_meta(folder)
    names = class_names(folder)
    targets = meta.get("train.targets")
    labels = label_texts(targets, names) if targets is not None and names else [None] * n
    ids = meta["train.ids"].tolist() if "train.ids" in meta else [None] * n
    pred = _predicted(folder, n)
    predicted = label_texts(pred, names) if pred is not None and names else [None] * n
    files = [sd / "scores" / f"{by}.csv" for sd in seed_dirs(folder)]
    members = [Scores.load(f, allow_nan=True) for f in files if f.is_file()]
    agree = seed_agreement(ranking, members)
    ranks = _ranks(ranking)
    order = np.r_[easy_to_hard(ranking), np.flatnonzero(ranks < 0)]
    rows = [[int(ranks[i]) if ranks[i] >= 0 else None, int(i), ids[i], labels[i], predicted[i],
             *(float(s.values[i]) for s in ensembles.values()), float(agree[i])]
            for i in order]
    return [*FIXED, *ensembles, "seed_agreement"], rows


def _cell(x: Any) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return ""
    return repr(x) if isinstance(x, float) else str(x)


def write_sample_csv(root: str | Path, out: str | Path | None = None, *,
                     by: str | None = None) -> Path:
    """Write ``sample_table`` as CSV, atomically (default: ``per_sample.csv`` in the score
    folder); returns the path."""
    path = Path(out) if out is not None else find_score_folder(root) / "per_sample.csv"
    check_csv_target(path)
    return write_table_csv(path, *sample_table(root, by=by))


def check_csv_target(path: Path) -> None:
    """Refuse (one line) an ``--out`` that is an existing folder."""
    if path.is_dir():
        raise InputError(
            f"Expected --out to be a CSV file; got {str(path)!r}, an existing folder. Pass a "
            "file name such as samples.csv (nothing was changed)."
        )


def write_table_csv(path: Path, columns: list[str], rows: list[list[Any]]) -> Path:
    """``columns`` and ``rows`` as CSV at ``path``, atomically (empty cells for None/NaN)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([_cell(c) for c in r] for r in rows)
    return atomic_write_text(path, buf.getvalue())


def hardest_table(root: str | Path, k: int, *, by: str | None = None) -> Table:
    """The ``k`` hardest training samples by ``by``, hardest first, as a ``Table``."""
    if k < 1:
        raise InputError(f"Expected --hardest K >= 1 (samples to show); got {k}. Pass e.g. 10.")
    by = by or main_scorer(find_score_folder(root))
    columns, rows = sample_table(root, by=by)
    ranked = [r for r in rows if r[0] is not None]
    shown = ranked[::-1][:k]
    fmt = [(lambda x: _cell(x)) if i < len(FIXED) else
           (lambda x: "-" if x is None or not math.isfinite(x) else f"{x:.4g}")
           for i in range(len(columns))]
    return Table(
        f"The {len(shown)} hardest training samples by {by or columns[len(FIXED)]}",
        columns[:-1] + ["seed agreement"],
        [[f(c) or "-" for f, c in zip(fmt, r, strict=True)] for r in shown],
        note=f"rank 0 = easiest of {len(rows)}; predicted: the eval passes' majority class over "
        "the seeds; seed agreement: the fraction of seeds ranking the sample in the same "
        "decile as the ensemble.")
