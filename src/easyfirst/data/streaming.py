"""Streaming a split's inputs in contiguous chunks: the chunk-shuffled order, a row reader
that uses plain file reads, a bounded chunk cache and a background prefetch thread.

Rows are read in chunks of ``chunk_rows`` consecutive rows. :func:`chunk_order` visits the
chunks in a seeded random order and shuffles the rows within each run of ``window`` chunks
(of that order), so one epoch reads every chunk once while each batch mixes rows from
``window`` places in the file. Data written in a sorted order (e.g. by class folder) mixes
only as well as ``window`` chunks do: write such caches shuffled, or use a larger window.

:class:`RowReader` reads a file-backed ``np.memmap`` (a ``.npy`` feature cache) with
``readinto`` at file offsets into reusable numpy buffers and never touches the mapping, so
the file's pages live in the OS page cache (shared by every process on the host that reads
the same file, e.g. DDP ranks) and not in this process's resident memory.
"""

from __future__ import annotations

import math
import queue
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler

PREFETCH_THREAD = "easyfirst-prefetch"


def chunk_order(n: int, chunk_rows: int, *, window: int, seed: int, epoch: int) -> np.ndarray:
    """A permutation of ``range(n)`` (int64): the chunks of ``chunk_rows`` consecutive rows in a
    random order, rows shuffled within each run of ``window`` chunks; it depends on
    ``(seed, epoch)`` only (``torch.Generator().manual_seed(seed + epoch)``).

    Example:
        >>> chunk_order(10, 3, window=2, seed=0, epoch=0)  # {0..2, 3..5} shuffled, then {6..9}
        array([0, 3, 1, 2, 4, 5, 9, 7, 8, 6])
    """
    g = torch.Generator().manual_seed(seed + epoch)
    chunks = torch.randperm(math.ceil(n / chunk_rows), generator=g).numpy()
    rows = chunks[:, None] * chunk_rows + np.arange(chunk_rows)  # (chunks, chunk_rows)
    group = np.broadcast_to((np.arange(len(chunks)) // window)[:, None], rows.shape)
    keep = rows < n  # the last chunk may be short
    rows, group = rows[keep], group[keep]
    key = torch.rand(len(rows), generator=g, dtype=torch.float64).numpy()
    return rows[np.lexsort((key, group))].astype(np.int64)


class ChunkShuffleSampler(Sampler[int]):
    """:func:`chunk_order`, sharded like ``DistributedSampler``: the global order is the same for
    every world size (padded to a multiple of it by repeating its start) and rank ``r`` takes
    positions ``i * num_replicas + r``. Call :meth:`set_epoch` before each epoch."""

    def __init__(self, n: int, chunk_rows: int, *, window: int, seed: int,
                 num_replicas: int = 1, rank: int = 0) -> None:
        self.n, self.chunk_rows, self.window, self.seed = n, chunk_rows, window, seed
        self.num_replicas, self.rank, self.epoch = num_replicas, rank, 0
        self.num_samples = math.ceil(n / num_replicas)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        order = chunk_order(self.n, self.chunk_rows, window=self.window, seed=self.seed,
                            epoch=self.epoch)
        padded = np.resize(order, self.num_samples * self.num_replicas)
        return iter(padded[self.rank::self.num_replicas].tolist())


def file_location(inputs: Any) -> tuple[Path, int] | None:
    """``(file, byte offset of row 0)`` of a C-contiguous file-backed ``np.memmap`` (or a view
    of one), else None."""
    if not isinstance(inputs, np.memmap) or inputs.filename is None or not (
            inputs.flags.c_contiguous):
        return None
    root: Any = inputs
    while isinstance(root.base, np.ndarray):
        root = root.base
    if not isinstance(root, np.memmap) or root.base is None or root.offset is None:
        return None
    return Path(inputs.filename), int(root.offset) + inputs.ctypes.data - root.ctypes.data


class RowReader:
    """Reads rows of ``inputs (N, ...)`` into numpy buffers: plain file reads at offsets for a
    file-backed memmap (:func:`file_location`), copies for arrays and tensors in memory.

    ``reads`` counts the contiguous ranges read. Open files close with :meth:`close`.
    """

    def __init__(self, inputs: Any) -> None:
        self.location = file_location(inputs)
        array = inputs.detach().cpu().numpy() if isinstance(inputs, torch.Tensor) else inputs
        self.array = None if self.location is not None else array
        self.n, self.row_shape, self.dtype = len(array), tuple(array.shape[1:]), array.dtype
        self.row_bytes = math.prod(self.row_shape) * self.dtype.itemsize
        self.reads = 0
        self._file: Any = None

    def describe(self) -> str:
        return f"{self.location[0]}" if self.location is not None else "memory"

    def empty(self, rows: int) -> np.ndarray:
        return np.empty((rows, *self.row_shape), self.dtype)

    def read(self, start: int, stop: int, out: np.ndarray) -> None:
        """Rows ``start:stop`` into ``out`` (C-contiguous, ``stop - start`` rows)."""
        self.reads += 1
        if self.array is not None:
            out[:] = self.array[start:stop]
            return
        assert self.location is not None
        path, offset = self.location
        if self._file is None:
            self._file = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by close()
        view, done = out.data.cast("B"), 0
        self._file.seek(offset + start * self.row_bytes)
        while done < len(view):
            got = self._file.readinto(view[done:])
            if not got:
                raise OSError(f"Expected rows {start}:{stop} of {self.n} in {path}; got end of "
                              "file (truncated?). Delete the cache file and rebuild it.")
            done += got

    def rows(self, idx: np.ndarray, out: np.ndarray) -> None:
        """Rows ``idx`` (any order, repeats allowed) into ``out``, read as contiguous runs."""
        unique, inverse = np.unique(idx, return_inverse=True)
        buf = self.empty(len(unique))
        cuts = [0, *(np.flatnonzero(np.diff(unique) != 1) + 1).tolist(), len(unique)]
        for a, b in zip(cuts[:-1], cuts[1:], strict=True):
            self.read(int(unique[a]), int(unique[a]) + b - a, buf[a:b])
        np.take(buf, inverse.reshape(-1), axis=0, out=out)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class ChunkCache:
    """The last ``capacity`` chunks read (least recently used out), in reused buffers."""

    def __init__(self, reader: RowReader, chunk_rows: int, capacity: int = 1) -> None:
        self.reader, self.chunk_rows, self.capacity = reader, chunk_rows, capacity
        self.slots: OrderedDict[int, np.ndarray] = OrderedDict()
        self.staging = reader.empty(0)

    def chunk(self, c: int) -> np.ndarray:
        if c in self.slots:
            self.slots.move_to_end(c)
            return self.slots[c]
        full = len(self.slots) >= self.capacity
        buf = self.slots.popitem(last=False)[1] if full else self.reader.empty(self.chunk_rows)
        start = c * self.chunk_rows
        stop = min(start + self.chunk_rows, self.reader.n)
        self.reader.read(start, stop, buf[:stop - start])
        self.slots[c] = buf
        return buf

    def gather(self, idx: np.ndarray, out: np.ndarray) -> None:
        """Rows ``idx`` into ``out``, from the chunks they lie in (through a reused staging
        buffer: nothing is allocated per batch)."""
        if len(self.staging) < len(idx):
            self.staging = self.reader.empty(len(idx))
        chunks = idx // self.chunk_rows
        for c in np.unique(chunks).tolist():
            mine = np.flatnonzero(chunks == c)
            part = self.staging[:len(mine)]
            np.take(self.chunk(c), idx[mine] - c * self.chunk_rows, axis=0, out=part)
            out[mine] = part


_END = object()


class Prefetch:
    """Runs ``items`` in a daemon thread, up to ``depth`` items ahead; :meth:`get` returns them
    in turn and re-raises the thread's exception. :meth:`close` stops and joins the thread
    (also mid-way); use it as a context manager."""

    def __init__(self, items: Iterable[Any], depth: int) -> None:
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(items,), name=PREFETCH_THREAD,
                                       daemon=True)
        self.thread.start()

    def _put(self, item: Any) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, items: Iterable[Any]) -> None:
        try:
            for item in items:
                if not self._put(item):
                    return
            self._put(_END)
        except BaseException as e:  # handed to the consumer
            self._put(e)

    def get(self) -> Any:
        item = self.queue.get()
        if item is _END:
            raise RuntimeError("Expected another prefetched batch; got the end of the epoch's "
                               "order. Ask for the epoch's batches in turn, no more.")
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        self.stop.set()
        self.thread.join()

    def __enter__(self) -> Prefetch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
