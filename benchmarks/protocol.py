"""The paper's protocol in the regimes where its findings can show (issue 27).

Each regime is one ``reproduce`` folder with the ``compare`` budget: 3 scoring seeds, then 10
seeds each of baseline, CL, RCL and ACL at pacing {logarithmic, exponential} x a = 0.5
(73 trainings), ordered by the ensemble CumAcc. ``reproduce`` writes the tables with
intervals and ``findings.json``; this script adds the wall time and copies the small files
to ``--results``. The regimes and their epochs were fixed before any of their runs was made
(FSDD's noisy regimes were first planned at 8 epochs and Fashion-MNIST at 5,000 images, and
all with both pacings; cut for the machine's time, the epochs and subset before any of
their runs, the pacings of five regimes when 12 Fashion-MNIST runs had finished):

=================  ==========================================================  ======  ========
regime             data                                                        epochs  pacings
=================  ==========================================================  ======  ========
``synthkws``       the embedded set, as today                                  6       log, exp
``fsdd-short``     FSDD, clean labels: the short-budget regime                 3       log
``fsdd-u20``       FSDD, 20 % of training labels flipped uniformly             6       log, exp
``fsdd-p20``       FSDD, 20 % flipped within seeded class pairs                6       log
``fsdd-u40``       FSDD, 40 % uniform                                          6       log
``fsdd-p40``       FSDD, 40 % pairs                                            6       log
``fmnist``         Fashion-MNIST, first 4,000 train and 1,000 dev images,      5       log
                   the full 10,000-image test set
=================  ==========================================================  ======  ========

Five regimes train the logarithmic cell only (3 + 10 + 30 = 43 runs): the 2-core machine
could not train all 73 of each in the session, so the pacing claim is tested on
``synthkws`` and ``fsdd-u20`` only.

Usage::

    python benchmarks/protocol.py --regimes synthkws,fsdd-u20 --work /tmp/protocol \\
        --results benchmarks/results/protocol-cpu-2026-12-07

Re-running skips finished trainings (``reproduce`` resumes), so the tables and findings can
be recomputed at no training cost. ``--order-by cumacc,celoss`` on a finished regime adds
CL and ACL runs ordered by CE loss, and with them the finding on seed-stable scorers (run on
``synthkws`` and ``fsdd-u20``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from easyfirst.data.base import DatasetBundle
from easyfirst.data.registry import load_dataset
from easyfirst.protocol import make_plan, reproduce
from easyfirst.training.config import configure

FSDD_ROOT = os.environ.get("EASYFIRST_FSDD", "../shared/data/fsdd/recordings")
COPIED = ("findings.json", "tables.md", "results.json", "reproduce.json")


@dataclass(frozen=True)
class Regime:
    dataset: str
    epochs: int
    label_noise: float = 0.0
    noise_kind: str = "uniform"
    train_subset: int | None = None
    dev_subset: int | None = None
    pacings: tuple[str, ...] = ("logarithmic", "exponential")


LOG_ONLY = ("logarithmic",)  # one cell: 43 runs instead of 73 (the machine's time)
REGIMES = {
    "synthkws": Regime("synthkws", 6),
    "fsdd-short": Regime("fsdd", 3, pacings=LOG_ONLY),
    "fsdd-u20": Regime("fsdd", 6, 0.2, "uniform"),
    "fsdd-p20": Regime("fsdd", 6, 0.2, "pairs", pacings=LOG_ONLY),
    "fsdd-u40": Regime("fsdd", 6, 0.4, "uniform", pacings=LOG_ONLY),
    "fsdd-p40": Regime("fsdd", 6, 0.4, "pairs", pacings=LOG_ONLY),
    "fmnist": Regime("fashion_mnist", 5, train_subset=4000, dev_subset=1000, pacings=LOG_ONLY),
}


def load_regime(r: Regime) -> DatasetBundle:
    """The regime's dataset: noise injected into train, then the subsets taken."""
    opts = {"root": FSDD_ROOT} if r.dataset == "fsdd" else {}
    if r.label_noise:
        opts.update(label_noise=r.label_noise, noise_kind=r.noise_kind, noise_seed=0)
    bundle = load_dataset(r.dataset, progress=False, **opts)
    if r.train_subset:
        bundle = replace(bundle, train=bundle.train.subset(np.arange(r.train_subset)),
                         info={**bundle.info, "train_subset": r.train_subset})
    if r.dev_subset and bundle.dev is not None:
        bundle = replace(bundle, dev=bundle.dev.subset(np.arange(r.dev_subset)),
                         info={**bundle.info, "dev_subset": r.dev_subset})
    return bundle


def runs_wall(folder: Path) -> dict[str, float]:
    """Seconds spent training, from the files' times (robust to interrupted calls): each
    run from its ``run.json`` to its ``predictions.npz``; scoring from the score folder's
    ``run.json`` to the last seed's ``dynamics.pt``."""
    runs = [d for d in (folder / "runs").iterdir() if (d / "predictions.npz").is_file()]
    train = sum((d / "predictions.npz").stat().st_mtime - (d / "run.json").stat().st_mtime
                for d in runs)
    ends = [f.stat().st_mtime for f in (folder / "score").glob("seeds/*/dynamics.pt")]
    start = folder / "score" / "run.json"
    score = max(ends) - start.stat().st_mtime if ends and start.is_file() else 0.0
    return {"runs_s": round(train, 1), "scoring_s": round(score, 1),
            "total_s": round(train + score, 1), "runs": len(runs)}


