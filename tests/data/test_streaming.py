"""Streaming training data: chunk order, file reads, prefetch shutdown, streamed == resident,
the automatic placement, DDP streaming equal to one process."""

from __future__ import annotations

import argparse
import math
import os
import socket
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DistributedSampler

from easyfirst.cli.options import add_data_args, add_train_args, run_config
from easyfirst.data import batches, load_dataset
from easyfirst.data.base import ArraySplit, DatasetBundle
from easyfirst.data.batches import DeviceBatches, StreamedBatches, place_batches
from easyfirst.data.streaming import (
    PREFETCH_THREAD,
    ChunkCache,
    ChunkShuffleSampler,
    RowReader,
    chunk_order,
)
from easyfirst.training.config import HOW_FIELDS, RunConfig
from easyfirst.training.engine import Engine
from easyfirst.training.loop import train

CHUNK_BYTES = 4096  # 16-row chunks of the 8x8 float32 digits
CHUNK_ROWS = CHUNK_BYTES // 256
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def digits() -> DatasetBundle:
    return load_dataset("digits")


@pytest.fixture
def cached(digits, tmp_path) -> DatasetBundle:
    """digits with its training inputs in a ``.npy`` file, opened as a read-only memmap."""
    return _memmap_bundle(digits, tmp_path / "train.npy")


@pytest.fixture(autouse=True)
def _small_chunks(monkeypatch):
    monkeypatch.setattr(batches, "CHUNK_BYTES", CHUNK_BYTES)
    monkeypatch.setattr(batches, "_SAID", set())


def _memmap_bundle(bundle: DatasetBundle, path: Path) -> DatasetBundle:
    np.save(path, np.asarray(bundle.train.inputs, dtype=np.float32))
    split = ArraySplit(np.load(path, mmap_mode="r"), bundle.train.targets, bundle.train.ids)
    return replace(bundle, train=split)


def _cfg(**kw) -> RunConfig:
    base = {"model": "mlp", "model_options": {"hidden": [16], "dropout": 0.1}, "epochs": 2,
            "batch_size": 32, "device": "cpu", "dtype": "float64", "seed": 5}
    return RunConfig(**{**base, **kw})


def _chunk_samplers(n: int, seeds: list[int]):
    return lambda d: [ChunkShuffleSampler(n, CHUNK_ROWS, window=batches.WINDOW, seed=s,
                                          num_replicas=d.world_size, rank=d.rank) for s in seeds]


def _prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == PREFETCH_THREAD]


