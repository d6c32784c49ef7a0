"""``Scores``: per-sample difficulty values and their orderings.

Files (``save``/``load``): ``easyfirst.score_files``, a CSV (a first line ``# {json header}``
then ``index,score,rank[,id,label]`` rows, where ``rank`` is the position in the easy-to-hard
order, 0 = easiest, under the tie rule recorded in the header, and ``id``/``label`` the
sample's id and class name where ``save`` was given them) or, by suffix, an ``.npz`` with the
same header and checks (the fast one at large N).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from easyfirst._version import __version__
from easyfirst.atomic import atomic_write_text
from easyfirst.score_files import (
    FORMAT,
    TIE_RULES,
    VERSION,
    ScoresFileError,
    read_score_file,
    tie_problem,
    write_score_file,
)

__all__ = [  # ScoresFileError and atomic_write_text: re-exported, callers import them here
    "FORMAT", "TIE_RULES", "VERSION", "Scores", "ScoresFileError", "atomic_write_text",
    "distinct_values", "label_texts",
]

QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
DIGITS = 6  # significant digits of the summary's numbers (the scores keep every bit)


def _round(x: float) -> float:
    """``x`` to ``DIGITS`` significant digits: ``0.58000000000011`` -> ``0.58``."""
    return float(f"{x:.{DIGITS}g}")


def label_texts(targets: Any, class_names: Sequence[str]) -> list[str]:
    """Each sample's label as text: its class name, or for (N, C) multi-hot targets the names
    of its classes joined by ``;``.

    Example:
        >>> label_texts(np.array([1, 0]), ["cat", "dog"])
        ['dog', 'cat']
        >>> label_texts(np.array([[1, 1], [0, 1]]), ["cat", "dog"])
        ['cat;dog', 'dog']
    """
    t = np.asarray(targets)
    if t.ndim == 2:
        return [";".join(class_names[int(c)] for c in np.flatnonzero(row >= 0.5)) for row in t]
    return [class_names[int(c)] if 0 <= c < len(class_names) else str(int(c)) for c in t]


def distinct_values(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct finite values and their counts, equal to 12 decimals (sorted, as np.unique).

    Seed means of equal counts can differ in the last bit (0.1 + 0.2 != 0.3), so values are
    compared after rounding.
    """
    v = np.asarray(values, dtype=np.float64)
    v = np.sort(np.round(v[np.isfinite(v)], 12))
    starts = np.flatnonzero(np.r_[True, v[1:] != v[:-1]]) if v.size else np.arange(0)
    return v[starts], np.diff(np.r_[starts, v.size])


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


