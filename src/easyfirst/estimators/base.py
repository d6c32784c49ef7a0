"""``TrainingScorer``: a scorer that trains (or embeds with) models of its own.

CVLoss, C-score, Transfer Teacher and Prediction Depth need more than the dynamics of one
ordinary run. Each is one function registered with :func:`register_estimator` into the same
``SCORERS`` registry as the dynamics scorers, and implements the same
:class:`~easyfirst.scoring.base.Scorer` contract; ``run`` returns one seed's ``Scores`` and
``ensemble`` averages seeds. Adding one is one file::

    @register_estimator("mine", higher_is_easier=False, description="...",
                        params=[Param("folds", int, "k folds (default 3)")])
    def mine(bundle, cfg, *, seed, progress=False, model=None, folds=3) -> ScorerOutput: ...
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from easyfirst._version import __version__
from easyfirst.data.base import DatasetBundle
from easyfirst.errors import InputError
from easyfirst.models.factory import model_name
from easyfirst.recording.dynamics import TrainingDynamics
from easyfirst.scores import Scores, label_texts
from easyfirst.scoring.base import Param, SeedInputs
from easyfirst.scoring.ensemble import ensemble
from easyfirst.scoring.registry import SCORERS
from easyfirst.targets import is_multilabel
from easyfirst.training.config import RunConfig, resolve_auto


@dataclass
class ScorerOutput:
    """What a training scorer's function returns for one seed.

    Attributes:
        values: (N,) scores of the training split, in dataset order.
        trainings: number of models this seed trained.
        info: extra facts for ``Scores.meta`` (e.g. the subset ratios actually used).
    """

    values: np.ndarray
    trainings: int
    info: dict[str, Any] = field(default_factory=dict)


ScorerFn = Callable[..., ScorerOutput]


def jsonable(value: Any) -> Any:
    """Params as JSON values: tuples to lists, paths to strings, NumPy scalars to Python."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass(frozen=True)
