"""Fused seed ensembles: K members of one architecture trained in one process, one step each.

Scoring trains the same model under K seeds. With small inputs and small batches one member
leaves a GPU mostly idle, so :func:`train_fused` stacks the K members' parameters and buffers
(``torch.func.stack_module_state``) and runs ONE vmapped ``functional_call`` forward/backward
and ONE optimizer step per training step. Every member keeps its own initialisation, data
order, augmentation stream, BatchNorm statistics, dev-selected checkpoint and
``TrainingDynamics``: member ``k`` reproduces ``train(bundle, replace(cfg, seed=seeds[k]))``
within float tolerance (convolutions become grouped convolutions under vmap, so results are
not bit-identical), except for dropout, whose masks come from one stream shared by the
members (``vmap(randomness="different")``) and cannot match a plain run's stream.

The Adam/SGD update is elementwise, so one optimizer over stacked ``(K, ...)`` parameters
performs each member's own update. Per-sample outcomes of all members go to one
``OutcomeRecorder`` over ``K * N`` slots (member ``k`` owns ``[k*N, (k+1)*N)``): one update
per step and one host sync per epoch, however large K is.

Whether fusion pays depends on the device and the shape (``FUSE_MAX_ELEMENTS`` below):
:func:`plan_fusion` fuses on CUDA when one member's batch is small and trains sequentially on
CPU; ``fuse="measure"`` decides by a short timed warm-up instead. On CUDA every full fused
step is replayed as one CUDA graph (``training/graphs.py``), as in ``train``.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state
from torch.utils.data import DistributedSampler
from tqdm.auto import tqdm

from easyfirst.data.base import ArraySplit, DatasetBundle
from easyfirst.recording.dynamics import TrainingDynamics
from easyfirst.recording.recorder import OutcomeRecorder
from easyfirst.training.augment import Augment, build_batch_augment
from easyfirst.training.batches import DeviceBatches
from easyfirst.training.checkpoint import (
    load_checkpoint,
    restore_rng,
    rng_state,
    save_checkpoint,
)
from easyfirst.training.config import RunConfig, resolve_auto
from easyfirst.training.distributed import DistInfo, resolve_device
from easyfirst.training.evaluate import accuracy, predict
from easyfirst.training.graphs import GraphedStep
from easyfirst.training.loop import (
    CHECKPOINT,
    RunResult,
    build_run_model,
    run_meta,
    run_recorder,
)
from easyfirst.training.optim import build_optimizer
from easyfirst.training.precision import Precision
from easyfirst.training.schedule import lr_factor, set_lr
from easyfirst.training.vmap_batchnorm import vmap_safe

State = dict[str, torch.Tensor]

FUSED_CHECKPOINT = "fused_checkpoint.pt"
FUSE_MODES = ("auto", "always", "never", "measure")
# Largest per-member batch (batch_size * prod(input_shape) elements) that is fused on CUDA by
# default. Measured on an H200 with CUDA graphs (CNN10, bf16, K=6, benchmarks/results/): fused
# over sequential 1.29x at 3x32x32 B=16 (49k elements), 1.08x at B=32 (98k), 0.51x at
# 1x64x501 B=16 (513k) and 0.50x at B=32 (1.03M).
FUSE_MAX_ELEMENTS = 1 << 17
# fuse="measure": a plain step slower than this is compute-bound (on CPU fusion cannot win
# then), so the fused step is not timed.
CPU_MEASURE_MAX_STEP_S = 0.05
# fuse="measure": fuse only when the warm-up measures at least this speed-up (noise margin).
CPU_MIN_SPEEDUP = 1.1


@dataclass(frozen=True)
class FusionPlan:
    """Whether K seeds are trained fused, and why (for logs and summaries)."""

    fuse: bool
    reason: str


def plan_fusion(
    bundle: DatasetBundle,
    cfg: RunConfig,
    seeds: Sequence[int],
    *,
    mode: str = "auto",
    precision: str | Precision | None = None,
) -> FusionPlan:
    """Decide whether to train ``seeds`` with :func:`train_fused` or one run per seed.

    ``auto`` never depends on timing: fused and sequential runs differ in their dropout masks
    (and in float rounding), so a timing-dependent choice would make scores depend on the
    machine's load. On CUDA it fuses when one member's batch is small (the measured rule
    above); elsewhere it trains sequentially (fusion measured 0.85x on a 2-core CPU, and
    ~0.4-0.5x at the DCASE shape). ``measure`` times a short warm-up instead and fuses
    only when fusion is at least ``CPU_MIN_SPEEDUP`` times faster.

    Args:
        bundle: the dataset (its input shape and size matter).
        cfg: the run configuration shared by the seeds.
        seeds: the K seeds still to train.
        mode: ``auto``, ``always``, ``never`` or ``measure``.
        precision: as for :func:`train_fused` (used by the ``measure`` warm-up).

    Returns:
        A ``FusionPlan``; ``always`` still refuses where fusion cannot run (K < 2, DDP).

    Raises:
        ValueError: unknown ``mode``.
    """
    if mode not in FUSE_MODES:
        raise ValueError(f"Unknown fuse mode {mode!r}. Available: {', '.join(FUSE_MODES)}.")
    k = len(seeds)
    if mode == "never":
        return FusionPlan(False, "fusion disabled (fuse=never)")
    if k < 2:
        return FusionPlan(False, f"{k} seed(s) to train: nothing to fuse")
    if _world_size() > 1:
        return FusionPlan(False, "torch.distributed run: each seed trains data-parallel instead")
    if "mixup" in cfg.augment:
        return FusionPlan(False, "mixup is applied by the plain training loop only")
    if mode == "always":
        return FusionPlan(True, "fusion forced (fuse=always)")
    device = resolve_device(cfg.device)
    if mode == "measure":
        speedup = measure_fusion_speedup(bundle, cfg, k, precision=precision)
        if speedup is None:
            return FusionPlan(False, f"{device.type}: compute-bound step, sequential is faster")
        if speedup >= CPU_MIN_SPEEDUP:
            return FusionPlan(True, f"{device.type}: fused step measured {speedup:.2f}x faster")
        return FusionPlan(False, f"{device.type}: fused step measured {speedup:.2f}x (not faster)")
    if device.type != "cuda":
        return FusionPlan(
            False, f"{device.type}: sequential (fusion does not pay here; fuse=measure times it)"
        )
    per_member = cfg.batch_size * math.prod(bundle.input_shape)
    if per_member <= FUSE_MAX_ELEMENTS:
        return FusionPlan(
            True, f"CUDA, {per_member} input elements per member batch <= {FUSE_MAX_ELEMENTS}"
        )
    return FusionPlan(
        False, f"CUDA, {per_member} input elements per member batch: one member fills the GPU"
    )


def measure_fusion_speedup(
    bundle: DatasetBundle,
    cfg: RunConfig,
    num_members: int,
    *,
    steps: int = 3,
    precision: str | Precision | None = None,
    max_plain_step_s: float | None = CPU_MEASURE_MAX_STEP_S,
) -> float | None:
    """Time a few training steps, fused K-wide against K plain steps, on random inputs.

    The global RNG is left untouched (models are built inside ``fork_rng``).

    Args:
        bundle: supplies the input shape and class count.
        cfg: model, optimizer, batch size, device and dtype.
        num_members: K.
        steps: timed steps of each kind (after one untimed warm-up step); the fastest
            counts.
        precision: as for :func:`train_fused`.
        max_plain_step_s: when one plain step takes longer than this, stop and return None
            (a compute-bound step gains nothing from fusion; timing it would only cost time).

    Returns:
        ``K * plain_step_time / fused_step_time`` (> 1: fusion is faster), or None.
    """
    device = resolve_device(cfg.device)
    dtype = getattr(torch, cfg.dtype)
    prec = _resolve_precision(precision, cfg, bundle, device, dtype)
    b, k = cfg.batch_size, num_members
    gen = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(k, b, *bundle.input_shape, generator=gen, device=device, dtype=dtype)
    y = torch.randint(0, bundle.num_classes, (k, b), generator=gen, device=device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(0)
        plain = prec.prepare_model(build_run_model(cfg, bundle, device, dtype))
        plain_fwd = prec.compiled(plain)
        opt = _optimizer(cfg, plain.parameters())

        def plain_step() -> None:
            with prec.autocast_context(device):
                logits = plain_fwd(prec.prepare_batch(x[0]))
            loss = F.cross_entropy(logits.float(), y[0])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        # Compute-bound steps stop the measurement early: the first step (one-time costs
        # included) when it is far over the limit, else the first timed step.
        limit = max_plain_step_s if max_plain_step_s is not None else float("inf")
        if _time(plain_step, 1, device) > 20 * limit:
            return None
        t_plain = _time(plain_step, 1, device)
        if t_plain > 4 * limit:
            return None
        t_plain = min(t_plain, _time(plain_step, steps, device))
        if t_plain > limit:
            return None
        models = [build_run_model(cfg, bundle, device, dtype) for _ in range(k)]
        stack = _Stack(models, prec)
        fopt = _optimizer(cfg, stack.params.values())

        def fused_step() -> None:
            with prec.autocast_context(device):
                logits = stack.forward(x)
            loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
            fopt.zero_grad(set_to_none=True)
            loss.backward()
            fopt.step()

        fused_step()
        t_fused = _time(fused_step, steps, device)
    return k * t_plain / t_fused


def train_fused(
    bundle: DatasetBundle,
    cfg: RunConfig,
    seeds: Sequence[int],
    *,
    out_dir: str | Path | None = None,
    resume: bool = False,
    record: bool = True,
    progress: bool = True,
    augment: Augment | None = None,
    precision: str | Precision | None = None,
    on_epoch_end: Callable[[int, list[dict[str, Any]]], None] | None = None,
    member_dirs: Sequence[str | Path] | None = None,
) -> list[RunResult]:
    """Train K = ``len(seeds)`` members of ``cfg.model`` at once, one fused step per batch.

    Member ``k`` is initialised under ``torch.manual_seed(seeds[k])`` (inside ``fork_rng``),
    visits the data in the order of ``DistributedSampler(shuffle=True, seed=seeds[k])`` with
    ``set_epoch(e)``, is augmented with its own per-epoch generator, selects its own best
    epoch on dev, and gets its own eval passes: exactly what
    ``train(bundle, replace(cfg, seed=seeds[k]), record=record)`` does, up to float rounding
    (and dropout masks, see the module notes).

    Args:
        bundle: the dataset; ``train`` is trained on, ``dev`` selects each member's best
            epoch, ``test`` is evaluated once at the end.
        cfg: the shared run configuration; ``cfg.seed`` is ignored in favour of ``seeds``.
        seeds: the K member seeds, distinct.
        out_dir: where ``fused_checkpoint.pt`` (all members) is written after every epoch.
        resume: continue from ``out_dir/fused_checkpoint.pt`` when it exists.
        record: keep per-sample outcomes and return each member's ``TrainingDynamics``.
        progress: show a progress bar over epochs.
        augment: ``augment(x, generator) -> x`` applied to each member's (B, ...) batch with
            that member's generator, as in ``train``.
        precision: ``auto``/``fp32``/``bf16`` or a ``Precision``; None reads
            ``cfg.precision`` when the config has it, else ``auto``. channels_last is not
            applied to the fused (K, B, ...) batches.
        on_epoch_end: called with ``(epoch, [member metrics])`` after each epoch.
        member_dirs: one folder per member; at the end each gets the ``checkpoint.pt`` that
            ``train(..., out_dir=...)`` would have written after its last epoch (model, best
            state, optimizer and recorder slices), so the per-seed files look the same
            whichever way the seeds were trained.

    Returns:
        K ``RunResult``, in the order of ``seeds``; ``info`` records the fused seeds.

    Raises:
        ValueError: no seeds, repeated seeds, a torch.distributed run, or a checkpoint written
            with other settings.
    """
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"Expected at least one seed and no repeats; got {seeds}.")
    if member_dirs is not None and len(member_dirs) != len(seeds):
        raise ValueError(
            f"Expected one member folder per seed ({len(seeds)}); got {len(member_dirs)}."
        )
    if _world_size() > 1:
        raise ValueError(
            "train_fused runs in one process; got WORLD_SIZE > 1. Under torchrun, train one "
            "seed at a time with train(...)."
        )
    cfg = resolve_auto(cfg, bundle)
    device = resolve_device(cfg.device)
    if augment is None:
        augment = build_batch_augment(cfg.augment, bundle.input_shape)
    dtype = getattr(torch, cfg.dtype)
    prec = _resolve_precision(precision, cfg, bundle, device, dtype)
    fused_prec = replace(prec, channels_last=False)
    k_members = len(seeds)
    split = bundle.train
    n = len(split)
    b = cfg.batch_size
    cuda = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda), fused_prec.backends():
        models = []
        for s in seeds:
            torch.manual_seed(s)  # as train(): the init stream of seed s
            models.append(build_run_model(cfg, bundle, device, dtype))
        stack = _Stack(models, fused_prec)
        if device.type != "cpu":  # the stack holds the weights now; park the K modules
            for model in models:
                model.to("cpu")
        opt = _optimizer(cfg, stack.params.values())
        samplers: list[DistributedSampler[Any]] = [
            DistributedSampler(split, num_replicas=1, rank=0, shuffle=True, seed=s) for s in seeds
        ]
        recorder = run_recorder(k_members * n, cfg, device) if record else None
        data = DeviceBatches(split, device, dtype, cfg.preload_max_bytes)
        offsets = (torch.arange(k_members, device=device) * n)[:, None]  # (K, 1)
        graphable = augment is None and data.resident
        fused_prec = replace(fused_prec, cuda_graphs=fused_prec.cuda_graphs and graphable)
        stats = torch.zeros(k_members, 3, device=device, dtype=torch.float64)
        gens: list[torch.Generator] = []  # this epoch's per-member augmentation streams

        def step(idx: torch.Tensor) -> None:
            """One fused step on the members' batches ``idx`` (K, B)."""
            bsz = idx.shape[1]
            x, y = data.get(idx.reshape(-1))
            x = x.view(k_members, bsz, *x.shape[1:])  # (K, B, ...)
            y = y.view(k_members, bsz)
            if augment is not None:
                x = torch.stack([augment(x[m], gens[m]) for m in range(k_members)])
            with fused_prec.autocast_context(device):
                logits = stack.forward(x)  # (K, B, C)
            per_sample = F.cross_entropy(
                logits.float().flatten(0, 1), y.reshape(-1), reduction="none"
            )  # (K*B,)
            # Member losses are summed: member k's gradient is its own mean loss's gradient.
            (per_sample.sum() * (1.0 / bsz)).backward()
            opt.step()
            if recorder is not None:
                recorder.update(
                    (idx + offsets).reshape(-1),
                    logits.flatten(0, 1),
                    y.reshape(-1),
                    loss=per_sample,
                )
            with torch.no_grad():
                correct = logits.argmax(-1) == y
                stats[:, 0] += per_sample.detach().view(k_members, bsz).sum(1).double()
                stats[:, 1] += correct.sum(1).double()
                stats[:, 2] += bsz

        run_step = GraphedStep(step, opt, enabled=fused_prec.cuda_graphs)
        metrics: list[list[dict[str, Any]]] = [[] for _ in seeds]
        best_epoch = [-1] * k_members
        best_acc = [-1.0] * k_members
        best_state: State | None = None
        start = 0
        ckpt_path = Path(out_dir) / FUSED_CHECKPOINT if out_dir is not None else None
        if resume and ckpt_path is not None and ckpt_path.is_file():
            state = load_checkpoint(ckpt_path)
            _check_resumable(state, cfg, seeds, bundle.fingerprint, ckpt_path)
            stack.load_state_dict(state["stack"])
            opt.load_state_dict(state["optimizer"])
            if recorder is not None:
                recorder.load_state_dict(state["recorder"])
            metrics, best_epoch, best_acc = state["metrics"], state["best_epoch"], state["best_acc"]
            if state["best_state"] is not None:
                best_state = {name: t.to(device) for name, t in state["best_state"].items()}
            start = state["epoch"] + 1
            restore_rng(state, device)
        else:
            # Dropout stream shared by the members (a plain run seeds seed + 1 here).
            torch.manual_seed(_shared_seed(seeds))

        has_dev = bundle.dev is not None and len(bundle.dev) > 0
        steps_per_epoch = math.ceil(n / b)
        bar = tqdm(
            total=cfg.epochs,
            initial=start,
            desc=f"{cfg.model} seeds {','.join(map(str, seeds))} (fused)",
            unit="epoch",
            disable=not progress,
            leave=False,
        )
        for epoch in range(start, cfg.epochs):
            orders = []
            for sampler in samplers:
                sampler.set_epoch(epoch)
                orders.append(list(iter(sampler)))
            order = data.indices([i for o in orders for i in o]).view(k_members, n)  # (K, N)
            gens[:] = [
                torch.Generator(device=device).manual_seed(s * 100_003 + epoch) for s in seeds
            ]
            stack.train()
            stats.zero_()
            for k, s0 in enumerate(range(0, n, b)):
                t = (epoch + k / steps_per_epoch) / cfg.epochs
                set_lr(opt, cfg.lr * lr_factor(cfg.schedule, t))
                run_step(order[:, s0 : s0 + b])  # (K, B)
            if recorder is not None:
                recorder.end_epoch()
            rows_raw = stats.tolist()  # host-sync: once per epoch
            rows: list[dict[str, Any]] = []
            for m, (loss_sum, n_correct, count) in enumerate(rows_raw):
                row: dict[str, Any] = {
                    "epoch": epoch + 1,
                    "train_loss": loss_sum / max(count, 1),
                    "train_accuracy": n_correct / max(count, 1),
                    "steps": steps_per_epoch,
                    "pool_size": n,
                }
                if has_dev and bundle.dev is not None:
                    dev_logits = stack.predict_member(m, bundle.dev, device=device, dtype=dtype)
                    row["dev_accuracy"] = accuracy(dev_logits, bundle.dev.targets)
                    row["dev_loss"] = float(F.cross_entropy(dev_logits, bundle.dev.targets))
                    if row["dev_accuracy"] > best_acc[m]:
                        best_acc[m], best_epoch[m] = row["dev_accuracy"], epoch
                        if best_state is None:
                            best_state = stack.state_dict()
                        stack.copy_member_into(m, best_state)
                metrics[m].append(row)
                rows.append(row)
            if ckpt_path is not None:
                save_checkpoint(
                    {
                        "epoch": epoch,
                        "config": cfg.to_dict(),
                        "seeds": seeds,
                        "fingerprint": bundle.fingerprint,
                        "stack": stack.state_dict(),
                        "optimizer": opt.state_dict(),
                        "recorder": recorder.state_dict() if recorder is not None else None,
                        "metrics": metrics,
                        "best_epoch": best_epoch,
                        "best_acc": best_acc,
                        "best_state": best_state,
                        **rng_state(device),
                    },
                    ckpt_path,
                )
            bar.update(1)
            if on_epoch_end is not None:
                on_epoch_end(epoch, rows)
        bar.close()
        for m, folder in enumerate(member_dirs or []):
            member = {
                "epoch": cfg.epochs - 1,
                "config": replace(cfg, seed=seeds[m]).to_dict(),
                "fingerprint": bundle.fingerprint,
                "model": _clone(stack.member_state(m)),
                "optimizer": _member_optimizer_state(opt.state_dict(), stack, m),
                "recorder": _member_recorder_state(recorder.state_dict(), k_members, m)
                if recorder is not None
                else None,
                "metrics": metrics[m],
                "best": {
                    "epoch": best_epoch[m],
                    "dev_accuracy": best_acc[m],
                    "state": _clone(stack.member_state(m, best_state))
                    if best_state is not None and best_epoch[m] >= 0
                    else None,
                },
                **rng_state(device),
            }
            save_checkpoint(member, Path(folder) / CHECKPOINT)

    dynamics = _split_dynamics(recorder, k_members, n) if recorder is not None else None
    results = []
    last_state = stack.state_dict()
    for m, (seed, model) in enumerate(zip(seeds, models, strict=True)):
        use_best = cfg.eval_checkpoint == "best" and best_state is not None and best_epoch[m] >= 0
        source = best_state if use_best and best_state is not None else last_state
        model.to(device)
        stack.load_member_into(m, source, model)
        chosen = best_epoch[m] if use_best else cfg.epochs - 1
        res = RunResult(
            model=model,
            metrics=metrics[m],
            best_epoch=chosen,
            info={
                "fused_seeds": seeds,
                "member": m,
                "precision": fused_prec.to_dict(),
                "cuda_graph_captured": run_step.captured,
            },
        )
        if has_dev and bundle.dev is not None:
            res.dev_logits = predict(model, bundle.dev, device=device, dtype=dtype)
        if bundle.test is not None and len(bundle.test):
            res.test_logits = predict(model, bundle.test, device=device, dtype=dtype)
            res.test_accuracy = accuracy(res.test_logits, bundle.test.targets)
        if dynamics is not None:
            member_cfg = replace(cfg, seed=seed)
            d = dynamics[m]
            d.meta.update(run_meta(member_cfg, bundle, DistInfo(), eval_epoch=chosen))
            d.meta["fused_seeds"] = seeds
            train_logits = predict(model, split, device=device, dtype=dtype)
            d.eval_loss = F.cross_entropy(train_logits, split.targets, reduction="none").double()
            d.eval_correct = train_logits.argmax(1) == split.targets
            d.targets = split.targets.clone()
            res.dynamics = d
        results.append(res)
    return results


