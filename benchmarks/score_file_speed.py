"""Score files at N = 2 M: the CSV's write and read against the ``.npz``'s, in paired rounds.

Run: ``python benchmarks/score_file_speed.py [--n 2000000] [--rounds 5] [--json OUT]``
(one process, ~1 min on a 2-core CPU). Each round writes then reads the same scores as CSV and
as ``.npz`` through ``Scores.save``/``Scores.load`` (which validate everything and compute the
ranks), for two kinds of scores: "cumacc", a 3-seed x 10-epoch CumAcc (31 values, short
numbers, ties everywhere), and "loss", a continuous score (N distinct values of 17 digits, the
longest rows). The format timed first alternates from round to round, so drift in the
machine's speed falls on both. It prints the median wall seconds of write, read and
write+read per format and kind, and the CSV's write+read over the ``.npz``'s (one ratio per
round, and their median); the target is a CSV write+read <= 2 s at 2 M samples.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from scale import make_scores  # same folder: one definition of the benchmark's scores

from easyfirst.scores import Scores

KINDS = ("cumacc", "loss")
FORMATS = ("csv", "npz")
TARGET_S = 2.0  # CSV write+read at 2 M samples (issue 28)


def write_read(scores: Scores, path: Path) -> tuple[float, float]:
    """Seconds to save ``scores`` to ``path`` and to load them back (checked equal)."""
    t0 = time.perf_counter()
    scores.save(path)
    t1 = time.perf_counter()
    back = Scores.load(path)
    t2 = time.perf_counter()
    assert back.values.tobytes() == scores.values.tobytes(), f"{path.name}: round trip changed"
    return t1 - t0, t2 - t1


def measure(n: int, rounds: int, folder: Path) -> dict[str, Any]:
    times: dict[str, dict[str, list[list[float]]]] = {
        k: {f: [] for f in FORMATS} for k in KINDS}
    for kind in KINDS:
        scores = make_scores(kind, n)
        write_read(scores, folder / "warm.csv")  # first-touch costs out of the timed rounds
        for r in range(rounds):
            for fmt in (FORMATS if r % 2 == 0 else FORMATS[::-1]):
                times[kind][fmt].append(list(write_read(scores, folder / f"{kind}.{fmt}")))
    sizes = {k: {f: (folder / f"{k}.{f}").stat().st_size for f in FORMATS} for k in KINDS}
    return {"times": times, "bytes": sizes}


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind, by_fmt in result["times"].items():
        row: dict[str, Any] = {}
        for fmt, pairs in by_fmt.items():
            row[fmt] = {"write": statistics.median(w for w, _ in pairs),
                        "read": statistics.median(r for _, r in pairs),
                        "total": statistics.median(w + r for w, r in pairs)}
        ratios = [sum(c) / sum(z) for c, z in zip(by_fmt["csv"], by_fmt["npz"], strict=True)]
        row["ratios"] = ratios
        row["ratio_median"] = statistics.median(ratios)
        out[kind] = row
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2_000_000, help="samples (default 2,000,000)")
    ap.add_argument("--rounds", type=int, default=5, help="paired rounds (default 5)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    print(f"# python benchmarks/score_file_speed.py --n {args.n} --rounds {args.rounds}   "
          f"({os.cpu_count()} CPUs, Python {platform.python_version()}, numpy "
          f"{np.__version__}, {time.strftime('%Y-%m-%d %H:%M')}, load average "
          f"{os.getloadavg()[0]:.1f})")
    with tempfile.TemporaryDirectory() as tmp:
        result = measure(args.n, args.rounds, Path(tmp))
    summary = summarise(result)
    print(f"score files, N = {args.n:,}: median wall seconds of {args.rounds} paired rounds")
    print(f"  {'':12} {'write':>6} {'read':>6} {'total':>6} {'size':>8}   csv/npz (total)")
    for kind, row in summary.items():
        for fmt in FORMATS:
            t = row[fmt]
            tail = (f"   {row['ratio_median']:.2f}x (rounds: "
                    + ", ".join(f"{x:.2f}" for x in row["ratios"]) + ")") if fmt == "csv" else ""
            print(f"  {kind + ' ' + fmt:12} {t['write']:6.2f} {t['read']:6.2f} {t['total']:6.2f} "
                  f"{result['bytes'][kind][fmt] / 1e6:6.1f}MB{tail}")
    worst = max(row["csv"]["total"] for row in summary.values())
    print(f"CSV write+read, slowest kind: {worst:.2f} s (target <= {TARGET_S:.1f} s at 2 M: "
          f"{'met' if worst <= TARGET_S else 'not met'}); load average at the end "
          f"{os.getloadavg()[0]:.1f}")
    if args.json:
        args.json.write_text(json.dumps({"n": args.n, "rounds": args.rounds, **result,
                                         "summary": summary}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
