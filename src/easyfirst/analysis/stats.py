"""Statistics for findings a user can trust: intervals, paired tests, Holm, verdicts.

Pure functions over numbers (no files, no runs); every random draw comes from an explicit
``seed`` through a numpy ``Generator``. The conventions:

- **Intervals** are percentile bootstraps: resample the values (seeds, or test samples) with
  replacement, take the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of
  the resampled means. With few seeds a percentile bootstrap is narrower than a t interval,
  so verdicts also ask for a p-value (``finding``).
- **Paired by seed**: ``a[s]`` and ``b[s]`` share seed s (initialisation, test set); the
  effect is ``mean(a - b)``, so a positive effect means ``a`` is higher. Its p-value is a
  two-sided sign-flip permutation test of the differences: exact (all ``2**n`` sign
  vectors) for ``n <= EXACT_MAX_N``, else Monte-Carlo with ``(1 + hits) / (1 + draws)``.
  Its smallest value is ``2 / 2**n``: at alpha = 0.05 a finding needs n >= 6 seeds.
- **One value** (n = 1) has no interval: ``ci_low`` and ``ci_high`` are NaN, its p is 1,
  and its verdict is ``not distinguishable``.

Example:
    >>> mean_interval([0.98, 0.98, 0.98]).text(), mean_interval([0.98]).text()
    ('0.9800 [0.9800, 0.9800] (n=3)', '0.9800 [n/a, n/a] (n=1)')
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
from scipy import stats

EXACT_MAX_N = 16  # exact sign-flip enumeration up to 2**16 sign vectors
RESAMPLES = 10_000
VERDICTS = ("shown", "reversed", "not distinguishable")

ArrayLike = Sequence[float] | np.ndarray


def _values(x: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0 or not np.isfinite(arr).all():
        raise ValueError(
            f"Expected {name} as a non-empty 1-D sequence of finite numbers; got shape "
            f"{arr.shape} with {int((~np.isfinite(arr)).sum())} NaN/inf. Drop or rerun the "
            "missing runs first.")
    return arr


def _check(confidence: float, resamples: int) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"Expected a confidence in (0, 1); got {confidence}. Pass e.g. 0.95.")
    if resamples < 1:
        raise ValueError(f"Expected resamples (or permutations) >= 1; got {resamples}. "
                         f"Pass e.g. {RESAMPLES}.")


def _fmt(x: float, sign: str = "") -> str:
    return "n/a" if not math.isfinite(x) else f"{x:{sign}.4f}"


def _percentile(means: np.ndarray, confidence: float) -> tuple[float, float]:
    lo, hi = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(lo), float(hi)


@dataclass(frozen=True)
class Estimate:
    """A mean with its bootstrap interval over ``n`` values (NaN bounds when n = 1)."""

    mean: float
    ci_low: float
    ci_high: float
    n: int

    def text(self) -> str:
        """``0.9800 [0.9733, 0.9867] (n=5)``; ``n/a`` for a missing bound."""
        return f"{_fmt(self.mean)} [{_fmt(self.ci_low)}, {_fmt(self.ci_high)}] (n={self.n})"


@dataclass(frozen=True)
class Comparison:
    """A paired effect (a - b) with its bootstrap interval, its p-value and ``n`` pairs."""

    effect: float
    ci_low: float
    ci_high: float
    p: float
    n: int

    def text(self) -> str:
        """``+0.0300 [+0.0100, +0.0500], p = 0.0078 (n=8)``."""
        ci = f"[{_fmt(self.ci_low, '+')}, {_fmt(self.ci_high, '+')}]"
        return f"{_fmt(self.effect, '+')} {ci}, p = {self.p:.4g} (n={self.n})"


def mean_interval(values: ArrayLike, *, confidence: float = 0.95, resamples: int = RESAMPLES,
                  seed: int = 0) -> Estimate:
    """The mean of per-seed values with a percentile bootstrap interval.

    Args:
        values: (n,) finite values, one per seed.
        confidence: the interval's coverage, e.g. 0.95.
        resamples: bootstrap resamples.
        seed: seeds the resampling (same inputs and seed, same interval).

    Returns:
        ``Estimate(mean, ci_low, ci_high, n)``; for n = 1 the bounds are NaN (one value says
        nothing about the spread).

    Example:
        >>> e = mean_interval([0.97, 0.98, 0.99, 0.98, 0.98], seed=0)
        >>> round(e.mean, 4), e.ci_low < e.mean < e.ci_high, e.n
        (0.98, True, 5)
    """
    arr = _values(values, "values")
    _check(confidence, resamples)
    if arr.size == 1:
        return Estimate(float(arr[0]), math.nan, math.nan, 1)
    rng = np.random.default_rng(seed)
    means = arr[rng.integers(0, arr.size, size=(resamples, arr.size))].mean(axis=1)
    return Estimate(float(arr.mean()), *_percentile(means, confidence), int(arr.size))


def sign_flip_p(differences: ArrayLike, *, permutations: int = RESAMPLES,
                seed: int = 0) -> float:
    """Two-sided p-value of a paired sign-flip permutation test of ``mean(d) == 0``.

    Exact over all ``2**n`` sign vectors when ``n <= EXACT_MAX_N`` (``seed`` unused), else
    Monte-Carlo over ``permutations`` random sign vectors, ``(1 + hits) / (1 + permutations)``.
    All-zero differences give 1.

    Example:
        >>> sign_flip_p([0.01, 0.02, 0.03])  # only the two all-same-sign vectors reach 0.06
        0.25
    """
    d = _values(differences, "differences")
    n = d.size
    observed = abs(d.sum()) - 1e-12 * max(1.0, float(np.abs(d).sum()))  # float ties count
    if n <= EXACT_MAX_N:
        bits = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
        hits = int((np.abs((1 - 2 * bits) @ d) >= observed).sum())
        return hits / 2**n
    _check(0.5, permutations)
    signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=(permutations, n))
    hits = int((np.abs(signs @ d) >= observed).sum())
    return (1 + hits) / (1 + permutations)


def paired_difference(a: ArrayLike, b: ArrayLike, *, confidence: float = 0.95,
                      resamples: int = RESAMPLES, seed: int = 0) -> Comparison:
    """Paired-by-seed comparison: mean of ``a[s] - b[s]``, its interval and a p-value.

    The interval is a percentile bootstrap of the mean difference (resampling seeds, pairs
    kept together); p is ``sign_flip_p`` (exact for n <= 16, else ``resamples`` Monte-Carlo
    sign vectors). n = 1 gives NaN bounds and p = 1.

    Args:
        a, b: (n,) finite per-seed values; seed s of ``a`` pairs with seed s of ``b``.
        confidence: the interval's coverage.
        resamples: bootstrap resamples (and Monte-Carlo permutations when n > 16).
        seed: seeds every random draw.

    Example:
        >>> c = paired_difference([0.90, 0.91, 0.92, 0.90, 0.93, 0.91],
        ...                       [0.88, 0.90, 0.89, 0.88, 0.91, 0.90])
        >>> round(c.effect, 4), c.ci_low > 0, c.p  # all six differences positive
        (0.0183, True, 0.03125)
    """
    x, y = _values(a, "a"), _values(b, "b")
    if x.size != y.size:
        raise ValueError(f"Expected paired values of equal length (one per seed); got "
                         f"{x.size} and {y.size}. Compare only the seeds both sides ran.")
    d = x - y
    est = mean_interval(d, confidence=confidence, resamples=resamples, seed=seed)
    p = sign_flip_p(d, permutations=resamples, seed=seed)
    return Comparison(est.mean, est.ci_low, est.ci_high, p, est.n)


def _correct(x: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1 or arr.size == 0 or not np.isin(arr, (0, 1)).all():
        raise ValueError(f"Expected {name} as a non-empty (N,) array of per-sample correctness "
                         f"(bool or 0/1); got shape {arr.shape}. Pass pred == label.")
    return arr.astype(bool)


def paired_bootstrap_accuracy(correct_a: ArrayLike, correct_b: ArrayLike, *,
                              confidence: float = 0.95, resamples: int = RESAMPLES,
                              seed: int = 0) -> Comparison:
    """Accuracy of ``a`` minus accuracy of ``b`` on the same test samples (e.g. fused vs member).

    The interval is a paired percentile bootstrap over test samples. Only the discordant
    samples move the difference, so a resample of N samples is drawn as its multinomial
    counts of (only a correct, only b correct, other): the same distribution as resampling
    indices, in O(resamples). p is the exact McNemar test, ``binomtest(n_a, n_a + n_b, 0.5)``
    over the discordant counts (1 when there are none). ``n`` is the number of test samples.

    Example:
        >>> a = [True] * 95 + [False] * 5
        >>> b = [True] * 90 + [False] * 10
        >>> c = paired_bootstrap_accuracy(a, b)
        >>> round(c.effect, 4), round(c.p, 4)  # 5 discordant samples, all for a
        (0.05, 0.0625)
    """
    x, y = _correct(correct_a, "correct_a"), _correct(correct_b, "correct_b")
    if x.shape != y.shape:
        raise ValueError(f"Expected correctness on the same test samples; got {x.size} and "
                         f"{y.size} samples. Pass both models' predictions on one test set.")
    _check(confidence, resamples)
    n = x.size
    only_a, only_b = int((x & ~y).sum()), int((~x & y).sum())
    effect = (only_a - only_b) / n
    if only_a + only_b == 0:
        return Comparison(effect, 0.0, 0.0, 1.0, n)
    probs = [only_a / n, only_b / n, 1 - (only_a + only_b) / n]
    counts = np.random.default_rng(seed).multinomial(n, probs, size=resamples)
    lo, hi = _percentile((counts[:, 0] - counts[:, 1]) / n, confidence)
    p = float(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue)
    return Comparison(effect, lo, hi, p, n)


def holm(pvalues: ArrayLike) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values, in the order given.

    The k-th smallest of m p-values is multiplied by ``m - k + 1``, made monotone (running
    maximum in sorted order) and clipped at 1. Reject at level alpha where adjusted < alpha.

    Example:
        >>> holm([0.04, 0.001, 0.03]).round(4).tolist()
        [0.06, 0.003, 0.06]
    """
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1 or not ((p >= 0) & (p <= 1)).all():
        raise ValueError(f"Expected a 1-D sequence of p-values in [0, 1]; got {p.tolist()!r}. "
                         "Leave out comparisons without a p-value.")
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out


