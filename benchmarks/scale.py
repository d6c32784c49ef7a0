"""Scale: score files, orderings and the recorder at AudioSet size (N = 2 M training samples).

Run: ``python benchmarks/scale.py [--n 2000000] [--repeats 3]`` (one process; ~3 min on a
2-core CPU). For N samples it prints

- score files: write, read and write+read seconds (best of ``--repeats``; write includes the
  ranks that ``Scores.save`` computes) and the peak RSS of a fresh child process that does one
  write+read (``ru_maxrss`` at its end, next to its ``ru_maxrss`` right after imports), for
  easyfirst's CSV and ``.npz`` and for a same-process baseline: a plain Python ``csv``-module
  writer and reader of the same rows (what ``Scores`` did before), and the issue's figures
  (write 2.8 s, read 4.2 s, 937 MB peak) as "issue baseline";
- ``Scores.easy_to_hard`` for both tie rules against the previous code path (a stable
  ``np.argsort`` of the float keys), and ``summary``, ``ensemble`` of 3 seeds,
  ``check_ordering`` (against its previous ``np.unique`` check) and ``make_ordering``;
- ``OutcomeRecorder(N)``'s bytes per sample (every ``torch.Tensor`` in ``vars(rec)``), also
  with ``outcomes="all"`` where the recorder takes that keyword.

Scores: "cumacc" is a 3-seed x 10-epoch CumAcc (31 values, ties everywhere), "loss" a
continuous score (N distinct values).
"""

from __future__ import annotations

import argparse
import csv
import inspect
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from easyfirst.curriculum.ordering import check_ordering, make_ordering
from easyfirst.scores import Scores
from easyfirst.scoring.ensemble import ensemble

ISSUE = {"write": 2.8, "read": 4.2, "total": 7.0, "peak_mb": 937.0}  # issue 16, old Scores
FORMATS = ("csv-module", "csv", "npz")  # the baseline first


def make_scores(kind: str, n: int, seed: int = 0) -> Scores:
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 31, n) / 30 if kind == "cumacc" else rng.random(n)
    return Scores(values, higher_is_easier=kind == "cumacc",
                  meta={"scorer": kind, "seeds": [seed], "dataset_fingerprint": "bench"})


# -- the previous code paths (the same-process baselines) -------------------------------------
def previous_easy_to_hard(s: Scores) -> np.ndarray:
    key = -s.values if s.higher_is_easier else s.values
    if s.meta["tie_break"] == "dataset-order":
        return np.argsort(key, kind="stable")
    perm = np.random.default_rng(int(s.meta["tie_seed"])).permutation(s.num_samples)
    return perm[np.argsort(key[perm], kind="stable")]


def csv_module_write(s: Scores, path: Path) -> None:
    ranks = np.empty(s.num_samples, dtype=np.int64)
    ranks[previous_easy_to_hard(s)] = np.arange(s.num_samples)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write("# " + json.dumps(s.header(), sort_keys=True) + "\n")
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["index", "score", "rank"])
        writer.writerows(zip(range(s.num_samples), s.values.tolist(), ranks.tolist(),
                             strict=True))
        fh.flush()
        os.fsync(fh.fileno())


def csv_module_read(path: Path) -> Scores:
    with open(path, encoding="utf-8") as fh:
        header = json.loads(fh.readline()[2:])
        rows = list(csv.reader(fh))[1:]
    n = header["N"]
    values, seen = np.empty(n), np.zeros(n, dtype=bool)
    for row in rows:
        i, v = int(row[0]), float(row[1])
        if not 0 <= i < n or seen[i]:
            raise ValueError(f"index {i} out of range or repeated")
        seen[i] = True
        values[i] = v
    if not np.isfinite(values).all():
        raise ValueError("non-finite scores")
    meta = {k: v for k, v in header.items() if k not in ("format", "version", "N", "direction")}
    return Scores(values, higher_is_easier=header["direction"] == "higher_is_easier", meta=meta)


def write_read(fmt: str) -> tuple[Callable[[Scores, Path], Any], Callable[[Path], Scores]]:
    if fmt == "csv-module":
        return csv_module_write, csv_module_read
    return (lambda s, p: s.save(p)), (lambda p: Scores.load(p, expect_num_samples=None))


