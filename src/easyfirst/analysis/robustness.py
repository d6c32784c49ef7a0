"""Robustness of seed ensembles: how well do independent k-seed ensembles agree?

For S per-seed scores of one scorer and each ensemble size k, the S members are split into
``S // k`` *disjoint* groups of k (``disjoint_groups``), each group is averaged into one
ensemble, and the Spearman correlation of every pair of ensembles is averaged (Rampp et al.
2024, ensemble-size analysis). Pairs exist for k = 1 .. S // 2.

How many seeds are enough is estimated with the Spearman-Brown formula: if two single-seed
scores correlate r1, two disjoint k-seed ensembles correlate ``r_k = k r1 / (1 + (k - 1) r1)``.
r1 is fitted to the measured curve by least squares, and the ensemble size m at which two
disjoint m-seed ensembles would reach a target correlation rho is
``m = rho (1 - r1) / (r1 (1 - rho))``. The formula is exact for Pearson correlations of
averages of exchangeable noisy measurements; for Spearman it is an approximation (stated in
every result).

Example:
    >>> round(spearman_brown(0.5, 3), 6)
    0.75
    >>> seeds_for_target(0.5, 0.9)
    9
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
from scipy import optimize

from easyfirst.analysis.agreement import easiness, rank_correlation
from easyfirst.errors import InputError
from easyfirst.scores import Scores, distinct_values

METHOD_NOTE = (
    "Spearman-Brown extrapolation r_k = k r1 / (1 + (k-1) r1), r1 fitted by least squares to "
    "the measured mean Spearman of disjoint k-seed ensembles (an approximation for rank "
    "correlations)."
)


def disjoint_groups(
    num_members: int, k: int, *, permutation: Sequence[int] | np.ndarray | None = None
) -> list[list[int]]:
    """Split members into ``num_members // k`` disjoint groups of k (leftovers unused).

    Args:
        num_members: S, the number of per-seed scores.
        k: ensemble size.
        permutation: order in which members are dealt into groups (default: 0 .. S-1).

    Example:
        >>> disjoint_groups(5, 2)
        [[0, 1], [2, 3]]
    """
    if not 1 <= k <= num_members:
        raise InputError(
            f"Expected an ensemble size k in [1, {num_members}]; got {k}. Use at most as many "
            "seeds as were scored."
        )
    order = list(range(num_members)) if permutation is None else [int(i) for i in permutation]
    if sorted(order) != list(range(num_members)):
        raise InputError(
            f"Expected a permutation of 0..{num_members - 1}; got {order}. Pass each member once."
        )
    return [order[g * k : (g + 1) * k] for g in range(num_members // k)]


def spearman_brown(r1: float, k: float) -> float:
    """Predicted correlation of two disjoint k-member ensembles from the single-member r1."""
    return k * r1 / (1 + (k - 1) * r1)


def fit_single_seed_correlation(
    ks: Sequence[float] | np.ndarray, r: Sequence[float] | np.ndarray
) -> float:
    """Least-squares r1 in [0, 1] of ``spearman_brown(r1, k)`` to measured ``(k, r_k)`` points.

    NaN points are ignored; with no finite point the result is NaN.
    """
    ks_a, r_a = np.asarray(ks, dtype=np.float64), np.asarray(r, dtype=np.float64)
    keep = np.isfinite(r_a)
    ks_a, r_a = ks_a[keep], r_a[keep]
    if ks_a.size == 0:
        return float("nan")

    def loss(r1: float) -> float:
        return float(np.sum((ks_a * r1 / (1 + (ks_a - 1) * r1) - r_a) ** 2))

    res = optimize.minimize_scalar(loss, bounds=(0.0, 1.0), method="bounded",
                                   options={"xatol": 1e-10})
    return float(res.x)


def seeds_for_target(r1: float, target: float) -> int | float:
    """Smallest ensemble size m with ``spearman_brown(r1, m) >= target`` (inf if r1 <= 0).

    Args:
        r1: correlation between two single-seed scores.
        target: wanted correlation between two disjoint m-seed ensembles, in (0, 1).
    """
    if not 0 < target < 1:
        raise InputError(f"Expected a target correlation in (0, 1); got {target}. Pass e.g. 0.9.")
    if not math.isfinite(r1) or r1 <= 0:
        return math.inf
    if r1 >= target:
        return 1
    m = target * (1 - r1) / (r1 * (1 - target))
    return max(1, math.ceil(m - 1e-9))


def num_unique_and_largest_tie(values: np.ndarray) -> tuple[int, int]:
    """Number of distinct finite values and the size of the largest group of equal values."""
    _, counts = distinct_values(values)
    return int(counts.size), int(counts.max()) if counts.size else 0


@dataclass
class RobustnessCurve:
    """Agreement and granularity of seed ensembles by ensemble size k = 1 .. S.

    Attributes:
        ks: (S,) ensemble sizes 1 .. S.
        spearman_mean, spearman_std: (S,) mean and std of the Spearman correlation over all
            pairs of disjoint k-seed ensembles; NaN for k > S // 2 (no pair).
        num_pairs: (S,) pairs averaged.
        num_unique: (S,) mean number of distinct values of a k-seed ensemble.
        largest_tie: (S,) mean size of its largest tie.
        r1: fitted single-seed correlation (Spearman-Brown); NaN below 2 seeds.
        method: how r1 and the extrapolation are computed.
    """

    ks: np.ndarray
    spearman_mean: np.ndarray
    spearman_std: np.ndarray
    num_pairs: np.ndarray
    num_unique: np.ndarray
    largest_tie: np.ndarray
    r1: float
    method: str = field(default=METHOD_NOTE)

    def predicted(self, k: float) -> float:
        """Extrapolated correlation of two disjoint k-seed ensembles."""
        return spearman_brown(self.r1, k) if math.isfinite(self.r1) else float("nan")

    def seeds_for(self, target: float) -> int | float:
        """Ensemble size at which two disjoint ensembles reach Spearman ``target``."""
        return seeds_for_target(self.r1, target)

    def rows(self) -> list[dict[str, float | int]]:
        """One table row per k (JSON-friendly)."""
        return [
            {
                "k": int(k),
                "spearman_mean": float(m),
                "spearman_std": float(s),
                "num_pairs": int(p),
                "num_unique": float(u),
                "largest_tie": float(t),
            }
            for k, m, s, p, u, t in zip(self.ks, self.spearman_mean, self.spearman_std,
                                        self.num_pairs, self.num_unique, self.largest_tie,
                                        strict=True)
        ]


def robustness_curve(
    members: Sequence[Scores] | np.ndarray, *, repeats: int = 1, seed: int = 0
) -> RobustnessCurve:
    """Mean pairwise Spearman between disjoint k-seed ensembles, k = 1 .. S // 2, and ties.

    Args:
        members: S per-seed ``Scores`` of one scorer and dataset, or an (S, N) array of
            easiness values (higher = easier).
        repeats: number of ways the members are dealt into groups: the first in member
            order, further ones by permutations seeded with ``seed``; pairs of all are pooled.
        seed: seed of those permutations.

    Returns:
        A ``RobustnessCurve`` over k = 1 .. S.
    """
    if isinstance(members, np.ndarray):
        mat = np.asarray(members, dtype=np.float64)
    else:
        if not members:
            raise InputError("Expected per-seed Scores; got none. Pass S >= 1 members.")
        fps = {m.fingerprint for m in members if m.fingerprint is not None}
        if len(fps) > 1 or len({m.num_samples for m in members}) > 1:
            raise InputError(
                f"Expected per-seed scores of one dataset; got fingerprints {sorted(fps)} and "
                f"sizes {sorted({m.num_samples for m in members})}. Pass members of one scorer."
            )
        mat = np.stack([easiness(m) for m in members])
    if mat.ndim != 2 or mat.shape[0] < 1:
        raise InputError(f"Expected members of shape (S, N) with S >= 1; got {mat.shape}.")
    if repeats < 1:
        raise InputError(f"Expected repeats >= 1; got {repeats}.")
    s = mat.shape[0]
    rng = np.random.default_rng(seed)
    perms = [np.arange(s)] + [rng.permutation(s) for _ in range(repeats - 1)]
    ks = np.arange(1, s + 1)
    mean, std = np.full(s, np.nan), np.full(s, np.nan)
    pairs, uniq, ties = np.zeros(s, dtype=np.int64), np.zeros(s), np.zeros(s)
    for k in ks:
        corrs: list[float] = []
        granularity: list[tuple[int, int]] = []
        for perm in perms:
            ens = [mat[g].mean(axis=0) for g in disjoint_groups(s, int(k), permutation=perm)]
            granularity += [num_unique_and_largest_tie(e) for e in ens]
            corrs += [rank_correlation(a, b) for a, b in combinations(ens, 2)]
        i = k - 1
        uniq[i] = np.mean([g[0] for g in granularity])
        ties[i] = np.mean([g[1] for g in granularity])
        pairs[i] = len(corrs)
        finite = [c for c in corrs if math.isfinite(c)]
        if finite:
            mean[i], std[i] = float(np.mean(finite)), float(np.std(finite))
    r1 = fit_single_seed_correlation(ks, mean) if s >= 2 else float("nan")
    return RobustnessCurve(ks, mean, std, pairs, uniq, ties, r1)
