"""A score distribution in a few numbers: quantiles, distinct values and the largest tie, the
easiest and hardest samples (``Scores.summary``, rounded for people to read)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from easyfirst.scores.ties import tie_rule_text

if TYPE_CHECKING:
    from easyfirst.scores.base import Scores

QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
DIGITS = 6  # significant digits of the summary's numbers (the scores keep every bit)


def _round(x: float) -> float:
    """``x`` to ``DIGITS`` significant digits: ``0.58000000000011`` -> ``0.58``."""
    return float(f"{x:.{DIGITS}g}")


def distinct_values(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct finite values and their counts, equal to 12 decimals (sorted, as np.unique).

    Seed means of equal counts can differ in the last bit (0.1 + 0.2 != 0.3), so values are
    compared after rounding.
    """
    v = np.asarray(values, dtype=np.float64)
    v = np.sort(np.round(v[np.isfinite(v)], 12))
    starts = np.flatnonzero(np.r_[True, v[1:] != v[:-1]]) if v.size else np.arange(0)
    return v[starts], np.diff(np.r_[starts, v.size])


def summarize(scores: Scores, *, ids: Sequence[str] | None = None, top: int = 5
              ) -> dict[str, Any]:
    """Distribution (to 6 significant digits), number of unique values, largest tie, easiest
    and hardest samples of ``scores``."""
    v = scores.values[~np.isnan(scores.values)]
    uniq, counts = distinct_values(v)
    order = scores.easy_to_hard() if v.size == scores.num_samples else np.arange(0)
    name = (lambda i: ids[i]) if ids is not None else (lambda i: int(i))
    return {
        "scorer": scores.scorer,
        "N": scores.num_samples,
        "direction": "higher_is_easier" if scores.higher_is_easier else "lower_is_easier",
        "min": _round(v.min()) if v.size else math.nan,
        "max": _round(v.max()) if v.size else math.nan,
        "mean": _round(v.mean()) if v.size else math.nan,
        "std": _round(v.std()) if v.size else math.nan,
        "quantiles": {str(q): _round(x) for q, x in zip(QUANTILES, np.quantile(
            v, QUANTILES).tolist(), strict=True)} if v.size else {},
        "num_nan": int(scores.num_samples - v.size),
        "num_unique": int(uniq.size),
        "largest_tie": int(counts.max()) if counts.size else 0,
        "largest_tie_value": _round(uniq[counts.argmax()]) if counts.size else math.nan,
        "ties": tie_rule_text(scores.meta),
        "easiest": [name(i) for i in order[:top]],
        "hardest": [name(i) for i in order[::-1][:top]],
    }
