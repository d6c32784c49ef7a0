"""How a training step runs fast: autocast dtype, memory format, CUDA graphs, compile.

``Precision.resolve("auto", device, input_shape=...)`` picks per device what the measurements
in DESIGN.md support: on CUDA, bf16 autocast (where the GPU has bf16), channels_last for
image-like inputs ``(C, H, W)``, cuDNN autotuning and CUDA-graph replay of the training step
(``training/graphs.py``); on CPU plain fp32 and the default memory format (channels_last
measured up to 2x slower there on log-Mel inputs). ``torch.compile`` is opt-in everywhere: it
costs a compile per process and is not worth it for short scoring runs; it replaces CUDA
graphs (``torch.compile(mode="reduce-overhead")`` is its own graph mode).

Example:
    >>> p = Precision.resolve("auto", torch.device("cpu"), input_shape=(1, 64, 501))
    >>> p.autocast, p.channels_last, p.compile, p.cuda_graphs
    ('fp32', False, False, False)
    >>> with p.autocast_context(torch.device("cpu")):
    ...     pass
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import torch
from torch import nn

from easyfirst.errors import InputError

PRECISIONS = ("auto", "fp32", "bf16")
_AMP_DTYPES: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16}

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Precision:
    """Resolved speed settings of a training step (no ``auto`` left in them).

    Attributes:
        autocast: ``fp32`` (no autocast) or ``bf16`` (``torch.autocast`` around forward and
            loss; parameters, gradients and optimizer state stay in the run's dtype).
        channels_last: convert the model and every 4-D batch ``(B, C, H, W)`` to
            ``torch.channels_last``.
        compile: wrap the forward in ``torch.compile``.
        cuda_graphs: replay each full training step as a CUDA graph where the training loop
            can (it turns this off, and records so, for batch augmentation, DDP or data that
            is not resident on the device).
        cudnn_benchmark: let cuDNN time its algorithms for each new shape (the training loops
            set ``torch.backends.cudnn.benchmark`` for their duration).
    """

    autocast: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    cuda_graphs: bool = False
    cudnn_benchmark: bool = False

    def __post_init__(self) -> None:
        if self.autocast not in _AMP_DTYPES:
            raise InputError(
                f"Unknown autocast {self.autocast!r}. Available: {', '.join(_AMP_DTYPES)}."
            )

    @classmethod
    def resolve(
        cls,
        spec: str | Precision | None,
        device: torch.device | str,
        *,
        input_shape: tuple[int, ...],
        dtype: torch.dtype = torch.float32,
        channels_last: bool | None = None,
        compile: bool = False,
        cuda_graphs: bool = True,
    ) -> Precision:
        """Turn a user setting into concrete settings for ``device``.

        Args:
            spec: ``auto`` (or None), ``fp32``, ``bf16``, or an already resolved ``Precision``
                (returned unchanged).
            device: the training device.
            input_shape: shape of one sample without the batch axis, e.g. ``(C, H, W)``.
            dtype: the parameter dtype; autocast only applies to float32 runs.
            channels_last: force the memory format; None picks per device (CUDA and 4-D
                batches only).
            compile: wrap the forward in ``torch.compile``.
            cuda_graphs: allow CUDA-graph replay (used on CUDA without ``compile``).

        Raises:
            ValueError: unknown ``spec``, or ``bf16`` asked for a non-float32 run or on a GPU
                without bf16.
        """
        if isinstance(spec, Precision):
            return spec
        name = "auto" if spec is None else str(spec).lower()
        if name not in PRECISIONS:
            raise InputError(f"Unknown precision {spec!r}. Available: {', '.join(PRECISIONS)}.")
        dev = torch.device(device)
        cuda = dev.type == "cuda"
        if name == "auto":
            name = "bf16" if cuda and dtype == torch.float32 and _cuda_bf16(dev) else "fp32"
        elif name == "bf16":
            if dtype != torch.float32:
                raise InputError(
                    f"bf16 autocast applies to float32 runs; got dtype {dtype}. Use "
                    "--precision fp32 with float64, or --dtype float32."
                )
            if cuda and not _cuda_bf16(dev):
                raise InputError(
                    f"{dev} has no bf16 support; got precision 'bf16'. Use --precision fp32."
                )
        if channels_last is None:
            channels_last = cuda and len(tuple(input_shape)) == 3
        return cls(
            autocast=name,
            channels_last=bool(channels_last),
            compile=bool(compile),
            cuda_graphs=bool(cuda_graphs) and cuda and not compile,
            cudnn_benchmark=cuda,
        )

    @property
    def amp_dtype(self) -> torch.dtype | None:
        """The autocast dtype, or None for plain fp32."""
        return _AMP_DTYPES[self.autocast]

    def autocast_context(
        self, device: torch.device | str
    ) -> contextlib.AbstractContextManager[Any]:
        """``torch.autocast`` for ``device`` when enabled, else a no-op context.

        With CUDA graphs the cast-weight cache is off (a captured step must not keep tensors
        across replays).
        """
        amp = self.amp_dtype
        if amp is None:
            return contextlib.nullcontext()
        return torch.autocast(
            device_type=torch.device(device).type, dtype=amp, cache_enabled=not self.cuda_graphs
        )

    @contextlib.contextmanager
    def backends(self) -> Iterator[None]:
        """Set ``torch.backends.cudnn.benchmark`` as resolved, restoring it afterwards."""
        before = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = self.cudnn_benchmark
        try:
            yield
        finally:
            torch.backends.cudnn.benchmark = before

    def prepare_model(self, model: nn.Module) -> nn.Module:
        """Convert ``model`` (in place) to channels_last when enabled; returns it."""
        if self.channels_last:
            model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        return model

    def prepare_batch(self, x: torch.Tensor) -> torch.Tensor:
        """``x (B, C, H, W)`` in channels_last when enabled; other ranks pass through."""
        if self.channels_last and x.ndim == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def compiled(self, fn: F) -> F:
        """``torch.compile(fn)`` when enabled, else ``fn`` unchanged."""
        if not self.compile:
            return fn
        return torch.compile(fn)  # type: ignore[return-value]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _cuda_bf16(device: torch.device) -> bool:
    if not torch.cuda.is_available():
        return False
    major, _ = torch.cuda.get_device_capability(device)
    return major >= 8  # Ampere and newer run bf16 natively
