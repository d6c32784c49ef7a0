"""What the epoch engine trains: one model, or K stacked models trained as one.

Both kinds answer the same calls, so ``training/engine.py`` has one loop for both:
``forward`` maps a ``(K, B, ...)`` batch to ``(K, B, C)`` logits, ``predict`` evaluates one
member on a split, and the state calls save, restore, snapshot (best on dev) and export one
member in the layout of a plain model.

:class:`PlainMember` is one ``nn.Module`` (K = 1), DDP-wrapped under torch.distributed with
its BatchNorm and Dropout layers computing on the global batch (``models/global_batch.py``;
``layout`` is what the step sets).
:class:`StackedMembers` holds K same-architecture models as stacked ``(K, ...)`` parameters and
buffers (``torch.func.stack_module_state``) and runs ONE vmapped ``functional_call`` forward;
one optimizer over the stacked tensors performs each member's own (elementwise) update, and
BatchNorm statistics stay per member. Convolutions become grouped convolutions under vmap, so
results match plain runs within float rounding, not bit for bit.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, stack_module_state

from easyfirst.data.base import ArraySplit
from easyfirst.models.global_batch import GlobalBatch, convert_global_batch
from easyfirst.models.vmap_batchnorm import vmap_safe
from easyfirst.training.distributed import DistInfo
from easyfirst.training.evaluate import predict
from easyfirst.training.precision import Precision

State = dict[str, torch.Tensor]


class PlainMember:
    """One model, K = 1. State calls use the model's own ``state_dict`` layout."""

    k = 1

    def __init__(self, model: nn.Module, precision: Precision, dinfo: DistInfo,
                 device: torch.device) -> None:
        self.model, self.precision = model, precision
        self.net: nn.Module = model
        self.shard = dinfo.enabled  # evaluation split over the ranks
        # BatchNorm statistics and dropout masks of the global batch, as one process's
        self.layout = convert_global_batch(model) if dinfo.enabled else None
        if dinfo.enabled:
            ids = [device.index] if device.type == "cuda" else None
            self.net = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        self._forward = precision.compiled(self.net)

    def parameters(self) -> Iterable[torch.Tensor]:
        return self.model.parameters()

    def train(self) -> None:
        self.net.train()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (1, B, ...) -> (1, B, C)``."""
        out: torch.Tensor = self._forward(self.precision.prepare_batch(x[0]))
        return out[None]

    def predict(self, m: int, split: ArraySplit, *, device: torch.device,
                dtype: torch.dtype) -> torch.Tensor:
        return predict(self.model, split, device=device, dtype=dtype, shard=self.shard)

    def state_dict(self) -> State:
        return self.model.state_dict()

    def load_state_dict(self, state: State) -> None:
        self.model.load_state_dict(state)

    def snapshot(self, m: int, store: State | None) -> State:
        return copy.deepcopy(self.model.state_dict())

    def member_state(self, m: int, source: State) -> State:
        return source

    def member_optimizer_state(self, state: dict[str, Any], m: int) -> dict[str, Any]:
        return state

    def member_model(self, m: int, source: State | None) -> nn.Module:
        if source is not None:
            self.model.load_state_dict(source)
        return self.model


class StackedMembers:
    """K models as one: stacked tensors, one vmapped forward (see the module notes)."""

    layout: GlobalBatch | None = None  # one process only

    def __init__(self, models: Sequence[nn.Module], precision: Precision) -> None:
        self.k = len(models)
        self.models = list(models)
        self.params, self.buffers = stack_module_state(self.models)
        # A stateless skeleton: functional_call swaps the stacked slices in. Its BatchNorms
        # compute with plain ops: the native kernels reject vmapped inputs on CUDA.
        self.base = vmap_safe(copy.deepcopy(self.models[0]).to("meta"))
        for model in self.models:  # the stack holds the weights now; park the K modules
            model.to("cpu")

        def member(p: State, bufs: State, x: torch.Tensor) -> torch.Tensor:
            return functional_call(self.base, (p, bufs), (x,))

        self._vmapped = precision.compiled(
            torch.vmap(member, in_dims=(0, 0, 0), randomness="different"))

    def _tensors(self) -> State:
        return {**self.params, **self.buffers}

    def parameters(self) -> Iterable[torch.Tensor]:
        return self.params.values()

    def train(self) -> None:
        self.base.train()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (K, B, ...) -> (K, B, C)``: every member on its own batch."""
        out: torch.Tensor = self._vmapped(self.params, self.buffers, x)
        return out

    @torch.no_grad()
    def predict(self, m: int, split: ArraySplit, *, device: torch.device,
                dtype: torch.dtype, batch_size: int = 256) -> torch.Tensor:
        """Member ``m``'s eval-mode logits for ``split``, as ``evaluate.predict`` computes."""
        was_training = self.base.training
        self.base.eval()
        state = {name: t[m] for name, t in self._tensors().items()}
        out = []
        for start in range(0, len(split), batch_size):
            x, _ = split.batch(torch.arange(start, min(start + batch_size, len(split))))
            z = functional_call(self.base, state, (x.to(device, dtype, non_blocking=True),))
            out.append(z.float())
        self.base.train(was_training)
        return torch.cat(out).cpu()

    def state_dict(self) -> State:
        """Detached copies of all stacked tensors (parameters and buffers), ``(K, ...)``."""
        return {name: t.detach().clone() for name, t in self._tensors().items()}

    @torch.no_grad()
    def load_state_dict(self, state: State) -> None:
        for name, t in self._tensors().items():
            t.copy_(state[name])

    @torch.no_grad()
    def snapshot(self, m: int, store: State | None) -> State:
        """``store`` (a stacked state, made on first use) with slot ``m`` set to member m now."""
        store = self.state_dict() if store is None else store
        for name, t in self._tensors().items():
            store[name][m].copy_(t[m])
        return store

    def member_state(self, m: int, source: State) -> State:
        """Slot ``m`` of a stacked state as own copies (a view would keep all K alive)."""
        return {name: t[m].detach().clone() for name, t in source.items()}

    def member_optimizer_state(self, state: dict[str, Any], m: int) -> dict[str, Any]:
        """Member ``m``'s view of the optimizer over the stacked parameters.

        The optimizer was built over the stacked parameters in ``named_parameters`` order, the
        order a plain run's optimizer sees, so parameter ids carry over. Per-parameter tensors
        of the stacked shape (Adam moments, SGD momentum) are sliced; step counters are shared.
        """
        shapes = [p.shape for p in self.params.values()]
        per_param = {
            pid: {key: v[m].clone() if isinstance(v, torch.Tensor) and v.shape == shapes[pid]
                  else copy.deepcopy(v) for key, v in slots.items()}
            for pid, slots in state["state"].items()
        }
        return {"state": per_param, "param_groups": copy.deepcopy(state["param_groups"])}

    def member_model(self, m: int, source: State | None) -> nn.Module:
        """The plain module of member ``m``, on the stack's device, holding slot m of source."""
        device = next(iter(self.params.values())).device
        model = self.models[m].to(device)
        model.load_state_dict(self.member_state(m, source or self.state_dict()))
        return model


Members = PlainMember | StackedMembers
