"""CVLoss: the cross-entropy of each sample under the k-fold model that did not train on it.

The training split is cut into ``folds`` stratified, seeded folds (``folds.stratified_folds``).
For each fold a model is trained on the other folds with the ordinary training loop (same
run configuration; the dev split still picks the best epoch) and scores the held-out fold.
Lower loss = easier. Cost: ``folds`` trainings per seed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from easyfirst.data.base import DatasetBundle
from easyfirst.estimators.base import ScorerOutput, register_estimator
from easyfirst.estimators.folds import complement, stratified_folds
from easyfirst.scoring.base import Param
from easyfirst.training.config import RunConfig
from easyfirst.training.distributed import resolve_device
from easyfirst.training.loop import train


def part_bundle(bundle: DatasetBundle, train_idx: np.ndarray, tag: str) -> DatasetBundle:
    """``bundle`` restricted to the training rows ``train_idx``; no test split (not needed)."""
    return DatasetBundle(
        name=f"{bundle.name}#{tag}",
        train=bundle.train.subset(train_idx),
        dev=bundle.dev,
        test=None,
        class_names=bundle.class_names,
        info=bundle.info,
    )


@torch.no_grad()
def heldout_eval(
    model: torch.nn.Module, bundle: DatasetBundle, idx: np.ndarray, cfg: RunConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode per-sample cross-entropy and correctness of rows ``idx`` of the training split.

    Logits stay in the run's dtype (float64 runs give float64 losses).

    Returns:
        ``loss (len(idx),)`` float64 and ``correct (len(idx),)`` bool, on CPU.
    """

    device, dtype = resolve_device(cfg.device), getattr(torch, cfg.dtype)
    was_training = model.training
    model.eval()
    losses, correct = [], []
    rows = torch.as_tensor(idx, dtype=torch.long)
    for start in range(0, len(rows), 256):
        x, y = bundle.train.batch(rows[start : start + 256])
        logits = model(x.to(device, dtype)).double().cpu()
        losses.append(F.cross_entropy(logits, y, reduction="none"))
        correct.append(logits.argmax(1) == y)
    model.train(was_training)
    return torch.cat(losses), torch.cat(correct)


def check_cvloss(bundle: DatasetBundle, cfg: RunConfig, *, model: Any = None, folds: int) -> None:
    """Raise before any training if ``folds`` does not fit the training split."""
    stratified_folds(bundle.train.targets, folds, seed=0)


@register_estimator(
    "cvloss", higher_is_easier=False,
    description="held-out cross-entropy in stratified k-fold cross-validation (k=3); k trainings",
    params=[Param("folds", int, "cvloss: k folds (default 3)")],
    check=check_cvloss,
    summary_keys=("fold_sizes",), test_params={"folds": 2},
)
def cvloss(
    bundle: DatasetBundle,
    cfg: RunConfig,
    *,
    seed: int,
    progress: bool = False,
    model: Any = None,
    folds: int = 3,
) -> ScorerOutput:
    """Score every training sample by its held-out loss in ``folds``-fold cross-validation.

    Args:
        bundle: the dataset; ``train`` is split into folds.
        cfg: run configuration of the fold models (seed replaced by ``seed``).
        seed: seeds the fold assignment and the fold models.
        progress: show training progress bars.
        model: unused (CVLoss always trains its own fold models).
        folds: k, number of folds (>= 2).

    Returns:
        ``(N,)`` held-out cross-entropy (lower = easier); ``info`` has the fold sizes.
    """

    parts = stratified_folds(bundle.train.targets, folds, seed=seed)
    n = len(bundle.train)
    values = np.full(n, np.nan)
    fold_acc = []
    for j, held in enumerate(parts):
        res = train(
            part_bundle(bundle, complement(n, held), f"cv{j}of{folds}"),
            replace(cfg, seed=seed),
            record=False,
            progress=progress,
        )
        loss, correct = heldout_eval(res.model, bundle, held, cfg)
        values[held] = loss.numpy()
        fold_acc.append(float(correct.double().mean()))
    return ScorerOutput(
        values,
        trainings=len(parts),
        info={"fold_sizes": [int(p.size) for p in parts], "fold_heldout_accuracy": fold_acc},
    )
