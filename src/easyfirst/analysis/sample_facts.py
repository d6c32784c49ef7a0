"""Scores and accuracies against known per-sample facts (``samples.npz`` of a score folder).

A dataset may know something about each sample's difficulty: synthkws mixes every clip at a
recorded SNR (``meta["snr_db"]``). For every numeric meta column this gives, per scorer, the
Spearman correlation of the seed-ensemble *easiness* with the column, the mean score per band
of the column, and the test accuracy of each scoring run per band, so a reader sees at once
whether the scores track the fact and whether the models that made them learned.

Bands are four (at most five) equal-width intervals on "nice" edges (steps of 1, 2, 2.5 or 5
times a power of ten) covering the column's range: synthkws's -10..30 dB SNR gives
-10/0/10/20/30.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from easyfirst.analysis.results import Table
from easyfirst.run_folder import read_json, read_sample_meta
from easyfirst.scores import Scores
from easyfirst.targets import DEFAULT_CORRECTNESS, correctness

NUM_BANDS = 4


def nice_edges(values: np.ndarray, bands: int = NUM_BANDS) -> np.ndarray:
    """Band edges covering ``values`` with a round step.

    Example:
        >>> nice_edges(np.array([-9.8, 29.7])).tolist()
        [-10.0, 0.0, 10.0, 20.0, 30.0]
    """
    lo, hi = float(np.min(values)), float(np.max(values))
    if hi <= lo:
        return np.array([lo, lo + 1.0])
    raw = (hi - lo) / bands
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw - 1e-12)
    start = math.floor(lo / step) * step
    count = max(1, math.ceil((hi - start) / step - 1e-9))
    return start + step * np.arange(count + 1)


def band_labels(edges: np.ndarray) -> list[str]:
    return [f"{a:g} to {b:g}" for a, b in zip(edges[:-1], edges[1:], strict=True)]


def band_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Band of each value: ``[e_i, e_{i+1})``, the last band closed."""
    return np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)


def _bands(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``band_index``, -1 where the value is NaN (a fact a sample does not have)."""
    return np.where(np.isfinite(values), band_index(np.nan_to_num(values), edges), -1)


def _easiness(s: Scores) -> np.ndarray:
    v = np.asarray(s.values, dtype=np.float64)
    return v if s.higher_is_easier else -v


def _test_correct(seed_dirs: list[Path], test_ids: np.ndarray, rule: str
                  ) -> dict[str, np.ndarray]:
    """Per seed with ``predictions.npz``: test correctness (N_test,) aligned to ``test_ids``."""
    out: dict[str, np.ndarray] = {}
    where = {str(i): k for k, i in enumerate(test_ids)}
    for sd in seed_dirs:
        path = sd / "predictions.npz"
        if not path.is_file():
            continue
        with np.load(path, allow_pickle=False) as z:
            if "test_probs" not in z.files:
                continue
            correct = (correctness(torch.from_numpy(z["test_logits"]),
                                   torch.from_numpy(z["test_targets"]), rule) >= 0.5).numpy()
            ids = z["test_ids"]
        if len(ids) != len(test_ids) or any(str(i) not in where for i in ids):
            continue
        aligned = np.zeros(len(test_ids), dtype=bool)
        aligned[[where[str(i)] for i in ids]] = correct
        out[sd.name.replace("seed_", "seed ")] = aligned
    return out


def fact_tables(folder: Path, ensembles: dict[str, Scores], seed_dirs: list[Path]
                ) -> list[Table]:
    """The tables for every numeric train meta column of ``folder/samples.npz`` (may be [])."""
    arrays = read_sample_meta(folder)
    if not arrays or not ensembles:
        return []
    n = len(next(iter(ensembles.values())).values)
    facts = {k.split(".", 2)[2]: v.astype(np.float64) for k, v in arrays.items()
             if k.startswith("train.meta.") and len(v) == n
             and len(np.unique(v[np.isfinite(v.astype(np.float64))])) > 1}
    if not facts:
        return []
    tables = [Table(
        "Spearman of each score with the known per-sample facts", ["scorer", *facts],
        [[name, *(f"{spearmanr(_easiness(s)[ok], v[ok]).statistic:.3f}"
                  for v in facts.values() for ok in [np.isfinite(v)])]
         for name, s in ensembles.items()],
        note="seed-ensemble scores as easiness (sign flipped where lower is easier); "
        "positive: samples with a higher value score as easier; samples without a value "
        "(NaN) are left out.")]
    # multi-label: the share of test samples correct (>= 0.5) by the runs' rule
    run = folder / "run.json"  # the runs' own rule (config.correctness)
    saved = read_json(run, what="the runs' settings") if run.is_file() else {}
    rule = (saved.get("config") or saved.get("settings") or {}).get("correctness",
                                                                     DEFAULT_CORRECTNESS)
    what = (f"share with {rule} >= 0.5" if arrays["train.targets"].ndim == 2
            else "accuracy")
    for col, train_v in facts.items():
        edges = nice_edges(train_v[np.isfinite(train_v)])
        band = _bands(train_v, edges)
        labels = band_labels(edges)
        counts = np.bincount(band[band >= 0], minlength=len(labels))
        tables.append(Table(
            f"Mean score per {col} band (training split)",
            [col, "samples", *ensembles],
            [[lab, str(counts[b]), *(f"{np.asarray(s.values)[band == b].mean():.4g}"
                                     if counts[b] else "-" for s in ensembles.values())]
             for b, lab in enumerate(labels)]))
        test_key = f"test.meta.{col}"
        if test_key not in arrays:
            continue
        correct = _test_correct(seed_dirs, arrays["test.ids"], rule)
        if not correct:
            continue
        test_band = _bands(arrays[test_key].astype(np.float64), edges)
        test_counts = np.bincount(test_band[test_band >= 0], minlength=len(labels))
        mean_all = np.mean(list(correct.values()), axis=0)
        tables.append(Table(
            f"Test {what} of the scoring runs per {col} band",
            [col, "test samples", *correct, "mean"],
            [[lab, str(test_counts[b]),
              *(f"{c[test_band == b].mean():.3f}" if test_counts[b] else "-"
                for c in correct.values()),
              f"{mean_all[test_band == b].mean():.3f}" if test_counts[b] else "-"]
             for b, lab in enumerate(labels)],
            note="each run's evaluated checkpoint (best on dev, or last) on the test split; "
            "bands as above."))
    return tables