@dataclass
class Scores:
    """Difficulty scores for N samples of one dataset.

    Args:
        values: (N,) float scores.
        higher_is_easier: direction of ``values``.
        meta: scorer, params, seeds, epochs, dataset_fingerprint, library_version, and the
            tie rule (``tie_break``, ``tie_seed``; ``tie_evidence`` names the finer evidence).
        tie_key: (N,) finer evidence that orders equal ``values`` under ``tie_break="evidence"``,
            lower = easier (e.g. minus the mean AUM of the same epochs); loaded files give
            their ``rank`` column, which orders every tie as the evidence did.

    Example:
        >>> s = Scores(np.array([0.5, 1.0, 0.5, 0.0]), higher_is_easier=True,
        ...            meta={"tie_break": "dataset-order"})
        >>> s.easy_to_hard().tolist()
        [1, 0, 2, 3]
        >>> s.with_tie_rule("evidence", key=np.array([0.0, 0.0, -1.0, 0.0])).easy_to_hard().tolist()
        [1, 2, 0, 3]
    """

    values: np.ndarray
    higher_is_easier: bool
    meta: dict[str, Any] = field(default_factory=dict)
    tie_key: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float64)
        if self.values.ndim != 1 or self.values.size == 0:
            raise ValueError(
                f"Expected scores of shape (N,) with N >= 1; got shape {self.values.shape}."
            )
        self.meta.setdefault("tie_break", "random" if self.tie_key is None else "evidence")
        self.meta.setdefault("tie_seed", 0)
        if self.meta["tie_break"] not in TIE_RULES:
            raise ValueError(
                f"Unknown tie rule {self.meta['tie_break']!r}. Available: {', '.join(TIE_RULES)}."
            )
        if (problem := tie_problem(self.meta)) is not None:
            raise ValueError(f"Scores: {problem}. Pass a seed such as 0.")
        if self.tie_key is not None:
            self.tie_key = np.asarray(self.tie_key, dtype=np.float64)
            if self.tie_key.shape != self.values.shape:
                raise ValueError(f"Expected a tie key of shape {self.values.shape} (one per "
                                 f"score); got {self.tie_key.shape}. Pass the evidence of the "
                                 "same samples.")

    @property
    def num_samples(self) -> int:
        return int(self.values.size)

    @property
    def scorer(self) -> str:
        return str(self.meta.get("scorer", "unknown"))

    @property
    def fingerprint(self) -> str | None:
        fp = self.meta.get("dataset_fingerprint")
        return None if fp is None else str(fp)

    def with_tie_rule(self, tie_break: str, *, seed: int | None = None,
                      key: np.ndarray | None = None, evidence: str | None = None) -> Scores:
        """These scores with ties ordered by ``tie_break`` (``TIE_RULES``); ``"evidence"``
        uses ``key`` (lower = easier; named ``evidence``) or the key these scores hold."""
        meta = dict(self.meta, tie_break=tie_break)
        if seed is not None:
            meta["tie_seed"] = int(seed)
        if evidence is not None:
            meta["tie_evidence"] = evidence
        key = self.tie_key if key is None else key
        if tie_break == "evidence" and key is None:
            raise ValueError(
                f"Expected scores that hold finer evidence to order ties by (those of the coarse "
                f"scorers cumacc, fit, forgetting from easyfirst score); got {self.scorer} scores "
                f"whose ties are ordered {self.meta['tie_break']}. Use the tie rule random or "
                "dataset-order, or score again.")
        return Scores(self.values.copy(), higher_is_easier=self.higher_is_easier, meta=meta,
                      tie_key=None if key is None else np.array(key, dtype=np.float64))

    # -- orderings --------------------------------------------------------------------------
    def easy_to_hard(self) -> np.ndarray:
        """Sample indices from easiest to hardest, (N,) int64, ties broken by the stated rule.

        ``tie_break="evidence"``: ties are ordered by ``tie_key`` (lower first), its own ties
        as ``"random"``. ``"random"`` (the default without a key): a random permutation seeded
        with ``meta["tie_seed"]``. ``"dataset-order"``: the paper quick start's rule, lower
        index first.
        """
        nan = int(np.isnan(self.values).sum())
        if nan:
            raise ValueError(
                f"{nan} of {self.num_samples} scores are NaN (samples never seen in training?); "
                "expected finite scores. Rescore with every sample in the training split."
            )
        # The order of perm[np.argsort(key[perm], kind="stable")] (perm = arange for
        # "dataset-order"), without a stable sort of floats: 1-3x faster at N = 2 M
        # (benchmarks/scale.py); the seeded permutation is most of what "random" costs.
        key = -self.values if self.higher_is_easier else self.values
        groups = _tie_groups(key)
        if groups is None:  # no ties: every rule gives this order
            return np.argsort(key)
        if self.meta["tie_break"] == "dataset-order":
            return _stable_argsort(groups)
        perm = np.random.default_rng(int(self.meta["tie_seed"])).permutation(self.num_samples)
        if self.meta["tie_break"] == "evidence":
            if self.tie_key is None:
                raise ValueError(
                    "Expected a tie key for tie_break='evidence'; got none. Use scores made by "
                    "easyfirst's scorers, or with_tie_rule('evidence', key=...).")
            return perm[np.lexsort((self.tie_key[perm], groups[perm]))]
        return perm[_stable_argsort(groups[perm])]

    def hard_to_easy(self) -> np.ndarray:
        return self.easy_to_hard()[::-1].copy()

    def ranks(self) -> np.ndarray:
        """(N,) position of each sample in ``easy_to_hard`` (0 = easiest)."""
        ranks = np.empty(self.num_samples, dtype=np.int64)
        ranks[self.easy_to_hard()] = np.arange(self.num_samples)
        return ranks

    def summary(self, *, ids: Sequence[str] | None = None, top: int = 5) -> dict[str, Any]:
        """Distribution (to 6 significant digits), number of unique values, largest tie,
        easiest and hardest samples."""
        v = self.values[~np.isnan(self.values)]
        uniq, counts = distinct_values(v)
        order = self.easy_to_hard() if v.size == self.num_samples else np.arange(0)
        name = (lambda i: ids[i]) if ids is not None else (lambda i: int(i))
        return {
            "scorer": self.scorer,
            "N": self.num_samples,
            "direction": "higher_is_easier" if self.higher_is_easier else "lower_is_easier",
            "min": _round(v.min()) if v.size else math.nan,
            "max": _round(v.max()) if v.size else math.nan,
            "mean": _round(v.mean()) if v.size else math.nan,
            "std": _round(v.std()) if v.size else math.nan,
            "quantiles": {str(q): _round(x) for q, x in zip(QUANTILES, np.quantile(
                v, QUANTILES).tolist(), strict=True)} if v.size else {},
            "num_nan": int(self.num_samples - v.size),
            "num_unique": int(uniq.size),
            "largest_tie": int(counts.max()) if counts.size else 0,
            "largest_tie_value": _round(uniq[counts.argmax()]) if counts.size else math.nan,
            "ties": self.tie_rule_text(),
            "easiest": [name(i) for i in order[:top]],
            "hardest": [name(i) for i in order[::-1][:top]],
        }

    def tie_rule_text(self) -> str:
        """How ties are ordered, e.g. ``evidence (aum)``, ``random (seed 0)``."""
        rule = self.meta["tie_break"]
        if rule == "evidence":
            return f"evidence ({self.meta.get('tie_evidence', 'a key')})"
        return f"random (seed {self.meta['tie_seed']})" if rule == "random" else rule

    # -- files ------------------------------------------------------------------------------
    def header(self) -> dict[str, Any]:
        h = {
            "format": FORMAT,
            "version": VERSION,
            "N": self.num_samples,
            "direction": "higher_is_easier" if self.higher_is_easier else "lower_is_easier",
        }
        meta = dict(self.meta)
        meta.setdefault("library_version", __version__)
        for k in ("scorer", "params", "seeds", "dataset_fingerprint"):
            meta.setdefault(k, None if k != "params" else {})
        h.update(meta)
        return h

    def save(self, path: str | os.PathLike[str], *, ids: Sequence[str] | None = None,
             labels: Sequence[str] | None = None) -> Path:
        """Write the file atomically (a temp file in the same folder, then ``os.replace``):
        ``.npz`` by suffix, else CSV (``easyfirst.score_files``).

        Args:
            path: where to write.
            ids, labels: each sample's id and label text (``label_texts``), the CSV's ``id``
                and ``label`` columns; both or neither.
        """
        if (ids is None) != (labels is None):
            raise ValueError(
                f"Expected both ids and labels for the score file's id,label columns, or "
                f"neither; got only {'ids' if labels is None else 'labels'}. Pass both."
            )
        inf = np.isinf(self.values)
        if inf.any():
            raise ValueError(f"Expected finite scores (or NaN for samples never scored) to save "
                             f"to {str(path)!r}; got {int(inf.sum())} infinite (first: index "
                             f"{int(np.flatnonzero(inf)[0])}). Replace them, e.g. with NaN.")
        ranks = self.ranks() if not np.isnan(self.values).any() else None
        samples = None if ids is None or labels is None else (ids, labels)
        return write_score_file(path, self.header(), self.values, ranks, samples)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        expect_fingerprint: str | None = None,
        expect_num_samples: int | None = None,
        allow_nan: bool = False,
    ) -> Scores:
        """Read and validate a score file written by ``save`` (CSV, or ``.npz`` by suffix).

        ``allow_nan=True`` also reads NaN scores (samples a scorer never saw, e.g. C-score
        subsets that never held a sample out); by default every score must be finite.

        Raises:
            ScoresFileError: not a score file, wrong format/version, N or index mismatch, bad
                or non-finite numbers, ranks that are not a permutation, or a dataset
                fingerprint other than ``expect_fingerprint``.
        """
        header, values, ranks = read_score_file(
            path, expect_fingerprint=expect_fingerprint, expect_num_samples=expect_num_samples,
            allow_nan=allow_nan,
        )
        meta = {k: v for k, v in header.items() if k not in ("format", "version", "N", "direction")}
        key = ranks.astype(np.float64) if ranks is not None else None  # orders ties as written
        return cls(values, higher_is_easier=header["direction"] == "higher_is_easier", meta=meta,
                   tie_key=key if meta.get("tie_break") == "evidence" else None)


