"""Agreement matrices against hand-computed and scipy values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from easyfirst.analysis.agreement import agreement, agreement_matrix, rank_correlation
from easyfirst.scores import Scores


def _s(values, higher=True, fp="fp1", scorer="x"):
    return Scores(np.asarray(values, float), higher_is_easier=higher,
                  meta={"dataset_fingerprint": fp, "scorer": scorer})


def test_hand_values():
    a, b = np.array([1.0, 2, 3, 4]), np.array([1.0, 3, 2, 4])
    # Spearman: 1 - 6 * sum(d^2) / (n (n^2 - 1)) = 1 - 6 * 2 / 60
    assert rank_correlation(a, b, method="spearman") == pytest.approx(0.8)
    # Kendall: 5 concordant, 1 discordant pair of 6
    assert rank_correlation(a, b, method="kendall") == pytest.approx(4 / 6)


def test_matches_scipy_with_ties_and_drops_nan_pairs():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, 50).astype(float)  # many ties, like CumAcc
    b = a + rng.normal(0, 1.0, 50)
    a_nan, b_nan = a.copy(), b.copy()
    a_nan[3], b_nan[7] = np.nan, np.nan
    keep = np.ones(50, bool)
    keep[[3, 7]] = False
    assert rank_correlation(a_nan, b_nan) == pytest.approx(
        stats.spearmanr(a[keep], b[keep]).statistic)
    assert rank_correlation(a_nan, b_nan, method="kendall") == pytest.approx(
        stats.kendalltau(a[keep], b[keep]).statistic)


def test_matrix_orients_by_direction():
    cum = _s([0.0, 0.5, 1.0, 1.0], scorer="cumacc")
    fit = _s([4.0, 2.0, 0.0, 1.0], higher=False, scorer="fit")  # lower = easier
    m = agreement_matrix({"cumacc": cum, "fit": fit})
    assert m.shape == (2, 2) and np.allclose(np.diag(m), 1.0) and m[0, 1] == m[1, 0]
    assert m[0, 1] == pytest.approx(stats.spearmanr([0, 0.5, 1, 1], [-4, -2, 0, -1]).statistic)
    assert m[0, 1] > 0
    out = agreement([cum, fit])
    assert out["names"] == ["cumacc#0", "fit#1"]
    assert np.asarray(out["kendall"]).shape == (2, 2)


def test_refuses_mixed_fingerprints_and_sizes():
    with pytest.raises(ValueError, match="fingerprint fp2 .* expected one dataset"):
        agreement_matrix({"a": _s([1, 2, 3]), "b": _s([1, 2, 3], fp="fp2")})
    with pytest.raises(ValueError, match="has 2 samples"):
        agreement_matrix({"a": _s([1, 2, 3]), "b": _s([1, 2])})
    with pytest.raises(ValueError, match="Unknown correlation 'pearson'"):
        rank_correlation(np.arange(3.0), np.arange(3.0), method="pearson")


def test_constant_score_gives_nan():
    m = agreement_matrix({"a": _s([1, 1, 1]), "b": _s([1, 2, 3])})
    assert np.isnan(m[0, 0]) and np.isnan(m[0, 1]) and m[1, 1] == 1
