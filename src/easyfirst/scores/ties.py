"""Tie rules and the easy-to-hard order they give.

A score can tie (CumAcc has 31 values over 3 seeds x 10 epochs); the rule in a score file's
header (``tie_break``, ``tie_seed``, ``tie_evidence``) orders equal scores, so the same file
always gives the same curriculum.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from easyfirst.errors import InputError

TIE_RULES = ("evidence", "random", "dataset-order")
"""How ties are ordered: by finer evidence of the same runs (``tie_key``, e.g. AUM; its ties
then at random), by a permutation seeded with ``tie_seed``, or by index (the paper quick
start's rule)."""


def tie_problem(meta: dict[str, Any]) -> str | None:
    """What is wrong with ``meta``'s tie rule (``tie_break``, ``tie_seed``), or None."""
    rule, seed = meta.get("tie_break", "random"), meta.get("tie_seed", 0)
    if rule not in TIE_RULES:
        return f"expected tie_break among {', '.join(TIE_RULES)}; got {rule!r}"
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        return f"expected tie_seed to be a whole number >= 0; got {seed!r}"
    return None


def tie_rule_text(meta: dict[str, Any]) -> str:
    """How ties are ordered, e.g. ``evidence (aum)``, ``random (seed 0)``."""
    rule = meta["tie_break"]
    if rule == "evidence":
        return f"evidence ({meta.get('tie_evidence', 'a key')})"
    return f"random (seed {meta['tie_seed']})" if rule == "random" else rule


def easy_to_hard(values: np.ndarray, higher_is_easier: bool, meta: dict[str, Any],
                 tie_key: np.ndarray | None) -> np.ndarray:
    """Indices of finite ``values`` from easiest to hardest, (N,) int64, ties ordered by
    ``meta["tie_break"]`` (see ``Scores.easy_to_hard``)."""
    # The order of perm[np.argsort(key[perm], kind="stable")] (perm = arange for
    # "dataset-order"), without a stable sort of floats: 1-3x faster at N = 2 M
    # (benchmarks/scale.py); the seeded permutation is most of what "random" costs.
    key = -values if higher_is_easier else values
    groups = _tie_groups(key)
    if groups is None:  # no ties: every rule gives this order
        return np.argsort(key)
    if meta["tie_break"] == "dataset-order":
        return _stable_argsort(groups)
    perm = np.random.default_rng(int(meta["tie_seed"])).permutation(values.size)
    if meta["tie_break"] == "evidence":
        if tie_key is None:
            raise InputError(
                "Expected a tie key for tie_break='evidence'; got none. Use scores made by "
                "easyfirst's scorers, or with_tie_rule('evidence', key=...).")
        return perm[np.lexsort((tie_key[perm], groups[perm]))]
    return perm[_stable_argsort(groups[perm])]


def _tie_groups(key: np.ndarray) -> np.ndarray | None:
    """(N,) rank of each key among the distinct keys (equal keys, equal ranks; uint16 where
    they fit), or ``None`` when all keys differ."""
    s = np.sort(key)
    new = np.r_[True, s[1:] != s[:-1]]
    distinct = int(new.sum())
    if distinct == key.size:
        return None
    if distinct <= 1 << 16:  # a binary search in a table that fits the cache
        return np.searchsorted(s[new], key).astype(np.uint16)
    groups = np.empty(key.size, dtype=np.int64)
    groups[np.argsort(key)] = np.cumsum(new) - 1  # any order of equal keys: same ranks
    return groups


def _stable_argsort(groups: np.ndarray) -> np.ndarray:
    """``np.argsort(groups, kind="stable")`` for ``groups`` in [0, N), faster: numpy's radix
    sort for uint16, else one sort of (group, index) packed into int64."""
    n = groups.size
    if groups.dtype == np.uint16 or n > 1 << 31:
        return np.argsort(groups, kind="stable")
    packed = groups * n + np.arange(n)
    packed.sort()
    return packed % n