def _sign(expected_sign: float) -> int:
    if expected_sign not in (1, -1):
        raise ValueError(f"Expected expected_sign +1 (a higher) or -1 (a lower); got "
                         f"{expected_sign!r}. Pass the direction the claim predicts.")
    return int(expected_sign)


def verdict(effect: float, ci_low: float, ci_high: float, *, expected_sign: int,
            p: float | None = None, alpha: float = 0.05) -> str:
    """``shown``, ``reversed`` or ``not distinguishable`` for an effect and its interval.

    ``shown`` when the interval excludes 0 on the ``expected_sign`` side, ``reversed`` when it
    excludes 0 on the other; an interval containing 0, a NaN bound, or (when ``p`` is given)
    ``p >= alpha`` gives ``not distinguishable``; so does an ``effect`` on the other side of 0
    than its interval (possible only for odd percentile intervals).

    Example:
        >>> verdict(0.03, 0.01, 0.05, expected_sign=+1)
        'shown'
        >>> verdict(0.03, 0.01, 0.05, expected_sign=-1)
        'reversed'
        >>> verdict(0.03, 0.01, 0.05, expected_sign=+1, p=0.0625)
        'not distinguishable'
    """
    sign = _sign(expected_sign)
    if any(math.isnan(v) for v in (ci_low, ci_high)):
        return "not distinguishable"
    if (p is not None and not p < alpha) or ci_low <= 0 <= ci_high or effect * ci_low <= 0:
        return "not distinguishable"
    return "shown" if (ci_low > 0) == (sign > 0) else "reversed"