# -- measurements -----------------------------------------------------------------------------
def best(fn: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """The best wall and the best CPU seconds of ``repeats`` calls (CPU: the figure that other
    jobs on the machine disturb least; the code timed here runs on one thread)."""
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return min(wall), min(cpu)


def peak_rss(fmt: str, kind: str, n: int, folder: Path) -> dict[str, float]:
    """Memory of one write+read in a fresh ``python`` child (see :func:`child`)."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", fmt, kind, str(n), str(folder / f"child-{fmt}")],
        check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def file_row(fmt: str, kind: str, n: int, folder: Path, repeats: int) -> dict[str, Any]:
    s = make_scores(kind, n)
    path = folder / f"{kind}.{'npz' if fmt == 'npz' else 'csv'}"
    write, read = write_read(fmt)
    (w, wc), (r, rc) = best(lambda: write(s, path), repeats), best(lambda: read(path), repeats)
    assert read(path).values.tobytes() == s.values.tobytes(), f"{fmt}: the round trip changed"
    return {"format": fmt, "kind": kind, "write": w, "read": r, "total": w + r,
            "cpu": wc + rc, "bytes": path.stat().st_size}


def _vm_hwm_mb() -> float:
    """This process's own peak RSS (Linux ``VmHWM``; ``ru_maxrss`` also counts the parent's
    memory at the fork that started it), or NaN elsewhere."""
    try:
        line = next(x for x in Path("/proc/self/status").read_text().splitlines()
                    if x.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return float("nan")
    return int(line.split()[1]) / 1024


def child(fmt: str, kind: str, n: int, path: str) -> None:
    """One write+read in this fresh process; prints its peak RSS after imports and at the end."""
    imports = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, _vm_hwm_mb()
    write, read = write_read(fmt)
    p = Path(path + (".npz" if fmt == "npz" else ".csv"))
    write(make_scores(kind, n), p)
    read(p)
    print(json.dumps({"imports_mb": imports[0], "peak_mb": resource.getrusage(
        resource.RUSAGE_SELF).ru_maxrss / 1024, "hwm_imports_mb": imports[1],
        "hwm_mb": _vm_hwm_mb()}))


Timing = tuple[float, float]  # best wall, best CPU seconds


def ordering_rows(n: int, repeats: int) -> list[tuple[str, Timing, Timing | None]]:
    """(what, its timing, the previous code's timing or None)."""
    rows: list[tuple[str, Timing, Timing | None]] = []
    for kind in ("cumacc", "loss"):
        for rule in ("random", "dataset-order"):
            s = make_scores(kind, n).with_tie_rule(rule)
            assert np.array_equal(s.easy_to_hard(), previous_easy_to_hard(s))
            rows.append((f"easy_to_hard {kind} {rule}", best(s.easy_to_hard, repeats),
                         best(lambda s=s: previous_easy_to_hard(s), repeats)))
    s = make_scores("cumacc", n)
    members = [make_scores("cumacc", n, seed) for seed in range(3)]
    order = s.easy_to_hard()
    rows += [
        ("summary cumacc random", best(s.summary, repeats), None),
        ("ensemble of 3 seeds", best(lambda: ensemble(members), repeats), None),
        ("check_ordering", best(lambda: check_ordering(order, n), repeats),
         best(lambda: len(np.unique(order)) == n, repeats)),
    ]
    rows += [(f"make_ordering {k}", best(lambda k=k: make_ordering(order, k, seed=0), repeats),
              None) for k in ("curriculum", "anti", "random")]
    return rows


def recorder_rows(n: int) -> list[tuple[str, int]]:
    """(constructor call, bytes of its tensors) for the recorder as it is today."""
    import torch

    from easyfirst.recording.recorder import OutcomeRecorder

    calls: list[dict[str, Any]] = [{}]
    if "outcomes" in inspect.signature(OutcomeRecorder).parameters:
        calls.append({"outcomes": "all"})
    out = []
    for kw in calls:
        rec = OutcomeRecorder(n, **kw)
        size = sum(t.numel() * t.element_size() for t in vars(rec).values()
                   if isinstance(t, torch.Tensor))
        args = "".join(f", {k}={v!r}" for k, v in kw.items())
        out.append((f"OutcomeRecorder(N{args})", size))
    return out


# -- report -----------------------------------------------------------------------------------
def print_files(rows: list[dict[str, Any]], n: int) -> None:
    print(f"\nscore files, N = {n:,}: best wall seconds of the repeats (and CPU seconds of "
          "write+read); memory of one write+read in a fresh child: peak = ru_maxrss, "
          "+w/r = that less its ru_maxrss after imports, hwm = its own VmHWM less after imports")
    print(f"  {'':26} {'write':>6} {'read':>6} {'total':>6} {'(cpu)':>7} {'peak':>7} "
          f"{'+w/r':>6} {'hwm':>6} {'size':>7}   total: vs csv-module, vs issue")
    print(f"  {'issue baseline (old Scores)':26} {ISSUE['write']:6.2f} {ISSUE['read']:6.2f} "
          f"{ISSUE['total']:6.2f} {'':7} {ISSUE['peak_mb']:5.0f}MB")
    for kind in ("cumacc", "loss"):
        base = next(r for r in rows if r["kind"] == kind and r["format"] == "csv-module")
        for r in (r for r in rows if r["kind"] == kind):
            name = f"{kind} {r['format']}" + (" (base)" if r is base else "")
            ratio = "" if r is base else (
                f"   {base['total'] / r['total']:5.1f}x, {ISSUE['total'] / r['total']:5.1f}x"
                f" (write {base['write'] / r['write']:.1f}x, read {base['read'] / r['read']:.1f}x)")
            rss, hwm = r["peak_mb"] - r["imports_mb"], r["hwm_mb"] - r["hwm_imports_mb"]
            print(f"  {name:26} {r['write']:6.2f} {r['read']:6.2f} {r['total']:6.2f} "
                  f"({r['cpu']:5.2f}) {r['peak_mb']:5.0f}MB {rss:+4.0f}MB {hwm:+4.0f}MB "
                  f"{r['bytes'] / 1e6:5.1f}MB{ratio}")


def print_orderings(rows: list[tuple[str, Timing, Timing | None]], n: int) -> None:
    print(f"\norderings, N = {n:,}: best wall (CPU) seconds   previous code    ratio (wall)")
    for what, (wall, cpu), prev in rows:
        tail = "" if prev is None else (
            f"   {prev[0]:6.3f} ({prev[1]:5.3f})   {prev[0] / wall:5.1f}x")
        print(f"  {what:34} {wall:6.3f} ({cpu:5.3f}){tail}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2_000_000, help="samples (default 2,000,000)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs, the best is kept")
    ap.add_argument("--child", nargs=4, metavar=("FORMAT", "KIND", "N", "PATH"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        fmt, kind, n, path = args.child
        child(fmt, kind, int(n), path)
        return 0
    n, cases = args.n, [(kind, fmt) for kind in ("cumacc", "loss") for fmt in FORMATS]
    print(f"# python benchmarks/scale.py --n {n} --repeats {args.repeats}   ({os.cpu_count()} "
          f"CPUs, Python {platform.python_version()}, numpy {np.__version__}, "
          f"{time.strftime('%Y-%m-%d %H:%M')}, load average {os.getloadavg()[0]:.1f})")
    with tempfile.TemporaryDirectory() as tmp:
        # the children first, while this process is small (their ru_maxrss counts it)
        memory = {case: peak_rss(case[1], case[0], n, Path(tmp)) for case in cases}
        rows = [{**file_row(fmt, kind, n, Path(tmp), args.repeats), **memory[kind, fmt]}
                for kind, fmt in cases]
    print_files(rows, n)
    print_orderings(ordering_rows(n, args.repeats), n)
    print(f"\nrecorder, N = {n:,}")
    for call, size in recorder_rows(n):
        print(f"  {call:36} {size / n:6.1f} bytes/sample ({size / 1e6:.0f} MB)")
    print(f"# load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
