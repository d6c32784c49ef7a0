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

Checkpoint (``checkpoint.pt``, rank 0, after every epoch)::

    epoch, config, seeds, fingerprint, model, optimizer, recorder, metrics (one list per
    member), best (per member: epoch, dev_accuracy), best_state, rng_cpu, rng_cuda

A stacked run writes it for the stack and, at the end, one plain-run checkpoint per member.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from easyfirst.audio.augment import Augment, Mixup, MixupResult, build_augmentations
from easyfirst.data.base import DatasetBundle
from easyfirst.data.batches import place_batches
from easyfirst.monitor.job import EpochWatch
from easyfirst.recording.recorder import OutcomeRecorder
from easyfirst.targets import (
    correctness,
    is_multilabel,
    per_sample_loss,
    selection_metric,
    top_prediction,
)
from easyfirst.training.checkpoint import load_checkpoint, restore_rng, rng_state, save_checkpoint
from easyfirst.training.config import RunConfig, resolve_auto
from easyfirst.training.distributed import (
    DistInfo,
    gather_rows,
    init_distributed,
    resolve_device,
    world_size,
)
from easyfirst.training.evaluate import predict
from easyfirst.training.graphs import GraphedStep
from easyfirst.training.members import Members, PlainMember, StackedMembers, State
from easyfirst.training.optim import build_optimizer
from easyfirst.training.precision import Precision
from easyfirst.training.runs import (
    CHECKPOINT,
    RunResult,
    build_run_model,
    check_resumable,
    dropout_seed,
    run_meta,
)
from easyfirst.training.schedule import lr_factor, set_lr

SamplerFactory = Callable[[DistInfo], Sequence[Sampler[int]]]
EpochCallback = Callable[[int, list[dict[str, Any]]], None]