def min_seeds_for_alpha(alpha: float = 0.05) -> int:
    """Smallest n whose exact two-sided sign-flip p-value (at best ``2 / 2**n``) is < alpha.

    Example:
        >>> min_seeds_for_alpha(0.05), min_seeds_for_alpha(0.01)
        (6, 8)
    """
    if not 0 < alpha < 1:
        raise ValueError(f"Expected alpha in (0, 1); got {alpha}. Pass e.g. 0.05.")
    return max(2, math.floor(1 - math.log2(alpha)) + 1)


def seeds_needed(differences: ArrayLike, *, effect: float | None = None, power: float = 0.8,
                 alpha: float = 0.05) -> int | None:
    """Seeds a paired comparison needs to detect an effect, from the observed spread.

    Normal approximation ``n = ((z_{1-alpha/2} + z_power) * sd / |effect|)**2`` rounded up,
    with ``sd`` the sample standard deviation (ddof 1) of the paired differences and
    ``effect`` their mean unless given. The result is at least ``min_seeds_for_alpha(alpha)``
    (6 at 0.05): fewer seeds cannot reach p < alpha with the exact sign-flip test. It ignores
    multiple testing (Holm) and, for small n, the t correction, so it is a lower bound. None
    when no finite number can be given: an effect of 0, or fewer than 2 differences.

    Example:
        >>> seeds_needed([0.01, 0.03, -0.01, 0.05])  # mean 0.02, sd 0.0258: 7.85 * 1.67
        14
    """
    d = _values(differences, "differences")
    if not (0 < power < 1 and 0 < alpha < 1):
        raise ValueError(f"Expected power and alpha in (0, 1); got {power} and {alpha}. "
                         "Pass e.g. power=0.8, alpha=0.05.")
    size = float(d.mean()) if effect is None else float(effect)
    if d.size < 2 or size == 0 or not math.isfinite(size):
        return None
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    n = math.ceil(round((z * float(d.std(ddof=1)) / abs(size)) ** 2, 9))
    return max(n, min_seeds_for_alpha(alpha))


