"""Scorer registry: each entry turns training records into ``Scores``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from easyfirst._version import __version__
from easyfirst.recording.dynamics import TrainingDynamics
from easyfirst.registry import Registry
from easyfirst.scores import Scores
from easyfirst.scoring import functional as F


@dataclass(frozen=True)
class DynamicsScorer:
    """A scorer derived from the dynamics of one ordinary training run (no extra training).

    Attributes:
        name: registry name.
        fn: ``fn(dynamics, **params) -> (N,) tensor``.
        higher_is_easier: direction of the score.
        description: one line for ``easyfirst scorers``.
    """

    name: str
    fn: Callable[..., torch.Tensor]
    higher_is_easier: bool
    description: str

    def __call__(self, dynamics: TrainingDynamics, **params: Any) -> Scores:
        values = self.fn(dynamics, **params).double().cpu().numpy()
        meta = {
            "scorer": self.name,
            "params": params,
            "seeds": [dynamics.meta["seed"]] if "seed" in dynamics.meta else [],
            "epochs": dynamics.num_epochs,
            "dataset_fingerprint": dynamics.fingerprint,
            "library_version": __version__,
        }
        return Scores(values, higher_is_easier=self.higher_is_easier, meta=meta)

    def from_runs(self, runs: Sequence[TrainingDynamics], **params: Any) -> list[Scores]:
        return [self(d, **params) for d in runs]


SCORERS: Registry[Any] = Registry("scorer")


def _add(name: str, fn: Callable[..., torch.Tensor], higher: bool, text: str) -> None:
    SCORERS.register(name)(DynamicsScorer(name, fn, higher, text))


_add("cumacc", F.cumacc, True, "fraction of epochs classified correctly (Rampp et al. 2024)")
_add("fit", F.fit, False, "first epoch from which the sample stays correct; never learned = E")
_add("celoss", F.celoss, False, "per-sample cross-entropy of the chosen checkpoint (eval pass)")
_add("forgetting", F.forgetting, False, "forgetting events (Toneva et al. 2019); never learned = E")
_add("confidence", F.confidence, True, "data-map confidence (Swayamdipta et al. 2020)")
_add("variability", F.variability, False, "data-map variability (Swayamdipta et al. 2020)")
_add("aum", F.aum, True, "area under the margin (Pleiss et al. 2020)")
_add("el2n", F.el2n, False, "EL2N at a chosen early epoch (Paul et al. 2021)")


def get_scorer(name: str) -> Any:
    return SCORERS.get(name)


# Scorers that train models of their own (registered last: they import this module's peers).
def _register_training_scorers() -> None:
    from easyfirst.scoring import cscore, cvloss, prediction_depth, transfer_teacher

    for module in (cvloss, cscore, transfer_teacher, prediction_depth):
        SCORERS.register(module.SCORER.name)(module.SCORER)


_register_training_scorers()
