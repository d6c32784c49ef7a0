"""The paper quick start's ``IndexedDataset`` and ``CumAccTracker`` over ``OutcomeRecorder``.

Example:
    >>> tracker = CumAccTracker(4, num_epochs=1)
    >>> tracker.update_batch(torch.arange(4), torch.eye(4)[[0, 1, 1, 3]], torch.arange(4))
    >>> tracker.end_epoch()
    >>> tracker.get_cumacc_scores().tolist(), tracker.get_difficulty_ranking().tolist()
    ([1.0, 1.0, 0.0, 1.0], [0, 1, 3, 2])
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from easyfirst.atomic import atomic_write
from easyfirst.data import WithIndex
from easyfirst.errors import InputError
from easyfirst.recording import OutcomeRecorder, TrainingDynamics
from easyfirst.scores import Scores

DEFAULT_TIES = "dataset-order"
"""The document's stated rule ("ties handled by dataset order"), kept stable here."""
QUICKSTART_TIES = ("dataset-order", "random")
"""The tracker records correctness only: no finer evidence to order ties by."""


class IndexedDataset(Dataset[tuple[int, Any, Any]]):
    """Wraps a dataset of ``(data, target)`` items so that ``ds[i]`` is ``(i, data, target)``.

    The document's layout over easyfirst's ``WithIndex`` (which yields ``(i, item)``).
    """

    def __init__(self, base_dataset: Any) -> None:
        self.base_dataset = base_dataset
        self._indexed: WithIndex[tuple[Any, Any]] = WithIndex(base_dataset)

    def __getitem__(self, idx: int) -> tuple[int, Any, Any]:
        index, (data, target) = self._indexed[idx]
        return index, data, target

    def __len__(self) -> int:
        return len(self._indexed)


def _check_ties(ties: str) -> None:
    if ties not in QUICKSTART_TIES:
        raise InputError(f"Unknown tie rule {ties!r}. Available: {', '.join(QUICKSTART_TIES)}.")


def difficulty_ranking(scores: np.ndarray, easy_to_hard: bool = True, *,
                       ties: str = DEFAULT_TIES, seed: int = 0) -> np.ndarray:
    """Sample indices of higher-is-easier ``scores`` (e.g. CumAcc), easiest first.

    ``easy_to_hard=False`` puts the hardest first (anti-curriculum). ``ties``:
    ``"dataset-order"`` (default, the document's stated rule: lower index first, in either
    direction) or ``"random"`` (a permutation seeded with ``seed``). easyfirst's own scorers
    order ties by finer evidence of the same runs (``Scores`` ``tie_break="evidence"``), which
    correctness alone does not hold.

    The document ranks with ``np.argsort(-scores)``, which is not a stable sort: with few
    distinct values (CumAcc has at most E + 1) its order within ties is arbitrary. This is
    ``easyfirst.scores.Scores(...).easy_to_hard()``, equal to
    ``np.argsort(-scores, kind="stable")`` under ``"dataset-order"``.
    """
    _check_ties(ties)
    meta = {"scorer": "cumacc", "tie_break": ties, "tie_seed": int(seed)}
    return Scores(np.asarray(scores), higher_is_easier=easy_to_hard, meta=meta).easy_to_hard()