class Engine:
    """One training run of ``len(seeds)`` members; :meth:`run` returns one result each.

    Args:
        bundle, cfg: the dataset and the shared run configuration (``cfg.seed`` is replaced
            by each member's seed).
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
    """

    def __init__(self, bundle: DatasetBundle, cfg: RunConfig, seeds: Sequence[int], *,
                 stacked: bool, out_dir: str | Path | None = None, resume: bool = False,
                 record: bool = True, progress: bool = True, augment: Augment | None = None,
                 precision: str | Precision | None = None, samplers: SamplerFactory | None = None,
                 on_epoch_end: EpochCallback | None = None,
                 member_dirs: Sequence[str | Path] | None = None,
                 track_test: bool = False) -> None:
        self.bundle, self.cfg = bundle, resolve_auto(cfg, bundle)
        self.seeds, self.stacked, self.k = [int(s) for s in seeds], stacked, len(seeds)
        self.resume, self.record, self.progress = resume, record, progress
        self.on_epoch_end, self.track_test = on_epoch_end, track_test
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
            raise ValueError(f"Expected at least one seed and no repeats (one for a plain "
                             f"run); got {seeds}.")
        if self.stacked and world > 1:
            raise ValueError("Stacked members train in one process; got WORLD_SIZE > 1. Under "
                             "torchrun, train one seed at a time (stack=never).")
        if self.stacked and "mixup" in self.cfg.augment:
            raise ValueError("mixup is applied in plain runs only; use stack=never with it.")
        if self.member_dirs and len(self.member_dirs) != self.k:
            raise ValueError(f"Expected one member folder per seed ({self.k}); got "
                             f"{len(self.member_dirs)}.")
        if self.cfg.batch_size % world:
            raise ValueError(
                f"Expected batch_size divisible by the number of processes ({world}); got "
                f"{self.cfg.batch_size}. Choose a multiple of {world}.")

    def run(self) -> list[RunResult]:
        cuda = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda), self.prec.backends():
            self._build()
            start = self._restore()
            folders = self.member_dirs or ([self.ckpt_path.parent] if self.ckpt_path else [])
            watch = EpochWatch(
                folders, self.seeds, self.cfg.model, epochs=self.cfg.epochs, start=start,
                desc=f"{self.cfg.model} seed{'s' if self.k > 1 else ''} "
                     f"{','.join(map(str, self.seeds))}{' (stacked)' * self.stacked}",
                show=self.progress and self.dinfo.is_main, log=self.dinfo.is_main)
            for epoch in range(start, self.cfg.epochs):
                rows = self._epoch(epoch)
                self._save(epoch)
                watch.epoch_done(rows)
                if self.on_epoch_end is not None:
                    self.on_epoch_end(epoch, rows)
            watch.close()
            for m, folder in enumerate(self.member_dirs):
                save_checkpoint(self._member_checkpoint(m), folder / CHECKPOINT)
        return [self._result(m) for m in range(self.k)]

    def _build(self) -> None:
        cfg, bundle, device = self.cfg, self.bundle, self.device
        models = []
        for seed in self.seeds:
            torch.manual_seed(seed)  # the init stream of this seed
            models.append(self.prec.prepare_model(build_run_model(cfg, bundle, device,
                                                                  self.dtype)))
        self.members: Members = (StackedMembers(models, self.prec) if self.stacked
                                 else PlainMember(models[0], self.prec, self.dinfo, device))
        self.opt = build_optimizer(cfg.optimizer, list(self.members.parameters()), lr=cfg.lr,
                                   momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                                   device=device)
        d = self.dinfo
        self.data = place_batches(bundle.train, device, self.dtype, announce=d.is_main,
                                  max_bytes=cfg.preload_max_bytes, batch_size=cfg.batch_size,
                                  placement=cfg.data_placement)
        self.samplers = list(self.sampler_factory(d)) if self.sampler_factory else [
            self.data.sampler(s, d.world_size, d.rank) for s in self.seeds]
        self.recorder = OutcomeRecorder(
            self.k * self.n, device=device, el2n_epoch=cfg.el2n_epoch, members=self.k,
            keep_history=cfg.keep_history, epochs=cfg.epochs, outcomes=cfg.outcomes,
            correctness=cfg.correctness, sync=d.enabled) if self.record else None
        self.offsets = (torch.arange(self.k, device=device) * self.n)[:, None]  # (K, 1)
        self.positions = torch.arange(self.local_batch, device=device) * d.world_size + d.rank
        graphable = (self.augment is None and self.mixup is None and not d.enabled
                     and self.data.resident)
        self.prec = replace(self.prec, cuda_graphs=self.prec.cuda_graphs and graphable)
        self.stats = torch.zeros(self.k, 3, device=device, dtype=torch.float64)
        self.step_no = torch.zeros((), device=device, dtype=torch.float64)
        self.bad_step = torch.full((self.k,), math.inf, device=device, dtype=torch.float64)
        self.gens: list[torch.Generator] = []  # this epoch's per-member augmentation streams
        self.run_step = GraphedStep(self._step, self.opt, enabled=self.prec.cuda_graphs)
        self.metrics: list[list[dict[str, Any]]] = [[] for _ in self.seeds]
        self.best: list[dict[str, Any]] = [{"epoch": -1, "dev_accuracy": -1.0}
                                           for _ in self.seeds]
        self.best_state: State | None = None
        self.train_seconds = 0.0  # training steps only, this call's epochs

    def _step(self, idx: torch.Tensor, w: torch.Tensor, *, scale: float, rows: int) -> None:
        """One step on the members' batches ``idx (K, B)``; ``w (K, B)`` is 0 for padding;
        ``rows``: the real rows of the global batch."""
        k, bsz = idx.shape
        x, y = self.data.get(idx.reshape(-1))
        x, y = x.view(k, bsz, *x.shape[1:]), y.view(k, bsz, *y.shape[1:])  # (K, B, ...)
        if self.members.layout is not None:  # DDP: where this rank's rows sit globally
            self.members.layout.set(self.positions[:bsz], rows)
        x, mixed = self._transform(x, y, rows)
        with self.prec.autocast_context(self.device):
            logits = self.members.forward(x)  # (K, B, C)
        flat, yf = logits.float().flatten(0, 1), y.flatten(0, 1)  # (K*B, C), (K*B[, C])
        per_sample = per_sample_loss(flat, yf)  # (K * B,)
        if mixed is not None:
            lam = mixed.lam.to(per_sample.dtype)
            per_sample = lam * per_sample + (1 - lam) * per_sample_loss(flat, mixed.targets_b)
        wf = w.reshape(-1).to(per_sample.dtype)
        # Members' losses add up: each member's gradient is that of its own mean loss.
        ((per_sample * wf).sum() * scale).backward()
        self.opt.step()
        if self.recorder is not None:
            self.recorder.update((idx + self.offsets).reshape(-1), logits.flatten(0, 1), yf,
                                 loss=per_sample, weight=wf)
        with torch.no_grad():
            loss = (per_sample.detach() * wf).view(k, bsz).sum(1).double()
            right = correctness(flat, yf, self.cfg.correctness).view(k, bsz) * w
            self.stats.add_(torch.stack([loss, right.sum(1).double(), w.sum(1).double()], 1))
            self.step_no.add_(1)  # the first step with a non-finite loss, per member
            self.bad_step.copy_(torch.where(loss.isfinite() | self.bad_step.isfinite(),
                                            self.bad_step, self.step_no))

    def _transform(self, x: torch.Tensor, y: torch.Tensor, rows: int
                   ) -> tuple[torch.Tensor, MixupResult | None]:
        """Augment (and mix up) the batches ``(K, B, ...)``. Under DDP every rank gathers
        the global batch, transforms it as one process does and keeps its own rows."""
        if self.augment is None and self.mixup is None:
            return x, None
        layout, take = self.members.layout, None
        if layout is not None and layout.positions is not None:
            take = layout.positions.clamp(max=rows - 1)
            x, y = gather_rows(x[0], rows)[None], gather_rows(y[0], rows)[None]
        if self.augment is not None:
            x = torch.stack([self.augment(x[m], self.gens[m]) for m in range(len(x))])
        mixed = self.mixup(x[0], y[0], generator=self.gens[0]) if self.mixup else None
        if mixed is not None:
            x = mixed.inputs[None]
        if take is None:
            return x, mixed
        return x[:, take], None if mixed is None else MixupResult(*(t[take] for t in mixed))

    def _restore(self) -> int:
        """Load the checkpoint (resume) and return the first epoch to train."""
        path = self.ckpt_path
        if not (self.resume and path is not None and path.is_file()):
            torch.manual_seed(dropout_seed(self.seeds, stacked=self.stacked))
            return 0
        state = load_checkpoint(path)
        check_resumable(state, self.cfg, self.seeds, self.bundle.fingerprint, path)
        self.members.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        if self.recorder is not None:
            self.recorder.load_state_dict(state["recorder"])
        self.metrics, self.best = state["metrics"], state["best"]
        self.best_state = state["best_state"]
        restore_rng(state, self.device)
        return int(state["epoch"]) + 1

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
        self.gens[:] = [torch.Generator(device=self.device).manual_seed(s * 100_003 + epoch)
                        for s in self.seeds]
        self.members.train()
        self.stats.zero_()
        self.step_no.zero_()
        self.bad_step.fill_(math.inf)
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
        if d.enabled:
            dist.all_reduce(self.stats)
            dist.all_reduce(self.bad_step, op=dist.ReduceOp.MIN)
        raw = torch.cat([self.stats, self.bad_step[:, None]], 1).tolist()  # host-sync: 1/epoch
        self.train_seconds += time.perf_counter() - t0
        for m, row in enumerate(raw):
            if math.isfinite(row[3]):
                raise FloatingPointError(
                    f"Training diverged: seed {self.seeds[m]}, epoch {epoch + 1}, step "
                    f"{int(row[3])} of {steps} has a NaN/inf loss; expected finite losses. Likely "
                    f"cause: learning rate {cfg.lr:g} ({cfg.optimizer}) too high for "
                    f"{cfg.model}, or NaN/inf inputs. Lower --lr, or check the data.")
        return [self._row(m, epoch, raw[m], steps) for m in range(self.k)]

    def _row(self, m: int, epoch: int, raw: list[float], steps: int) -> dict[str, Any]:
        loss_sum, correct, count = raw[:3]
        row: dict[str, Any] = {
            "epoch": epoch + 1, "train_loss": loss_sum / max(count, 1),
            "train_accuracy": correct / max(count, 1), "steps": steps,
            "pool_size": int(getattr(self.samplers[m], "pool_size", self.n)),
        }
        dev, test = self.bundle.dev, self.bundle.test
        if dev is not None and len(dev):
            logits = self.members.predict(m, dev, device=self.device, dtype=self.dtype)
            row[f"dev_{self.metric}"] = selection_metric(logits, dev.targets)
            row["dev_loss"] = float(per_sample_loss(logits, dev.targets).mean())
            if row[f"dev_{self.metric}"] > self.best[m]["dev_accuracy"]:  # the dev metric
                self.best[m] = {"epoch": epoch, "dev_accuracy": row[f"dev_{self.metric}"]}
                self.best_state = self.members.snapshot(m, self.best_state)
        if self.track_test and test is not None and len(test):
            row[f"test_{self.metric}"] = selection_metric(
                self.members.predict(m, test, device=self.device, dtype=self.dtype), test.targets)
        self.metrics[m].append(row)
        return row

    def _checkpoint(self, epoch: int) -> dict[str, Any]:
        return {
            "epoch": epoch, "config": self.cfg.to_dict(), "seeds": self.seeds,
            "fingerprint": self.bundle.fingerprint, "model": self.members.state_dict(),
            "optimizer": self.opt.state_dict(),
            "recorder": self.recorder.state_dict() if self.recorder is not None else None,
            "metrics": self.metrics, "best": self.best, "best_state": self.best_state,
            **rng_state(self.device),
        }

    def _save(self, epoch: int) -> None:
        if self.ckpt_path is not None and self.dinfo.is_main:
            save_checkpoint(self._checkpoint(epoch), self.ckpt_path)

    def _member_checkpoint(self, m: int) -> dict[str, Any]:
        """What a plain run of member m's seed writes after its last epoch."""
        members, rows = self.members, slice(m * self.n, (m + 1) * self.n)
        best = self.best_state if self.best[m]["epoch"] >= 0 else None
        return {
            **self._checkpoint(self.cfg.epochs - 1),
            "config": replace(self.cfg, seed=self.seeds[m]).to_dict(), "seeds": [self.seeds[m]],
            "model": members.member_state(m, members.state_dict()),
            "optimizer": members.member_optimizer_state(self.opt.state_dict(), m),
            "recorder": self.recorder.state_dict(rows) if self.recorder is not None else None,
            "metrics": [self.metrics[m]], "best": [self.best[m]],
            "best_state": members.member_state(m, best) if best is not None else None,
        }

    def _result(self, m: int) -> RunResult:
        cfg, bundle, seed = self.cfg, self.bundle, self.seeds[m]
        use_best = (cfg.eval_checkpoint == "best" and self.best_state is not None
                    and self.best[m]["epoch"] >= 0)
        model = self.members.member_model(m, self.best_state if use_best else None)
        chosen = self.best[m]["epoch"] if use_best else cfg.epochs - 1
        res = RunResult(model=model, metrics=self.metrics[m], best_epoch=chosen,
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
            res.test_accuracy = selection_metric(res.test_logits, bundle.test.targets)
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