def run_regime(name: str, work: Path, results: Path | None, budget: str,
               order_by: tuple[str, ...] = ("cumacc",), epochs: int | None = None
               ) -> dict[str, object]:
    r = REGIMES[name]
    bundle = load_regime(r)
    cfg, note = configure(bundle, model="auto", device="cpu", epochs=epochs or r.epochs,
                          dataset=bundle.name)
    plan = make_plan(budget, scorers=("cumacc", "fit", "celoss"), order_by=order_by)
    plan = replace(plan, cells=tuple(c for c in plan.cells if c[0] in r.pacings))
    print(f"\n## {name}: {bundle.name}, {len(bundle.train)} train; {note}; "
          f"{plan.num_runs} runs", flush=True)
    t0 = time.perf_counter()
    res = reproduce(bundle, cfg, plan, out_dir=work / name, progress=False)
    wall = time.perf_counter() - t0
    timing = {"regime": name, "this_call_wall_s": round(wall, 1), "trained": res.trained,
              "skipped": res.skipped, "threads": torch.get_num_threads(), "config": note,
              **runs_wall(work / name)}
    (work / name / "timing.json").write_text(json.dumps(timing, indent=1))
    if results is not None:
        dest = results / name
        dest.mkdir(parents=True, exist_ok=True)
        for f in (*COPIED, "timing.json"):
            if (work / name / f).is_file():
                shutil.copy2(work / name / f, dest / f)
    print(f"{name}: trained {res.trained}, skipped {res.skipped}, {wall:.0f} s", flush=True)
    return timing


def _ci(x: float, lo: float | None, hi: float | None, sign: str = "+") -> str:
    bounds = "n/a" if lo is None or hi is None else f"{lo:{sign}.3f}, {hi:{sign}.3f}"
    return f"{x:{sign}.3f} [{bounds}]"


def _accuracy(results: dict, kind: str) -> str:
    """Mean test accuracy [CI] of the baselines, or of the logarithmic runs of ``kind``
    ordered by the plan's first scorer."""
    from easyfirst.analysis.stats import mean_interval

    label = kind if kind == "baseline" else f"{kind} ({results['plan']['order_by'][0]})"
    accs = [r["test_accuracy"] for r in results["runs"] if r["type"] == label
            and (kind == "baseline" or r["pacing"] == "logarithmic")]
    if not accs:
        return "-"
    e = mean_interval(accs)
    return _ci(e.mean, e.ci_low if len(accs) > 1 else None, e.ci_high if len(accs) > 1 else None,
               "")


def summary(results_dir: Path) -> str:
    """Markdown: an overview of the regimes, then each regime's findings table."""
    lines = ["| regime | runs | training s (runs + scoring) | baseline test acc | CL (log) test "
             "acc | ACL (log) test acc | r1 cumacc / fit / celoss |",
             "|---|---|---|---|---|---|---|"]
    blocks = []
    for name in REGIMES:
        folder = results_dir / name
        if not (folder / "findings.json").is_file():
            continue
        found = json.loads((folder / "findings.json").read_text())
        results = json.loads((folder / "results.json").read_text())
        timing = json.loads((folder / "timing.json").read_text())
        r1 = found.get("scorer_stability_r1", {})
        lines.append(f"| {name} | {timing['runs']} | {timing['total_s']:.0f} | "
                     f"{_accuracy(results, 'baseline')} | {_accuracy(results, 'CL')} | "
                     f"{_accuracy(results, 'ACL')} | " + " / ".join(
                         f"{r1[k]:.3f}" if k in r1 else "-" for k in ("cumacc", "fit", "celoss"))
                     + " |")
        rows = ["| claim | verdict | effect [95 % CI] | p (Holm) | n | seeds needed |",
                "|---|---|---|---|---|---|"]
        for f in found["findings"]:
            verdict = f["verdict"] if f["verdict"] != "not distinguishable" \
                else f"not distinguishable at n = {f['n']}"
            need = f["seeds_needed"]
            effect = _ci(f["effect"], f["ci_low"], f["ci_high"])
            rows.append(f"| {f['claim']} | {verdict} | {effect} | {f['p']:.3g} | {f['n']} | "
                        f"{'-' if need is None else '> 1000' if need > 1000 else need} |")
        blocks.append(f"**{name}**\n\n" + "\n".join(rows))
    return "\n".join(lines) + "\n\n" + "\n\n".join(blocks) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--regimes", default=",".join(REGIMES), help="comma-separated, of "
                   + ", ".join(REGIMES))
    p.add_argument("--work", default="/tmp/easyfirst-protocol", help="the reproduce folders")
    p.add_argument("--results", default=None, help="copy the small result files here")
    p.add_argument("--budget", default="compare")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--order-by", default="cumacc", help="scorers ordering CL/ACL runs; two or "
                   "more (e.g. cumacc,celoss) add the finding on seed-stable scorers")
    p.add_argument("--quick", action="store_true",
                   help="the smoke test: synthkws, budget 7, 1 epoch")
    p.add_argument("--summary", default=None, metavar="RESULTS",
                   help="print the Markdown tables of a --results folder and stop")
    args = p.parse_args(argv)
    if args.summary:
        print(summary(Path(args.summary)), end="")
        return 0
    torch.set_num_threads(args.threads)
    if args.quick:
        args.regimes, args.budget = "synthkws", "7"
    names = [n for n in args.regimes.split(",") if n]
    unknown = [n for n in names if n not in REGIMES]
    if unknown:
        p.error(f"unknown regime(s) {unknown}; expected some of {list(REGIMES)}")
    results = Path(args.results) if args.results else None
    for name in names:
        run_regime(name, Path(args.work), results, args.budget,
                   tuple(x for x in args.order_by.split(",") if x), 1 if args.quick else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
