"""torch.distributed set-up for runs launched with ``torchrun``."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

_LOCAL: list[bool] = []  # one entry per local_runs() block entered


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


class local_runs:
    """``with local_runs():`` each run is single-process, even under torchrun (seed-parallel)."""

    def __enter__(self) -> None:
        _LOCAL.append(True)

    def __exit__(self, *exc: object) -> None:
        _LOCAL.pop()


def world_size() -> int:
    """Processes of this run: the process group's size, else torchrun's ``WORLD_SIZE``."""
    if dist.is_available() and dist.is_initialized() and not _LOCAL:
        return int(dist.get_world_size())
    return 1 if _LOCAL else int(os.environ.get("WORLD_SIZE", "1"))


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group torchrun describes (``WORLD_SIZE`` > 1); a no-op otherwise."""
    world = 1 if _LOCAL else int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def gather_rows(t: torch.Tensor, rows: int) -> torch.Tensor:
    """Every rank's local rows of this step, in the global batch's order (rank r's i-th row at
    ``i * W + r``, as ``DistributedSampler`` deals them), the first ``rows`` of them."""
    parts = [torch.empty_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, t.contiguous())
    return torch.stack(parts, 1).flatten(0, 1)[:rows]


def resolve_device(name: str) -> torch.device:
    """``auto`` -> the local CUDA device under torchrun, else cuda:0, else CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"Device {name!r} was requested but CUDA is not available here; "
                           "use --device cpu.")
    return dev


def is_main_process() -> bool:
    """True on rank 0 (before the process group exists: torchrun's ``RANK``), outside
    torch.distributed and in ``local_runs()``: the process that writes files."""
    if dist.is_available() and dist.is_initialized() and not _LOCAL:
        return dist.get_rank() == 0
    return bool(_LOCAL) or os.environ.get("RANK", "0") == "0"
