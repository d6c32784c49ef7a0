"""The built-in scorers derived from one training run's dynamics, each registered with the
decorator a new one uses (``register_scorer``); their math is ``scoring/functional.py``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from easyfirst.errors import InputError
from easyfirst.recording.dynamics import TrainingDynamics
from easyfirst.scoring import functional as F
from easyfirst.scoring.base import Param
from easyfirst.scoring.registry import register_scorer


@register_scorer("cumacc", higher_is_easier=True, coarse=True,
                 description="fraction of epochs classified correctly (Rampp et al. 2024)")
def cumacc(d: TrainingDynamics) -> torch.Tensor:
    return F.cumacc(d)


@register_scorer("fit", higher_is_easier=False, coarse=True,
                 description="first epoch from which the sample stays correct; never learned = E")
def fit(d: TrainingDynamics) -> torch.Tensor:
    return F.fit(d)


@register_scorer("celoss", higher_is_easier=False,
                 description="per-sample cross-entropy of the chosen checkpoint (eval pass)")
def celoss(d: TrainingDynamics) -> torch.Tensor:
    return F.celoss(d)


@register_scorer("forgetting", higher_is_easier=False, coarse=True,
                 description="forgetting events (Toneva et al. 2019); never learned = E")
def forgetting(d: TrainingDynamics) -> torch.Tensor:
    return F.forgetting(d)


@register_scorer("confidence", higher_is_easier=True, outcomes=("probs",),
                 description="data-map confidence (Swayamdipta et al. 2020)")
def confidence(d: TrainingDynamics) -> torch.Tensor:
    return F.confidence(d)


@register_scorer("variability", higher_is_easier=False, outcomes=("probs",),
                 description="data-map variability (Swayamdipta et al. 2020)")
def variability(d: TrainingDynamics) -> torch.Tensor:
    return F.variability(d)


@register_scorer("aum", higher_is_easier=True, outcomes=("margins",),
                 description="area under the margin (Pleiss et al. 2020)")
def aum(d: TrainingDynamics) -> torch.Tensor:
    return F.aum(d)


def _el2n_epoch(cfg: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """``epoch`` (from 1): given, else the configuration's ``el2n_epoch + 1`` (else 1);
    refused outside 1 .. the run's epochs."""
    epoch = params.get("epoch", getattr(cfg, "el2n_epoch", 0) + 1)
    epochs = getattr(cfg, "epochs", None)
    if not 1 <= epoch <= max(epochs if epochs is not None else epoch, 1):
        raise InputError(f"Expected --el2n-epoch from 1 to --epochs ({epochs}); got {epoch}. "
                         "Epochs are numbered from 1.")
    return {**params, "epoch": epoch}


@register_scorer(
    "el2n", higher_is_easier=False, outcomes=("el2n",),
    description="EL2N at a chosen early epoch (Paul et al. 2021)",
    params=(Param("epoch", int, "epoch at which EL2N is taken, from 1 (the first) to --epochs; "
                  "default 1", flag="el2n-epoch"),),
    test_params={"epoch": 1}, resolve=_el2n_epoch,
    record=lambda params: {"el2n_epoch": params["epoch"] - 1})
def el2n(d: TrainingDynamics) -> torch.Tensor:
    return F.el2n(d)