class TrainingScorer:
    """A scorer that runs its own trainings (or feature extraction) for one seed at a time.

    Attributes:
        name: registry name.
        fn: ``fn(bundle, cfg, *, seed, progress, model, **params) -> ScorerOutput``; every
            param is keyword-only with a default, and ``model`` is an already trained model
            of this seed (an ``nn.Module``) or ``None``.
        higher_is_easier: direction of the score.
        description: one line for ``easyfirst scorers``.
        reuses_run_model: the scorer can use the model of the ordinary per-seed training run
            (``easyfirst score`` passes it as ``model``) instead of training one; True for
            Prediction Depth without a checkpoint.
        check: ``check(bundle, cfg, model=model, **params)`` raises on bad input before
            anything trains (``easyfirst score`` calls it for every scorer, with
            ``model=None``, before the first training).
        params: the parameters as the command line shows them (one per keyword of ``fn``).
        summary_keys: ``Scores.meta`` keys copied into the score summary.
        test_params: small parameters for the common scorer tests.
    """

    name: str
    fn: ScorerFn
    higher_is_easier: bool
    description: str
    reuses_run_model: bool = False
    check: Callable[..., None] | None = None
    params: tuple[Param, ...] = ()
    summary_keys: tuple[str, ...] = ()
    test_params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def defaults(self) -> dict[str, Any]:
        """The accepted parameters and their defaults (``fn``'s keyword-only arguments)."""
        sig = inspect.signature(self.fn)
        skip = {"bundle", "cfg", "seed", "progress", "model"}
        return {
            n: p.default
            for n, p in sig.parameters.items()
            if n not in skip and p.kind is inspect.Parameter.KEYWORD_ONLY
        }

    def check_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Reject unknown parameter names; return the params merged over the defaults."""
        accepted = self.defaults
        unknown = sorted(set(params) - set(accepted))
        if unknown:
            raise InputError(
                f"Unknown parameter {unknown[0]!r} for scorer {self.name!r}. Available: "
                f"{', '.join(sorted(accepted)) or 'none'}."
            )
        return {**accepted, **params}

    def validate(
        self,
        bundle: DatasetBundle,
        cfg: RunConfig,
        params: Mapping[str, Any],
        *,
        model: Any = None,
    ) -> dict[str, Any]:
        """Check names and values of ``params`` for this dataset; return them with defaults.

        The estimators are single-label: multi-label data is refused in one line."""
        if is_multilabel(bundle.train.targets):
            raise InputError(
                f"Scorer {self.name!r} is single-label; got the multi-label dataset "
                f"{bundle.name!r}. Use the training-dynamics scorers (cumacc, fit, celoss, aum, "
                "forgetting, ...), which are defined for multi-label targets."
            )
        full = self.check_params(params)
        if self.check is not None:
            self.check(bundle, cfg, model=model, **full)
        return full

    def uses_run_model(self, params: Mapping[str, Any]) -> bool:
        """Whether ``easyfirst score`` should hand this scorer the per-seed run's model."""
        return self.reuses_run_model and not params.get("checkpoint")

    def record_needs(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Nothing beyond the core outcomes: it trains and probes models of its own."""
        return {}

    def uses_runs(self, params: Mapping[str, Any]) -> bool:
        return self.uses_run_model(params)

    def score(self, inputs: SeedInputs, **params: Any) -> Scores:
        cfg, facts = inputs.cfg, None
        if inputs.model is not None:  # the ordinary run of this seed, trained with cfg
            facts = {"model_source": f"the per-seed training run (seed {inputs.seed})",
                     "model": cfg.model, "epochs": cfg.epochs}
        return self.run(inputs.bundle, cfg, seed=inputs.seed, progress=inputs.progress,
                        model=inputs.model, model_info=facts, **params)

    def __call__(self, data: Any, /, *, model: Any = None, config: RunConfig | None = None,
                 seeds: Sequence[int] = (0,), progress: bool = False, **params: Any) -> Scores:
        """Score the training split of ``data``; the call form every scorer shares.

        Args:
            data: a ``DatasetBundle``, or a map-style Dataset of ``(x, y)`` items (read once
                with ``DatasetBundle.from_datasets``).
            model: what to train: a model name or a factory returning an ``nn.Module``
                (``easyfirst.models.factory``); for scorers that can probe one
                (``prediction_depth``), also a trained ``nn.Module``. Default:
                ``config.model``.
            config: the ``RunConfig`` of every model it trains; default ``RunConfig()``.
            seeds: one member per seed; several are averaged with ``ensemble``.
            progress: show progress bars of the trainings.
            **params: the scorer's parameters (``params``).

        Returns:
            ``Scores`` of the training split: one seed's, or the seeds' ensemble.

        Raises:
            TypeError: ``data`` is not a dataset (e.g. a run's ``TrainingDynamics``), or
                ``model`` is a trained module for a scorer that trains its own.
        """
        bundle = _as_bundle(self.name, data)
        cfg = config if config is not None else RunConfig()
        trained = model if isinstance(model, nn.Module) else None
        if trained is not None and not self.reuses_run_model:
            raise TypeError(f"Scorer {self.name!r} trains models of its own; got a trained "
                            f"{type(model).__name__}. Pass model= a factory (e.g. lambda: "
                            "MyNet()) or a model name.")
        if model is not None and trained is None:
            cfg = replace(cfg, model=model_name(model))
        members = [self.run(bundle, cfg, seed=s, progress=progress, model=trained, **params)
                   for s in seeds]
        return members[0] if len(members) == 1 else ensemble(members)

    def run(
        self,
        bundle: DatasetBundle,
        cfg: RunConfig,
        *,
        seed: int,
        out_dir: str | Path | None = None,
        progress: bool = False,
        model: Any = None,
        model_info: Mapping[str, Any] | None = None,
        **params: Any,
    ) -> Scores:
        """Score ``bundle.train`` for one seed.

        Args:
            bundle: the dataset; only ``train`` is scored.
            cfg: run configuration of every model this scorer trains (its ``seed`` is
                replaced by ``seed``; ``model="auto"`` is resolved here, once).
            seed: the seed of this member of the ensemble.
            out_dir: if given, the scores are also saved to ``out_dir/<name>.csv``.
            progress: show progress bars of the trainings.
            model: a trained model of this seed to reuse (see ``reuses_run_model``).
            model_info: what the caller knows of ``model`` (``model_source``, ``model``,
                ``epochs``); it overrides the scorer's own account in ``meta``.
            **params: scorer parameters (see ``params``).

        Returns:
            ``Scores`` with meta ``scorer``, ``params``, ``seeds=[seed]``, ``epochs``,
            ``dataset_fingerprint``, ``library_version`` and ``cost`` (``wall_s``,
            ``trainings``).
        """
        cfg = resolve_auto(cfg, bundle)
        full = self.validate(bundle, cfg, params, model=model)
        t0 = time.perf_counter()
        out = self.fn(bundle, cfg, seed=int(seed), progress=progress, model=model, **full)
        wall = time.perf_counter() - t0
        values = np.asarray(out.values, dtype=np.float64)
        if values.shape != (len(bundle.train),):
            raise RuntimeError(  # pragma: no cover - a scorer bug, not a user error
                f"Scorer {self.name!r} returned shape {values.shape}; expected "
                f"({len(bundle.train)},)."
            )
        meta: dict[str, Any] = {
            "scorer": self.name,
            "params": jsonable(full),
            "seeds": [int(seed)],
            "epochs": cfg.epochs,
            "model": cfg.model,
            "dataset_fingerprint": bundle.fingerprint,
            "library_version": __version__,
            "cost": {"wall_s": wall, "trainings": int(out.trainings)},
        }
        meta.update(jsonable({**out.info, **(model_info or {})}))
        scores = Scores(values, higher_is_easier=self.higher_is_easier, meta=meta)
        if out_dir is not None:
            scores.save(Path(out_dir) / f"{self.name}.csv", ids=bundle.train.ids,
                        labels=label_texts(bundle.train.targets, bundle.class_names))
        return scores

    def from_seeds(
        self,
        bundle: DatasetBundle,
        cfg: RunConfig,
        *,
        seeds: Sequence[int],
        progress: bool = False,
        **params: Any,
    ) -> list[Scores]:
        """``run`` once per seed (feed the list to ``ensemble``)."""
        return [self.run(bundle, cfg, seed=s, progress=progress, **params) for s in seeds]


def register_estimator(
    name: str, *, higher_is_easier: bool, description: str, params: Sequence[Param] = (),
    check: Callable[..., None] | None = None, reuses_run_model: bool = False,
    summary_keys: Sequence[str] = (), test_params: Mapping[str, Any] | None = None,
) -> Callable[[ScorerFn], ScorerFn]:
    """Register ``fn(bundle, cfg, *, seed, progress, model, **params) -> ScorerOutput``.

    ``params`` must name exactly ``fn``'s keyword-only scorer arguments (checked here).
    """

    def decorator(fn: ScorerFn) -> ScorerFn:
        scorer = TrainingScorer(name, fn, higher_is_easier, description, reuses_run_model,
                                check, tuple(params), tuple(summary_keys), dict(test_params or {}))
        declared, accepted = {p.name for p in params}, set(scorer.defaults)
        if declared != accepted:
            raise TypeError(f"Estimator {name!r} declares params {sorted(declared)}; its "
                            f"function takes {sorted(accepted)}. Declare each one once.")
        SCORERS.register(name, kind="training")(scorer)
        return fn

    return decorator


def _as_bundle(scorer: str, data: Any) -> DatasetBundle:
    """``data`` as a ``DatasetBundle``: a bundle as it is, a map-style Dataset materialised."""
    if isinstance(data, DatasetBundle):
        return data
    if isinstance(data, TrainingDynamics) or not (hasattr(data, "__getitem__")
                                                  and hasattr(data, "__len__")):
        raise TypeError(
            f"Scorer {scorer!r} trains models of its own and needs the data; got "
            f"{type(data).__name__}. Pass a DatasetBundle or a Dataset of (x, y): "
            f"get_scorer({scorer!r})(train_set, model=..., config=RunConfig(...)).")
    return DatasetBundle.from_datasets(data, name=type(data).__name__)


def sum_costs(members: Sequence[Scores]) -> dict[str, Any]:
    """Total ``cost`` (wall seconds, trainings) over the members of an ensemble."""
    wall = sum(float(m.meta.get("cost", {}).get("wall_s", 0.0)) for m in members)
    trainings = sum(int(m.meta.get("cost", {}).get("trainings", 0)) for m in members)
    return {"wall_s": wall, "trainings": trainings}
