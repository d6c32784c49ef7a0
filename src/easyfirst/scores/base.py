"""``Scores``: per-sample difficulty values with their direction, meta and tie rule; their
easy-to-hard order (``easyfirst.scores.ties``), summary (``easyfirst.scores.summary``) and
file (``save``/``load``: ``easyfirst.scores.files``, a CSV or, by suffix, an ``.npz``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from easyfirst._version import __version__
from easyfirst.errors import InputError
from easyfirst.scores.checks import FORMAT, VERSION, ScoresFileError
from easyfirst.scores.files import read_score_file, write_score_file
from easyfirst.scores.summary import summarize
from easyfirst.scores.ties import TIE_RULES, easy_to_hard, tie_problem, tie_rule_text


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
            raise InputError(
                f"Expected scores of shape (N,) with N >= 1; got shape {self.values.shape}."
            )
        self.meta.setdefault("tie_break", "random" if self.tie_key is None else "evidence")
        self.meta.setdefault("tie_seed", 0)
        if self.meta["tie_break"] not in TIE_RULES:
            raise InputError(
                f"Unknown tie rule {self.meta['tie_break']!r}. Available: {', '.join(TIE_RULES)}."
            )
        if (problem := tie_problem(self.meta)) is not None:
            raise InputError(f"Scores: {problem}. Pass a seed such as 0.")
        if self.tie_key is not None:
            self.tie_key = np.asarray(self.tie_key, dtype=np.float64)
            if self.tie_key.shape != self.values.shape:
                raise InputError(f"Expected a tie key of shape {self.values.shape} (one per "
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
            raise InputError(
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
            raise InputError(
                f"{nan} of {self.num_samples} scores are NaN (samples never seen in training?); "
                "expected finite scores. Rescore with every sample in the training split."
            )
        return easy_to_hard(self.values, self.higher_is_easier, self.meta, self.tie_key)

    def hard_to_easy(self) -> np.ndarray:
        return self.easy_to_hard()[::-1].copy()

    def ranks(self) -> np.ndarray:
        """(N,) position of each sample in ``easy_to_hard`` (0 = easiest)."""
        ranks = np.empty(self.num_samples, dtype=np.int64)
        ranks[self.easy_to_hard()] = np.arange(self.num_samples)
        return ranks

    def summary(self, *, ids: Sequence[str] | None = None, top: int = 5) -> dict[str, Any]:
        """Distribution (to 6 significant digits), number of unique values, largest tie,
        easiest and hardest samples (``easyfirst.scores.summary``)."""
        return summarize(self, ids=ids, top=top)

    def tie_rule_text(self) -> str:
        """How ties are ordered, e.g. ``evidence (aum)``, ``random (seed 0)``."""
        return tie_rule_text(self.meta)

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
        ``.npz`` by suffix, else CSV (``easyfirst.scores.files``).

        Args:
            path: where to write.
            ids, labels: each sample's id and label text (``label_texts``), the CSV's ``id``
                and ``label`` columns; both or neither.
        """
        if (ids is None) != (labels is None):
            raise InputError(
                f"Expected both ids and labels for the score file's id,label columns, or "
                f"neither; got only {'ids' if labels is None else 'labels'}. Pass both."
            )
        inf = np.isinf(self.values)
        if inf.any():
            raise InputError(f"Expected finite scores (or NaN for samples never scored) to save "
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