def test_chunk_order_is_a_seeded_permutation_of_whole_chunks():
    n, rows, window = 12 * 7, 7, 3
    order = chunk_order(n, rows, window=window, seed=1, epoch=0)
    assert sorted(order.tolist()) == list(range(n)) and order.dtype == np.int64
    assert np.array_equal(order, chunk_order(n, rows, window=window, seed=1, epoch=0))
    assert not np.array_equal(order, chunk_order(n, rows, window=window, seed=1, epoch=1))
    assert not np.array_equal(order, chunk_order(n, rows, window=window, seed=2, epoch=0))
    span = window * rows
    for start in range(0, n, span):  # each window holds `window` whole chunks, rows shuffled
        part = order[start:start + span]
        chunks, counts = np.unique(part // rows, return_counts=True)
        assert len(chunks) == window and (counts == rows).all()
        assert not np.array_equal(part, np.sort(part))
    short = chunk_order(100, 7, window=3, seed=0, epoch=4)  # a short last chunk
    assert sorted(short.tolist()) == list(range(100))


@pytest.mark.parametrize("world", [1, 2, 3])
def test_sampler_shards_one_global_order_for_every_world_size(world):
    n = 101
    full = np.resize(chunk_order(n, 8, window=2, seed=3, epoch=2), math.ceil(n / world) * world)
    parts = []
    for rank in range(world):
        s = ChunkShuffleSampler(n, 8, window=2, seed=3, num_replicas=world, rank=rank)
        s.set_epoch(2)
        parts.append(list(s))
        assert len(parts[-1]) == len(s) == math.ceil(n / world)
    assert np.array_equal(np.array(parts).T.reshape(-1), full)  # rank r at i * W + r


def test_reader_returns_exactly_the_rows_of_the_memmap(tmp_path):
    path = tmp_path / "rows.npy"
    np.save(path, np.random.default_rng(0).standard_normal((50, 1, 4, 3)).astype(np.float32))
    mm = np.load(path, mmap_mode="r")
    g = np.random.default_rng(1)
    index_sets = [np.arange(50), np.array([3]), np.array([9, 2, 2, 40, 41, 42, 0, 49]),
                  *(g.integers(0, 50, size) for size in (1, 7, 64))]
    for inputs in (mm, mm[7:40], torch.from_numpy(np.array(mm))):
        reader = RowReader(inputs)
        assert (reader.location is not None) == isinstance(inputs, np.memmap)
        ref = np.asarray(inputs)
        cache = ChunkCache(reader, chunk_rows=6, capacity=2)
        for idx in index_sets:
            idx = idx[idx < len(ref)]
            out, via_chunks = reader.empty(len(idx)), reader.empty(len(idx))
            reader.rows(idx, out)
            cache.gather(idx, via_chunks)
            assert np.array_equal(out, ref[idx]) and np.array_equal(via_chunks, ref[idx])
        reader.close()
    assert RowReader(mm[::2]).location is None  # not contiguous: copied instead


def test_each_chunk_is_read_once_per_epoch_and_batches_are_the_rows(cached):
    split, n = cached.train, len(cached.train)
    data = place_batches(split, CPU, torch.float32, max_bytes=0, batch_size=64)
    assert isinstance(data, StreamedBatches) and data.chunk_rows == CHUNK_ROWS
    for rank in range(2):  # rank `rank` of 2, local batch 32
        sampler = data.sampler(7, 2, rank)
        sampler.set_epoch(1)
        order = data.indices(list(sampler)).view(1, -1)
        data.reader.reads, data.cache.slots = 0, type(data.cache.slots)()
        with data.epoch(order, 32, chunked=True):
            for s in range(0, order.shape[1], 32):
                idx = order[0, s:s + 32]
                x, y = data.get(idx)
                assert torch.equal(x, torch.from_numpy(np.asarray(split.inputs)[idx.numpy()]))
                assert torch.equal(y, split.targets[idx])
        # every chunk once; rank 1's last row is padding (the order's first row) read again
        assert data.reader.reads == math.ceil(n / CHUNK_ROWS) + rank
    assert not _prefetch_threads()


def test_prefetch_stops_after_runs_errors_and_a_truncated_file(cached, tmp_path):
    train(cached, _cfg(epochs=1, data_placement="stream"), progress=False, record=False)
    assert not _prefetch_threads()
    calls = []

    def fail_on_third_batch(x, generator):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return x

    with pytest.raises(KeyboardInterrupt):
        train(cached, _cfg(data_placement="stream"), progress=False, augment=fail_on_third_batch)
    assert not _prefetch_threads()
    path = tmp_path / "short.npy"
    np.save(path, np.zeros((40, 4), np.float32))
    split = ArraySplit(np.load(path, mmap_mode="r"), [0] * 40, [str(i) for i in range(40)])
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 100)
    data = place_batches(split, CPU, torch.float32, max_bytes=0, placement="stream")
    order = torch.arange(40).view(1, -1)
    with pytest.raises(OSError, match=r"Expected rows .* got end of file"), data.epoch(
            order, 40, chunked=False):
        data.get(order[0])
    assert not _prefetch_threads()


@pytest.mark.parametrize("order", ["chunks", "chunks-stacked", "given"])
def test_streamed_equals_resident_bit_for_bit(digits, cached, order, capsys):
    """The same order streamed from the file (chunk cache, or row reads for a given sampler)
    and resident on the device: identical losses, metrics, dynamics and test logits."""
    cfg = _cfg()
    seeds = [5, 8] if order == "chunks-stacked" else [5]
    if order == "given":
        given = lambda d: [DistributedSampler(digits.train, 1, 0, shuffle=True, seed=5)]  # noqa: E731
        factories = [given, given]
    else:  # the streamed run's own order, given to the resident run
        factories = [None, _chunk_samplers(len(digits.train), seeds)]
    runs = [Engine(bundle, replace(cfg, data_placement=placement), seeds,
                   stacked=len(seeds) > 1, progress=False, samplers=factory).run()
            for bundle, placement, factory in zip((cached, digits), ("stream", "resident"),
                                                  factories, strict=True)]
    assert "streaming from" in capsys.readouterr().err
    for a, b in zip(*runs, strict=True):
        assert a.metrics == b.metrics
        assert torch.equal(a.test_logits, b.test_logits)
        for key, value in a.dynamics.to_dict().items():
            if isinstance(value, torch.Tensor):
                torch.testing.assert_close(value, b.dynamics.to_dict()[key], rtol=0, atol=0,
                                           equal_nan=True, msg=key)


