"""``train``: one plain training run (the engine with one member), as ``easyfirst train`` and
``easyfirst score`` run it; torch.distributed-aware."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from torch.utils.data import Sampler

from easyfirst.audio.augment import Augment
from easyfirst.data.base import DatasetBundle
from easyfirst.training.callbacks import Callback
from easyfirst.training.config import RunConfig, resolve_auto
from easyfirst.training.distributed import DistInfo
from easyfirst.training.engine import Engine
from easyfirst.training.precision import Precision
from easyfirst.training.runs import CHECKPOINT, RunResult

__all__ = ["CHECKPOINT", "RunResult", "train"]


def train(
    bundle: DatasetBundle,
    cfg: RunConfig,
    *,
    out_dir: str | Path | None = None,
    sampler: Sampler[int] | None = None,
    record: bool = True,
    resume: bool = False,
    progress: bool = True,
    augment: Augment | None = None,
    on_epoch_end: Callable[[int, dict[str, Any]], None] | None = None,
    sampler_factory: Callable[[DistInfo], Sampler[int]] | None = None,
    precision: str | Precision | None = None,
    track_test: bool = False,
    callbacks: Sequence[Callback] = (),
) -> RunResult:
    """Train ``cfg.model`` on ``bundle.train`` with seed ``cfg.seed``; record dynamics.

    Args:
        bundle: the dataset; ``train`` is trained on, ``dev`` selects the best epoch, ``test``
            is evaluated once at the end.
        cfg: the run configuration (``model="auto"`` is resolved from the dataset).
        out_dir: where ``checkpoint.pt`` is written after every epoch (rank 0 only).
        sampler: data order; default ``DistributedSampler(shuffle=True, seed=cfg.seed)``.
            It must have ``set_epoch`` and be sharded for this rank.
        sampler_factory: builds the sampler once the process group is known (DDP).
        record: keep an ``OutcomeRecorder`` and return ``TrainingDynamics``.
        resume: continue from ``out_dir/checkpoint.pt`` if it exists.
        augment: ``augment(x, generator) -> x`` applied to each training batch on the device;
            default: built from ``cfg.augment``. ``mixup`` in ``cfg.augment`` mixes the batch
            afterwards; the loss is then ``lam*CE(y) + (1-lam)*CE(y_partner)`` and outcomes
            are recorded against each sample's own label.
        on_epoch_end: called with ``(epoch, metrics)`` after each epoch's checkpoint.
        precision: ``auto``/``fp32``/``bf16`` or a ``Precision``; default ``cfg.precision``.
            ``auto`` is bf16 autocast + channels_last (4-D inputs) on CUDA, fp32 on CPU.
        track_test: also evaluate ``test`` after every epoch (``test_accuracy`` in each
            metrics row; learning curves for benchmarks, never used for selection).
        callbacks: ``training.callbacks.Callback`` objects whose hooks the engine calls
            (``on_fit_start``, ``on_epoch_end``, ``on_fit_end``), after its checkpoint and
            progress.
    """
    factory = None
    if sampler is not None:
        factory = lambda d: [sampler]  # noqa: E731
    elif sampler_factory is not None:
        factory = lambda d: [sampler_factory(d)]  # noqa: E731
    callback = None if on_epoch_end is None else lambda e, rows: on_epoch_end(e, rows[0])
    cfg = resolve_auto(cfg, bundle)  # once, before the run (a resolved config passes through)
    engine = Engine(bundle, cfg, [cfg.seed], stacked=False, out_dir=out_dir, resume=resume,
                    record=record, progress=progress, augment=augment, precision=precision,
                    samplers=factory, on_epoch_end=callback, track_test=track_test,
                    callbacks=callbacks)
    return engine.run()[0]