class CumAccTracker:
    """Tracks per-sample correctness across training epochs (the document's tracker).

    An ``OutcomeRecorder(num_samples, epochs=num_epochs, keep_history=True)`` underneath,
    created on the device of the first logits (or ``device``). Where the document's code is
    a defect, this one differs:

    * ``update_batch`` never synchronises with the host: the document copies every batch to
      NumPy (``.cpu().numpy()``); here the outcomes stay on the device and ``end_epoch`` is
      the one sync point (one ``all_reduce`` under ``torch.distributed``, so every rank holds
      every sample's record, not only its own shard's).
    * ``get_difficulty_ranking`` keeps dataset order within ties, as the document says but
      its ``np.argsort(-scores)`` does not (see :func:`difficulty_ranking`); ``ties="random"``
      gives easyfirst's seeded random ties.
    * ``correct_matrix`` is unpacked from 1 bit per sample and epoch (the document: 1 byte).
      A sample visited several times in one epoch counts as correct when at least half of
      the visits were (the document: the last visit); a NaN/inf logit row is incorrect.

    As in the document, ``get_cumacc_scores`` divides by ``num_epochs`` (easyfirst's
    ``cumacc`` scorer divides by the epochs a sample was seen: equal once all epochs ran).

    Args:
        num_samples: N, the size of the training set.
        num_epochs: E, the epochs to record (at most E calls of ``end_epoch``).
        device: where the record lives; default: the first logits' device.
        ties: ``"dataset-order"`` (default) or ``"random"`` (:func:`difficulty_ranking`).
        seed: the seed of ``"random"`` ties.
    """

    def __init__(self, num_samples: int, num_epochs: int, *,
                 device: torch.device | str | None = None, ties: str = DEFAULT_TIES,
                 seed: int = 0) -> None:
        if num_epochs < 1:
            raise InputError(f"Expected num_epochs >= 1; got {num_epochs}. Pass the number "
                             "of training epochs.")
        self.num_samples, self.num_epochs = num_samples, num_epochs
        _check_ties(ties)
        self.ties, self.seed = ties, seed
        self._recorder: OutcomeRecorder | None = None
        if device is not None:
            self._recording(torch.device(device))

    def _recording(self, device: torch.device) -> OutcomeRecorder:
        if self._recorder is None:
            self._recorder = OutcomeRecorder(self.num_samples, device=device, keep_history=True,
                                             epochs=self.num_epochs)
        return self._recorder

    @property
    def current_epoch(self) -> int:
        """Epochs ended so far."""
        return 0 if self._recorder is None else self._recorder.epoch

    @property
    def correct_matrix(self) -> np.ndarray:
        """(num_samples, num_epochs) int8: 1 where the sample was correct in that epoch (a
        new array each time, unpacked from the record: writing to it changes nothing)."""
        matrix = np.zeros((self.num_samples, self.num_epochs), dtype=np.int8)
        if self.current_epoch:
            done = self.dynamics().history_matrix().numpy()
            matrix[:, : done.shape[1]] = done
        return matrix

    def update_batch(self, indices: torch.Tensor, logits: torch.Tensor,
                     targets: torch.Tensor) -> None:
        """Record one batch (no host synchronisation). Call during training."""
        self._recording(logits.device).update(indices, logits, targets)

    def end_epoch(self) -> None:
        """Call at the end of each training epoch (the one sync point)."""
        if self.current_epoch >= self.num_epochs:
            raise InputError(f"Expected at most num_epochs={self.num_epochs} calls of "
                             f"end_epoch; got call {self.current_epoch + 1}. Create the "
                             "tracker with the number of epochs you train.")
        self._recording(torch.device("cpu")).end_epoch()

    def dynamics(self, **meta: Any) -> TrainingDynamics:
        """The full record (``TrainingDynamics``) for easyfirst's other scorers."""
        return self._recording(torch.device("cpu")).dynamics(**meta)

    def get_cumacc_scores(self) -> np.ndarray:
        """(num_samples,) float64: epochs correct / ``num_epochs`` (higher = easier)."""
        return self.dynamics().correct_sum.numpy() / self.num_epochs

    def to_scores(self, **meta: Any) -> Scores:
        """The scores as ``easyfirst.scores.Scores`` (tie rule ``self.ties``, ``meta`` added)."""
        meta = {"scorer": "cumacc", "epochs": self.num_epochs, "tie_break": self.ties,
                "tie_seed": self.seed, **meta}
        return Scores(self.get_cumacc_scores(), higher_is_easier=True, meta=meta)

    def get_difficulty_ranking(self, easy_to_hard: bool = True) -> np.ndarray:
        """Sample indices easiest first (``easy_to_hard=False``: hardest first); ties by
        ``self.ties`` (:func:`difficulty_ranking`)."""
        return difficulty_ranking(self.get_cumacc_scores(), easy_to_hard, ties=self.ties,
                                  seed=self.seed)

    def save_scores(self, filepath: str | os.PathLike[str]) -> Path:
        """Save the scores: ``np.save`` format as in the document (``.npy`` appended when
        missing), or, for a path ending ``.csv``/``.npz``, easyfirst's score file (header,
        tie rule and ranks; read it with ``Scores.load``). Written atomically."""
        path = Path(filepath)
        if path.suffix in (".csv", ".npz"):
            return self.to_scores().save(path)
        if path.suffix != ".npy":
            path = path.with_name(path.name + ".npy")
        scores = self.get_cumacc_scores()

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.save(fh, scores)

        return atomic_write(path, write)

    def get_difficulty_distribution(self) -> dict[str, Any]:
        """Min, max, mean, std, number of distinct values, and the first 10 indices of the
        samples with the highest (``easiest_samples``) and lowest (``hardest_samples``)
        score. The document's keys and full-precision values; ``num_unique`` from
        ``Scores.summary()`` counts values equal to 12 decimals as one (the document's
        ``np.unique``: to the last bit; the same for one run's ``k / num_epochs``, not always
        for seed means)."""
        scores = self.to_scores()
        v = scores.values
        out: dict[str, Any] = {k: float(getattr(v, k)()) for k in ("min", "max", "mean", "std")}
        out["num_unique"] = scores.summary(top=0)["num_unique"]
        out["easiest_samples"] = np.flatnonzero(v == v.max())[:10].tolist()
        out["hardest_samples"] = np.flatnonzero(v == v.min())[:10].tolist()
        return out
