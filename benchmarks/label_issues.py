"""Label issues and score quality under injected label noise: easyfirst against cleanlab.

For each noise setting (``--settings kind:rate,...``), in one process:

1. **easyfirst**: ``easyfirst score`` with the defaults (``--seeds`` seeds x ``--epochs``
   epochs, the dataset's ``auto`` recipe), then
   - per scorer the average precision (AP) of ranking the flipped samples hardest: from the
     values with ties ordered pessimistically (flipped samples last within a tie), and from
     the score file's ``rank`` column (ties by the scorer's default rule: CumAcc's by the
     runs' evidence) and, for CumAcc, under the older rules (random, dataset order);
   - the flagged label issues (``easyfirst.analysis.label_issues``): precision and recall
     against the injected truth, how many were flagged, the estimated count;
   - trainings, wall seconds and test accuracy per seed.
2. **cleanlab** (``pip install cleanlab``, the benchmark's own extra ``bench``; skipped with
   a line when absent): 5-fold out-of-fold probabilities from the same model, recipe and
   epochs (folds stratified by the given labels), then ``cleanlab.filter.find_label_issues``
   with its default and its ``both`` method, and the AP of its self-confidence ranking.

Run::

    python benchmarks/label_issues.py                       # FSDD, 10 % uniform, 30 % pairs
    python benchmarks/label_issues.py --dataset fashion_mnist --train-subset 12000 \\
        --settings uniform:0.1 --epochs 5
    python benchmarks/label_issues.py --quick               # digits, seconds (the smoke test)
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from image_recipes import ap_pessimistic  # same folder: one definition of the tie rule
from sklearn.metrics import average_precision_score

from easyfirst.analysis.label_issues import find_label_issues
from easyfirst.analysis.per_sample import load_runs
from easyfirst.data import DatasetBundle, load_dataset, with_label_noise
from easyfirst.data.base import ArraySplit
from easyfirst.estimators.folds import stratified_folds
from easyfirst.scores import Scores
from easyfirst.training.config import configure
from easyfirst.training.evaluate import predict
from easyfirst.training.loop import train
from easyfirst.workflows.score import score_dataset

SCORERS = ("cumacc", "aum", "celoss", "confidence", "fit", "forgetting")


def pessimistic_ap(s: Scores, flipped: np.ndarray) -> float:
    """AP of flagging hardest first, flipped samples placed last within each tie."""
    return ap_pessimistic(-s.values if s.higher_is_easier else s.values, flipped)


def rank_ap(s: Scores, flipped: np.ndarray) -> float:
    """AP of the total order ``s.ranks()`` (the score file's rank column), hardest first."""
    return float(average_precision_score(flipped, s.ranks()))


def subset(bundle: DatasetBundle, n: int | None) -> DatasetBundle:
    """The first ``n`` training samples of ``bundle`` (dev and test kept)."""
    if not n or n >= len(bundle.train):
        return bundle
    return replace(bundle, train=bundle.train.subset(np.arange(n)),
                   info={**bundle.info, "train_subset": n})


def easyfirst_side(bundle: DatasetBundle, flipped: np.ndarray, cfg: Any, seeds: int,
                   scorers: tuple[str, ...], keep: Path | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = keep if keep is not None else Path(tmp)
        t0 = time.perf_counter()
        ens, summary = score_dataset(bundle, cfg, seeds=list(range(seeds)), scorers=scorers,
                                     out_dir=out, progress=False, overwrite=keep is not None)
        wall = time.perf_counter() - t0
        dyns = load_runs(out)
    found = find_label_issues(dyns, bundle.train.targets.numpy(), num_classes=bundle.num_classes)
    flagged = found.flagged_mask(len(bundle.train))
    hits = int((flagged & flipped).sum())
    ap = {name: {"pessimistic": round(pessimistic_ap(s, flipped), 4),
                 "rank_column": round(rank_ap(s, flipped), 4)} for name, s in ens.items()}
    if "cumacc" in ens:
        for rule in ("random", "dataset-order"):
            ap["cumacc"][f"ties_{rule}"] = round(rank_ap(
                ens["cumacc"].with_tie_rule(rule), flipped), 4)
    train_s = sum(float(d.meta.get("wall_s", 0.0)) for d in dyns)
    return {
        "trainings": seeds, "wall_s": round(wall, 1), "train_s": round(train_s, 1),
        "test_accuracy": [round(float(v), 4) for v in summary["test_accuracy"].values()]
        if "test_accuracy" in summary else None,
        "ap": ap, "flagged": int(flagged.sum()), "estimated": found.estimated,
        "confident_learning_count": round(found.confident, 1),
        "precision": round(hits / max(int(flagged.sum()), 1), 4),
        "recall": round(hits / max(int(flipped.sum()), 1), 4), "rule": found.rule(),
    }


def out_of_fold_probs(bundle: DatasetBundle, cfg: Any, folds: int) -> tuple[np.ndarray, float,
                                                                             list[float]]:
    """(N, C) held-out softmax probabilities from ``folds`` trainings, wall s, test accuracy."""
    y = bundle.train.targets.numpy()
    probs = np.zeros((y.size, bundle.num_classes))
    tests = []
    t0 = time.perf_counter()
    for k, held in enumerate(stratified_folds(y, folds, seed=0)):
        keep = np.setdiff1d(np.arange(y.size), held)
        part = replace(bundle, train=bundle.train.subset(keep))
        res = train(part, replace(cfg, seed=k), record=False, progress=False)
        held_split: ArraySplit = bundle.train.subset(held)
        logits = predict(res.model, held_split, device=torch.device(cfg.device))
        probs[held] = logits.softmax(1).numpy()
        tests.append(round(float(res.test_accuracy or 0.0), 4))
    return probs, time.perf_counter() - t0, tests


def cleanlab_side(bundle: DatasetBundle, flipped: np.ndarray, cfg: Any,
                  folds: int) -> dict[str, Any]:
    try:
        from cleanlab.filter import find_label_issues as cl_find
        from cleanlab.rank import get_label_quality_scores
    except ImportError:
        return {"skipped": "cleanlab is not installed (pip install cleanlab)"}
    probs, wall, tests = out_of_fold_probs(bundle, cfg, folds)
    y = bundle.train.targets.numpy()
    out: dict[str, Any] = {"trainings": folds, "wall_s": round(wall, 1), "test_accuracy": tests}
    quality = get_label_quality_scores(y, probs)
    out["ap_self_confidence"] = round(float(average_precision_score(flipped, -quality)), 4)
    for method in ("prune_by_noise_rate", "both"):
        mask = cl_find(y, probs, filter_by=method)
        hits = int((mask & flipped).sum())
        out[method] = {"flagged": int(mask.sum()),
                       "precision": round(hits / max(int(mask.sum()), 1), 4),
                       "recall": round(hits / max(int(flipped.sum()), 1), 4)}
    return out


def run_setting(clean: DatasetBundle, kind: str, rate: float, args: argparse.Namespace
                ) -> dict[str, Any]:
    bundle = with_label_noise(clean, rate, kind, seed=0)
    flipped = np.asarray(bundle.train.meta["label_flipped"])
    cfg, note = configure(bundle, model=args.model, device="cpu", epochs=args.epochs,
                          dataset=bundle.name)
    print(f"\n## {bundle.name}: {kind} {rate:g} ({int(flipped.sum())} of {flipped.size} "
          f"flipped); {note}", flush=True)
    row: dict[str, Any] = {"dataset": bundle.name, "kind": kind, "rate": rate,
                           "n_train": flipped.size, "n_flipped": int(flipped.sum()),
                           "config": note}
    keep = Path(args.keep) / f"{bundle.name}-{kind}-{rate:g}" if args.keep else None
    row["easyfirst"] = easyfirst_side(bundle, flipped, cfg, args.seeds, SCORERS, keep)
    print(json.dumps(row["easyfirst"]), flush=True)
    if args.folds:
        row["cleanlab"] = cleanlab_side(bundle, flipped, cfg, args.folds)
        print(json.dumps(row["cleanlab"]), flush=True)
    return row


def print_tables(rows: list[dict[str, Any]]) -> None:
    print("\n| setting | method | trainings | wall s | test acc | flagged | precision | recall |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        name = f"{r['dataset']} {r['kind']} {r['rate']:g}"
        e = r["easyfirst"]
        acc = np.mean(e["test_accuracy"]) if e["test_accuracy"] else float("nan")
        print(f"| {name} | easyfirst | {e['trainings']} | {e['wall_s']} | {acc:.3f} | "
              f"{e['flagged']} | {e['precision']:.3f} | {e['recall']:.3f} |")
        c = r.get("cleanlab") or {}
        for method in ("prune_by_noise_rate", "both"):
            if method in c:
                m = c[method]
                print(f"| {name} | cleanlab {method} | {c['trainings']} | {c['wall_s']} | "
                      f"{np.mean(c['test_accuracy']):.3f} | {m['flagged']} | "
                      f"{m['precision']:.3f} | {m['recall']:.3f} |")
    print("\n| setting | scorer | AP, ties pessimistic | AP, rank column | test acc |")
    print("|---|---|---|---|---|")
    for r in rows:
        e = r["easyfirst"]
        acc = np.mean(e["test_accuracy"]) if e["test_accuracy"] else float("nan")
        for scorer, ap in e["ap"].items():
            extra = "".join(f"; {k[5:]} ties {v:.3f}" for k, v in ap.items()
                            if k.startswith("ties_"))
            print(f"| {r['dataset']} {r['kind']} {r['rate']:g} | {scorer} | "
                  f"{ap['pessimistic']:.3f} | {ap['rank_column']:.3f}{extra} | {acc:.3f} |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="fsdd")
    p.add_argument("--root", default=None, help="dataset root (fsdd: $EASYFIRST_FSDD or "
                   "../shared/data/fsdd/recordings)")
    p.add_argument("--settings", default="uniform:0.1,pairs:0.3", metavar="KIND:RATE,...")
    p.add_argument("--train-subset", type=int, default=None, help="first N training samples")
    p.add_argument("--model", default="auto")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--folds", type=int, default=5, help="cleanlab's folds (0: skip cleanlab)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true",
                   help="500 digits, mlp, 2 seeds, 2 epochs, 2 folds (the smoke test)")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--keep", default=None, metavar="DIR",
                   help="keep each setting's score folder under DIR (easyfirst report/export)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.quick:
        args.dataset, args.seeds, args.epochs, args.folds = "digits", 2, 2, 2
        args.settings, args.train_subset, args.model = "uniform:0.1", 500, "mlp"
    opts = {}
    if args.dataset == "fsdd":
        opts["root"] = args.root or os.environ.get("EASYFIRST_FSDD",
                                                   "../shared/data/fsdd/recordings")
    elif args.root:
        opts["root"] = args.root
    clean = subset(load_dataset(args.dataset, progress=False, **opts), args.train_subset)
    rows = []
    for item in args.settings.split(","):
        kind, _, rate = item.partition(":")
        rows.append(run_setting(clean, kind, float(rate), args))
    print_tables(rows)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "rows": rows}, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