class _Stack:
    """K same-architecture modules as stacked ``(K, ...)`` parameters and buffers.

    ``forward(x (K, B, ...)) -> (K, B, C)`` runs every member on its own batch in one vmapped
    call; BatchNorm running statistics are stacked buffers updated in place under vmap.
    """

    def __init__(self, models: Sequence[nn.Module], precision: Precision) -> None:
        params, buffers = stack_module_state(list(models))
        self.params: State = params
        self.buffers: State = buffers
        # A stateless skeleton: functional_call swaps the stacked slices in. Its BatchNorms
        # compute with plain ops: the native kernels reject vmapped inputs on CUDA.
        self.base = vmap_safe(copy.deepcopy(models[0]).to("meta"))

        def member(p: State, bufs: State, x: torch.Tensor) -> torch.Tensor:
            return functional_call(self.base, (p, bufs), (x,))

        self._member = member
        self._vmapped = precision.compiled(
            torch.vmap(member, in_dims=(0, 0, 0), randomness="different")
        )

    def train(self) -> None:
        self.base.train()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (K, B, ...) -> logits (K, B, C)``."""
        out: torch.Tensor = self._vmapped(self.params, self.buffers, x)
        return out

    def member_state(self, m: int, source: State | None = None) -> State:
        src = source if source is not None else self.state_dict()
        return {name: t[m] for name, t in src.items()}

    @torch.no_grad()
    def predict_member(
        self,
        m: int,
        split: ArraySplit,
        *,
        device: torch.device,
        batch_size: int = 256,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """Eval-mode logits of member ``m`` for all of ``split``, (N, C) float32 on CPU.

        The same computation as ``evaluate.predict`` on a plain module holding member m.
        """
        was_training = self.base.training
        self.base.eval()
        state = self.member_state(m)
        out = []
        for start in range(0, len(split), batch_size):
            idx = torch.arange(start, min(start + batch_size, len(split)))
            x, _ = split.batch(idx)
            z = functional_call(self.base, state, (x.to(device, dtype, non_blocking=True),))
            out.append(z.float())
        self.base.train(was_training)
        return torch.cat(out).cpu()

    def state_dict(self) -> State:
        """Detached copies of all stacked tensors (parameters and buffers), ``(K, ...)``."""
        return {name: t.detach().clone() for name, t in {**self.params, **self.buffers}.items()}

    @torch.no_grad()
    def load_state_dict(self, state: State) -> None:
        for name, t in {**self.params, **self.buffers}.items():
            t.copy_(state[name])

    @torch.no_grad()
    def copy_member_into(self, m: int, dest: State) -> None:
        """Overwrite slot ``m`` of ``dest`` with member ``m``'s current tensors."""
        for name, t in {**self.params, **self.buffers}.items():
            dest[name][m].copy_(t[m])

    @torch.no_grad()
    def load_member_into(self, m: int, source: State, model: nn.Module) -> None:
        """Load slot ``m`` of ``source`` into the plain module ``model``."""
        model.load_state_dict(self.member_state(m, source))


