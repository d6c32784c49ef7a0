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

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from easyfirst.analysis.stats import Comparison, paired_bootstrap_accuracy
from easyfirst.errors import InputError, MissingFileError
from easyfirst.file_errors import read_npz
from easyfirst.run_folder import PREDICTIONS, read_json
from easyfirst.targets import selection_metric


@dataclass
class RunPredictions:
    """Softmax outputs of one run on one split.

    Attributes:
        probs: (M, C) class probabilities.
        targets: (M,) class ids.
        ids: (M,) sample ids.
        name: label (e.g. the run folder's name).
        fingerprint: the dataset fingerprint the run trained on (``run.json``), if known.
    """

    probs: np.ndarray
    targets: np.ndarray
    ids: np.ndarray
    name: str = ""
    fingerprint: str | None = None

    @property
    def accuracy(self) -> float:
        return accuracy(self.probs, self.targets)


def accuracy(probs: np.ndarray, targets: np.ndarray) -> float:
    """Top-1 accuracy of (M, C) scores against (M,) targets (argmax; ties go to the lower
    class); for (M, C) multi-hot targets the macro mAP of the scores (the headline metric of
    multi-label data, ``easyfirst.targets``)."""
    probs, targets = np.asarray(probs), np.asarray(targets)
    if probs.ndim != 2 or targets.shape not in ((probs.shape[0],), probs.shape):
        raise InputError(
            f"Expected probs (M, C) and targets (M,) or (M, C); got {probs.shape} and "
            f"{targets.shape}."
        )
    if not targets.size:
        return float("nan")
    return selection_metric(torch.from_numpy(probs), torch.from_numpy(targets))


def fuse(probs: Sequence[np.ndarray]) -> np.ndarray:
    """Sum of K runs' (M, C) probabilities: (M, C)."""
    if not probs:
        raise InputError("Expected at least one run's probabilities to fuse; got none.")
    shapes = {np.shape(p) for p in probs}
    if len(shapes) != 1:
        raise InputError(
            f"Expected probabilities of one shape (M, C) from every run; got {sorted(shapes)}. "
            "Fuse runs of the same dataset and split."
        )
    return np.sum(np.stack([np.asarray(p, dtype=np.float64) for p in probs]), axis=0)


def fusion_accuracy(probs: Sequence[np.ndarray], targets: np.ndarray) -> float:
    """Accuracy of the argmax of the summed probabilities (multi-label: mAP of the mean
    sigmoid, which ranks as the sum)."""
    return accuracy(fuse(probs), targets)


def load_predictions(run_dir: str | os.PathLike[str], split: str = "test") -> RunPredictions:
    """Read ``run_dir/predictions.npz`` for ``split`` (``test`` or ``dev``), with the dataset
    fingerprint of ``run_dir/run.json``."""
    folder = Path(run_dir)
    path = folder / PREDICTIONS
    if not path.is_file():
        why = ("does not exist" if not folder.exists() else "is not a folder" if not
               folder.is_dir() else f"holds no {PREDICTIONS}")
        raise MissingFileError(
            f"{str(folder)!r} {why}; expected a finished easyfirst train run (its --out "
            "folder). Pass train folders, or finish the run first (easyfirst train ... "
            "--resume)."
        )
    run = folder / "run.json"
    fingerprint = read_json(run, what="a run's settings").get("dataset_fingerprint") \
        if run.is_file() else None
    z = read_predictions(path)
    if f"{split}_probs" not in z:
        raise InputError(
            f"{str(path)!r} has no {split!r} predictions (has: {', '.join(sorted(z))}); "
            "use a split the dataset has."
        )
    return RunPredictions(z[f"{split}_probs"], z[f"{split}_targets"], z[f"{split}_ids"],
                          name=folder.name, fingerprint=fingerprint)


