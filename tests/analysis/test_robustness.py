"""Seed-ensemble robustness: disjoint splits, the curve, Spearman-Brown, ties."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest
from scipy import stats

from easyfirst.analysis.robustness import (
    disjoint_groups,
    fit_single_seed_correlation,
    num_unique_and_largest_tie,
    robustness_curve,
    seeds_for_target,
    spearman_brown,
)
from easyfirst.scores import Scores


def test_disjoint_groups():
    assert disjoint_groups(5, 2) == [[0, 1], [2, 3]]
    assert disjoint_groups(6, 3) == [[0, 1, 2], [3, 4, 5]]
    assert disjoint_groups(4, 1) == [[0], [1], [2], [3]]
    assert disjoint_groups(4, 2, permutation=[3, 1, 0, 2]) == [[3, 1], [0, 2]]
    with pytest.raises(ValueError, match=r"ensemble size k in \[1, 4\]; got 5"):
        disjoint_groups(4, 5)
    with pytest.raises(ValueError, match="permutation"):
        disjoint_groups(3, 1, permutation=[0, 0, 1])


def test_curve_against_direct_computation():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=40)
    m = truth + rng.normal(0, 1.0, size=(4, 40))
    c = robustness_curve(m)
    k1 = np.mean([stats.spearmanr(m[i], m[j]).statistic for i, j in combinations(range(4), 2)])
    k2 = stats.spearmanr(m[:2].mean(0), m[2:].mean(0)).statistic
    assert c.ks.tolist() == [1, 2, 3, 4]
    assert c.spearman_mean[0] == pytest.approx(k1) and c.num_pairs[0] == 6
    assert c.spearman_mean[1] == pytest.approx(k2) and c.num_pairs[1] == 1
    assert np.isnan(c.spearman_mean[2:]).all() and c.num_pairs[2:].tolist() == [0, 0]
    assert 0 < c.r1 < 1 and len(c.rows()) == 4


def test_curve_from_scores_orients_and_counts_ties():
    # lower = easier (FIT-like): the curve uses easiness; ties of the k=2 ensemble merge.
    m0 = Scores(np.array([0.0, 1, 1, 0.5]), higher_is_easier=True, meta={"scorer": "c"})
    m1 = Scores(np.array([1.0, 0, 1, 0.5]), higher_is_easier=True, meta={"scorer": "c"})
    c = robustness_curve([m0, m1])
    assert c.num_unique.tolist() == [3, 2]  # {0, .5, 1} per seed; {.5, 1} for the mean
    assert c.largest_tie.tolist() == [2, 3]
    assert c.spearman_mean[0] == pytest.approx(stats.spearmanr(m0.values, m1.values).statistic)
    assert num_unique_and_largest_tie(np.array([0.1 + 0.2, 0.3, np.nan])) == (1, 2)


def test_spearman_brown_fit_and_seeds_needed():
    assert spearman_brown(0.5, 3) == pytest.approx(0.75)
    ks = np.array([1, 2, 3, 4])
    r = [spearman_brown(0.4, k) for k in ks]
    assert fit_single_seed_correlation(ks, r) == pytest.approx(0.4, abs=1e-6)
    assert fit_single_seed_correlation(ks, [np.nan] * 4) != fit_single_seed_correlation(ks, r)
    # m = rho (1 - r1) / (r1 (1 - rho)) = 0.9 * 0.5 / (0.5 * 0.1) = 9
    assert seeds_for_target(0.5, 0.9) == 9
    assert seeds_for_target(0.4, 0.9) == math.ceil(0.9 * 0.6 / (0.4 * 0.1))  # 13.5 -> 14
    assert seeds_for_target(0.95, 0.9) == 1
    assert seeds_for_target(0.0, 0.9) == math.inf
    with pytest.raises(ValueError, match=r"target correlation in \(0, 1\); got 1.5"):
        seeds_for_target(0.5, 1.5)


def test_refuses_mixed_datasets():
    a = Scores(np.arange(3.0), higher_is_easier=True, meta={"dataset_fingerprint": "a"})
    b = Scores(np.arange(3.0), higher_is_easier=True, meta={"dataset_fingerprint": "b"})
    with pytest.raises(ValueError, match="one dataset"):
        robustness_curve([a, b])
