"""PyTorch Lightning: record per-sample outcomes in any LightningModule; train on a curriculum.

Needs the optional extra: ``pip install 'easyfirst[lightning]'``. Recording::

    train_set = WithIndex(dataset)                    # batches become (indices, (x, y))
    loader = DataLoader(train_set, batch_size=32, shuffle=True)
    trainer = Trainer(max_epochs=30, callbacks=[RecordOutcomes("runs/lit")])
    trainer.fit(module, loader)      # training_step returns {"loss": loss, "logits": logits}

:class:`RecordOutcomes` keeps an :class:`~easyfirst.recording.OutcomeRecorder` on the module's
device, updates it after every training batch (no host sync) and folds it at every epoch's
end: under DDP that is the one ``all_reduce`` of the epoch, after which every rank holds the
record of the whole training set. At the end of fit it scores the record, and global rank 0
writes ``OUT/dynamics.pt`` and ``OUT/scores/<scorer>.csv`` (one seed's files of
``easyfirst score``). Other batch layouts pass ``batch_to_record(batch, outputs) ->
(indices, logits, targets)``, ``outputs`` being what ``training_step`` returned.

Curriculum: give the same sampler to the DataLoader and to :class:`CurriculumSampling`::

    sampler = CurriculumSampler(train_set, ordering, pacing=pacing, epochs=30)
    loader = DataLoader(train_set, batch_size=32, sampler=sampler)
    trainer = Trainer(max_epochs=30, strategy="ddp", callbacks=[CurriculumSampling(sampler)])

A ``CurriculumSampler`` is a ``DistributedSampler``: Lightning keeps it under DDP (its
``use_distributed_sampler=True`` replaces only samplers that are not) and calls its
``set_epoch`` before every epoch. The callback shards it over the Trainer's processes at
setup (a sampler built before ``trainer.fit`` saw no process group yet) and stops with one
line when the train loader does not draw from it (a ``batch_sampler`` holding it is rebuilt
by Lightning under DDP unless ``Trainer(use_distributed_sampler=False)``), or when it is in
``mode="pool"``: Lightning fixes the number of batches per epoch at the first epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence, Sized
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from easyfirst.curriculum import CurriculumSampler
from easyfirst.errors import InputError
from easyfirst.recording import OutcomeRecorder, TrainingDynamics
from easyfirst.recording.outcomes import resolve_outcomes
from easyfirst.scores import Scores
from easyfirst.scoring import get_scorer
from easyfirst.scoring.registry import DynamicsScorer

if TYPE_CHECKING:
    from lightning.pytorch import Callback, LightningModule, Trainer
    from lightning.pytorch.utilities import CombinedLoader
else:
    try:
        from lightning.pytorch import Callback
        from lightning.pytorch.utilities import CombinedLoader
    except ImportError:  # the optional extra: building a callback says how to install it
        Callback, CombinedLoader = object, None

Record = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
BatchToRecord = Callable[[Any, Any], Record]
INSTALL = "pip install 'easyfirst[lightning]'"


def _require_lightning() -> None:
    if CombinedLoader is None:
        raise ImportError("easyfirst.integrations.lightning expected the 'lightning' package; "
                          f"got none installed. Install it: {INSTALL}")


def _what(obj: Any) -> str:
    size = f" of {len(obj)}" if isinstance(obj, (list, tuple, Mapping)) else ""
    return f"{type(obj).__name__}{size}"


def from_withindex(batch: Any, outputs: Any) -> Record:
    """The default ``batch_to_record``: batches ``(indices, (x, y))`` of a ``WithIndex``
    dataset and ``training_step`` returning a dict with ``"logits"`` (B, C)."""
    pair = batch[1] if isinstance(batch, (list, tuple)) and len(batch) == 2 else None
    if not (isinstance(pair, (list, tuple)) and len(pair) == 2
            and isinstance(batch[0], torch.Tensor)):
        raise InputError(f"Expected training batches (indices, (x, y)) of a WithIndex dataset; "
                         f"got {_what(batch)}. Wrap the training set in easyfirst.WithIndex, or "
                         "pass batch_to_record=fn(batch, outputs) -> (indices, logits, targets).")
    if not isinstance(outputs, Mapping) or "logits" not in outputs:
        keys = f" with keys {', '.join(map(str, outputs))}" if isinstance(outputs, Mapping) else ""
        raise InputError(f"Expected training_step to return a dict with 'logits' (B, C); got "
                         f"{_what(outputs)}{keys}. Return {{'loss': loss, 'logits': logits}}, or "
                         "pass batch_to_record=fn(batch, outputs).")
    return batch[0], outputs["logits"], pair[1]


def _dynamics_scorer(name: str, outcomes: tuple[str, ...]) -> DynamicsScorer:
    scorer = get_scorer(name)  # an unknown name raises, naming the known ones
    if not isinstance(scorer, DynamicsScorer):
        raise InputError(f"Expected scorers computed from one run's record (cumacc, fit, ...); "
                         f"got {name!r}, which trains models of its own. Use easyfirst score "
                         "for it.")
    missing = [o for o in scorer.outcomes if o not in outcomes]
    if missing:
        raise InputError(f"Scorer {name!r} needs the recorder's {missing[0]!r} outcomes; got "
                         f"outcomes={list(outcomes) or 'core'}. Record outcomes='all' (the "
                         f"default) or add {','.join(missing)!r}, or drop the scorer.")
    return scorer


def _train_loaders(trainer: Trainer) -> list[Any]:
    return list(CombinedLoader(trainer.train_dataloader).flattened)


class RecordOutcomes(Callback):
    """Records every training sample's outcome; scores and saves the record at the end of fit.

    Args:
        out: folder for ``dynamics.pt`` and ``scores/<scorer>.csv``, written by global rank
            0 when fit ends; ``None`` writes nothing (read :attr:`scores`, :meth:`dynamics`).
        scorers: scorers computed from the record (``cumacc``, ``fit``, ``celoss`` (the last
            epoch's loss), ``forgetting``, ``confidence``, ``variability``, ``aum``, ``el2n``).
        batch_to_record: ``fn(batch, outputs) -> (indices (B,), logits (B, C), targets (B,)
            or (B, C))``; default :func:`from_withindex`.
        num_samples: N, indices are in ``[0, N)``; default: the train loader's dataset length.
        meta: stored in the record's meta, e.g. ``{"seed": 0}``.
        **recorder_options: :class:`~easyfirst.recording.OutcomeRecorder` keywords:
            ``outcomes`` (default ``"all"``), ``correctness``, ``el2n_epoch``, ...

    Attributes:
        recorder: the recorder of the running or last fit (``None`` before).
        scores: ``{scorer: Scores}`` of the last fit, on every rank.

    Each fit starts a new record: the record is not part of Lightning checkpoints, so a fit
    resumed from one records the epochs it trains, not the earlier ones.
    """

    def __init__(self, out: str | Path | None = None, *, scorers: Sequence[str] = ("cumacc", "fit"),
                 batch_to_record: BatchToRecord | None = None, num_samples: int | None = None,
                 meta: Mapping[str, Any] | None = None, **recorder_options: Any) -> None:
        _require_lightning()
        self.out = None if out is None else Path(out)
        self.options = {"outcomes": "all", **recorder_options}
        outcomes = resolve_outcomes(self.options["outcomes"])
        self.scorers = {name: _dynamics_scorer(name, outcomes) for name in scorers}
        self.batch_to_record = batch_to_record or from_withindex
        self.num_samples, self.meta = num_samples, dict(meta or {})
        self.recorder: OutcomeRecorder | None = None
        self.scores: dict[str, Scores] = {}
        self._world = 1

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        n = self.num_samples or self._dataset_length(trainer)
        epochs = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else 0
        self._world = trainer.world_size
        self.recorder = OutcomeRecorder(n, **{
            "device": pl_module.device, "epochs": min(epochs, 32767),
            "sync": trainer.world_size > 1, **self.options})

    @staticmethod
    def _dataset_length(trainer: Trainer) -> int:
        loaders = _train_loaders(trainer)
        dataset = getattr(loaders[0], "dataset", None) if len(loaders) == 1 else None
        if not isinstance(dataset, Sized):
            raise InputError(f"Expected one train DataLoader over a sized dataset to take N "
                             f"from; got {len(loaders)} loaders. Pass "
                             "RecordOutcomes(num_samples=N).")
        return len(dataset)

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        assert self.recorder is not None  # on_train_start
        self.recorder.update(*self.batch_to_record(batch, outputs))

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        assert self.recorder is not None
        self.recorder.end_epoch()  # the epoch's one sync (all_reduce under DDP)

    def dynamics(self) -> TrainingDynamics:
        """The record so far, on CPU, with ``meta``, ``source`` and ``world_size``."""
        if self.recorder is None:
            raise InputError("Expected a fit to have started; got no record yet. Call "
                             "trainer.fit with this callback first.")
        return self.recorder.dynamics(**{"source": "lightning", "world_size": self._world,
                                         **self.meta})

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        record = self.dynamics()
        self.scores = {name: scorer(record) for name, scorer in self.scorers.items()}
        if self.out is None or not trainer.is_global_zero:
            return
        record.save(self.out / "dynamics.pt")
        for name, scores in self.scores.items():
            scores.save(self.out / "scores" / f"{name}.csv")


class CurriculumSampling(Callback):
    """Keeps a :class:`~easyfirst.curriculum.CurriculumSampler` in step with the Trainer.

    At setup it is sharded over the Trainer's processes (``num_replicas``, ``rank``); at
    the start of training the train loader must draw from it. Lightning itself calls its
    ``set_epoch`` before every epoch (see the module notes).

    Args:
        sampler: the sampler the train DataLoader was built with (``mode="constant"``).
    """

    def __init__(self, sampler: CurriculumSampler) -> None:
        _require_lightning()
        if not isinstance(sampler, CurriculumSampler):
            raise TypeError(f"Expected an easyfirst CurriculumSampler; got "
                            f"{type(sampler).__name__}. Pass the sampler of the train loader.")
        if sampler.mode != "constant":
            raise InputError(f"Expected a CurriculumSampler with mode='constant' under "
                             f"Lightning, which fixes the batches per epoch at the first epoch; "
                             f"got mode={sampler.mode!r}. Use mode='constant' (the default).")
        self.sampler = sampler

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        s = self.sampler
        if stage != "fit":
            return
        if s.pacing is not None and s.ordering is not None and trainer.max_epochs not in (
                None, -1, s.epochs):
            raise InputError(f"Expected the CurriculumSampler's epochs to equal the "
                             f"Trainer's max_epochs ({trainer.max_epochs}); got {s.epochs}. "
                             "Build the sampler with epochs=max_epochs.")
        s.num_replicas, s.rank = trainer.world_size, trainer.global_rank
        s.set_epoch(s.epoch)  # this rank's share of the epoch, before Lightning measures it

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        drawn = [getattr(x, "sampler", None) for dl in _train_loaders(trainer)
                 for x in (dl, getattr(dl, "batch_sampler", None))]
        if not any(s is self.sampler for s in drawn):
            names = sorted({type(s).__name__ for s in drawn if s is not None}) or ["none"]
            raise InputError(
                f"Expected the train DataLoader to draw from the CurriculumSampler given to "
                f"CurriculumSampling; got {', '.join(names)}. Build it with "
                "DataLoader(..., sampler=sampler), or pass Trainer(use_distributed_sampler="
                "False) when a batch_sampler holds it (Lightning replaces that under DDP).")
