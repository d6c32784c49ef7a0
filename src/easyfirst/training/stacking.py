"""Stacked seed ensembles: K members of one architecture trained in one process, one step each.

Scoring trains the same model under K seeds. With small inputs and small batches one member
leaves a GPU mostly idle, so :func:`train_stacked` runs the engine (``training/engine.py``)
with :class:`~easyfirst.training.members.StackedMembers`: ONE vmapped forward/backward and
ONE optimizer step per training step, ONE recorder update and one host sync per epoch however
large K is. Member ``k`` reproduces ``train(bundle, replace(cfg, seed=seeds[k]))`` within float
tolerance, except for dropout, whose masks come from one stream shared by the members
(``vmap(randomness="different")``) and cannot match a plain run's stream.

Whether stacking pays depends on the device and the shape (``STACK_MAX_ELEMENTS``):
:func:`plan_stacking` stacks on CUDA when one member's batch is small and trains one seed after
another on CPU; ``stack="measure"`` decides by a short timed warm-up instead.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from easyfirst.audio.augment import Augment
from easyfirst.data.base import DatasetBundle
from easyfirst.errors import InputError
from easyfirst.training.config import STACK_MODES, RunConfig, resolve_auto
from easyfirst.training.distributed import resolve_device, world_size
from easyfirst.training.engine import Engine, EpochCallback
from easyfirst.training.members import StackedMembers
from easyfirst.training.optim import build_optimizer
from easyfirst.training.precision import Precision
from easyfirst.training.runs import RunResult, build_run_model

# Largest per-member batch (batch_size * prod(input_shape) elements) stacked on CUDA by
# default. Measured on an H200 with CUDA graphs (CNN10, bf16, K=6, benchmarks/results/):
# stacked over sequential 1.29x at 3x32x32 B=16 (49k elements), 1.08x at B=32 (98k), 0.51x at
# 1x64x501 B=16 (513k) and 0.50x at B=32 (1.03M).
STACK_MAX_ELEMENTS = 1 << 17
# stack="measure": a plain step slower than this is compute-bound (on CPU stacking cannot win
# then), so the stacked step is not timed.
MEASURE_MAX_STEP_S = 0.05
# stack="measure": stack only when the warm-up measures at least this speed-up (noise margin).
MIN_SPEEDUP = 1.1


@dataclass(frozen=True)
class StackPlan:
    """Whether K seeds are trained stacked, and why (for logs and summaries)."""

    stack: bool
    reason: str


def train_stacked(
    bundle: DatasetBundle, cfg: RunConfig, seeds: Sequence[int], *,
    out_dir: str | Path | None = None, resume: bool = False, record: bool = True,
    progress: bool = True, augment: Augment | None = None,
    precision: str | Precision | None = None, on_epoch_end: EpochCallback | None = None,
    member_dirs: Sequence[str | Path] | None = None,
) -> list[RunResult]:
    """Train K = ``len(seeds)`` members of ``cfg.model`` as one stack (see the module notes).

    Arguments are those of :class:`~easyfirst.training.engine.Engine`; ``member_dirs`` get
    the ``checkpoint.pt`` a plain run of each seed would have written after its last epoch,
    so per-seed folders look the same whichever way the seeds were trained.

    Returns:
        K ``RunResult`` in the order of ``seeds``; dynamics meta ``stacked_seeds``.

    Raises:
        ValueError: no or repeated seeds, a torch.distributed run, mixup, or a checkpoint
            written with other settings.
    """
    cfg = resolve_auto(cfg, bundle)  # once, before the run (a resolved config passes through)
    return Engine(bundle, cfg, seeds, stacked=True, out_dir=out_dir, resume=resume,
                  record=record, progress=progress, augment=augment, precision=precision,
                  on_epoch_end=on_epoch_end, member_dirs=member_dirs).run()


def plan_stacking(
    bundle: DatasetBundle, cfg: RunConfig, seeds: Sequence[int], *, mode: str = "auto",
    precision: str | Precision | None = None,
) -> StackPlan:
    """Decide whether to train ``seeds`` with :func:`train_stacked` or one run per seed.

    ``auto`` never depends on timing: stacked and sequential runs differ in their dropout
    masks (and in float rounding), so a timing-dependent choice would make scores depend on
    the machine's load. On CUDA it stacks when one member's batch is small (the measured rule
    above); elsewhere it trains sequentially (stacking measured 0.85x on a 2-core CPU).
    ``measure`` times a short warm-up and stacks only when that is ``MIN_SPEEDUP`` faster.

    Raises:
        ValueError: unknown ``mode``.
    """
    if mode not in STACK_MODES:
        raise InputError(f"Unknown stack mode {mode!r}. Available: {', '.join(STACK_MODES)}.")
    k = len(seeds)
    rules: list[tuple[bool, bool, str]] = [
        (mode == "never", False, "stacking disabled (stack=never)"),
        (k < 2, False, f"{k} seed(s) to train: nothing to stack"),
        (world_size() > 1, False, "torch.distributed run: each seed trains data-parallel"),
        ("mixup" in cfg.augment, False, "mixup is applied in plain runs only"),
        (mode == "always", True, "stacking forced (stack=always)"),
    ]
    for applies, stack, reason in rules:
        if applies:
            return StackPlan(stack, reason)
    device = resolve_device(cfg.device)
    if mode == "measure":
        speedup = measure_stack_speedup(bundle, cfg, k, precision=precision)
        if speedup is None:
            return StackPlan(False, f"{device.type}: compute-bound step, sequential is faster")
        verdict = "faster" if speedup >= MIN_SPEEDUP else "not faster"
        return StackPlan(speedup >= MIN_SPEEDUP,
                         f"{device.type}: stacked step measured {speedup:.2f}x ({verdict})")
    if device.type != "cuda":
        return StackPlan(False, f"{device.type}: sequential (stacking does not pay here; "
                                "stack=measure times it)")
    per_member = cfg.batch_size * math.prod(bundle.input_shape)
    small = per_member <= STACK_MAX_ELEMENTS
    return StackPlan(small, f"CUDA, {per_member} input elements per member batch "
                     + (f"<= {STACK_MAX_ELEMENTS}" if small else ": one member fills the GPU"))


def measure_stack_speedup(
    bundle: DatasetBundle, cfg: RunConfig, num_members: int, *, steps: int = 3,
    precision: str | Precision | None = None,
    max_plain_step_s: float | None = MEASURE_MAX_STEP_S,
) -> float | None:
    """Time a few training steps, stacked K-wide against K plain steps, on random inputs.

    The global RNG is left untouched (models are built inside ``fork_rng``).

    Returns:
        ``K * plain_step_time / stacked_step_time`` (> 1: stacking is faster), or None when
        one plain step takes longer than ``max_plain_step_s`` (compute-bound: not timed).
    """
    device, dtype = resolve_device(cfg.device), getattr(torch, cfg.dtype)
    prec = Precision.resolve(precision or cfg.precision, device, input_shape=bundle.input_shape,
                             dtype=dtype, compile=cfg.compile, cuda_graphs=cfg.cuda_graphs)
    b, k = cfg.batch_size, num_members
    gen = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(k, b, *bundle.input_shape, generator=gen, device=device, dtype=dtype)
    y = torch.randint(0, bundle.num_classes, (k, b), generator=gen, device=device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(0)
        plain = prec.prepare_model(build_run_model(cfg, bundle, device, dtype))
        plain_step = _timed_step(prec, device, prec.compiled(plain), plain.parameters(),
                                 cfg, lambda: prec.prepare_batch(x[0]), y[0])
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
        stack = StackedMembers([build_run_model(cfg, bundle, device, dtype) for _ in range(k)],
                               prec)
        stacked_step = _timed_step(prec, device, stack.forward, stack.parameters(), cfg,
                                   lambda: x, y)
        stacked_step()
        return k * t_plain / _time(stacked_step, steps, device)


def _timed_step(prec: Precision, device: torch.device, forward: Callable[..., torch.Tensor],
                params: Any, cfg: RunConfig, batch: Callable[[], torch.Tensor],
                y: torch.Tensor) -> Callable[[], None]:
    opt = build_optimizer(cfg.optimizer, list(params), lr=cfg.lr, momentum=cfg.momentum,
                          weight_decay=cfg.weight_decay, device=device)

    def step() -> None:
        with prec.autocast_context(device):
            logits = forward(batch())
        loss = F.cross_entropy(logits.float().flatten(0, -2), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


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