def _clone(state: State) -> State:
    """Own copies (a saved view would carry the whole stacked storage along)."""
    return {name: t.detach().clone() for name, t in state.items()}


def _member_optimizer_state(state: dict[str, Any], stack: _Stack, m: int) -> dict[str, Any]:
    """Member ``m``'s view of an optimizer over the stacked parameters.

    The optimizer was built over ``stack.params.values()``, in ``named_parameters`` order: the
    order a plain run's optimizer sees, so parameter ids carry over. Per-parameter tensors of
    the stacked shape (Adam moments, SGD momentum) are sliced; step counters are shared.
    """
    shapes = [p.shape for p in stack.params.values()]
    per_param: dict[int, dict[str, Any]] = {}
    for pid, slots in state["state"].items():
        per_param[pid] = {
            key: v[m].clone()
            if isinstance(v, torch.Tensor) and v.shape == shapes[pid]
            else copy.deepcopy(v)
            for key, v in slots.items()
        }
    return {"state": per_param, "param_groups": copy.deepcopy(state["param_groups"])}


def _member_recorder_state(state: dict[str, Any], k: int, m: int) -> dict[str, Any]:
    """Member ``m``'s rows of a ``K * N`` recorder state, as an N-sample recorder's state."""
    n = int(state["num_samples"]) // k
    out: dict[str, Any] = {}
    for key, v in state.items():
        if isinstance(v, torch.Tensor) and v.ndim >= 1 and v.shape[0] == k * n:
            out[key] = v[m * n : (m + 1) * n].clone()
        else:
            out[key] = v
    out["num_samples"] = n
    return out


