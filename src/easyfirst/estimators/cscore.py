"""C-score (Jiang et al. 2021): expected held-out accuracy over models trained on random subsets.

For each subset ratio r (fraction of the training split a model is trained on) the scorer
trains ``subset_runs`` models on random subsets of size ``round(r * N)`` (``folds.
holdout_windows``: one seeded permutation per ratio, consecutive held-out windows, so the runs
hold out every sample as evenly as possible) and records, for each sample, whether the models
that did *not* train on it classify it correctly. A sample's C-score is the mean over ratios
of its held-out accuracy at that ratio, over the ratios at which it was held out at least
once (``meta["heldout_coverage"]`` gives, per ratio, the fraction of samples held out). Higher
= easier (more consistent with the rest of the data). Cost: ``len(ratios) * subset_runs``
trainings per seed.

Precomputed C-scores (e.g. the published CIFAR-10 file of Jiang et al.) are read with
``cscore_file`` instead: ``.npy`` (N,), ``.npz`` with ``scores`` (and optionally ``labels``,
checked against the targets), a CSV ``index,score`` (header optional) or an easyfirst score
CSV; no training then.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from easyfirst.data.base import DatasetBundle
from easyfirst.errors import InputError, MissingFileError
from easyfirst.estimators.base import ScorerOutput, register_estimator
from easyfirst.estimators.cvloss import heldout_eval, part_bundle
from easyfirst.estimators.folds import check_ratios, complement, holdout_windows
from easyfirst.file_errors import load_npy, read_npz
from easyfirst.scores import Scores
from easyfirst.scoring.base import Param, float_list
from easyfirst.training.config import RunConfig
from easyfirst.training.loop import train

DEFAULT_RATIOS = (0.1, 0.3, 0.5, 0.7, 0.9)


def cscore_from_outcomes(
    correct: torch.Tensor | np.ndarray,
    held_out: torch.Tensor | np.ndarray,
    ratio_index: Sequence[int] | np.ndarray,
    num_ratios: int,
) -> tuple[np.ndarray, np.ndarray]:
    """C-scores from R subset runs.

    Args:
        correct: (R, N) bool, run r classified sample n correctly (only read where held out).
        held_out: (R, N) bool, sample n was not in run r's training subset.
        ratio_index: (R,) which ratio (0 .. num_ratios - 1) run r used.
        num_ratios: number of ratios.

    Returns:
        ``scores (N,)``: the mean over ratios of the held-out accuracy, over the ratios at which
        the sample was held out (NaN if never held out); ``per_ratio (num_ratios, N)``: the
        held-out accuracy per ratio (NaN where never held out).

    Example:
        >>> correct = np.array([[1, 0, 1], [1, 1, 0]], dtype=bool)
        >>> held = np.array([[1, 1, 0], [0, 1, 1]], dtype=bool)
        >>> cscore_from_outcomes(correct, held, [0, 0], 1)[0].tolist()
        [1.0, 0.5, 0.0]
    """
    c = np.asarray(correct, dtype=bool)
    h = np.asarray(held_out, dtype=bool)
    ri = np.asarray(ratio_index, dtype=np.int64)
    if c.shape != h.shape or c.ndim != 2 or ri.shape != (c.shape[0],):
        raise InputError(
            f"Expected correct and held_out of shape (R, N) and ratio_index (R,); got "
            f"{c.shape}, {h.shape} and {ri.shape}."
        )
    hits = np.zeros((num_ratios, c.shape[1]))
    seen = np.zeros((num_ratios, c.shape[1]))
    np.add.at(hits, ri, (c & h).astype(np.float64))
    np.add.at(seen, ri, h.astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        per_ratio = np.where(seen > 0, hits / np.maximum(seen, 1), np.nan)
        covered = (seen > 0).sum(0)
        scores = np.where(covered > 0, np.nansum(per_ratio, 0) / np.maximum(covered, 1), np.nan)
    return scores, per_ratio


def load_cscore_file(
    path: str | os.PathLike[str],
    num_samples: int,
    *,
    targets: torch.Tensor | None = None,
    fingerprint: str | None = None,
) -> np.ndarray:
    """Read precomputed C-scores, one per training sample in dataset order, (N,) float64."""

    p = Path(path)
    if not p.is_file():
        raise MissingFileError(f"C-score file {str(p)!r} does not exist; check the path.")
    suffix = p.suffix.lower()
    if suffix == ".npy":
        values = load_npy(p, what="a C-score file")
    elif suffix == ".npz":
        z = read_npz(p, what="a C-score file", fix="Save it with numpy.savez(PATH, scores=...).")
        if "scores" not in z:
            raise InputError(f"Expected an array 'scores' in {str(p)!r}; got {', '.join(z)}.")
        values = z["scores"]
        if "labels" in z and targets is not None and len(z["labels"]) == len(targets):
            diff = int((np.asarray(z["labels"]) != targets.numpy()).sum())
            if diff:
                raise InputError(
                    f"C-score file {str(p)!r} labels differ from the training targets at "
                    f"{diff} samples; expected the same samples in the same order."
                )
    elif suffix == ".csv":
        with open(p, encoding="utf-8") as fh:
            first = fh.readline()
        if first.startswith("# {"):
            values = Scores.load(
                p, expect_num_samples=num_samples, expect_fingerprint=fingerprint
            ).values
        else:
            values = _read_index_score_csv(p, num_samples)
    else:
        raise InputError(
            f"Expected a C-score file .npy, .npz or .csv; got {p.name!r}. Convert it to one."
        )
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size != num_samples:
        raise InputError(
            f"C-score file {str(p)!r} has shape {values.shape} but the training split has "
            f"{num_samples} samples; expected one score per training sample in dataset order."
        )
    if not np.isfinite(values).all():
        raise InputError(f"C-score file {str(p)!r} holds {int((~np.isfinite(values)).sum())} "
                         "NaN or infinite scores; expected finite ones. Fix or recompute them.")
    return values


def _read_index_score_csv(p: Path, n: int) -> np.ndarray:
    with open(p, encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.reader(fh) if r and not r[0].startswith("#")]
    try:
        float(rows[0][1])
    except (ValueError, IndexError):
        rows = rows[1:]  # a header line
    if len(rows) != n:
        raise InputError(
            f"C-score file {str(p)!r} has {len(rows)} rows but the training split has {n} "
            "samples; expected one 'index,score' row per training sample."
        )
    values = np.full(n, np.nan)
    for lineno, row in enumerate(rows, start=1):
        try:
            i, v = int(row[0]), float(row[1])
        except (ValueError, IndexError):
            raise InputError(
                f"{str(p)!r} row {lineno}: expected 'index,score'; got {row!r}."
            ) from None
        if not 0 <= i < n or not np.isnan(values[i]):
            raise InputError(
                f"{str(p)!r} row {lineno}: index {i} is out of range [0, {n}) or repeated."
            )
        values[i] = v
    return values


def _check_runs(n: int, ratios: Sequence[float], runs: int) -> None:
    if int(runs) < 1:
        raise InputError(f"Expected subset_runs >= 1 per ratio; got {runs}.")
    smallest = min(ratios)
    h = n - int(round(smallest * n))
    if runs * h < n:
        need = -(-n // h)
        raise InputError(
            f"subset_runs={runs} at the smallest ratio {smallest} holds out only {runs * h} of "
            f"{n} samples; expected every sample held out at least once. Use subset_runs >= "
            f"{need} or a smaller ratio."
        )


def check_cscore(
    bundle: DatasetBundle,
    cfg: RunConfig,
    *,
    model: Any = None,
    subset_ratios: Sequence[float],
    subset_runs: int,
    cscore_file: str | None,
) -> None:
    """Raise before any training on bad ratios, too few runs or an unusable C-score file."""
    n = len(bundle.train)
    if cscore_file:
        load_cscore_file(
            cscore_file, n, targets=bundle.train.targets, fingerprint=bundle.fingerprint
        )
        return
    ratios = check_ratios(subset_ratios)
    _check_runs(n, ratios, int(subset_runs))
    for ratio in ratios:
        holdout_windows(n, ratio, 1, seed=0)  # subset size between 1 and N - 1


@register_estimator(
    "cscore", higher_is_easier=True,
    description="C-score (Jiang et al. 2021): held-out accuracy over random-subset models",
    params=[
        Param("subset_ratios", float_list,
              "cscore: training fractions in (0, 1), e.g. 0.1,0.3,0.5,0.7,0.9 (the default)"),
        Param("subset_runs", int, "cscore: models per ratio (default 3)"),
        Param("cscore_file", str, "cscore: read precomputed C-scores (.npy (N,), .npz "
              "'scores', CSV index,score)"),
    ],
    check=check_cscore,
    summary_keys=("ratios", "subset_runs", "heldout_coverage", "source"),
    test_params={"subset_ratios": (0.5,), "subset_runs": 2},
)
def cscore(
    bundle: DatasetBundle,
    cfg: RunConfig,
    *,
    seed: int,
    progress: bool = False,
    model: Any = None,
    subset_ratios: Sequence[float] = DEFAULT_RATIOS,
    subset_runs: int = 3,
    cscore_file: str | None = None,
) -> ScorerOutput:
    """C-scores of the training split for one seed (or read from ``cscore_file``).

    Args:
        bundle: the dataset; models train on subsets of ``train``.
        cfg: run configuration of the subset models.
        seed: seeds the subsets and (through derived seeds) the subset models.
        progress: show training progress bars.
        model: unused.
        subset_ratios: training fractions, each in (0, 1).
        subset_runs: models per ratio; at the smallest ratio they must hold out every sample.
        cscore_file: precomputed C-scores to read instead of training.

    Returns:
        ``(N,)`` C-scores (higher = easier); ``info`` states the ratios, runs and the
        held-out coverage per ratio.
    """
    n = len(bundle.train)
    if cscore_file:
        values = load_cscore_file(
            cscore_file, n, targets=bundle.train.targets, fingerprint=bundle.fingerprint
        )
        return ScorerOutput(values, trainings=0, info={"source": f"file {cscore_file}"})

    ratios = check_ratios(subset_ratios)
    runs = int(subset_runs)
    _check_runs(n, ratios, runs)
    correct, held, ratio_index = [], [], []
    for a, ratio in enumerate(ratios):
        ratio_seed = int(np.random.SeedSequence([seed, a]).generate_state(1)[0])
        for j, out_idx in enumerate(holdout_windows(n, ratio, runs, seed=ratio_seed)):
            run_seed = int(np.random.SeedSequence([seed, a, j]).generate_state(1)[0] >> 1)
            res = train(
                part_bundle(bundle, complement(n, out_idx), f"cs{ratio}r{j}"),
                replace(cfg, seed=run_seed),
                record=False,
                progress=progress,
            )
            _, ok = heldout_eval(res.model, bundle, out_idx, cfg)
            c = np.zeros(n, dtype=bool)
            h = np.zeros(n, dtype=bool)
            c[out_idx] = ok.numpy()
            h[out_idx] = True
            correct.append(c)
            held.append(h)
            ratio_index.append(a)
    values, per_ratio = cscore_from_outcomes(
        np.stack(correct), np.stack(held), ratio_index, len(ratios)
    )
    coverage = [float(np.isfinite(per_ratio[a]).mean()) for a in range(len(ratios))]
    return ScorerOutput(
        values,
        trainings=len(correct),
        info={"ratios": list(ratios), "subset_runs": runs, "heldout_coverage": coverage},
    )
