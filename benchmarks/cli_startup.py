"""How long ``easyfirst --help`` takes against ``python -c "import torch"``.

The two commands alternate (``--rounds`` pairs, default 10) in fresh processes, so that the
machine's load falls on both alike; printed: each one's median wall seconds and the median of
the paired ratios (help / import torch). ``easyfirst --help`` builds its subcommands by name
and help alone (``easyfirst.cli.commands``) and imports no torch.

Run: ``python benchmarks/cli_startup.py [--rounds 10] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

COMMANDS = {"help": [sys.executable, "-m", "easyfirst.cli.main", "--help"],
            "import_torch": [sys.executable, "-c", "import torch"]}


def _wall(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def measure(rounds: int) -> dict[str, object]:
    """Paired wall times of the two commands, alternating which goes first."""
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for i in range(rounds):
        for name in sorted(COMMANDS, reverse=bool(i % 2)):
            times[name].append(_wall(COMMANDS[name]))
    ratios = [h / t for h, t in zip(times["help"], times["import_torch"], strict=True)]
    return {"rounds": rounds, "median_s": {k: statistics.median(v) for k, v in times.items()},
            "ratio_median": statistics.median(ratios), "ratios": ratios}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--json", default=None, help="also write the result here")
    args = p.parse_args(argv)
    result = measure(args.rounds)
    med = result["median_s"]
    assert isinstance(med, dict)
    print(f"easyfirst --help {med['help']:.3f} s, import torch {med['import_torch']:.3f} s "
          f"(medians of {args.rounds}); help / import torch: {result['ratio_median']:.3f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
