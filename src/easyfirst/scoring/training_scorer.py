"""``TrainingScorer``: a scorer that trains (or embeds with) models of its own.

CVLoss, C-score, Transfer Teacher and Prediction Depth need more than the dynamics of one
ordinary run. Each is a ``TrainingScorer`` in the same ``SCORERS`` registry as the dynamics
scorers; ``run`` returns one seed's ``Scores`` and ``ensemble`` averages seeds.
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from easyfirst._version import __version__
from easyfirst.data.base import DatasetBundle
from easyfirst.scores import Scores
from easyfirst.training.config import RunConfig


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
    """

    name: str
    fn: ScorerFn
    higher_is_easier: bool
    description: str
    reuses_run_model: bool = False
    check: Callable[..., None] | None = None

    @property
    def params(self) -> dict[str, Any]:
        """The accepted parameters and their defaults."""
        sig = inspect.signature(self.fn)
        skip = {"bundle", "cfg", "seed", "progress", "model"}
        return {
            n: p.default
            for n, p in sig.parameters.items()
            if n not in skip and p.kind is inspect.Parameter.KEYWORD_ONLY
        }

    def check_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Reject unknown parameter names; return the params merged over the defaults."""
        accepted = self.params
        unknown = sorted(set(params) - set(accepted))
        if unknown:
            raise ValueError(
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
        """Check names and values of ``params`` for this dataset; return them with defaults."""
        full = self.check_params(params)
        if self.check is not None:
            self.check(bundle, cfg, model=model, **full)
        return full

    def wants_run_model(self, params: Mapping[str, Any]) -> bool:
        """Whether ``easyfirst score`` should hand this scorer the per-seed run's model."""
        return self.reuses_run_model and not params.get("checkpoint")

    def run(
        self,
        bundle: DatasetBundle,
        cfg: RunConfig,
        *,
        seed: int,
        out_dir: str | Path | None = None,
        progress: bool = False,
        model: Any = None,
        **params: Any,
    ) -> Scores:
        """Score ``bundle.train`` for one seed.

        Args:
            bundle: the dataset; only ``train`` is scored.
            cfg: run configuration of every model this scorer trains (its ``seed`` is
                replaced by ``seed``).
            seed: the seed of this member of the ensemble.
            out_dir: if given, the scores are also saved to ``out_dir/<name>.csv``.
            progress: show progress bars of the trainings.
            model: a trained model of this seed to reuse (see ``reuses_run_model``).
            **params: scorer parameters (see ``params``).

        Returns:
            ``Scores`` with meta ``scorer``, ``params``, ``seeds=[seed]``, ``epochs``,
            ``dataset_fingerprint``, ``library_version`` and ``cost`` (``wall_s``,
            ``trainings``).
        """
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
        meta.update(jsonable(out.info))
        scores = Scores(values, higher_is_easier=self.higher_is_easier, meta=meta)
        if out_dir is not None:
            scores.save(Path(out_dir) / f"{self.name}.csv")
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


def sum_costs(members: Sequence[Scores]) -> dict[str, Any]:
    """Total ``cost`` (wall seconds, trainings) over the members of an ensemble."""
    wall = sum(float(m.meta.get("cost", {}).get("wall_s", 0.0)) for m in members)
    trainings = sum(int(m.meta.get("cost", {}).get("trainings", 0)) for m in members)
    return {"wall_s": wall, "trainings": trainings}