def _split_dynamics(recorder: OutcomeRecorder, k: int, n: int) -> list[TrainingDynamics]:
    """Cut a ``K * N`` recorder into K member dynamics of N samples each."""
    whole = recorder.dynamics()
    out = []
    for m in range(k):
        rows = slice(m * n, (m + 1) * n)
        tensors = {
            name: getattr(whole, name)[rows].clone()
            for name in (
                "epochs_seen",
                "correct_sum",
                "correct_now",
                "first_learned",
                "learned_since",
                "forgetting",
                "prob_sum",
                "prob_sqsum",
                "margin_sum",
                "last_loss",
                "el2n",
            )
        }
        history = whole.history[rows].clone() if whole.history is not None else None
        out.append(
            TrainingDynamics(
                num_epochs=whole.num_epochs,
                el2n_epoch=whole.el2n_epoch,
                history=history,
                meta={},
                **tensors,
            )
        )
    return out


def _optimizer(cfg: RunConfig, params: Any) -> torch.optim.Optimizer:
    params = list(params)
    return build_optimizer(
        cfg.optimizer,
        params,
        lr=cfg.lr,
        momentum=cfg.momentum,
        weight_decay=cfg.weight_decay,
        device=params[0].device,
    )


def _resolve_precision(
    spec: str | Precision | None,
    cfg: RunConfig,
    bundle: DatasetBundle,
    device: torch.device,
    dtype: torch.dtype,
) -> Precision:
    if spec is None:
        spec = getattr(cfg, "precision", "auto")  # a RunConfig field once the CLI has it
    return Precision.resolve(
        spec,
        device,
        input_shape=bundle.input_shape,
        dtype=dtype,
        compile=cfg.compile,
        cuda_graphs=cfg.cuda_graphs,
    )


