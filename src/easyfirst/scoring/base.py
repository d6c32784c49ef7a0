"""The one scorer contract, and the declared parameters the command line is built from.

Every scorer (those derived from a training run's dynamics here, those that train models of
their own in ``easyfirst.estimators``) is a :class:`Scorer`: the score workflow validates its
parameters, asks whether it needs the ordinary per-seed training runs, and calls
:meth:`Scorer.score` once per seed with a :class:`SeedInputs`. It never asks which kind a
scorer is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from easyfirst.errors import InputError
from easyfirst.recording.dynamics import TrainingDynamics
from easyfirst.scores import Scores


def float_list(text: str) -> list[float]:
    """``"0.1,0.5"`` -> ``[0.1, 0.5]``."""
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"Expected numbers like 0.1,0.5,0.9; got {text!r}.") from None


def str_list(text: str) -> list[str]:
    """``"a,b"`` -> ``["a", "b"]``."""
    return [x for x in text.split(",") if x]


@dataclass(frozen=True)
class Param:
    """A scorer parameter as the command line shows it.

    Attributes:
        name: the keyword the scorer takes.
        parse: turns the command-line text into the value (``int``, ``float_list``...).
        help: one line; say the default.
        flag: the option without ``--`` (default: ``name`` with ``-``); scorers that declare
            the same flag share one option.
        choices: the accepted values, if a closed set.
    """

    name: str
    parse: Callable[[str], Any]
    help: str
    flag: str | None = None
    choices: tuple[str, ...] | None = None

    @property
    def option(self) -> str:
        return "--" + (self.flag or self.name.replace("_", "-"))


@dataclass
class SeedInputs:
    """What the score workflow hands a scorer for one seed.

    Attributes:
        bundle: the dataset (a ``DatasetBundle``); only ``train`` is scored.
        cfg: the run configuration (a ``RunConfig``) of every model the scorer trains.
        seed: this member of the seed ensemble.
        dynamics: the ordinary training run's record, when the scorer uses the runs.
        model: that run's trained model, when the scorer probes it.
        progress: show progress bars.
    """

    bundle: Any
    cfg: Any
    seed: int
    dynamics: TrainingDynamics | None = None
    model: Any = None
    progress: bool = False


@runtime_checkable
class Scorer(Protocol):
    """A registered scoring function (see the module notes)."""

    @property
    def name(self) -> str: ...

    @property
    def higher_is_easier(self) -> bool: ...

    @property
    def description(self) -> str: ...

    @property
    def params(self) -> tuple[Param, ...]:
        """The parameters it takes, as the command line shows them."""

    @property
    def summary_keys(self) -> tuple[str, ...]:
        """``Scores.meta`` keys copied into the score summary."""

    @property
    def test_params(self) -> Mapping[str, Any]:
        """Small parameters for the common scorer tests."""

    def validate(self, bundle: Any, cfg: Any, params: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``params`` before anything trains; return them with defaults filled in."""

    def record_needs(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """What the ordinary runs must record for it: ``outcomes`` (recorder outcome groups)
        and ``RunConfig`` recording fields (``el2n_epoch``); the score workflow merges them."""

    def uses_runs(self, params: Mapping[str, Any]) -> bool:
        """Whether it needs the ordinary per-seed training runs (their dynamics or model)."""

    def uses_run_model(self, params: Mapping[str, Any]) -> bool:
        """Whether it probes the trained model of the ordinary per-seed run."""

    def score(self, inputs: SeedInputs, **params: Any) -> Scores:
        """One seed's scores; ``meta["cost"]`` holds what it spent beyond the runs."""

    def __call__(self, inputs: Any, /, **options: Any) -> Scores:
        """The one call form: a run's ``TrainingDynamics`` (dynamics scorers) or the data
        and ``model=``, ``config=``, ``seeds=``, params (scorers that train models)."""
