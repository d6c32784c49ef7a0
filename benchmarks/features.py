"""Feature benchmarks: batched log-Mel vs a per-clip Python loop.

Run: ``python benchmarks/features.py [--clips 256] [--threads 1] [--device cpu]``.
Prints clips/s, x real time and the batched / per-clip speed ratio, then the feature
cache's speed-up: loading a dataset the first time (decode, mix noise, log-Mel, write the
memory-mapped cache) against loading it again (cache hit). ``--dataset`` picks it
(default: the embedded ``synthkws``; ``fsdd`` with ``--root``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable

import torch

from easyfirst.audio import LOGMEL_PRESETS, log_mel_spectrogram


def _timeit(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Best wall time of ``repeats`` runs after one warm-up, in seconds."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best


def bench_logmel(
    *,
    num_clips: int = 256,
    seconds: float = 1.0,
    preset: str = "panns16k",
    device: str = "cpu",
    repeats: int = 3,
) -> dict[str, float]:
    """Throughput of one batched ``log_mel_spectrogram`` call vs a loop over clips.

    Args:
        num_clips: Number of synthetic noise clips ``B``.
        seconds: Length of each clip.
        preset: A :data:`LOGMEL_PRESETS` name.
        device: Torch device string.
        repeats: Timed runs (the best is kept) after one warm-up.

    Returns:
        ``{"batched_clips_per_s", "loop_clips_per_s", "batched_x_realtime",
        "loop_x_realtime", "ratio"}``.
    """
    params = LOGMEL_PRESETS[preset]
    dev = torch.device(device)
    num_samples = int(seconds * params["sample_rate"])
    gen = torch.Generator().manual_seed(0)
    waves = (0.1 * torch.randn(num_clips, num_samples, generator=gen)).to(dev)  # (B, T)

    batched = _timeit(lambda: log_mel_spectrogram(waves, **params), dev, repeats)
    loop = _timeit(lambda: [log_mel_spectrogram(w, **params) for w in waves], dev, repeats)
    audio_s = num_clips * seconds
    return {
        "batched_clips_per_s": num_clips / batched,
        "loop_clips_per_s": num_clips / loop,
        "batched_x_realtime": audio_s / batched,
        "loop_x_realtime": audio_s / loop,
        "ratio": loop / batched,
    }


def bench_cache(dataset: str = "synthkws", **options: object) -> dict[str, float]:
    """Seconds to load ``dataset`` with a cold cache, then with a warm one, and the ratio."""
    from easyfirst.data import load_dataset

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        bundle = load_dataset(dataset, cache_dir=tmp, progress=False, **options)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        load_dataset(dataset, cache_dir=tmp, progress=False, **options)
        warm = time.perf_counter() - start
    clips = sum(len(s) for s in (bundle.train, bundle.dev, bundle.test) if s is not None)
    return {"clips": clips, "cold_s": cold, "warm_s": warm, "ratio": cold / warm}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--preset", default="panns16k", choices=sorted(LOGMEL_PRESETS))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dataset", default="synthkws", help="dataset for the cache benchmark")
    parser.add_argument("--root", default=None, help="its local folder, if it needs one")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    r = bench_logmel(
        num_clips=args.clips,
        seconds=args.seconds,
        preset=args.preset,
        device=args.device,
        repeats=args.repeats,
    )
    print(
        f"log-Mel {args.preset}, {args.clips} x {args.seconds:g} s clips, device={args.device}, "
        f"threads={args.threads}"
    )
    print(
        f"  batched  : {r['batched_clips_per_s']:9.1f} clips/s  "
        f"{r['batched_x_realtime']:8.1f} x real time"
    )
    print(
        f"  per-clip : {r['loop_clips_per_s']:9.1f} clips/s  "
        f"{r['loop_x_realtime']:8.1f} x real time"
    )
    print(f"  ratio batched / per-clip: {r['ratio']:.2f}x")
    c = bench_cache(args.dataset, **({"root": args.root} if args.root else {}))
    print(f"feature cache, {args.dataset} ({c['clips']:.0f} clips)")
    print(f"  first load (build cache): {c['cold_s']:7.2f} s")
    print(f"  second load (cache hit) : {c['warm_s']:7.2f} s")
    print(f"  ratio: {c['ratio']:.0f}x")


if __name__ == "__main__":
    main()
