"""Statistics for findings: verdicts on known synthetic effects, tests against hand values."""

from __future__ import annotations

import ast
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from easyfirst.analysis import stats
from easyfirst.analysis.stats import (
    Comparison,
    Finding,
    finding,
    finding_from,
    holm,
    holm_findings,
    mean_interval,
    min_seeds_for_alpha,
    paired_bootstrap_accuracy,
    paired_difference,
    seeds_needed,
    sign_flip_p,
    verdict,
)


def _runs(effect: float, seed: int = 0, n: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Per-seed accuracies of a baseline ``a`` and ``b = a + effect + small noise``."""
    rng = np.random.default_rng(seed)
    a = rng.normal(0.90, 0.01, n)
    return a, a + effect + rng.normal(0, 0.005, n)


def test_real_effect_is_shown_and_the_other_direction_reversed():
    a, b = _runs(0.05)
    f = finding("b beats a", a, b, expected_sign=-1)  # effect is a - b
    assert f.verdict == "shown"
    assert f.effect == pytest.approx(np.mean(a - b)) and f.effect < -0.04
    assert f.ci_low < f.effect < f.ci_high < 0
    assert f.p == pytest.approx(2 / 2**8) and f.n == 8
    assert finding("a beats b", a, b, expected_sign=+1).verdict == "reversed"
    assert finding("b beats a", b, a, expected_sign=+1).verdict == "shown"


def test_no_effect_is_not_distinguishable():
    a, b = _runs(0.0, seed=3)
    f = finding("no effect", a, b, expected_sign=+1)
    assert f.verdict == "not distinguishable"
    assert f.ci_low < 0 < f.ci_high and f.p > 0.05
    # symmetric differences: mean exactly 0, p exactly 1
    d = np.array([0.01, -0.01, 0.02, -0.02, 0.005, -0.005])
    c = paired_difference(0.9 + d, np.full(6, 0.9))
    assert c.effect == pytest.approx(0.0, abs=1e-12) and c.p == 1.0
    assert c.ci_low < 0 < c.ci_high


def test_pure_noise_is_rarely_called_shown_or_reversed():
    rng = np.random.default_rng(1)
    called = sum(
        finding("noise", rng.normal(0.9, 0.01, 8), rng.normal(0.9, 0.01, 8),
                expected_sign=+1, resamples=500, seed=i).verdict != "not distinguishable"
        for i in range(100))
    assert called <= 10  # alpha = 0.05 over 100 null data sets


def test_exact_sign_flip_against_hand_enumeration():
    # +-0.3 +-0.1 +-0.2: |sums| 0.6, 0.4, 0.2, 0.0 twice each; |sum| >= 0.4 in 4 of 8
    assert sign_flip_p([0.3, -0.1, 0.2]) == pytest.approx(0.5)
    d = np.random.default_rng(0).normal(0.01, 0.02, 5)
    sums = [abs(np.dot(s, d)) for s in itertools.product([-1, 1], repeat=5)]
    assert sign_flip_p(d) == pytest.approx(np.mean(np.array(sums) >= abs(d.sum()) - 1e-15))
    assert sign_flip_p([0.0, 0.0]) == 1.0 and sign_flip_p([0.02]) == 1.0


def test_monte_carlo_sign_flip_above_the_exact_limit():
    n = stats.EXACT_MAX_N + 1
    d = np.random.default_rng(2).normal(0.004, 0.01, n)
    bits = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
    exact = np.mean(np.abs((1 - 2 * bits) @ d) >= abs(d.sum()) - 1e-12)
    mc = sign_flip_p(d, permutations=4000, seed=5)
    assert mc == sign_flip_p(d, permutations=4000, seed=5)  # same seed, same p
    assert mc == pytest.approx(exact, abs=0.03)
    assert sign_flip_p(np.full(n, 0.01), permutations=999) == pytest.approx(1 / 1000)


def test_mean_interval_n1_constant_and_against_scipy_percentile():
    one = mean_interval([0.98])
    assert one.mean == 0.98 and math.isnan(one.ci_low) and math.isnan(one.ci_high)
    assert one.text() == "0.9800 [n/a, n/a] (n=1)"
    x = np.array([0.97, 0.98, 0.99, 0.975, 0.985, 0.96, 0.99])
    e = mean_interval(x, seed=0)
    ref = sps.bootstrap((x,), np.mean, method="percentile", n_resamples=10_000,
                        random_state=np.random.default_rng(9)).confidence_interval
    assert e.ci_low == pytest.approx(ref.low, abs=2e-3)
    assert e.ci_high == pytest.approx(ref.high, abs=2e-3)
    assert e.text() == f"{x.mean():.4f} [{e.ci_low:.4f}, {e.ci_high:.4f}] (n=7)"


def test_bootstrap_is_reproducible_with_a_seed():
    a, b = _runs(0.01, seed=4)
    assert paired_difference(a, b, seed=7) == paired_difference(a, b, seed=7)
    assert mean_interval(a, seed=7) == mean_interval(a, seed=7)
    assert mean_interval(a, seed=7) != mean_interval(a, seed=8)
    x, y = np.arange(50) % 3 > 0, np.arange(50) % 4 > 0
    assert paired_bootstrap_accuracy(x, y, seed=1) == paired_bootstrap_accuracy(x, y, seed=1)


def test_mcnemar_against_binomtest_and_index_bootstrap():
    # 80 both right, 12 only a, 4 only b, 4 both wrong
    a = np.array([1] * 80 + [1] * 12 + [0] * 4 + [0] * 4, dtype=bool)
    b = np.array([1] * 80 + [0] * 12 + [1] * 4 + [0] * 4, dtype=bool)
    c = paired_bootstrap_accuracy(a, b, resamples=4000, seed=0)
    assert c.effect == pytest.approx(0.08) and c.n == 100
    assert c.p == pytest.approx(sps.binomtest(12, 16, 0.5).pvalue)
    idx = np.random.default_rng(1).integers(0, 100, size=(4000, 100))
    naive = np.quantile(a[idx].mean(1) - b[idx].mean(1), [0.025, 0.975])
    assert [c.ci_low, c.ci_high] == pytest.approx(naive, abs=0.011)
    same = paired_bootstrap_accuracy(a, a)
    assert (same.effect, same.ci_low, same.ci_high, same.p) == (0.0, 0.0, 0.0, 1.0)


def test_holm_against_hand_values():
    # sorted 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> running max 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6]).tolist() == [1.0, 1.0]  # clipped at 1
    assert holm([0.02]).tolist() == [0.02] and holm([]).size == 0


def test_holm_findings_turn_borderline_findings_undistinguishable():
    fs = [Finding("x", "shown", 0.1, 0.05, 0.15, 0.03, 8),
          Finding("y", "reversed", -0.1, -0.15, -0.05, 0.03, 8)]
    out = holm_findings(fs)
    assert [f.verdict for f in out] == ["not distinguishable"] * 2
    assert [f.p for f in out] == pytest.approx([0.06, 0.06]) and "Holm over 2" in out[0].note


@pytest.mark.parametrize("p", [None, 0.0, 0.01])
@pytest.mark.parametrize("sign", [1, -1])
def test_an_interval_containing_zero_is_never_a_verdict(p, sign):
    for lo, hi in [(-0.01, 0.02), (0.0, 0.02), (-0.02, 0.0), (math.nan, 0.1)]:
        assert verdict(0.0 if lo <= 0 <= hi else 0.05, lo, hi, expected_sign=sign,
                       p=p) == "not distinguishable"
    assert verdict(0.03, 0.01, 0.05, expected_sign=sign, p=p) == (
        "shown" if sign == 1 else "reversed")
    assert verdict(0.03, 0.01, 0.05, expected_sign=sign, p=0.05) == "not distinguishable"


def test_seeds_needed_against_the_formula():
    d = np.array([0.01, 0.03, -0.01, 0.05, 0.0, 0.02])
    z = sps.norm.ppf(0.975) + sps.norm.ppf(0.8)
    assert seeds_needed(d) == math.ceil((z * d.std(ddof=1) / d.mean()) ** 2)
    assert seeds_needed(d, effect=-0.005, power=0.9, alpha=0.01) == math.ceil(
        ((sps.norm.ppf(0.995) + sps.norm.ppf(0.9)) * d.std(ddof=1) / 0.005) ** 2)
    assert seeds_needed([0.05, 0.051, 0.049]) == min_seeds_for_alpha(0.05) == 6
    assert seeds_needed(d, effect=0.0) is None and seeds_needed([0.02]) is None
    assert sign_flip_p(np.ones(6)) < 0.05 <= sign_flip_p(np.ones(5))  # why the floor is 6


def test_finding_to_dict_is_json_safe_with_exactly_the_keys():
    f = finding("one seed", [0.9], [0.8], expected_sign=+1, note="n = 1")
    d = f.to_dict()
    assert list(d) == ["claim", "verdict", "effect", "ci_low", "ci_high", "p", "n",
                       "seeds_needed", "note"]
    assert d["ci_low"] is None and d["ci_high"] is None and d["seeds_needed"] is None
    assert d["verdict"] == "not distinguishable" and d["n"] == 1
    json.dumps(d, allow_nan=False)
    g = finding_from("fused vs best", Comparison(np.float64(0.01), 0.002, 0.02, 0.03,
                                                 np.int64(300)), expected_sign=1)
    assert g.verdict == "shown" and type(g.to_dict()["n"]) is int
    assert g.text() == ("fused vs best: shown at n = 300, effect +0.0100 [+0.0020, +0.0200], "
                        "p = 0.03")


@pytest.mark.parametrize("call, match", [
    (lambda: paired_difference([0.9, 0.8], [0.9]), "equal length"),
    (lambda: paired_difference([0.9, math.nan], [0.9, 0.8]), "1 NaN/inf"),
    (lambda: mean_interval([]), "non-empty"),
    (lambda: mean_interval([0.9, 0.8], confidence=95), "confidence in"),
    (lambda: mean_interval([0.9, 0.8], resamples=0), "resamples"),
    (lambda: paired_bootstrap_accuracy([0, 2], [1, 1]), "correctness"),
    (lambda: paired_bootstrap_accuracy([0, 1], [1, 1, 0]), "same test samples"),
    (lambda: holm([0.2, 1.5]), "in \\[0, 1\\]"),
    (lambda: verdict(0.1, 0.0, 0.2, expected_sign=0), "expected_sign"),
    (lambda: seeds_needed([0.1, 0.2], power=80), "power and alpha"),
])
def test_errors_are_one_line(call, match):
    with pytest.raises(ValueError, match=match) as err:
        call()
    assert "\n" not in str(err.value) and str(err.value).startswith("Expected")


def test_stats_imports_nothing_from_easyfirst():
    tree = ast.parse(Path(stats.__file__).read_text())
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [m for m in names if m.startswith("easyfirst")]