def _json(x: object) -> object:
    x = x.item() if isinstance(x, np.generic) else x
    return None if isinstance(x, float) and not math.isfinite(x) else x


@dataclass(frozen=True)
class Finding:
    """One claim tested on paired results: one object of ``findings.json``.

    ``effect`` is ``a - b`` (higher is ``a``); ``n`` counts seeds (or test samples for
    ``paired_bootstrap_accuracy``); ``note`` says what was compared and how.
    """

    claim: str
    verdict: str
    effect: float
    ci_low: float
    ci_high: float
    p: float
    n: int
    seeds_needed: int | None = None
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        """The fields as a JSON-safe dict (NaN and inf become None)."""
        return {k: _json(v) for k, v in asdict(self).items()}

    def text(self) -> str:
        """``claim: shown at n = 8, effect +0.0500 [+0.0400, +0.0600], p = 0.0078``."""
        ci = f"[{_fmt(self.ci_low, '+')}, {_fmt(self.ci_high, '+')}]"
        return (f"{self.claim}: {self.verdict} at n = {self.n}, effect "
                f"{_fmt(self.effect, '+')} {ci}, p = {self.p:.4g}")


def finding_from(claim: str, comparison: Comparison, *, expected_sign: int,
                 alpha: float = 0.05, seeds_needed: int | None = None,
                 note: str = "") -> Finding:
    """A ``Finding`` from any ``Comparison``; the verdict needs the interval and p < alpha.

    Example:
        >>> finding_from("x", Comparison(0.05, 0.04, 0.06, 0.01, 8), expected_sign=1).verdict
        'shown'
    """
    v = verdict(comparison.effect, comparison.ci_low, comparison.ci_high,
                expected_sign=expected_sign, p=comparison.p, alpha=alpha)
    return Finding(claim, v, comparison.effect, comparison.ci_low, comparison.ci_high,
                   comparison.p, comparison.n, seeds_needed, note)


def finding(claim: str, a: ArrayLike, b: ArrayLike, *, expected_sign: int,
            confidence: float = 0.95, resamples: int = RESAMPLES, seed: int = 0,
            note: str = "", tests: int = 1) -> Finding:
    """A ``Finding`` from paired per-seed values: ``paired_difference``, verdict, seeds needed.

    alpha is ``1 - confidence``; the verdict needs the interval to exclude 0 *and* p < alpha
    (so at least 6 seeds at 95 %); ``seeds_needed`` uses the observed effect and spread, at
    ``alpha / tests`` when the finding is to be Holm-corrected with ``tests`` others.

    Example:
        >>> f = finding("CL beats baseline", [0.91, 0.92, 0.93, 0.92, 0.94, 0.92],
        ...             [0.90, 0.90, 0.91, 0.91, 0.92, 0.90], expected_sign=+1)
        >>> f.verdict, f.n, f.to_dict()["p"]
        ('shown', 6, 0.03125)
    """
    comparison = paired_difference(a, b, confidence=confidence, resamples=resamples, seed=seed)
    d = np.asarray(a, float) - np.asarray(b, float)
    need = seeds_needed(d, alpha=(1 - confidence) / tests)
    return finding_from(claim, comparison, expected_sign=expected_sign, alpha=1 - confidence,
                        seeds_needed=need, note=note)


def holm_findings(findings: Sequence[Finding], *, alpha: float = 0.05) -> list[Finding]:
    """The findings of one table with Holm-adjusted p-values and verdicts re-decided.

    Holm only raises p-values, so a verdict can only turn into ``not distinguishable``.

    Example:
        >>> fs = [Finding("a", "shown", 0.1, 0.05, 0.15, 0.03, 8),
        ...       Finding("b", "shown", 0.1, 0.05, 0.15, 0.01, 8)]
        >>> [(f.verdict, round(f.p, 2)) for f in holm_findings(fs)]
        [('shown', 0.03), ('shown', 0.02)]
    """
    adjusted = holm([f.p for f in findings])
    return [replace(f, p=float(q), verdict=f.verdict if q < alpha else "not distinguishable",
                    note=(f.note + "; " if f.note else "") + f"Holm over {len(findings)}")
            for f, q in zip(findings, adjusted, strict=True)]