def test_auto_placement_its_one_line_and_the_flag(digits, cached, capsys, tmp_path):
    data = place_batches(cached.train, CPU, torch.float32, max_bytes=1 << 30)
    assert type(data) is DeviceBatches and data.resident  # fits: as before
    assert type(data.sampler(0, 1, 0)) is DistributedSampler
    data = place_batches(cached.train, CPU, torch.float32, max_bytes=1000)
    assert isinstance(data, StreamedBatches) and isinstance(data.sampler(0, 1, 0),
                                                            ChunkShuffleSampler)
    data = place_batches(digits.train, CPU, torch.float32, max_bytes=1000)  # in memory already
    assert type(data) is DeviceBatches and not data.resident
    path = cached.train.inputs.filename
    assert capsys.readouterr().err.splitlines() == [  # a note: on stderr
        "training data: 314.2 KiB <= preload limit 1.0 GiB: resident on cpu",
        f"training data: 314.2 KiB > preload limit 1000 B: streaming from {path} in "
        f"{CHUNK_ROWS}-row chunks (4.0 KiB), window 8, prefetch 4",
        "training data: 314.2 KiB > preload limit 1000 B: gathered per batch from host memory",
    ]
    place_batches(cached.train, CPU, torch.float32, max_bytes=1000)
    assert capsys.readouterr().err == ""  # once per process
    with pytest.raises(ValueError, match="^Unknown data placement 'disk'. Available: auto, "
                                         "resident, stream.$"):
        _cfg(data_placement="disk")
    assert "data_placement" in HOW_FIELDS
    assert _cfg(data_placement="stream").identity() == _cfg().identity()
    parser = argparse.ArgumentParser()
    add_data_args(parser)
    add_train_args(parser, epochs=1)
    args = parser.parse_args(["--data-placement", "stream", "--model", "mlp", "--device", "cpu",
                              "--out", str(tmp_path / "out")])
    assert run_config(args, digits)[0].data_placement == "stream"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


DDP_SCRIPT = """
import os, sys
import numpy as np, torch
from dataclasses import replace
from easyfirst.cli.options import add_data_args, add_train_args, run_config
from easyfirst.data import batches, load_dataset
from easyfirst.data.base import ArraySplit
from easyfirst.training.config import RunConfig
from easyfirst.training.loop import train

batches.CHUNK_BYTES = {chunk_bytes}
digits = load_dataset("digits")
split = ArraySplit(np.load(sys.argv[1], mmap_mode="r"), digits.train.targets, digits.train.ids)
cfg = RunConfig(model="small_cnn", model_options={{"widths": [8, 16]}}, epochs=2, batch_size=32,
                device="cpu", dtype="float64", seed=4, preload_max_bytes=0, lr=0.01)
res = train(replace(digits, train=split), cfg, progress=False)
ranked = torch.distributed.is_initialized()
if not ranked or torch.distributed.get_rank() == 0:
    torch.save({{"metrics": res.metrics, "test_logits": res.test_logits,
                "dynamics": res.dynamics.to_dict()}}, sys.argv[2])
if ranked:  # end as the easyfirst command does under torchrun: leave the group, skip the
    torch.distributed.destroy_process_group()  # teardown (gloo aborts a finished rank now
    sys.stdout.flush(); sys.stderr.flush(); os._exit(0)  # and then at interpreter exit)
"""


@pytest.mark.slow
def test_torchrun_two_streaming_processes_equal_one(digits, tmp_path):
    """auto streams the memmap (preload limit 0) in the chunk-shuffled order; 2 gloo ranks
    each read the chunks and keep their rows: the run of one process (BatchNorm included)."""
    _memmap_bundle(digits, tmp_path / "train.npy")
    script = tmp_path / "run.py"
    script.write_text(DDP_SCRIPT.format(chunk_bytes=CHUNK_BYTES))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    data, out = str(tmp_path / "train.npy"), [tmp_path / "one.pt", tmp_path / "two.pt"]
    one = subprocess.run([sys.executable, str(script), data, str(out[0])], env=env,
                         capture_output=True, text=True)
    assert one.returncode == 0, one.stderr[-3000:]
    assert "streaming from" in one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                          f"--master_port={_free_port()}", str(script), data, str(out[1])],
                         env=env, capture_output=True, text=True)
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = (torch.load(p, weights_only=False) for p in out)
    for ra, rb in zip(a["metrics"], b["metrics"], strict=True):
        assert ra.keys() == rb.keys()
        for key in ra:  # epoch loss sums add float32 losses in another order
            assert ra[key] == pytest.approx(rb[key], rel=1e-6 if "loss" in key else 1e-12), key
    torch.testing.assert_close(a["test_logits"], b["test_logits"], rtol=1e-9, atol=1e-9)
    for key, value in a["dynamics"].items():
        if isinstance(value, torch.Tensor):
            torch.testing.assert_close(value, b["dynamics"][key], rtol=1e-9, atol=1e-9,
                                       equal_nan=True, msg=key)
    assert a["metrics"][-1]["train_accuracy"] > 0.5  # it learned
