"""Training batches by index: resident on the device, gathered on the host, or streamed.

:func:`place_batches` decides once per run (``data_placement``) and says so in one line:

* ``resident``: the split is copied to the device once and each batch is a device-side
  gather (no DataLoader, no per-batch host work). ``auto`` picks it when the inputs fit in
  ``preload_max_bytes`` at the training dtype.
* ``stream`` (:class:`StreamedBatches`): a background thread reads the rows in contiguous
  chunks with plain file reads (:mod:`easyfirst.data.streaming`), a few batches ahead, into
  pinned memory on CUDA, copied with ``non_blocking``. ``auto`` picks it for a file-backed
  memmap (a feature cache) that does not fit. Its default order is the chunk-shuffled
  :class:`~easyfirst.data.streaming.ChunkShuffleSampler`, not ``DistributedSampler``'s.
* else ``auto`` gathers each batch on the host from inputs already in memory (a tensor or
  an array that does not fit on the device), copied pinned and ``non_blocking`` on CUDA.

Every placement computes the same batches, bit for bit, for the same order.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import numpy as np
import torch
from torch.utils.data import DistributedSampler, Sampler

from easyfirst.data.base import ArraySplit
from easyfirst.data.streaming import (
    ChunkCache,
    ChunkShuffleSampler,
    Prefetch,
    RowReader,
    file_location,
)
from easyfirst.errors import InputError
from easyfirst.monitor.job import note

PLACEMENTS = ("auto", "resident", "stream")
CHUNK_BYTES = 8 << 20  # bytes per streamed chunk (at the file's dtype)
WINDOW = 8  # chunks whose rows are shuffled together
DEPTH = 4  # batches read ahead
_SAID: set[str] = set()  # the placement lines printed by this process


class DeviceBatches:
    """Gathers batches by index, from device-resident tensors (``resident``) or on the host."""

    def __init__(self, split: ArraySplit, device: torch.device, dtype: torch.dtype, *,
                 resident: bool) -> None:
        self.split, self.device, self.dtype, self.resident = split, device, dtype, resident
        if resident:
            self.x = split.as_tensor().to(device, dtype)
            self.y = split.targets.to(device)

    def sampler(self, seed: int, world: int, rank: int) -> Sampler[int]:
        """The default order of a run: ``DistributedSampler(shuffle=True, seed=seed)``."""
        return DistributedSampler(self.split, num_replicas=world, rank=rank, shuffle=True,
                                  seed=seed)

    def epoch(self, order: torch.Tensor, batch: int, *, chunked: bool
              ) -> AbstractContextManager[None]:
        """Entered around an epoch whose steps :meth:`get` ``order[:, s:s + batch]``, ``s = 0,
        batch, ...`` in turn (``order (K, L)``: one row per member); ``chunked``: the order
        comes from :meth:`sampler`."""
        return contextlib.nullcontext()

    def indices(self, idx: list[int]) -> torch.Tensor:
        t = torch.tensor(idx, dtype=torch.long)
        return t.to(self.device) if self.resident else t

    def get(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.resident:
            return self.x[idx], self.y[idx]
        return self._to_device(*self.split.batch(idx))

    def _to_device(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.device.type == "cuda" and not x.is_pinned():
            x, y = x.pin_memory(), y.pin_memory()
        return x.to(self.device, self.dtype, non_blocking=True), y.to(
            self.device, non_blocking=True)


class StreamedBatches(DeviceBatches):
    """Batches read from the split's inputs in chunks of ``chunk_rows`` rows by a prefetch
    thread, ``depth`` batches ahead.

    With the order of its own :meth:`sampler` (``chunked``) a batch is gathered from a cache
    of whole chunks (:meth:`cache_chunks`, enough that each chunk is read once per epoch).
    Any other order (a sampler given by the caller, e.g. a curriculum) is read row by row in
    contiguous runs: correct, slower when the file is not in the page cache. Under DDP every
    rank reads the chunks that hold its rows, the same chunks as the other ranks (on one host
    they share the OS page cache), and gathers and copies only its own rows.

    Memory: ``cache_chunks * chunk_rows`` rows plus ``depth + 2`` batches (and one staging
    batch).
    """

    def __init__(self, split: ArraySplit, device: torch.device, dtype: torch.dtype, *,
                 chunk_bytes: int, window: int, depth: int, batch_size: int) -> None:
        super().__init__(split, device, dtype, resident=False)
        self.reader = RowReader(split.inputs)
        self.chunk_rows = max(1, min(len(split), chunk_bytes // max(self.reader.row_bytes, 1)))
        self.window, self.depth, self.batch_size = window, depth, batch_size
        self.cache = ChunkCache(self.reader, self.chunk_rows)
        self.row_dtype = torch.from_numpy(self.reader.empty(0)).dtype
        self._prefetch: Prefetch | None = None
        self._ring: list[torch.Tensor] = []

    def describe(self) -> str:
        size = _size(self.chunk_rows * self.reader.row_bytes)
        return (f"streaming from {self.reader.describe()} in {self.chunk_rows}-row chunks "
                f"({size}), window {self.window}, prefetch {self.depth}")

    def sampler(self, seed: int, world: int, rank: int) -> Sampler[int]:
        return ChunkShuffleSampler(len(self.split), self.chunk_rows, window=self.window,
                                   seed=seed, num_replicas=world, rank=rank)

    def cache_chunks(self, members: int) -> int:
        """Chunks cached for ``members`` chunk orders: a step of ``batch_size`` global rows
        spans at most ``ceil(batch_size / window rows) + 1`` windows, one window more keeps
        every chunk until its last use under least-recently-used eviction."""
        spanned = math.ceil(self.batch_size / (self.window * self.chunk_rows)) + 2
        return members * self.window * spanned

    @contextlib.contextmanager
    def epoch(self, order: torch.Tensor, batch: int, *, chunked: bool) -> Iterator[None]:
        rows = order.numpy()
        self.cache.capacity = self.cache_chunks(len(rows))
        read = self.cache.gather if chunked else self.reader.rows
        steps = (rows[:, s:s + batch].reshape(-1) for s in range(0, rows.shape[1], batch))
        size = (len(rows) * batch, *self.reader.row_shape)
        if self.device.type == "cpu" and (not self._ring or self._ring[0].shape != size):
            self._ring = [torch.empty(size, dtype=self.row_dtype) for _ in range(self.depth + 2)]
        items = (self._load(i, idx, read) for i, idx in enumerate(steps))
        try:
            with Prefetch(items, self.depth) as prefetch:
                self._prefetch = prefetch
                yield
        finally:
            self._prefetch = None
            self.reader.close()

    def _load(self, i: int, idx: np.ndarray, read: Callable[[np.ndarray, np.ndarray], None]
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """Step ``i``'s rows. On CPU into a ring of ``depth + 2`` reused buffers: when the
        thread refills one, ``depth + 1`` later batches have been queued, so the consumer has
        moved past it (a batch is valid until the next :meth:`get`). Else fresh, pinned on CUDA
        (torch's caching host allocator reuses a block only once its copy is done)."""
        x = self._ring[i % len(self._ring)][:len(idx)] if self._ring else torch.empty(
            (len(idx), *self.reader.row_shape), dtype=self.row_dtype,
            pin_memory=self.device.type == "cuda")
        read(idx, x.numpy())
        return torch.from_numpy(idx), x

    def get(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self._prefetch is None:
            raise RuntimeError("Expected StreamedBatches.get inside epoch(); got a call outside "
                               "one. Enter epoch(order, batch) around the epoch's steps.")
        want, x = self._prefetch.get()
        if not torch.equal(want, idx):
            raise RuntimeError("Expected the epoch's batches in turn (order[:, s:s + batch]); "
                               "got other rows. Take the steps in order.")
        return self._to_device(x, self.split.targets[idx])


def _size(nbytes: float) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{int(nbytes)} B"


def place_batches(split: ArraySplit, device: torch.device, dtype: torch.dtype, *,
                  max_bytes: int, placement: str = "auto", batch_size: int = 1,
                  announce: bool = True) -> DeviceBatches:
    """The run's batches, placed by ``placement`` (see the module notes), and one line saying
    where, e.g. ``training data: 6.1 GiB > preload limit 2.0 GiB: streaming from
    /data/x.npy in 324-row chunks (8.0 MiB), window 8, prefetch 4``, a note (on stderr,
    :func:`easyfirst.monitor.note`) once per process when ``announce``.

    Args:
        split: the training split.
        device, dtype: where and at which dtype batches are delivered.
        max_bytes: ``preload_max_bytes``, the size up to which ``auto`` keeps data resident.
        placement: ``auto``, ``resident`` or ``stream``.
        batch_size: the global batch size (sizes the streamed chunk cache).
    """
    if placement not in PLACEMENTS:
        raise InputError(f"Unknown data placement {placement!r}. Available: "
                         f"{', '.join(PLACEMENTS)}.")
    nbytes = math.prod(split.inputs.shape) * torch.empty((), dtype=dtype).element_size()
    fits = nbytes <= max_bytes
    why = (f"{'<=' if fits else '>'} preload limit {_size(max_bytes)}" if placement == "auto"
           else f"(data placement {placement})")
    data: DeviceBatches
    if placement == "resident" or (placement == "auto" and fits):
        data, how = DeviceBatches(split, device, dtype, resident=True), f"resident on {device}"
    elif placement == "stream" or file_location(split.inputs) is not None:
        streamed = StreamedBatches(split, device, dtype, chunk_bytes=CHUNK_BYTES,
                                   window=WINDOW, depth=DEPTH, batch_size=batch_size)
        data, how = streamed, streamed.describe()
    else:
        data, how = DeviceBatches(split, device, dtype, resident=False), (
            "gathered per batch from host memory")
    line = f"training data: {_size(nbytes)} {why}: {how}"
    if announce and line not in _SAID:
        _SAID.add(line)
        note(line)  # on stderr, once the run's checks have passed
    return data
