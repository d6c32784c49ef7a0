"""The one epoch engine: plain runs and stacked seed ensembles share every line but the step's
forward (``training/members.py``).

A run trains K members (K = 1 for a plain run) on the training split. Per batch the host only
queues device work (gather, augment, forward, loss, backward, optimizer step,
``OutcomeRecorder.update``, epoch statistics), replayed as one CUDA graph where it can
(``training/graphs.py``); it waits once per epoch. Each member keeps its own initialisation
(``torch.manual_seed(seed)``), data order (``DistributedSampler(shuffle=True, seed=seed)``,
chunk-shuffled when streamed: ``data/batches.py``; or the sampler given), augmentation stream
(seeded by seed and epoch), dev-selected checkpoint and ``TrainingDynamics``. Under
torch.distributed (plain runs only) the sampler shards the data, its padding is masked from
loss and recorder, and the loss is scaled so that every global batch gives one process's
gradient.

The engine is a small epoch loop; its jobs have one module each: the step
(``training/step.py``), dev evaluation and best-epoch choice (``training/selection.py``),
the checkpoint (``training/checkpoint.py``), progress and the caller's hooks
(``training/callbacks.py``: ``Callback``; Lightning's loop/callback split). Under DDP the
global batch's placement is the step's ``positions`` and the epoch's padding mask here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Sampler

from easyfirst.audio.augment import Augment, Mixup, build_augmentations
from easyfirst.data.base import DatasetBundle
from easyfirst.data.batches import place_batches
from easyfirst.errors import InputError, TrainingDivergedError
from easyfirst.recording.recorder import OutcomeRecorder
from easyfirst.targets import correctness, is_multilabel, per_sample_loss, top_prediction
from easyfirst.targets import selection_metric as metric_of
from easyfirst.training.callbacks import Callback, EpochFunction, Progress
from easyfirst.training.checkpoint import Checkpointing
from easyfirst.training.config import RunConfig
from easyfirst.training.distributed import DistInfo, init_distributed, resolve_device, world_size
from easyfirst.training.evaluate import predict
from easyfirst.training.graphs import GraphedStep
from easyfirst.training.members import Members, PlainMember, StackedMembers
from easyfirst.training.optim import build_optimizer
from easyfirst.training.precision import Precision
from easyfirst.training.runs import CHECKPOINT, RunResult, build_run_model, run_meta
from easyfirst.training.schedule import lr_factor, set_lr
from easyfirst.training.selection import DevSelection
from easyfirst.training.step import TrainStep

SamplerFactory = Callable[[DistInfo], Sequence[Sampler[int]]]
EpochCallback = Callable[[int, list[dict[str, Any]]], None]


class Engine:
    """One training run of ``len(seeds)`` members; :meth:`run` returns one result each.

    Args:
        bundle, cfg: the dataset and the shared run configuration, resolved
            (``resolve_auto``; ``cfg.seed`` is replaced by each member's seed).
        seeds: the member seeds (one for a plain run).
        stacked: train the members as one vmapped stack (else exactly one seed, plain).
        out_dir: where the checkpoint goes after every epoch (rank 0); None for none.
        resume: continue from ``out_dir``'s checkpoint when it exists.
        record: keep an ``OutcomeRecorder`` (K * N slots) and return dynamics.
        progress: show a progress bar over epochs.
        augment: ``augment(x, generator) -> x`` per member batch; default from ``cfg``.
        precision: ``auto``/``fp32``/``bf16`` or a ``Precision``; default ``cfg.precision``.
        samplers: builds one sampler per member once the process group is known.
        on_epoch_end: called with ``(epoch, [one metrics row per member])``.
        member_dirs: stacked runs: a folder per member for its plain-run checkpoint.
        track_test: also evaluate ``test`` after every epoch (``test_accuracy`` per row).
        callbacks: more ``Callback`` s, called after the checkpoint and the progress bar.
    """

    def __init__(self, bundle: DatasetBundle, cfg: RunConfig, seeds: Sequence[int], *,
                 stacked: bool, out_dir: str | Path | None = None, resume: bool = False,
                 record: bool = True, progress: bool = True, augment: Augment | None = None,
                 precision: str | Precision | None = None, samplers: SamplerFactory | None = None,
                 on_epoch_end: EpochCallback | None = None,
                 member_dirs: Sequence[str | Path] | None = None,
                 track_test: bool = False, callbacks: Sequence[Callback] = ()) -> None:
        assert cfg.model != "auto", "the engine takes a resolved config (resolve_auto)"
        self.bundle, self.cfg = bundle, cfg
        self.seeds, self.stacked, self.k = [int(s) for s in seeds], stacked, len(seeds)
        self.resume, self.record, self.track_test = resume, record, track_test
        self.checkpointing = Checkpointing()
        self.callbacks: list[Callback] = [self.checkpointing, Progress(progress)]
        self.callbacks += [EpochFunction(on_epoch_end)] if on_epoch_end is not None else []
        self.callbacks += list(callbacks)
        self.member_dirs = [Path(d) for d in member_dirs or []]
        self.ckpt_path = Path(out_dir) / CHECKPOINT if out_dir is not None else None
        self._check(world_size())  # before joining a process group
        self.device = resolve_device(self.cfg.device)
        self.dinfo = init_distributed(self.device)
        self.dtype = getattr(torch, self.cfg.dtype)
        self.local_batch = self.cfg.batch_size // self.dinfo.world_size
        self.augment = augment or build_augmentations(self.cfg.augment)
        self.mixup = Mixup() if "mixup" in self.cfg.augment else None
        prec = Precision.resolve(precision or self.cfg.precision, self.device,
                                 input_shape=bundle.input_shape, dtype=self.dtype,
                                 compile=self.cfg.compile, cuda_graphs=self.cfg.cuda_graphs)
        self.prec = replace(prec, channels_last=False) if stacked else prec
        self.sampler_factory = samplers
        self.n = len(bundle.train)
        self.metric = "map" if is_multilabel(bundle.train.targets) else "accuracy"  # on dev/test

    def _check(self, world: int) -> None:
        seeds = self.seeds
        if not seeds or len(set(seeds)) != len(seeds) or (len(seeds) > 1 and not self.stacked):
            raise InputError(f"Expected at least one seed and no repeats (one for a plain "
                             f"run); got {seeds}.")
        if self.stacked and world > 1:
            raise InputError("Stacked members train in one process; got WORLD_SIZE > 1. Under "
                             "torchrun, train one seed at a time (stack=never).")
        if self.stacked and "mixup" in self.cfg.augment:
            raise InputError("mixup is applied in plain runs only; use stack=never with it.")
        if self.member_dirs and len(self.member_dirs) != self.k:
            raise InputError(f"Expected one member folder per seed ({self.k}); got "
                             f"{len(self.member_dirs)}.")
        if self.cfg.batch_size % world:
            raise InputError(
                f"Expected batch_size divisible by the number of processes ({world}); got "
                f"{self.cfg.batch_size}. Choose a multiple of {world}.")

    def run(self) -> list[RunResult]:
        """Build, restore (resume), train the remaining epochs with the callbacks' hooks,
        and return each member's result."""
        cuda = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda), self.prec.backends():
            self._build()
            start = self.checkpointing.restore(self)
            for callback in self.callbacks:
                callback.on_fit_start(self, start)
            for epoch in range(start, self.cfg.epochs):
                rows = self._epoch(epoch)
                for callback in self.callbacks:
                    callback.on_epoch_end(self, epoch, rows)
            for callback in self.callbacks:
                callback.on_fit_end(self)
        return [self._result(m) for m in range(self.k)]

    def _build(self) -> None:
        cfg, bundle, device, d = self.cfg, self.bundle, self.device, self.dinfo
        models = []
        for seed in self.seeds:
            torch.manual_seed(seed)  # the init stream of this seed
            models.append(self.prec.prepare_model(build_run_model(cfg, bundle, device,
                                                                  self.dtype)))
        self.members: Members = (StackedMembers(models, self.prec) if self.stacked
                                 else PlainMember(models[0], self.prec, d, device))
        self.opt = build_optimizer(cfg.optimizer, list(self.members.parameters()), lr=cfg.lr,
                                   momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                                   device=device)
        self.data = place_batches(bundle.train, device, self.dtype, announce=d.is_main,
                                  max_bytes=cfg.preload_max_bytes, batch_size=cfg.batch_size,
                                  placement=cfg.data_placement)
        self.samplers = list(self.sampler_factory(d)) if self.sampler_factory else [
            self.data.sampler(s, d.world_size, d.rank) for s in self.seeds]
        self.recorder = OutcomeRecorder(
            self.k * self.n, device=device, el2n_epoch=cfg.el2n_epoch, members=self.k,
            keep_history=cfg.keep_history, epochs=cfg.epochs, outcomes=cfg.outcomes,
            correctness=cfg.correctness, sync=d.enabled) if self.record else None
        graphable = (self.augment is None and self.mixup is None and not d.enabled
                     and self.data.resident)
        self.prec = replace(self.prec, cuda_graphs=self.prec.cuda_graphs and graphable)
        self.step = TrainStep(self.members, self.opt, self.data, self.recorder, prec=self.prec,
                              device=device, augment=self.augment, mixup=self.mixup, dinfo=d,
                              local_batch=self.local_batch, num_samples=self.n, k=self.k,
                              correctness_rule=cfg.correctness)
        self.run_step = GraphedStep(self.step, self.opt, enabled=self.prec.cuda_graphs)
        self.selection = DevSelection(bundle, self.k, self.metric, device=device,
                                      dtype=self.dtype, track_test=self.track_test)
        self.train_seconds = 0.0  # training steps only, this call's epochs

    def _epoch(self, epoch: int) -> list[dict[str, Any]]:
        cfg, d = self.cfg, self.dinfo
        orders = []
        for sampler in self.samplers:
            sampler.set_epoch(epoch)  # type: ignore[attr-defined]
            orders.append(list(iter(sampler)))
        order = self.data.indices([i for o in orders for i in o]).view(self.k, -1)  # (K, L)
        # DistributedSampler pads its permutation to a multiple of the world size; rank r's
        # i-th sample sits at global position i*W + r, and positions >= the real count are
        # padding. Masking them makes every global batch identical to one process's.
        real = int(getattr(self.samplers[0], "epoch_size", self.n))
        length = order.shape[1]
        real_pos = ((torch.arange(length, device=self.device) * d.world_size + d.rank) < real
                    ).expand(self.k, length)
        self.step.start_epoch(epoch, self.seeds)
        self.members.train()
        t0 = time.perf_counter()
        steps = math.ceil(length / self.local_batch)
        with self.data.epoch(order, self.local_batch, chunked=self.sampler_factory is None):
            for j, s0 in enumerate(range(0, length, self.local_batch)):
                set_lr(self.opt, cfg.lr * lr_factor(cfg.schedule, (epoch + j / steps)
                                                    / cfg.epochs))
                global_real = min(cfg.batch_size, real - j * cfg.batch_size)
                # DDP averages gradients over ranks: scale so the result is the global mean.
                self.run_step(order[:, s0:s0 + self.local_batch],
                              real_pos[:, s0:s0 + self.local_batch],
                              scale=d.world_size / global_real, rows=global_real)
        if self.recorder is not None:
            self.recorder.end_epoch()
        raw = self.step.epoch_stats()
        self.train_seconds += time.perf_counter() - t0
        for m, row in enumerate(raw):
            if math.isfinite(row[3]):
                raise TrainingDivergedError(
                    f"Training diverged: seed {self.seeds[m]}, epoch {epoch + 1}, step "
                    f"{int(row[3])} of {steps} has a NaN/inf loss; expected finite losses. Likely "
                    f"cause: learning rate {cfg.lr:g} ({cfg.optimizer}) too high for "
                    f"{cfg.model}, or NaN/inf inputs. Lower --lr, or check the data.")
        return [self.selection.row(self.members, m, epoch, raw[m], steps,
                                   int(getattr(self.samplers[m], "pool_size", self.n)))
                for m in range(self.k)]

    def _result(self, m: int) -> RunResult:
        cfg, bundle, seed = self.cfg, self.bundle, self.seeds[m]
        chosen, use_best = self.selection.chosen(m, cfg.eval_checkpoint, cfg.epochs - 1)
        model = self.members.member_model(m, self.selection.best_state if use_best else None)
        res = RunResult(model=model, metrics=self.selection.metrics[m], best_epoch=chosen,
                        metric=self.metric, info={
            "seeds": self.seeds, "member": m, "stacked": self.stacked,
            "precision": self.prec.to_dict(), "cuda_graph_captured": self.run_step.captured,
            "train_seconds": self.train_seconds})

        def logits_of(split: Any) -> torch.Tensor:
            return predict(model, split, device=self.device, dtype=self.dtype,
                           shard=self.dinfo.enabled)

        if bundle.dev is not None and len(bundle.dev):
            res.dev_logits = logits_of(bundle.dev)
        if bundle.test is not None and len(bundle.test):
            res.test_logits = logits_of(bundle.test)
            res.test_accuracy = metric_of(res.test_logits, bundle.test.targets)
        if self.recorder is not None:
            meta = run_meta(replace(cfg, seed=seed), bundle, self.dinfo, eval_epoch=chosen)
            if self.stacked:
                meta["stacked_seeds"] = self.seeds
            d = self.recorder.dynamics(slice(m * self.n, (m + 1) * self.n), **meta)
            train_logits = logits_of(bundle.train)
            y = bundle.train.targets
            d.eval_loss = per_sample_loss(train_logits, y).double()
            d.eval_correct = correctness(train_logits, y, cfg.correctness) >= 0.5
            d.eval_predicted, d.eval_confidence = top_prediction(train_logits, y)
            d.targets = bundle.train.targets.clone()
            res.dynamics = d
        return res