def save_unless_same(scores: Scores, path: str | os.PathLike[str], *,
                     ids: Sequence[str] | None = None, labels: Sequence[str] | None = None,
                     ignore: Sequence[str] = ("cost",)) -> Scores:
    """``scores.save(path)``, unless the file there already holds these scores (values, ranks
    and header but for the keys ``ignore``, e.g. a run's wall time): then the file stays
    byte-identical and the returned scores carry its ``ignore`` values."""
    p = Path(path)
    try:
        header, values, ranks = read_score_file(p, allow_nan=True) if p.is_file() else (
            None, None, None)
    except ScoresFileError:
        header = None
    if header is not None and values is not None:
        mine = scores.header()
        text = lambda h: json.dumps({k: v for k, v in h.items() if k not in ignore},
                                    sort_keys=True, default=str)
        new_ranks = None if np.isnan(scores.values).any() else scores.ranks()
        if text(json.loads(json.dumps(mine, default=str))) == text(header) and np.array_equal(
                values, scores.values, equal_nan=True) and (
                ranks is None if new_ranks is None else ranks is not None and np.array_equal(
                    ranks, new_ranks)):
            meta = {**scores.meta, **{k: header[k] for k in ignore if k in header}}
            return Scores(scores.values, scores.higher_is_easier, meta, scores.tie_key)
    scores.save(p, ids=ids, labels=labels)
    return scores