def _shared_seed(seeds: Sequence[int]) -> int:
    """Seed of the members' shared dropout stream; a function of the ordered seed list."""
    h = 1
    for s in seeds:
        h = (h * 1_000_003 + s + 1) % (1 << 62)
    return h


def _world_size() -> int:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return int(torch.distributed.get_world_size())
    return int(os.environ.get("WORLD_SIZE", "1"))


def _time(step: Callable[[], None], n: int, device: torch.device) -> float:
    """Fastest of ``n`` calls of ``step``, in seconds (the minimum resists load spikes)."""
    best = float("inf")
    for _ in range(max(n, 1)):
        if device.type == "cuda":
            torch.cuda.synchronize(device)  # host-sync: timing only, outside training
        t0 = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - t0)
    return best


def _check_resumable(
    state: dict[str, Any], cfg: RunConfig, seeds: list[int], fingerprint: str, path: Path
) -> None:
    saved = dict(state["config"])
    now = cfg.to_dict()
    ignored = ("device", "seed", "fuse", "compile", "cuda_graphs")  # how, not what it computes
    diff = [k for k in now if k not in ignored and saved.get(k) != now[k]]
    if state.get("seeds") != seeds:
        diff.append("seeds")
    if diff or state["fingerprint"] != fingerprint:
        what = ", ".join(diff) or "dataset fingerprint"
        raise ValueError(
            f"Cannot resume from {str(path)!r}: it was written with a different {what}. Use the "
            "same settings and seeds, or another --out folder."
        )
