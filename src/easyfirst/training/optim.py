"""Optimizer registry.

On CUDA, Adam is built ``fused`` (one kernel for all parameters) and ``capturable`` (its step
counters live on the device, so a CUDA graph can replay it), with ``lr`` as a device tensor:
a captured step reads the current value, so a learning-rate schedule (``set_lr`` fills it in
place) keeps working under CUDA-graph replay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from easyfirst.registry import Registry

OptimizerBuilder = Callable[..., torch.optim.Optimizer]
OPTIMIZERS: Registry[OptimizerBuilder] = Registry("optimizer")


@OPTIMIZERS.register("adam")
def _adam(
    params: Iterable[torch.Tensor],
    *,
    lr: float,
    momentum: float,
    weight_decay: float,
    cuda: bool,
) -> torch.optim.Optimizer:
    """Adam (Kingma & Ba 2015); fused and capturable with a tensor lr on CUDA."""
    if cuda:
        params = list(params)
        lr_t = torch.tensor(lr, dtype=torch.float32, device=params[0].device)
        return torch.optim.Adam(
            params, lr=lr_t, weight_decay=weight_decay, fused=True, capturable=True
        )
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


@OPTIMIZERS.register("sgd")
def _sgd(
    params: Iterable[torch.Tensor],
    *,
    lr: float,
    momentum: float,
    weight_decay: float,
    cuda: bool,
) -> torch.optim.Optimizer:
    """SGD with (heavy-ball) momentum."""
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


def build_optimizer(
    name: str,
    params: Iterable[torch.Tensor],
    *,
    lr: float,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    device: torch.device | str = "cpu",
) -> torch.optim.Optimizer:
    cuda = torch.device(device).type == "cuda"
    return OPTIMIZERS.get(name)(
        params, lr=lr, momentum=momentum, weight_decay=weight_decay, cuda=cuda
    )
