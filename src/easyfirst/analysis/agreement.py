"""Agreement between difficulty scores: Spearman and Kendall rank correlations.

Scores are compared as *easiness* (``values`` if ``higher_is_easier`` else ``-values``), so a
positive correlation always means "the two scorers call the same samples easy", whatever
each scorer's direction. Scores are keyed by ``(dataset fingerprint, index)``: only scores of
the same dataset (same fingerprint, same N) are compared; samples that are NaN in either
score of a pair are left out of that pair.

Example:
    >>> import numpy as np
    >>> from easyfirst.scores import Scores
    >>> a = Scores(np.array([0.0, 0.5, 1.0]), higher_is_easier=True)
    >>> b = Scores(np.array([3.0, 2.0, 1.0]), higher_is_easier=False)  # same ranking
    >>> agreement_matrix({"a": a, "b": b}, method="spearman").round(6).tolist()
    [[1.0, 1.0], [1.0, 1.0]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats

from easyfirst.errors import InputError
from easyfirst.scores import Scores

METHODS = ("spearman", "kendall")


def easiness(scores: Scores) -> np.ndarray:
    """(N,) values oriented so that higher means easier."""
    return scores.values if scores.higher_is_easier else -scores.values


def rank_correlation(a: np.ndarray, b: np.ndarray, *, method: str = "spearman") -> float:
    """Spearman's rho or Kendall's tau-b between two (N,) arrays, NaN pairs left out.

    Ties get average ranks (Spearman) or the tau-b correction (Kendall), as in scipy. A
    constant array has no ranking: the result is NaN.

    Args:
        a, b: (N,) values.
        method: ``spearman`` or ``kendall``.
    """
    if method not in METHODS:
        raise InputError(f"Unknown correlation {method!r}. Available: {', '.join(METHODS)}.")
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise InputError(
            f"Expected two arrays of the same shape (N,); got {a.shape} and {b.shape}."
        )
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    if method == "spearman":
        return float(stats.spearmanr(a, b).statistic)
    return float(stats.kendalltau(a, b).statistic)


def check_same_dataset(scores: Mapping[str, Scores]) -> None:
    """Refuse scores of different datasets (fingerprint or N); the message names them."""
    items = list(scores.items())
    if not items:
        raise InputError("Expected at least one Scores to compare; got none.")
    name0, first = items[0]
    for name, s in items[1:]:
        if s.num_samples != first.num_samples:
            raise InputError(
                f"{name!r} has {s.num_samples} samples but {name0!r} has {first.num_samples}; "
                "expected scores of one dataset. Compare scores of the same training split."
            )
        if None not in (s.fingerprint, first.fingerprint) and s.fingerprint != first.fingerprint:
            raise InputError(
                f"{name!r} was computed on dataset fingerprint {s.fingerprint} but {name0!r} on "
                f"{first.fingerprint}; expected one dataset. Compare scores of the same dataset."
            )


def _as_mapping(scores: Mapping[str, Scores] | Sequence[Scores]) -> dict[str, Scores]:
    if isinstance(scores, Mapping):
        return dict(scores)
    return {f"{s.scorer}#{i}": s for i, s in enumerate(scores)}


def agreement_matrix(
    scores: Mapping[str, Scores] | Sequence[Scores], *, method: str = "spearman"
) -> np.ndarray:
    """(K, K) matrix of rank correlations between K scores of one dataset.

    Args:
        scores: K scores by name (or a sequence, named ``scorer#i``).
        method: ``spearman`` or ``kendall``.

    Returns:
        (K, K) symmetric float64 matrix; the diagonal is 1 (NaN for a constant score).
    """
    named = _as_mapping(scores)
    check_same_dataset(named)
    vals = [easiness(s) for s in named.values()]
    k = len(vals)
    out = np.eye(k)
    for i in range(k):
        finite = vals[i][np.isfinite(vals[i])]
        if finite.size == 0 or np.ptp(finite) == 0:
            out[i, i] = np.nan
        for j in range(i + 1, k):
            out[i, j] = out[j, i] = rank_correlation(vals[i], vals[j], method=method)
    return out


def agreement(scores: Mapping[str, Scores] | Sequence[Scores]) -> dict[str, object]:
    """Spearman and Kendall matrices with their names: ``{"names", "spearman", "kendall"}``."""
    named = _as_mapping(scores)
    return {
        "names": list(named),
        "spearman": agreement_matrix(named, method="spearman"),
        "kendall": agreement_matrix(named, method="kendall"),
    }
