"""Streaming training data: throughput against the in-memory path, and bounded memory on a
feature cache three times larger than the process may hold.

Run (one process; (b) starts one child process)::

    python benchmarks/streaming.py            # 4-8 min on a 2-core CPU, ~7 GB of disk
    python benchmarks/streaming.py --quick    # ~3 min, ~3 GB of disk

(a) Throughput when the model is the bottleneck: ``small_cnn`` (widths 8, 16) on log-Mel
    sized inputs (1, 64, 101) float32, batch 64, from a ``.npy`` cache in a temp folder.
    ``resident``: the split in memory, batches gathered in place; ``stream``: read from the
    file in contiguous chunks by the prefetch thread (chunk-shuffled order). Training
    samples/s over the epochs after the first (a warm-up), best of ``--repeats`` runs of
    each, interleaved; the ratio stream / resident (target >= 0.8).
(b) Bounded memory: a synthetic (N, 1, 64, 101) float32 cache of ``--cache-gb`` GB is
    written to a temp folder, and a child process trains one epoch on it (``mlp`` with one
    hidden layer of 16, batch 256, ``data_placement="auto"``: the cache exceeds the 2 GiB
    preload limit, so it streams) under ``RLIMIT_DATA`` set to a third of the cache, before
    torch is imported. ``RLIMIT_DATA`` bounds the heap and every private writable mapping;
    a read-only file mapping does not count, so the memmap opens (``RLIMIT_AS`` would refuse
    its address space) while copying the data in cannot succeed: the child checks that a
    resident copy is refused. It reports its peak RSS, ``VmHWM`` (``ru_maxrss`` is shown
    too: Linux carries the forking parent's high-water mark into it across ``exec``, so it
    reads at least this benchmark process's peak), against the stated bound: baseline RSS
    (after a warm-up run of the same model on 2048 rows in memory) + cached chunks x chunk
    bytes + (prefetch depth + 4) batches (the ring of depth + 2, the staging batch, one
    spare) + model and Adam state (4 x parameters) + the epoch's order (128 B per row: the
    sampler's list, its tensor, the chunk order's temporaries). It also reports how much
    of the cache's mapping is resident (0: the reads never touch it). The cache is deleted
    afterwards.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from easyfirst.data import batches
from easyfirst.data.base import ArraySplit, DatasetBundle
from easyfirst.data.batches import StreamedBatches
from easyfirst.training.config import RunConfig
from easyfirst.training.loop import train

SHAPE = (1, 64, 101)  # a 1 s clip at 16 kHz, 64 mel bins, 10 ms hop
CLASSES = 10
ROW_BYTES = math.prod(SHAPE) * 4


def write_cache(path: Path, rows: int, *, block: int = 2048) -> None:
    """A ``.npy`` of ``rows`` float32 rows of ``SHAPE``, written with plain file writes."""
    base = np.random.default_rng(0).standard_normal((block, *SHAPE), dtype=np.float32)
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False,
                                                 "shape": (rows, *SHAPE)})
        for start in range(0, rows, block):
            f.write((base[:min(block, rows - start)] + np.float32(start / rows)).tobytes())


def bundle_of(inputs: Any) -> DatasetBundle:
    n = len(inputs)
    targets = np.random.default_rng(1).integers(0, CLASSES, n)
    split = ArraySplit(inputs, targets, [str(i) for i in range(n)])
    return DatasetBundle("synthetic-logmel", split, None, None, [str(c) for c in range(CLASSES)])


class EpochClock:
    def __init__(self) -> None:
        self.ends: list[float] = []

    def __call__(self, epoch: int, row: Any) -> None:
        self.ends.append(time.perf_counter())


def samples_per_s(bundle: DatasetBundle, cfg: RunConfig) -> float:
    """Training samples/s over the epochs after the first."""
    clock = EpochClock()
    train(bundle, cfg, record=False, progress=False, on_epoch_end=clock)
    return len(bundle.train) * (cfg.epochs - 1) / (clock.ends[-1] - clock.ends[0])


def throughput(folder: Path, rows: int, epochs: int, repeats: int,
               log: Any) -> dict[str, Any]:
    path = folder / "throughput.npy"
    write_cache(path, rows)
    streamed = bundle_of(np.load(path, mmap_mode="r"))
    resident = bundle_of(torch.from_numpy(np.load(path)))
    cfg = RunConfig(model="small_cnn", model_options={"widths": [8, 16]}, epochs=epochs,
                    batch_size=64, device="cpu", precision="fp32")
    rates: dict[str, list[float]] = {"resident": [], "stream": []}
    for _ in range(repeats):
        for placement, bundle in (("resident", resident), ("stream", streamed)):
            rate = samples_per_s(bundle, replace(cfg, data_placement=placement))
            rates[placement].append(rate)
            log(f"  {placement:<8} {rate:8.1f} samples/s")
    path.unlink()
    best = {k: max(v) for k, v in rates.items()}
    return {"rows": rows, "epochs": epochs, "runs": rates, "resident": best["resident"],
            "stream": best["stream"], "ratio": best["stream"] / best["resident"]}


CHILD = ("import resource, sys; limit = int(sys.argv[1]); "
         "resource.setrlimit(resource.RLIMIT_DATA, (limit, limit)); "
         "sys.path.insert(0, sys.argv[2]); import streaming; "
         "sys.exit(streaming.memory_child(sys.argv[3], limit, int(sys.argv[4])))")


def _status(field: str) -> int:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``RssAnon``, ...) in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _mapped_rss(path: str) -> int:
    """Resident bytes of this process's mappings of ``path`` (the memmap of the cache)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and not head[0].endswith(":"):
            inside = line.rstrip().endswith(path)
        elif inside and line.startswith("Rss:"):
            total += int(head[1]) * 1024
    return total


