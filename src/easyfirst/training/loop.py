"""The plain-PyTorch training loop behind ``easyfirst score`` and ``easyfirst train``.

Per batch it only queues device work (forward, backward, step, ``OutcomeRecorder.update``);
the host waits once per epoch. Data that fits in ``preload_max_bytes`` stays on the device
and batches are gathered there by index, with no DataLoader.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DistributedSampler, Sampler
from tqdm.auto import tqdm

from easyfirst import __version__
from easyfirst.data.base import DatasetBundle
from easyfirst.models.input_norm import fit_input_norms, silence_level
from easyfirst.models.registry import build_model
from easyfirst.recording.dynamics import TrainingDynamics
from easyfirst.recording.recorder import OutcomeRecorder
from easyfirst.training.augment import Augment, build_batch_augment, build_mixup
from easyfirst.training.batches import DeviceBatches
from easyfirst.training.checkpoint import (
    load_checkpoint,
    restore_rng,
    rng_state,
    save_checkpoint,
)
from easyfirst.training.config import RunConfig, resolve_auto
from easyfirst.training.distributed import DistInfo, init_distributed, resolve_device
from easyfirst.training.evaluate import accuracy, predict
from easyfirst.training.graphs import GraphedStep
from easyfirst.training.optim import build_optimizer
from easyfirst.training.precision import Precision
from easyfirst.training.schedule import lr_factor, set_lr

CHECKPOINT = "checkpoint.pt"


@dataclass
class RunResult:
    """What a training run produced. Logits are eval-mode, of the ``eval_checkpoint`` model."""

    model: nn.Module
    metrics: list[dict[str, Any]]
    best_epoch: int
    dynamics: TrainingDynamics | None = None
    dev_logits: torch.Tensor | None = None
    test_logits: torch.Tensor | None = None
    test_accuracy: float | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def metrics_json(self) -> str:
        """The ``metrics.json`` text: per-epoch metrics, test accuracy, selected epoch."""
        return json.dumps({"metrics": self.metrics, "test_accuracy": self.test_accuracy,
                           "best_epoch": self.best_epoch}, indent=1)


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
) -> RunResult:
    """Train ``cfg.model`` on ``bundle.train``; optionally record per-sample dynamics.

    Args:
        bundle: the dataset; ``train`` is trained on, ``dev`` selects the best epoch, ``test``
            is evaluated once at the end.
        cfg: the run configuration.
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
    """
    cfg = resolve_auto(cfg, bundle)
    device = resolve_device(cfg.device)
    dinfo = init_distributed(device)
    dtype = getattr(torch, cfg.dtype)
    if cfg.batch_size % dinfo.world_size:
        raise ValueError(
            f"Expected batch_size divisible by the number of processes ({dinfo.world_size}); "
            f"got {cfg.batch_size}. Choose a multiple of {dinfo.world_size}."
        )
    local_batch = cfg.batch_size // dinfo.world_size
    if augment is None:
        augment = build_batch_augment(cfg.augment, bundle.input_shape)
    mixup = build_mixup(cfg.augment)
    prec = Precision.resolve(
        cfg.precision if precision is None else precision,
        device,
        input_shape=bundle.input_shape,
        dtype=dtype,
        compile=cfg.compile,
        cuda_graphs=cfg.cuda_graphs,
    )
    split = bundle.train
    n = len(split)
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), prec.backends():
        torch.manual_seed(cfg.seed)
        model = prec.prepare_model(build_run_model(cfg, bundle, device, dtype))
        net: nn.Module = model
        if dinfo.enabled:
            net = nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None
            )
        forward = prec.compiled(net)
        opt = build_optimizer(
            cfg.optimizer,
            model.parameters(),
            lr=cfg.lr,
            momentum=cfg.momentum,
            weight_decay=cfg.weight_decay,
            device=device,
        )
        if sampler is None:
            sampler = (
                sampler_factory(dinfo)
                if sampler_factory
                else DistributedSampler(
                    split,
                    num_replicas=dinfo.world_size,
                    rank=dinfo.rank,
                    shuffle=True,
                    seed=cfg.seed,
                )
            )
        recorder = run_recorder(n, cfg, device) if record else None
        data = DeviceBatches(split, device, dtype, cfg.preload_max_bytes)
        graphable = augment is None and mixup is None and not dinfo.enabled and data.resident
        prec = replace(prec, cuda_graphs=prec.cuda_graphs and graphable)
        stats = torch.zeros(3, device=device, dtype=torch.float64)  # loss sum, correct, n
        gen: torch.Generator | None = None  # this epoch's augmentation stream

        def step(idx: torch.Tensor, w: torch.Tensor, *, scale: float) -> None:
            """One training step on the batch ``idx`` (``w``: 0 for sampler padding)."""
            x, y = data.get(idx)
            if augment is not None and gen is not None:
                x = augment(x, gen)
            mixed = mixup(x, y, generator=gen) if mixup is not None else None
            if mixed is not None:
                x = mixed.inputs
            with prec.autocast_context(device):
                logits = forward(prec.prepare_batch(x))
            per_sample = F.cross_entropy(logits.float(), y, reduction="none")
            if mixed is not None:
                lam = mixed.lam.to(per_sample.dtype)
                per_sample = lam * per_sample + (1 - lam) * F.cross_entropy(
                    logits.float(), mixed.targets_b, reduction="none")
            wf = w.to(per_sample.dtype)
            ((per_sample * wf).sum() * scale).backward()
            opt.step()
            if recorder is not None:
                recorder.update(idx, logits, y, loss=per_sample, weight=wf)
            with torch.no_grad():
                stats.add_(
                    torch.stack(
                        [
                            (per_sample.detach() * wf).sum().double(),
                            ((logits.argmax(1) == y) & w).sum().double(),
                            w.sum().double(),
                        ]
                    )
                )

        run_step = GraphedStep(step, opt, enabled=prec.cuda_graphs)
        metrics: list[dict[str, Any]] = []
        best: dict[str, Any] = {"epoch": -1, "dev_accuracy": -1.0, "state": None}
        train_seconds = 0.0  # training steps only (no evaluation), this call's epochs
        start = 0
        ckpt_path = Path(out_dir) / CHECKPOINT if out_dir is not None else None
        if resume and ckpt_path is not None and ckpt_path.is_file():
            state = load_checkpoint(ckpt_path)
            _check_resumable(state, cfg, bundle.fingerprint, ckpt_path)
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            if recorder is not None:
                recorder.load_state_dict(state["recorder"])
            metrics, best, start = state["metrics"], state["best"], state["epoch"] + 1
            restore_rng(state, device)
        else:
            torch.manual_seed(cfg.seed + 1)  # dropout etc.: distinct from the init stream

        bar = tqdm(
            total=cfg.epochs,
            initial=start,
            desc=f"{cfg.model} seed {cfg.seed}",
            unit="epoch",
            disable=not (progress and dinfo.is_main),
            leave=False,
        )
        for epoch in range(start, cfg.epochs):
            sampler.set_epoch(epoch)  # type: ignore[attr-defined]
            order = data.indices(list(iter(sampler)))
            # DistributedSampler pads its permutation to a multiple of the world size; rank r's
            # i-th sample sits at global position i*W + r, and positions >= the real count are
            # padding. Masking them makes every global batch identical to one process's.
            real = int(getattr(sampler, "epoch_size", len(split)))
            real_pos = (
                torch.arange(len(order), device=device) * dinfo.world_size + dinfo.rank
            ) < real
            gen = torch.Generator(device=device).manual_seed(cfg.seed * 100_003 + epoch)
            net.train()
            stats.zero_()
            t0 = time.perf_counter()
            steps = math.ceil(len(order) / local_batch)
            for k, s in enumerate(range(0, len(order), local_batch)):
                set_lr(opt, cfg.lr * lr_factor(cfg.schedule, (epoch + k / steps) / cfg.epochs))
                global_real = min(cfg.batch_size, real - k * cfg.batch_size)
                # DDP averages gradients over ranks: scale so the result is the global mean.
                run_step(
                    order[s : s + local_batch],
                    real_pos[s : s + local_batch],
                    scale=dinfo.world_size / global_real,
                )
            if recorder is not None:
                recorder.end_epoch()
            if dinfo.enabled:
                dist.all_reduce(stats)
            loss_sum, correct, count = stats.tolist()  # host-sync: once per epoch
            train_seconds += time.perf_counter() - t0
            row: dict[str, Any] = {
                "epoch": epoch + 1,
                "train_loss": loss_sum / max(count, 1),
                "train_accuracy": correct / max(count, 1),
                "steps": steps,
                "pool_size": int(getattr(sampler, "pool_size", n)),
            }
            if bundle.dev is not None and len(bundle.dev):
                dev_logits = predict(model, bundle.dev, device=device, dtype=dtype)
                row["dev_accuracy"] = accuracy(dev_logits, bundle.dev.targets)
                row["dev_loss"] = float(F.cross_entropy(dev_logits, bundle.dev.targets))
                if row["dev_accuracy"] > best["dev_accuracy"]:
                    best = {
                        "epoch": epoch,
                        "dev_accuracy": row["dev_accuracy"],
                        "state": copy.deepcopy(model.state_dict()),
                    }
            if track_test and bundle.test is not None and len(bundle.test):
                row["test_accuracy"] = accuracy(
                    predict(model, bundle.test, device=device, dtype=dtype), bundle.test.targets)
            metrics.append(row)
            if ckpt_path is not None and dinfo.is_main:
                save_checkpoint(
                    {
                        "epoch": epoch,
                        "config": cfg.to_dict(),
                        "fingerprint": bundle.fingerprint,
                        "model": model.state_dict(),
                        "optimizer": opt.state_dict(),
                        "recorder": recorder.state_dict() if recorder is not None else None,
                        "metrics": metrics,
                        "best": best,
                        **rng_state(device),
                    },
                    ckpt_path,
                )
            bar.update(1)
            bar.set_postfix(
                {
                    k: round(v, 4)
                    for k, v in row.items()
                    if k in ("train_loss", "train_accuracy", "dev_accuracy")
                }
            )
            if on_epoch_end is not None:
                on_epoch_end(epoch, row)
        bar.close()

    use_best = cfg.eval_checkpoint == "best" and best["state"] is not None
    if use_best:
        model.load_state_dict(best["state"])
    chosen_epoch = best["epoch"] if use_best else cfg.epochs - 1
    result = RunResult(
        model=model,
        metrics=metrics,
        best_epoch=chosen_epoch,
        info={"precision": prec.to_dict(), "cuda_graph_captured": run_step.captured,
              "train_seconds": train_seconds, "epochs_run": cfg.epochs - start},
    )
    if bundle.dev is not None and len(bundle.dev):
        result.dev_logits = predict(model, bundle.dev, device=device, dtype=dtype)
    if bundle.test is not None and len(bundle.test):
        result.test_logits = predict(model, bundle.test, device=device, dtype=dtype)
        result.test_accuracy = accuracy(result.test_logits, bundle.test.targets)
    if recorder is not None:
        train_logits = predict(model, split, device=device, dtype=dtype)
        meta = run_meta(cfg, bundle, dinfo, eval_epoch=chosen_epoch)
        d = recorder.dynamics(**meta)
        d.eval_loss = F.cross_entropy(train_logits, split.targets, reduction="none").double()
        d.eval_correct = train_logits.argmax(1) == split.targets
        d.targets = split.targets.clone()
        result.dynamics = d
    return result


def build_run_model(
    cfg: RunConfig, bundle: DatasetBundle, device: torch.device, dtype: torch.dtype
) -> nn.Module:
    """``cfg.model`` for ``bundle`` on ``device``, its input normalisation fitted on train.

    Draws its initialisation from the global RNG (callers seed it inside ``fork_rng``).
    """
    model = build_model(
        cfg.model,
        input_shape=bundle.input_shape,
        num_classes=bundle.num_classes,
        **cfg.model_options,
    ).to(device, dtype)
    fit_input_norms(model, bundle.train.inputs, silence=silence_level(bundle.info.get("features")))
    return model


def run_recorder(num_samples: int, cfg: RunConfig, device: torch.device) -> OutcomeRecorder:
    """The ``OutcomeRecorder`` a run of ``cfg`` keeps (EL2N epoch, history, epochs)."""
    return OutcomeRecorder(
        num_samples,
        device=device,
        el2n_epoch=cfg.el2n_epoch,
        keep_history=cfg.keep_history,
        max_epochs=cfg.epochs,
    )


def run_meta(
    cfg: RunConfig, bundle: DatasetBundle, dinfo: DistInfo, *, eval_epoch: int
) -> dict[str, Any]:
    return {
        "seed": cfg.seed,
        "epochs": cfg.epochs,
        "model": cfg.model,
        "model_options": cfg.model_options,
        "optimizer": cfg.optimizer,
        "lr": cfg.lr,
        "schedule": cfg.schedule,
        "batch_size": cfg.batch_size,
        "dataset": bundle.name,
        "dataset_fingerprint": bundle.fingerprint,
        "num_samples": len(bundle.train),
        "world_size": dinfo.world_size,
        "library_version": __version__,
        "eval_checkpoint": cfg.eval_checkpoint,
        "eval_epoch": eval_epoch,
        "config": json.loads(json.dumps(cfg.to_dict())),
    }


def _check_resumable(state: dict[str, Any], cfg: RunConfig, fingerprint: str, path: Path) -> None:
    saved = dict(state["config"])
    now = cfg.to_dict()
    ignored = ("device", "compile", "fuse", "cuda_graphs")  # how it runs, not what it computes
    diff = [k for k in now if k not in ignored and saved.get(k) != now[k]]
    if diff or state["fingerprint"] != fingerprint:
        what = ", ".join(diff) or "dataset fingerprint"
        raise ValueError(
            f"Cannot resume from {str(path)!r}: it was written with a different {what}. Use the "
            "same settings, or another --out folder."
        )
