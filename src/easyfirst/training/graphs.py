"""CUDA-graph replay of a training step.

With small inputs and batches (the paper's batch 16) a GPU step is bound by kernel launches,
not arithmetic: a bf16 CNN10 step at 3x32x32, B=16 took 4.7 to 6.7 ms eager on an H200 and
0.9 ms as one replayed CUDA graph (``benchmarks/gpu_step_variants.py``). :class:`GraphedStep`
runs a step function eagerly for a few warm-up calls, captures it once, then replays it.

The step function must only queue device work: read its tensor arguments, write persistent
tensors in place (parameters through the optimizer, recorder and statistics buffers), never
wait for the host, and draw random numbers only from the default CUDA generator (dropout).
Everything it allocates lives in the graph's private memory pool.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import torch

_cuda = torch.cuda  # the CUDA API this module uses (tests replace it on CPU)


class GraphedStep:
    """Calls ``step(*tensors, **consts)``; replays one captured CUDA graph where it can.

    The first call fixes the graphed signature: the tensors' shapes and dtypes and the
    ``consts`` values. Calls with that signature run eagerly on a side stream for ``warmup``
    calls (cuDNN autotuning, lazy optimizer state, allocator growth), then one is captured and
    replayed, and every later one copies its tensors into the captured (static) buffers and
    replays. Calls with another signature (a last partial batch) run eagerly. Gradients are
    reset before each eager step and written afresh by each replay.

    Args:
        step: one training step (forward, backward, ``optimizer.step()``, records).
        optimizer: its optimizer (gradients are reset through it); on CUDA it must be
            capturable (``Adam(capturable=True)``; SGD is).
        enabled: False runs every call eagerly (CPU, or features a graph cannot replay).
        warmup: eager calls before the capture.
    """

    def __init__(
        self,
        step: Callable[..., None],
        optimizer: torch.optim.Optimizer,
        *,
        enabled: bool,
        warmup: int = 3,
    ) -> None:
        self.step, self.optimizer, self.enabled, self.warmup = step, optimizer, enabled, warmup
        self.graph: Any = None
        self._key: Hashable | None = None
        self._static: list[torch.Tensor] = []
        self._consts: dict[str, Any] = {}
        self._calls = 0

    @property
    def captured(self) -> bool:
        return self.graph is not None

    def __call__(self, *tensors: torch.Tensor, **consts: Any) -> None:
        key = (
            tuple((t.shape, t.dtype, t.device) for t in tensors),
            tuple(sorted(consts.items())),
        )
        if self.enabled and self._key is None:
            self._key = key
            self._static = [t.clone() for t in tensors]
            self._consts = dict(consts)
        if not self.enabled or key != self._key:
            # Outside the graph: keep the gradient tensors the graph writes (zero them).
            self.optimizer.zero_grad(set_to_none=self.graph is None)
            self.step(*tensors, **consts)
            return
        for static, t in zip(self._static, tensors, strict=True):
            static.copy_(t)
        if self.graph is not None:
            self.graph.replay()
            return
        current = _cuda.current_stream()
        if self._calls < self.warmup:
            self._calls += 1
            side = _cuda.Stream()
            side.wait_stream(current)
            with _cuda.stream(side):
                self.optimizer.zero_grad(set_to_none=True)
                self.step(*self._static, **self._consts)
            current.wait_stream(side)
            return
        self.optimizer.zero_grad(set_to_none=True)
        graph = _cuda.CUDAGraph()
        with _cuda.graph(graph):
            self.step(*self._static, **self._consts)
        self.graph = graph
        graph.replay()  # capturing queued nothing: run this step now
