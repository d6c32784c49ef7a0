"""Learning-rate schedules: the factor of the peak ``lr`` at training progress ``t`` in [0, 1].

A schedule is a pure function of explicit progress (``t = (epoch + step / steps) / epochs``),
so it needs no state of its own to resume, and curriculum runs whose epochs differ in length
follow the same curve. :func:`set_lr` writes the value into the optimizer before each step;
where the optimizer holds ``lr`` as a device tensor (Adam on CUDA, so that a CUDA graph reads
the current value at replay) it is filled in place.

Example:
    >>> [round(lr_factor("onecycle", t), 3) for t in (0.0, 0.3, 1.0)]
    [0.04, 1.0, 0.0]
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from easyfirst.registry import Registry

Schedule = Callable[[float], float]
SCHEDULES: Registry[Schedule] = Registry("lr schedule")

ONECYCLE_WARMUP = 0.3  # as torch.optim.lr_scheduler.OneCycleLR's pct_start
ONECYCLE_START = 1 / 25  # its div_factor: the first step's lr is peak / 25


def _cos_ramp(a: float, b: float, u: float) -> float:
    """From ``a`` at ``u = 0`` to ``b`` at ``u = 1`` along half a cosine."""
    return b + (a - b) * (1 + math.cos(math.pi * u)) / 2


@SCHEDULES.register("constant")
def constant(t: float) -> float:
    """The peak lr throughout."""
    return 1.0


@SCHEDULES.register("onecycle")
def onecycle(t: float) -> float:
    """One cycle (Smith & Topin 2019): cosine warm-up from lr/25 (30 %), cosine decay to 0.

    As ``torch.optim.lr_scheduler.OneCycleLR`` with ``pct_start=0.3, div_factor=25``, but
    ending at 0.
    """
    if t < ONECYCLE_WARMUP:
        return _cos_ramp(ONECYCLE_START, 1.0, t / ONECYCLE_WARMUP)
    return _cos_ramp(1.0, 0.0, (t - ONECYCLE_WARMUP) / (1 - ONECYCLE_WARMUP))


@SCHEDULES.register("cosine")
def cosine(t: float) -> float:
    """Cosine decay from the peak lr to 0 (Loshchilov & Hutter 2017, without restarts)."""
    return _cos_ramp(1.0, 0.0, t)


def lr_factor(name: str, t: float) -> float:
    """The factor of schedule ``name`` at progress ``t`` (clamped to [0, 1])."""
    return SCHEDULES.get(name)(min(max(t, 0.0), 1.0))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every parameter group's lr; a tensor lr is filled in place (no host sync)."""
    for group in optimizer.param_groups:
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr
