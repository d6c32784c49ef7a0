"""What the tie rule of the coarse scorers (CumAcc, FIT, forgetting) changes.

One scoring job of ``--seeds`` seeds (6: two disjoint 3-seed ensembles) on one dataset, then
for each tie rule (``evidence``: the runs' mean AUM, easyfirst's default; ``random``: a seeded
permutation; ``dataset-order``: the source document's):

- **ranking quality**: with injected label noise (``--label-noise``) the AP of the flipped
  samples read hardest first in the all-seed ensemble's order; on synthkws the Spearman of
  that order with the per-sample SNR (higher SNR easier);
- **agreement**: the Spearman between the orders of the two disjoint 3-seed ensembles (random
  ties drawn with a different seed per ensemble: two users' runs), and the overlap of their
  hardest 10 %;
- **curriculum test accuracy**: ``easyfirst train`` (curriculum, logarithmic, the defaults)
  from the first 3-seed CumAcc ensemble under each rule, ``--train-seeds`` seeds each; every
  rule's runs share their seeds, so the differences against ``random`` are paired (mean, 95 %
  bootstrap interval and sign-flip p over the seeds: ``easyfirst.analysis.stats``).

Run::

    python benchmarks/tie_rules.py --dataset synthkws --epochs 30
    python benchmarks/tie_rules.py --dataset fsdd --label-noise 0.1 --epochs 8
    python benchmarks/tie_rules.py --quick      # digits, seconds (the smoke test)
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import stats
from sklearn.metrics import average_precision_score

from easyfirst.analysis.per_sample import load_runs
from easyfirst.analysis.stats import mean_interval, paired_difference
from easyfirst.data import DatasetBundle, load_dataset
from easyfirst.scores import TIE_RULES, Scores
from easyfirst.scoring import ensemble, get_scorer
from easyfirst.training.config import configure
from easyfirst.workflows.curriculum import CurriculumSpec, train_curriculum
from easyfirst.workflows.score import score_dataset

COARSE = ("cumacc", "fit", "forgetting")


def quality(s: Scores, bundle: DatasetBundle) -> dict[str, float]:
    out = {}
    flipped = bundle.train.meta.get("label_flipped")
    if flipped is not None:
        out["ap"] = float(average_precision_score(np.asarray(flipped), s.ranks()))
    snr = bundle.train.meta.get("snr_db")
    if snr is not None:  # ranks: 0 = easiest; easy should mean high SNR
        out["snr_spearman"] = float(stats.spearmanr(-s.ranks(), np.asarray(snr)).statistic)
    return out


def agreement(a: Scores, b: Scores) -> dict[str, float]:
    n = a.num_samples
    k = max(1, n // 10)
    top_a, top_b = set(a.hard_to_easy()[:k].tolist()), set(b.hard_to_easy()[:k].tolist())
    return {"spearman": float(stats.spearmanr(a.ranks(), b.ranks()).statistic),
            "hardest10_overlap": len(top_a & top_b) / k}


def per_rule(members: list[Scores], rule: str) -> tuple[Scores, Scores, Scores]:
    """The all-seed ensemble and the two disjoint halves under ``rule``."""
    half = len(members) // 2
    ens = [ensemble(members), ensemble(members[:half]), ensemble(members[half:2 * half])]
    return tuple(e.with_tie_rule(rule, seed=j) for j, e in enumerate(ens))  # type: ignore


def curricula(bundle: DatasetBundle, cfg: Any, by_rule: dict[str, Scores], seeds: int,
              tmp: Path) -> dict[str, Any]:
    spec = CurriculumSpec()
    acc: dict[str, list[float]] = {}
    for rule, scores in by_rule.items():
        acc[rule] = []
        for s in range(seeds):
            res = train_curriculum(bundle, replace(cfg, seed=s), spec,
                                   scores=scores, out_dir=tmp / f"{rule}-{s}", progress=False)
            acc[rule].append(float(res.test_accuracy or 0.0))
    out: dict[str, Any] = {"test_accuracy": acc}
    for rule in acc:
        est = mean_interval(acc[rule])
        diff = paired_difference(acc[rule], acc["random"])
        out[rule] = {"mean": round(est.mean, 4), "ci": _finite([est.ci_low, est.ci_high]),
                     "minus_random": _finite([diff.effect, diff.ci_low, diff.ci_high]),
                     "p": diff.p}
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    opts: dict[str, Any] = {"label_noise": args.label_noise, "noise_kind": args.noise_kind}
    if args.dataset == "fsdd":
        opts["root"] = args.root or os.environ.get("EASYFIRST_FSDD",
                                                   "../shared/data/fsdd/recordings")
    elif args.root:
        opts["root"] = args.root
    bundle = load_dataset(args.dataset, progress=False, **opts)
    cfg, note = configure(bundle, model=args.model, device="cpu", epochs=args.epochs,
                          dataset=bundle.name)
    print(f"{bundle.name}: {note}", flush=True)
    result: dict[str, Any] = {"dataset": bundle.name, "config": note,
                              "label_noise": bundle.info.get("label_noise")}
    with tempfile.TemporaryDirectory() as tmp:
        _, summary = score_dataset(bundle, cfg, seeds=list(range(args.seeds)), scorers=COARSE,
                                   out_dir=Path(tmp) / "score", progress=False)
        result["scoring_test_accuracy"] = summary.get("test_accuracy")
        runs = load_runs(Path(tmp) / "score")
        cumacc_by_rule = {}
        for name in COARSE:
            members = [get_scorer(name)(d) for d in runs]
            result[name] = {}
            for rule in TIE_RULES:
                full, a, b = per_rule(members, rule)
                result[name][rule] = {**quality(full, bundle), **agreement(a, b)}
                if name == "cumacc":
                    cumacc_by_rule[rule] = a
        if args.train_seeds:
            cfg_train, _ = configure(bundle, model=args.model, device="cpu",
                                     epochs=args.train_epochs or args.epochs,
                                     dataset=bundle.name)
            result["curriculum"] = curricula(bundle, cfg_train, cumacc_by_rule,
                                             args.train_seeds, Path(tmp))
    return result


def print_tables(r: dict[str, Any]) -> None:
    print(f"\n{r['dataset']} ({r['config']}); scoring test accuracy "
          f"{r['scoring_test_accuracy']}")
    keys = [k for k in ("ap", "snr_spearman") if k in r["cumacc"]["evidence"]]
    print("\n| scorer | tie rule | " + " | ".join(keys) + " | 3v3 Spearman | 3v3 hardest-10% "
          "overlap |")
    print("|---|---|" + "---|" * len(keys) + "---|---|")
    for name in COARSE:
        for rule, q in r[name].items():
            cells = " | ".join(f"{q[k]:.3f}" for k in keys)
            print(f"| {name} | {rule} | {cells} | {q['spearman']:.3f} | "
                  f"{q['hardest10_overlap']:.3f} |")
    if "curriculum" in r:
        c = r["curriculum"]
        print("\n| CumAcc ties | curriculum test acc (95 % CI) | minus random, paired | p |")
        print("|---|---|---|---|")
        for rule in TIE_RULES:
            d, ci = c[rule]["minus_random"], c[rule]["ci"]
            print(f"| {rule} | {c[rule]['mean']:.4f} [{_f(ci[0])}, {_f(ci[1])}] | {d[0]:+.4f} "
                  f"[{_f(d[1], '+')}, {_f(d[2], '+')}] | {c[rule]['p']:.3f} |")


def _finite(xs: list[float]) -> list[float | None]:
    return [round(float(x), 4) if np.isfinite(x) else None for x in xs]


def _f(x: float | None, sign: str = "") -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:{sign}.4f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="synthkws")
    p.add_argument("--root", default=None)
    p.add_argument("--label-noise", type=float, default=0.0)
    p.add_argument("--noise-kind", default="uniform")
    p.add_argument("--model", default="auto")
    p.add_argument("--seeds", type=int, default=6)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--train-seeds", type=int, default=3, help="curriculum runs per rule")
    p.add_argument("--train-epochs", type=int, default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="digits, mlp, 10 %% noise, 2 seeds x "
                   "2 epochs, curricula of 1 epoch (the smoke test)")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.quick:
        args.dataset, args.label_noise, args.seeds, args.epochs = "digits", 0.1, 2, 2
        args.train_seeds, args.train_epochs, args.model = 2, 1, "mlp"
    result = run(args)
    print_tables(result)
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), **result}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