def read_predictions(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a run's ``predictions.npz`` (``{split}_probs (M, C)``, ``_targets``,
    ``_ids`` per split); one line naming the file when it is not such a file."""
    fix = ("Leave that run out, or train it again (easyfirst train ... --overwrite --out "
           "FOLDER).")
    what = "a predictions file of easyfirst train"
    z = read_npz(path, what=what, fix=fix)
    splits = [k[:-len("_probs")] for k in z if k.endswith("_probs")]
    if (splits or not z) and all(_split_ok(z, s) for s in splits):
        bad = [s for s in splits if not np.isfinite(z[f"{s}_probs"]).all()]
        if bad:
            raise InputError(f"{str(path)!r}: expected finite probabilities; {bad[0]}_probs "
                             f"holds NaN or infinite values. {fix}")
        return z  # (a run of a dataset with neither dev nor test holds no arrays)
    raise InputError(
        f"{str(path)!r} is not {what}: expected arrays SPLIT_probs (M, C), SPLIT_targets and "
        f"SPLIT_ids (M) for test and dev; got {', '.join(sorted(z))}. {fix}")


def _split_ok(z: Mapping[str, np.ndarray], split: str) -> bool:
    probs, targets, ids = (z.get(f"{split}_{k}") for k in ("probs", "targets", "ids"))
    return targets is not None and ids is not None and probs is not None and \
        probs.ndim == 2 and len(probs) == len(targets) == len(ids)


def fuse_runs(runs: Sequence[RunPredictions | str | os.PathLike[str]], *, split: str = "test"
              ) -> dict[str, Any]:
    """Fuse K >= 2 runs that predict the same samples: fused and per-member accuracies
    (macro mAP for multi-label runs).

    Args:
        runs: ``RunPredictions``, or ``easyfirst train`` run folders (read with
            ``load_predictions``).
        split: the split of run folders to fuse, ``test`` or ``dev``.

    Returns:
        ``{"members": [names], "accuracy": fused, "member_accuracies": [K],
        "mean_member_accuracy", "best_member_accuracy", "metric", "vs_best_member"}``
        (``metric``: ``accuracy``, or ``map`` for multi-label runs, whose numbers are macro
        mAP; ``vs_best_member``: fused minus the member with the best accuracy here, as
        ``{effect, ci_low, ci_high, p, n}`` from ``compare_fusions``, None for multi-label).

    Example:
        >>> ids, y = np.array(["a", "b"]), np.array([1, 0])
        >>> a = RunPredictions(np.array([[0.6, 0.4], [0.6, 0.4]]), y, ids, "a")
        >>> b = RunPredictions(np.array([[0.3, 0.7], [0.9, 0.1]]), y, ids, "b")
        >>> fuse_runs([a, b])["accuracy"], fuse_runs([a, b])["member_accuracies"]
        (1.0, [0.5, 1.0])
    """
    if len(runs) < 2:
        raise InputError(
            f"Expected at least 2 runs to fuse; got {len(runs)}. Pass two or more run folders "
            "of one dataset (or a reproduce folder to easyfirst fuse)."
        )
    _check_distinct(runs)
    preds = [r if isinstance(r, RunPredictions) else load_predictions(r, split) for r in runs]
    first = preds[0]
    for r in preds[1:]:
        if None not in (r.fingerprint, first.fingerprint) and r.fingerprint != first.fingerprint:
            raise InputError(
                f"Run {r.name!r} was trained on dataset fingerprint {r.fingerprint} but "
                f"{first.name!r} on {first.fingerprint}; expected runs of one dataset. Fuse "
                "runs of the same dataset."
            )
        if r.ids.shape != first.ids.shape or not np.array_equal(r.ids, first.ids) or \
                not np.array_equal(r.targets, first.targets):
            raise InputError(
                f"Run {r.name!r} predicts other {split} samples than {first.name!r} ("
                f"{r.ids.shape[0]} vs {first.ids.shape[0]}, or other ids or targets); expected "
                f"the same {split} set. Fuse runs of one dataset."
            )
    member = [r.accuracy for r in preds]
    vs_best = compare_fusions(preds, [preds[int(np.argmax(member))]])
    return {
        "members": [r.name for r in preds],
        "accuracy": fusion_accuracy([r.probs for r in preds], first.targets),
        "member_accuracies": member,
        "mean_member_accuracy": float(np.mean(member)),
        "best_member_accuracy": float(np.max(member)),
        "metric": "map" if first.targets.ndim == 2 else "accuracy",
        "vs_best_member": None if vs_best is None else asdict(vs_best),
    }


def _check_distinct(runs: Sequence[RunPredictions | str | os.PathLike[str]]) -> None:
    """Refuse a run given twice (fused with itself it only repeats its own accuracy)."""
    seen: dict[object, object] = {}
    for r in runs:
        key = id(r) if isinstance(r, RunPredictions) else Path(r).resolve()
        name = r.name if isinstance(r, RunPredictions) else str(r)
        if key in seen:
            also = "" if name == seen[key] else f" (also as {name!r})"
            raise InputError(
                f"Expected distinct runs to fuse; got {str(seen[key])!r} twice{also}. A run "
                "fused with itself only repeats its accuracy: pass each run once.")
        seen[key] = name


def fused_correct(preds: Sequence[RunPredictions]) -> np.ndarray | None:
    """(M,) correctness of the argmax of the summed probabilities; None for multi-label runs
    (their mAP has no per-sample correctness)."""
    if preds[0].targets.ndim != 1:
        return None
    return fuse([p.probs for p in preds]).argmax(1) == preds[0].targets


def compare_fusions(a: Sequence[RunPredictions], b: Sequence[RunPredictions], *,
                    seed: int = 0) -> Comparison | None:
    """Fused ``a`` minus fused ``b`` (one run each is no fusion) on the same test samples.

    A paired bootstrap over the samples gives the interval, McNemar's exact test the p-value
    (``stats.paired_bootstrap_accuracy``); ``n`` = samples. None for multi-label runs.
    """
    x, y = fused_correct(a), fused_correct(b)
    if x is None or y is None:
        return None
    return paired_bootstrap_accuracy(x, y, seed=seed)


def fusion_table(groups: Mapping[str, Sequence[RunPredictions]]) -> list[dict[str, Any]]:
    """One ``fuse_runs`` row per named group, e.g. ``{"CL+RCL+ACL+B1": [...], ...}``."""
    return [{"fusion": name, **fuse_runs(runs)} for name, runs in groups.items()]
