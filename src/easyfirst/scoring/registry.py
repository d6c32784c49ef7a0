"""Scorer registry; the scorers derived from one training run's dynamics register here.

Adding one is one function and one decorator, anywhere (the built-in ones are in
``scoring/builtin.py``)::

    @register_scorer("toy", higher_is_easier=True, description="correct in the last epoch")
    def toy(d: TrainingDynamics) -> torch.Tensor:
        return d.correct_now.double()

Scorers that train models of their own register from ``easyfirst.estimators``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from easyfirst._version import __version__
from easyfirst.errors import InputError
from easyfirst.recording.dynamics import TrainingDynamics
from easyfirst.registry import Registry
from easyfirst.scores import Scores
from easyfirst.scoring import functional as F
from easyfirst.scoring.base import Param, Scorer, SeedInputs


@dataclass(frozen=True)
class DynamicsScorer:
    """A scorer derived from the dynamics of one ordinary training run (no extra training).

    Attributes:
        name: registry name.
        fn: ``fn(dynamics) -> (N,) tensor``.
        higher_is_easier: direction of the score.
        description: one line for ``easyfirst scorers``.
        params: its parameters (``Param``; the command line shows one option each).
        outcomes: the optional recorder outcomes it reads (``easyfirst.recording.outcomes``).
        coarse: its values are few (counts of epochs), so ties are ordered by the finer
            evidence of the same run (``functional.tie_evidence``: ``tie_break="evidence"``).
        resolve: ``resolve(cfg, params) -> params``: the parameters completed (their defaults,
            which may depend on the run configuration) and checked (one line) before any run.
        record: ``record(params)`` -> the recorder settings it needs beyond ``outcomes``
            (``RunConfig`` fields, e.g. ``el2n_epoch``); the workflow merges them.
    """

    name: str
    fn: Callable[[TrainingDynamics], torch.Tensor]
    higher_is_easier: bool
    description: str
    params: tuple[Param, ...] = ()
    summary_keys: tuple[str, ...] = ()
    test_params: Mapping[str, Any] = field(default_factory=dict)
    outcomes: tuple[str, ...] = ()
    coarse: bool = False
    resolve: Callable[[Any, Mapping[str, Any]], dict[str, Any]] | None = None
    record: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None

    def __call__(self, dynamics: TrainingDynamics, /, **options: Any) -> Scores:
        """Score the samples of one training run from its ``dynamics`` (see the module notes).

        Raises:
            TypeError: ``dynamics`` is not a ``TrainingDynamics`` (e.g. a dataset), or options
                were given (model, config, seeds... belong to scorers that train).
        """
        if options:
            raise TypeError(f"Scorer {self.name!r} takes only a run's dynamics; got "
                            f"{', '.join(options)}. Call it as get_scorer({self.name!r})"
                            "(recorder.dynamics()).")
        if not isinstance(dynamics, TrainingDynamics):
            raise TypeError(
                f"Scorer {self.name!r} is computed from a training run's dynamics; got "
                f"{type(dynamics).__name__}. Record the run with OutcomeRecorder and pass "
                "recorder.dynamics(), or use a scorer that trains its own models (cvloss, "
                "cscore, transfer_teacher, prediction_depth)."
            )
        values = self.fn(dynamics).double().cpu().numpy()
        meta = {
            "scorer": self.name,
            "params": {},
            "seeds": [dynamics.meta["seed"]] if "seed" in dynamics.meta else [],
            "epochs": dynamics.epochs,
            "dataset_fingerprint": dynamics.fingerprint,
            "library_version": __version__,
        }
        if not self.coarse:
            return Scores(values, higher_is_easier=self.higher_is_easier, meta=meta)
        evidence, key = F.tie_evidence(dynamics)
        meta.update(tie_break="evidence", tie_evidence=evidence)
        return Scores(values, higher_is_easier=self.higher_is_easier, meta=meta,
                      tie_key=key.double().cpu().numpy())

    def from_runs(self, runs: Sequence[TrainingDynamics]) -> list[Scores]:
        return [self(d) for d in runs]

    def validate(self, bundle: Any, cfg: Any, params: Mapping[str, Any]) -> dict[str, Any]:
        known = {p.name for p in self.params}
        unknown = [k for k in params if k not in known]
        if unknown:
            takes = f"takes {', '.join(sorted(known))}" if known else (
                "takes no parameters (it is derived from the training runs)")
            raise InputError(f"Scorer {self.name!r} {takes}; got {', '.join(unknown)}.")
        return self.resolve(cfg, params) if self.resolve is not None else dict(params)

    def record_needs(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """What the runs must record for it: ``outcomes`` and recorder settings."""
        return {"outcomes": self.outcomes,
                **(self.record(params) if self.record is not None else {})}

    def uses_runs(self, params: Mapping[str, Any]) -> bool:
        return True

    def uses_run_model(self, params: Mapping[str, Any]) -> bool:
        return False

    def score(self, inputs: SeedInputs, **params: Any) -> Scores:
        if inputs.dynamics is None:
            raise InputError(f"Scorer {self.name!r} needs the run's dynamics; got none.")
        return self(inputs.dynamics)


SCORERS: Registry[Scorer] = Registry(
    "scorer", packages=("easyfirst.scoring", "easyfirst.estimators"),
    entry_points="easyfirst.scorers")


def register_scorer(
    name: str, *, higher_is_easier: bool, description: str, outcomes: tuple[str, ...] = (),
    coarse: bool = False, **declared: Any,
) -> Callable[[Callable[[TrainingDynamics], torch.Tensor]],
              Callable[[TrainingDynamics], torch.Tensor]]:
    """Register ``fn(dynamics) -> (N,) tensor`` as the dynamics scorer ``name``; ``coarse``
    scorers (few distinct values) order their ties by the run's finer evidence. ``declared``:
    more ``DynamicsScorer`` fields (``params``, ``resolve``, ``record``,
    ``test_params``)."""

    def decorator(fn: Callable[[TrainingDynamics], torch.Tensor]
                  ) -> Callable[[TrainingDynamics], torch.Tensor]:
        SCORERS.register(name, kind="dynamics")(
            DynamicsScorer(name, fn, higher_is_easier, description, outcomes=outcomes,
                           coarse=coarse, **declared))
        return fn

    return decorator


def get_scorer(name: str) -> Scorer:
    """The registered scorer ``name``; every one is called as ``scorer(inputs, **options)``.

    Dynamics scorers (``cumacc``, ``fit``, ``forgetting``, ...) take one run's
    ``TrainingDynamics``; scorers that train models of their own (``cvloss``, ``cscore``,
    ``transfer_teacher``, ``prediction_depth``) take the data (a ``DatasetBundle`` or a
    map-style Dataset of ``(x, y)``) and ``model=``, ``config=``, ``seeds=`` and their
    parameters (``easyfirst.estimators.base.TrainingScorer.__call__``). Both return ``Scores``.
    """
    return SCORERS.get(name)
