"""How far do the costly scorers agree with a 5-seed CumAcc ensemble, and what do they cost?

Computes CumAcc over ``--seeds`` seeds (the reference), then CVLoss, C-score, Transfer Teacher
(probability and margin) and Prediction Depth with small settings over ``--costly-seeds``
seeds, and prints each one's Spearman correlation with the reference (on "easiness": scores
where lower is easier are negated, so +1 = the same easy-to-hard order), its number of
distinct values, and its cost (wall time, model trainings). A single-seed CumAcc row shows how
much of the disagreement is just seed noise. Where the training split carries a per-sample
``snr_db`` column (synthkws), each scorer's Spearman correlation with the SNR is printed too
(higher SNR should be easier).

The Transfer Teacher's teacher is a model trained on the dataset's dev + test splits (disjoint
from the scored training split) and handed over as a state-dict file, the way a pretrained
teacher would be; its training is counted in the Transfer Teacher's cost.

Run::

    python benchmarks/scorer_correlations.py                       # digits, mlp, 10 epochs
    python benchmarks/scorer_correlations.py --dataset synthkws --model small_cnn --epochs 4
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr

from easyfirst.cli.options import parse_kv
from easyfirst.data import ArraySplit, DatasetBundle, load_dataset
from easyfirst.estimators.base import sum_costs
from easyfirst.scores import Scores
from easyfirst.scoring import SCORERS, ensemble
from easyfirst.training.config import RunConfig
from easyfirst.training.loop import train
from easyfirst.workflows.score import score_dataset


def easiness(s: Scores) -> np.ndarray:
    return s.values if s.higher_is_easier else -s.values


def snr_rho(s: Scores | np.ndarray, bundle: DatasetBundle) -> float:
    snr = bundle.train.meta.get("snr_db")
    if snr is None:
        return float("nan")
    values = easiness(s) if isinstance(s, Scores) else s
    return float(spearmanr(values, np.asarray(snr, dtype=np.float64))[0])


def teacher_file(bundle: DatasetBundle, cfg: RunConfig, path: Path) -> tuple[Path, float]:
    """Train a teacher on dev + test (never on the scored split); save its state dict."""
    parts = [p for p in (bundle.dev, bundle.test) if p is not None and len(p)]
    if not parts:
        raise ValueError(f"{bundle.name} has no dev/test split to train a teacher on.")
    x = torch.cat([p.as_tensor() for p in parts])
    y = torch.cat([p.targets for p in parts])
    ids = [f"teacher/{i}" for i in range(len(y))]
    tb = DatasetBundle(f"{bundle.name}#teacher", ArraySplit(x, y, ids), None, None,
                       bundle.class_names)
    t0 = time.perf_counter()
    model = train(tb, replace(cfg, eval_checkpoint="last", seed=1000), record=False,
                  progress=False).model
    torch.save(model.state_dict(), path)
    return path, time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="digits")
    p.add_argument("--dataset-opt", action="append", metavar="KEY=VALUE")
    p.add_argument("--model", default="mlp")
    p.add_argument("--model-opt", action="append", metavar="KEY=VALUE")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seeds", type=int, default=5, help="CumAcc reference ensemble size")
    p.add_argument("--costly-seeds", type=int, default=1, help="seeds per costly scorer")
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--subset-ratios", default="0.2,0.5,0.8")
    p.add_argument("--subset-runs", type=int, default=2)
    p.add_argument("--knn-k", type=int, default=30)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--skip", default="", help="comma-separated scorers to skip")
    p.add_argument("--json", default=None, help="also write the table to this file")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    bundle = load_dataset(args.dataset, **parse_kv(args.dataset_opt, "--dataset-opt"))
    cfg = RunConfig(
        dataset=args.dataset, model=args.model, epochs=args.epochs, batch_size=args.batch_size,
        lr=args.lr, device=args.device, model_options=parse_kv(args.model_opt, "--model-opt"),
    )
    print(f"{bundle.name}: N={len(bundle.train)} training samples, {bundle.num_classes} "
          f"classes; model {cfg.model}, {cfg.epochs} epochs, device {cfg.device}")
    rows: list[dict[str, Any]] = []
    skip = set(args.skip.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        res, summary = score_dataset(
            bundle, cfg, seeds=list(range(args.seeds)), scorers=["cumacc"],
            out_dir=Path(tmp) / "cumacc", progress=False,
        )
        ref = res["cumacc"]
        accs = [v for v in summary["test_accuracy"].values() if v is not None]
        if accs:
            print(f"reference runs: test accuracy {np.mean(accs):.3f} (mean of {len(accs)} seeds)")
        one = Scores.load(Path(tmp) / "cumacc" / "seeds" / "seed_0" / "scores" / "cumacc.csv")
        cost = summary["scorers"]["cumacc"]["cost"]
        rows.append(dict(scorer=f"cumacc ({args.seeds} seeds, reference)", rho=1.0,
                         snr=snr_rho(ref, bundle), unique=len(np.unique(ref.values)), **cost))
        rows.append(dict(scorer="cumacc (seed 0 only)", rho=spearmanr(one.values, ref.values)[0],
                         snr=snr_rho(one, bundle), unique=len(np.unique(one.values)),
                         wall_s=cost["wall_s"] / args.seeds, trainings=1))
        seeds = list(range(args.costly_seeds))
        ratios = [float(r) for r in args.subset_ratios.split(",")]
        plans: list[tuple[str, str, dict[str, Any]]] = [
            ("cvloss", f"cvloss (k={args.folds})", {"folds": args.folds}),
            ("cscore", f"cscore (ratios {args.subset_ratios}, {args.subset_runs} runs each)",
             {"subset_ratios": ratios, "subset_runs": args.subset_runs}),
            ("prediction_depth", f"prediction_depth (k={args.knn_k})", {"knn_k": args.knn_k}),
        ]
        teacher_cost = None
        if "transfer_teacher" not in skip:
            path, wall = teacher_file(bundle, cfg, Path(tmp) / "teacher.pt")
            teacher_cost = wall
            for variant in ("prob", "margin"):
                plans.append(("transfer_teacher", f"transfer_teacher ({variant}, dev+test teacher)",
                              {"checkpoint": str(path), "variant": variant}))
        for name, label, params in plans:
            if name in skip:
                continue
            scorer = SCORERS.get(name)
            members = scorer.from_seeds(bundle, cfg, seeds=seeds, progress=False, **params)
            ens = ensemble(members)
            cost = sum_costs(members)
            if name == "transfer_teacher" and teacher_cost is not None:
                cost = {"wall_s": cost["wall_s"] + teacher_cost, "trainings": cost["trainings"] + 1}
            rho = spearmanr(easiness(ens), ref.values)[0]
            rows.append(dict(scorer=label, rho=float(rho), snr=snr_rho(ens, bundle),
                             unique=len(np.unique(ens.values)), **cost))
            print(f"  done: {label} ({cost['wall_s']:.1f} s)", flush=True)
    print(f"\nSpearman correlation with the {args.seeds}-seed CumAcc ensemble (on easiness); "
          f"costly scorers over {args.costly_seeds} seed(s)")
    width = max(len(r["scorer"]) for r in rows)
    has_snr = "snr_db" in bundle.train.meta
    snr_head = f"  {'vs SNR':>7}" if has_snr else ""
    print(f"{'scorer':<{width}}  {'spearman':>8}{snr_head}  {'unique':>6}  {'wall s':>8}  "
          f"{'trainings':>9}")
    for r in rows:
        snr_col = f"  {r['snr']:>7.3f}" if has_snr else ""
        print(f"{r['scorer']:<{width}}  {r['rho']:>8.3f}{snr_col}  {r['unique']:>6}  "
              f"{r['wall_s']:>8.1f}  {r['trainings']:>9}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
