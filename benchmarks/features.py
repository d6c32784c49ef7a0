"""Feature benchmarks: batched log-Mel vs a per-clip Python loop.

Run: ``python benchmarks/features.py [--clips 256] [--threads 1] [--device cpu]``.
Prints clips/s, x real time and the batched / per-clip speed ratio. (The feature-cache
benchmark is added alongside as its own function.)
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--preset", default="panns16k", choices=sorted(LOGMEL_PRESETS))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
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


if __name__ == "__main__":
    main()
