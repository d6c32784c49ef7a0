"""Training batches gathered by index, from device-resident tensors when the data fits.

Data that fits in ``preload_max_bytes`` is copied to the device once and each batch is a
device-side gather (no DataLoader, no per-batch host work); larger data is gathered on the
host and copied with pinned memory and ``non_blocking`` on CUDA.
"""

from __future__ import annotations

import math

import torch

from easyfirst.data.base import ArraySplit


class DeviceBatches:
    """Gathers batches by index, from device-resident tensors when the data fits."""

    def __init__(
        self, split: ArraySplit, device: torch.device, dtype: torch.dtype, max_bytes: int
    ) -> None:
        self.split, self.device, self.dtype = split, device, dtype
        nbytes = math.prod(split.inputs.shape) * torch.empty((), dtype=dtype).element_size()
        self.resident = nbytes <= max_bytes
        if self.resident:
            self.x = split.as_tensor().to(device, dtype)
            self.y = split.targets.to(device)

    def indices(self, idx: list[int]) -> torch.Tensor:
        t = torch.tensor(idx, dtype=torch.long)
        return t.to(self.device) if self.resident else t

    def get(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.resident:
            return self.x[idx], self.y[idx]
        x, y = self.split.batch(idx)
        pin = self.device.type == "cuda"
        x, y = (x.pin_memory(), y.pin_memory()) if pin else (x, y)
        return x.to(self.device, self.dtype, non_blocking=True), y.to(
            self.device, non_blocking=True
        )
