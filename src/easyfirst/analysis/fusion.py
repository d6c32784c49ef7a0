"""Late fusion: sum the softmax probabilities of several trained runs, then take the argmax.

Runs trained with different orderings (curriculum, anti-curriculum, random, baseline) learn
complementary things (Rampp et al. 2024); adding their class probabilities is the plainest
way to use that. Predictions come from ``predictions.npz`` of ``easyfirst train`` runs
(``{split}_probs (M, C)``, ``{split}_targets (M,)``, ``{split}_ids (M,)``); runs are fused only
when they predict the same samples in the same order. Multi-label runs (targets ``(M, C)``
multi-hot, probs the sigmoids) fuse by the mean sigmoid and are scored by macro mAP.

Example:
    >>> import numpy as np
    >>> a = np.array([[0.6, 0.4], [0.6, 0.4]])
    >>> b = np.array([[0.3, 0.7], [0.9, 0.1]])
    >>> fuse([a, b]).round(6).tolist()
    [[0.9, 1.1], [1.5, 0.5]]
    >>> fusion_accuracy([a, b], np.array([1, 0]))
    1.0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from easyfirst.targets import selection_metric

PREDICTIONS = "predictions.npz"


@dataclass
class RunPredictions:
    """Softmax outputs of one run on one split.

    Attributes:
        probs: (M, C) class probabilities.
        targets: (M,) class ids.
        ids: (M,) sample ids.
        name: label (e.g. the run folder's name).
    """

    probs: np.ndarray
    targets: np.ndarray
    ids: np.ndarray
    name: str = ""

    @property
    def accuracy(self) -> float:
        return accuracy(self.probs, self.targets)


def accuracy(probs: np.ndarray, targets: np.ndarray) -> float:
    """Top-1 accuracy of (M, C) scores against (M,) targets (argmax; ties go to the lower
    class); for (M, C) multi-hot targets the macro mAP of the scores (the headline metric of
    multi-label data, ``easyfirst.targets``)."""
    probs, targets = np.asarray(probs), np.asarray(targets)
    if probs.ndim != 2 or targets.shape not in ((probs.shape[0],), probs.shape):
        raise ValueError(
            f"Expected probs (M, C) and targets (M,) or (M, C); got {probs.shape} and "
            f"{targets.shape}."
        )
    if not targets.size:
        return float("nan")
    return selection_metric(torch.from_numpy(probs), torch.from_numpy(targets))


def fuse(probs: Sequence[np.ndarray]) -> np.ndarray:
    """Sum of K runs' (M, C) probabilities: (M, C)."""
    if not probs:
        raise ValueError("Expected at least one run's probabilities to fuse; got none.")
    shapes = {np.shape(p) for p in probs}
    if len(shapes) != 1:
        raise ValueError(
            f"Expected probabilities of one shape (M, C) from every run; got {sorted(shapes)}. "
            "Fuse runs of the same dataset and split."
        )
    return np.sum(np.stack([np.asarray(p, dtype=np.float64) for p in probs]), axis=0)


def fusion_accuracy(probs: Sequence[np.ndarray], targets: np.ndarray) -> float:
    """Accuracy of the argmax of the summed probabilities (multi-label: mAP of the mean
    sigmoid, which ranks as the sum)."""
    return accuracy(fuse(probs), targets)


def load_predictions(run_dir: str | Path, split: str = "test") -> RunPredictions:
    """Read ``run_dir/predictions.npz`` for ``split`` (``test`` or ``dev``)."""
    path = Path(run_dir) / PREDICTIONS
    if not path.is_file():
        raise FileNotFoundError(
            f"{str(path)!r} does not exist; expected a finished easyfirst train run. Finish "
            "the run first (easyfirst train ... --resume)."
        )
    with np.load(path, allow_pickle=False) as z:
        if f"{split}_probs" not in z.files:
            raise ValueError(
                f"{str(path)!r} has no {split!r} predictions (has: {', '.join(sorted(z.files))}); "
                "use a split the dataset has."
            )
        return RunPredictions(z[f"{split}_probs"], z[f"{split}_targets"], z[f"{split}_ids"],
                              name=Path(run_dir).name)


def fuse_runs(runs: Sequence[RunPredictions]) -> dict[str, Any]:
    """Fuse K runs that predict the same samples: fused and per-member accuracies.

    Returns:
        ``{"members": [names], "accuracy": fused, "member_accuracies": [K],
        "mean_member_accuracy", "best_member_accuracy"}``.
    """
    if not runs:
        raise ValueError("Expected at least one run to fuse; got none.")
    first = runs[0]
    for r in runs[1:]:
        if r.ids.shape != first.ids.shape or not np.array_equal(r.ids, first.ids) or \
                not np.array_equal(r.targets, first.targets):
            raise ValueError(
                f"Run {r.name!r} predicts other samples than {first.name!r}; expected the same "
                "dataset split. Fuse runs of one dataset."
            )
    member = [r.accuracy for r in runs]
    return {
        "members": [r.name for r in runs],
        "accuracy": fusion_accuracy([r.probs for r in runs], first.targets),
        "member_accuracies": member,
        "mean_member_accuracy": float(np.mean(member)),
        "best_member_accuracy": float(np.max(member)),
    }


def fusion_table(groups: Mapping[str, Sequence[RunPredictions]]) -> list[dict[str, Any]]:
    """One ``fuse_runs`` row per named group, e.g. ``{"CL+RCL+ACL+B1": [...], ...}``."""
    return [{"fusion": name, **fuse_runs(runs)} for name, runs in groups.items()]
