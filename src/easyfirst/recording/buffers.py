"""``OutcomeBuffers``: the per-sample tensors the outcome groups declare, on one device.

Each is allocated with a spare slot ``N`` (where dropped rows land), in the dtype its
``StateSpec`` names (``counter``: one byte for runs of at most 255 epochs, else int16;
``graded`` buffers turn float32 once the correctness is graded), saved without the spare slot
and loaded back into it.
"""

from __future__ import annotations

from typing import Any

import torch

from easyfirst.errors import InputError
from easyfirst.recording.outcomes import StateSpec


class OutcomeBuffers:
    """The buffers of ``specs`` for ``num_samples`` slots (``tensors``: name -> tensor)."""

    def __init__(self, specs: list[StateSpec], num_samples: int, device: torch.device,
                 counter: torch.dtype) -> None:
        self.specs, self.num_samples, self.device = specs, num_samples, device
        self.counter = counter
        self.tensors: dict[str, torch.Tensor] = {}
        self.allocate()

    def allocate(self) -> None:
        """Fresh buffers, binary correctness (the first update may make it graded)."""
        self.graded: bool | None = None
        n1 = self.num_samples + 1  # + the slot of dropped rows
        self.tensors = {s.name: torch.full((n1, s.width) if s.width else (n1,), s.fill,
                                           device=self.device, dtype=self.dtype(s))
                        for s in self.specs}

    def dtype(self, spec: StateSpec) -> torch.dtype:
        if spec.graded and self.graded:
            return torch.float32
        return {"float32": torch.float32, "int32": torch.int32, "uint8": torch.uint8,
                "counter": self.counter}[spec.dtype]

    def set_form(self, graded: bool) -> None:
        """The first call fixes binary (one-byte) or graded (float32) correctness sums."""
        if self.graded is None:
            self.graded = graded
            for spec in self.specs:
                self.tensors[spec.name] = self.tensors[spec.name].to(self.dtype(spec))
        elif graded and not self.graded:
            raise InputError("Expected the same kind of correctness in every update; got "
                             "graded (fractional) correctness after 0/1 correctness. Use one "
                             "recorder per kind of target.")

    @property
    def bytes_per_sample(self) -> int:
        return sum(t[0].numel() * t.element_size() for t in self.tensors.values())

    def partial_sums(self, specs: list[StateSpec]) -> dict[str, torch.Tensor]:
        """The epoch's partial sums of ``specs`` over the N slots: a ``sum_seen`` buffer
        gives 0 where this process did not visit the sample."""
        n = self.num_samples
        mine = self.tensors["visits"][:n] > 0
        return {s.name: (torch.where(mine, self.tensors[s.name][:n], 0.0)
                         if s.reduce == "sum_seen" else self.tensors[s.name][:n])
                for s in specs}

    def zero_per_epoch(self) -> None:
        """Zero the buffers that hold one epoch's partial sums."""
        for spec in self.specs:
            if spec.per_epoch:
                self.tensors[spec.name].zero_()

    def rows(self, sel: slice) -> dict[str, torch.Tensor]:
        """CPU copies of the slots ``sel`` (never the spare slot)."""
        return {k: v[sel].detach().cpu().clone() for k, v in self.tensors.items()}

    def load(self, state: dict[str, Any]) -> None:
        """Take the slots of a saved ``rows`` back (the spare slot stays as it is)."""
        if state["graded"] is not None:
            self.set_form(bool(state["graded"]))
        for name, cur in self.tensors.items():
            src = torch.cat([state[name], cur[-1:].cpu()])
            self.tensors[name] = src.to(self.device, cur.dtype).clone()