def memory_child(path: str, limit: int, threads: int) -> int:
    """(b) in the child: train one epoch streaming ``path`` and print one JSON line."""
    torch.set_num_threads(threads)
    mm = np.load(path, mmap_mode="r")
    try:
        np.array(mm)
        refused = "no (the limit did not hold)"
    except MemoryError:
        refused = "yes (MemoryError)"
    bundle = bundle_of(mm)
    cfg = RunConfig(model="mlp", model_options={"hidden": [16]}, epochs=1, batch_size=256,
                    device="cpu", precision="fp32")
    train(bundle_of(np.zeros((2048, *SHAPE), np.float32)), cfg, record=False, progress=False)
    data = StreamedBatches(bundle.train, torch.device("cpu"), torch.float32,
                           chunk_bytes=batches.CHUNK_BYTES, window=batches.WINDOW,
                           depth=batches.DEPTH, batch_size=cfg.batch_size)
    baseline = _status("VmRSS")
    peak_before = _status("VmHWM")
    t0 = time.perf_counter()
    res = train(bundle, cfg, record=False, progress=False)
    seconds = time.perf_counter() - t0
    params = sum(p.numel() * p.element_size() for p in res.model.parameters())
    parts = {"baseline": baseline,
             "chunks": data.cache_chunks(1) * data.chunk_rows * data.reader.row_bytes,
             "batches": (batches.DEPTH + 4) * cfg.batch_size * data.reader.row_bytes,
             "model": 4 * params, "order": 128 * len(mm)}
    print(json.dumps({"peak_rss": _status("VmHWM"),
                      "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                      "peak_rss_before_training": peak_before,
                      "bound": sum(parts.values()), "parts": parts, "seconds": seconds,
                      "rows": len(mm), "resident_copy_refused": refused,
                      "cache_chunks": data.cache_chunks(1), "chunk_rows": data.chunk_rows,
                      "end": {"rss": _status("VmRSS"), "anon": _status("RssAnon"),
                              "file": _status("RssFile"), "cache_mapping": _mapped_rss(path)},
                      "loss": res.metrics[-1]["train_loss"]}), flush=True)
    return 0


