"""Transfer Teacher (Hacohen & Weinshall 2019): an RBF SVM on a teacher's features.

Every training sample is embedded by a feature extractor, an RBF-kernel SVM
(``sklearn.svm.SVC(kernel="rbf", probability=True)``) is fitted on all N embeddings (features
standardised first) and each sample is scored by

* ``variant="prob"`` (default): the SVM's probability of the sample's true class (Platt
  scaling, fitted by SVC's internal 5-fold cross-validation seeded with ``seed``), in [0, 1];
* ``variant="margin"``: the decision-function margin of the true class over the best other
  class (``decision_function_shape="ovr"``: scikit-learn's per-class aggregation of the
  one-vs-one SVMs, votes plus a bounded confidence; for two classes ``+f(x)`` for
  ``classes_[1]`` and ``-f(x)`` for ``classes_[0]``). Positive = the SVM classifies the
  sample correctly; unbounded, no calibration, no internal cross-validation (cheaper).

Higher = easier for both. The features come from, in this order of preference:

1. ``embeddings``: a ``.npy`` file (N, D), rows in training-split order;
2. ``checkpoint``: a local model file (an easyfirst ``checkpoint.pt`` or a state dict of the
   registered ``cfg.model``), embedded at the input of its last linear layer (the penultimate
   representation, globally average-pooled); a head for another number of classes is fine;
3. neither: the *self-taught* teacher of Hacohen & Weinshall: a model trained on this
   training split with the run configuration and ``seed`` (one training).

Nothing is downloaded: pretrained weights are read from local files only.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import torch

from easyfirst.data.base import DatasetBundle
from easyfirst.errors import InputError
from easyfirst.estimators.base import ScorerOutput, register_estimator
from easyfirst.estimators.features import (
    head_name,
    layer_embeddings,
    load_embeddings_file,
    load_model_file,
)
from easyfirst.scoring.base import Param
from easyfirst.training.config import RunConfig
from easyfirst.training.distributed import resolve_device
from easyfirst.training.loop import train

VARIANTS = ("prob", "margin")


def svm_scores(
    features: np.ndarray,
    targets: np.ndarray,
    *,
    variant: str = "prob",
    seed: int = 0,
    c: float = 1.0,
) -> np.ndarray:
    """Fit an RBF SVM on ``features (N, D)`` / ``targets (N,)`` and score each sample, (N,).

    Args:
        features: (N, D) embeddings.
        targets: (N,) class ids; at least two classes.
        variant: ``"prob"`` (true-class probability) or ``"margin"`` (true-class decision
            value minus the best other class's).
        seed: ``random_state`` of the SVC (its Platt-scaling cross-validation).
        c: the SVM's regularisation ``C``.
    """
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    if variant not in VARIANTS:
        raise InputError(f"Unknown Transfer Teacher variant {variant!r}. Available: prob, margin.")
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(targets, dtype=np.int64)
    if x.ndim != 2 or x.shape[0] != y.shape[0]:
        raise InputError(
            f"Expected features (N, D) and targets (N,) with equal N; got {x.shape} and {y.shape}."
        )
    classes = np.unique(y)
    if classes.size < 2:
        raise InputError(f"Expected at least two classes to fit an SVM; got {classes.tolist()}.")
    x = StandardScaler().fit_transform(x)
    rows = np.arange(y.size)
    if variant == "prob":
        clf = _fit_probability_svm(x, y, seed=seed, c=c)
        col = np.searchsorted(clf.classes_, y)
        return clf.predict_proba(x)[rows, col].astype(np.float64)
    svc = SVC(kernel="rbf", C=c, decision_function_shape="ovr", random_state=seed).fit(x, y)
    col = np.searchsorted(svc.classes_, y)
    df = svc.decision_function(x)
    if df.ndim == 1:  # binary: f(x) > 0 votes for classes_[1]
        return np.where(col == 1, df, -df).astype(np.float64)
    true = df[rows, col]
    other = df.copy()
    other[rows, col] = -np.inf
    return (true - other.max(1)).astype(np.float64)


def _fit_probability_svm(x: np.ndarray, y: np.ndarray, *, seed: int, c: float) -> Any:
    """Fit ``SVC(kernel="rbf", probability=True)``: libsvm's Platt scaling over an internal
    5-fold cross-validation. scikit-learn 1.9 deprecates the flag (its warning is silenced
    here) and names ``CalibratedClassifierCV(SVC(), ensemble=False)`` as the replacement, used
    once the flag is gone (the same Platt sigmoid; multi-class probabilities are then
    normalised one-vs-rest instead of libsvm's pairwise coupling)."""
    import warnings

    from sklearn.svm import SVC

    try:
        svc = SVC(kernel="rbf", C=c, probability=True, random_state=seed)
    except TypeError:  # pragma: no cover - scikit-learn >= 1.11
        from sklearn.calibration import CalibratedClassifierCV

        clf = CalibratedClassifierCV(
            SVC(kernel="rbf", C=c, random_state=seed), method="sigmoid", cv=5, ensemble=False
        )
        return clf.fit(x, y)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*probability.*", category=FutureWarning)
        return svc.fit(x, y)


def teacher_features(
    bundle: DatasetBundle,
    cfg: RunConfig,
    *,
    seed: int,
    progress: bool,
    embeddings: str | None,
    checkpoint: str | None,
) -> tuple[np.ndarray, int, dict[str, Any]]:
    """The (N, D) features, the number of trainings spent, and where they came from."""
    n = len(bundle.train)
    if embeddings:
        return load_embeddings_file(embeddings, n), 0, {"features": f"embeddings {embeddings}"}

    device = resolve_device(cfg.device)
    dtype = getattr(torch, cfg.dtype)
    if checkpoint:

        model, info = load_model_file(checkpoint, bundle, cfg, allow_new_head=True)
        trainings = 0
        info["features"] = f"checkpoint {checkpoint}"
    else:

        model = train(bundle, replace(cfg, seed=seed), record=False, progress=progress).model
        trainings = 1
        info = {"features": "self-taught (trained on this split)"}
    model = model.to(device, dtype)
    head = head_name(model)
    (feats,), _ = layer_embeddings(
        model, bundle.train, [head], device=device, dtype=dtype, pre_hook=True
    )
    info["layer"] = f"input of {head}"
    return feats.double().numpy(), trainings, info


def check_transfer_teacher(
    bundle: DatasetBundle,
    cfg: RunConfig,
    *,
    model: Any = None,
    embeddings: str | None,
    checkpoint: str | None,
    variant: str,
) -> None:
    """Raise before any training on a bad variant, embeddings file or checkpoint."""
    if variant not in VARIANTS:
        raise InputError(f"Unknown Transfer Teacher variant {variant!r}. Available: prob, margin.")
    if embeddings:
        load_embeddings_file(embeddings, len(bundle.train))
    elif checkpoint:

        load_model_file(checkpoint, bundle, cfg, allow_new_head=True)


@register_estimator(
    "transfer_teacher", higher_is_easier=True,
    description="RBF-SVM true-class probability (or margin) on teacher features "
    "(Hacohen & Weinshall 2019)",
    params=[
        Param("embeddings", str, "transfer_teacher: precomputed features .npy (N, D) in "
              "training-split order (without it or --checkpoint, a self-taught teacher is "
              "trained on this split)"),
        Param("checkpoint", str, "transfer_teacher: teacher model file; prediction_depth: "
              "model trained on this split (an easyfirst checkpoint.pt or a state dict of "
              "--model); local files only"),
        Param("variant", str, "transfer_teacher: SVM true-class probability (default) or "
              "decision margin", flag="tt-variant", choices=("prob", "margin")),
    ],
    check=check_transfer_teacher,
    summary_keys=("features",),
)
def transfer_teacher(
    bundle: DatasetBundle,
    cfg: RunConfig,
    *,
    seed: int,
    progress: bool = False,
    model: Any = None,
    embeddings: str | None = None,
    checkpoint: str | None = None,
    variant: str = "prob",
) -> ScorerOutput:
    """Transfer Teacher scores for one seed (see the module docstring).

    Args:
        bundle: the dataset; ``train`` is scored.
        cfg: run configuration (model of a bare state dict; the self-taught teacher's run).
        seed: seeds the SVM's Platt scaling and the self-taught teacher.
        progress: show training progress bars.
        model: unused.
        embeddings: a ``.npy`` (N, D) file of features.
        checkpoint: a local model file to embed with.
        variant: ``"prob"`` or ``"margin"``.

    Returns:
        ``(N,)`` scores (higher = easier).
    """
    if variant not in VARIANTS:
        raise InputError(f"Unknown Transfer Teacher variant {variant!r}. Available: prob, margin.")
    feats, trainings, info = teacher_features(
        bundle, cfg, seed=seed, progress=progress, embeddings=embeddings, checkpoint=checkpoint
    )
    values = svm_scores(feats, bundle.train.targets.numpy(), variant=variant, seed=seed)
    info["embedding_dim"] = int(feats.shape[1])
    return ScorerOutput(values, trainings=trainings, info=info)