def bounded_memory(folder: Path, cache_gb: float, threads: int, log: Any) -> dict[str, Any]:
    rows = int(cache_gb * 1e9 // ROW_BYTES)
    path = folder / "cache.npy"
    t0 = time.perf_counter()
    try:
        write_cache(path, rows)
        size = path.stat().st_size
        limit = size // 3
        log(f"  wrote {path.name}: {rows} rows, {size / 1e9:.2f} GB in "
            f"{time.perf_counter() - t0:.0f}s; child RLIMIT_DATA {limit / 1e9:.2f} GB "
            f"({size / limit:.1f}x smaller than the cache)")
        here = str(Path(__file__).resolve().parent)
        child = subprocess.run([sys.executable, "-c", CHILD, str(limit), here, str(path),
                                str(threads)], capture_output=True, text=True)
    finally:
        path.unlink(missing_ok=True)
    if child.returncode != 0:
        raise RuntimeError(f"the memory child failed: {child.stderr[-2000:]}")
    for line in child.stdout.splitlines()[:-1]:
        log(f"  child: {line}")
    out = json.loads(child.stdout.splitlines()[-1])
    out.update(cache_bytes=size, limit=limit)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes (~3 min)")
    p.add_argument("--rows", type=int, default=None, help="(a) training rows")
    p.add_argument("--epochs", type=int, default=2, help="(a) epochs per run (first: warm-up)")
    p.add_argument("--repeats", type=int, default=3, help="(a) runs per placement")
    p.add_argument("--cache-gb", type=float, default=None, help="(b) cache size in GB")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    p.add_argument("--dir", default=None, help="temp folder for the caches (default: $TMPDIR)")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = p.parse_args(argv)
    rows = args.rows or (1024 if args.quick else 3072)
    cache_gb = args.cache_gb or (3.0 if args.quick else 6.6)
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()

    def log(msg: str) -> None:
        print(msg, flush=True)

    log(f"cpu ({platform.machine()}), torch {torch.__version__}, {threads} threads, "
        f"{os.cpu_count()} CPUs, python {sys.version.split()[0]}; chunks of "
        f"{batches.CHUNK_BYTES >> 20} MiB, window {batches.WINDOW}, prefetch {batches.DEPTH}")
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        log(f"(a) throughput, small_cnn [8, 16], {rows} rows of {SHAPE} float32, batch 64:")
        a = throughput(Path(tmp), rows, args.epochs, args.repeats, log)
        log(f"(b) bounded memory, a {cache_gb:g} GB cache:")
        b = bounded_memory(Path(tmp), cache_gb, threads, log)
    ok = "PASS" if a["ratio"] >= 0.8 else "MISS"
    log("")
    log(f"(a) resident {a['resident']:.1f} samples/s, stream {a['stream']:.1f} samples/s: "
        f"stream / resident {a['ratio']:.2f} (target >= 0.8: {ok})")
    gb = 1e9
    parts = ", ".join(f"{k} {v / 1e6:.0f} MB" for k, v in b["parts"].items())
    held = "PASS" if b["peak_rss"] <= b["bound"] else "MISS"
    log(f"(b) cache {b['cache_bytes'] / gb:.2f} GB ({b['rows']} rows), RLIMIT_DATA "
        f"{b['limit'] / gb:.2f} GB, resident copy refused: {b['resident_copy_refused']}; one "
        f"epoch in {b['seconds']:.0f}s ({b['rows'] / b['seconds']:.0f} samples/s)")
    log(f"    peak RSS {b['peak_rss'] / 1e6:.0f} MB <= bound {b['bound'] / 1e6:.0f} MB "
        f"({parts}; {b['cache_chunks']} chunks of {b['chunk_rows']} rows): {held}")
    end = ", ".join(f"{k} {v / 1e6:.0f} MB" for k, v in b["end"].items())
    log(f"    peak before training {b['peak_rss_before_training'] / 1e6:.0f} MB; after "
        f"training: {end}; ru_maxrss {b['ru_maxrss'] / 1e6:.0f} MB (this process "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6:.0f} MB)")
    log(f"total {time.perf_counter() - t_start:.0f}s")
    if args.json:
        Path(args.json).write_text(json.dumps({"threads": threads, "a": a, "b": b}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
