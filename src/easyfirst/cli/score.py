"""``easyfirst score``: scoring runs over seeds, per-seed and ensemble scores, a summary."""

from __future__ import annotations

import argparse
from typing import Any

from easyfirst.cli.options import add_data_args, add_train_args, parse_int_list, run_config


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="train over seeds and score every training sample")
    add_data_args(p)
    add_train_args(p, epochs=20)
    p.add_argument(
        "--scorer",
        default="cumacc",
        help="comma-separated scorer names (easyfirst scorers), e.g. cumacc,fit,aum",
    )
    p.add_argument("--seeds", default="0", help="seeds, e.g. 0,1,2,3,4 or 0-4")
    p.add_argument("--el2n-epoch", type=int, default=0, help="epoch (0-based) for EL2N")
    p.add_argument(
        "--keep-history", action="store_true", help="also keep per-epoch correctness (bit-packed)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from easyfirst.data import load_dataset
    from easyfirst.scoring import get_scorer
    from easyfirst.training.distributed import is_main_process
    from easyfirst.training.scoring import score_dataset

    scorers = [s for s in args.scorer.split(",") if s]
    for s in scorers:
        get_scorer(s)
    seeds = parse_int_list(args.seeds, "--seeds")
    cfg = run_config(args, el2n_epoch=args.el2n_epoch, keep_history=args.keep_history)
    bundle = load_dataset(args.dataset, **cfg.dataset_options)
    results, summary = score_dataset(
        bundle,
        cfg,
        seeds=seeds,
        scorers=scorers,
        out_dir=args.out,
        resume=args.resume,
        progress=not args.no_progress,
    )
    if not is_main_process():
        return 0
    print(
        f"dataset {bundle.name}: {len(bundle.train)} training samples, "
        f"{bundle.num_classes} classes, fingerprint {bundle.fingerprint}"
    )
    accs = summary.get("test_accuracy", {})
    if accs:
        print(
            "test accuracy per seed: "
            + ", ".join(f"{k}: {v:.4f}" for k, v in accs.items() if v is not None)
        )
    for name, scores in results.items():
        print(format_summary(scores.summary(ids=bundle.train.ids)))
        print(f"  -> {args.out}/scores/{name}.csv")
    return 0


def format_summary(s: dict[str, Any]) -> str:
    q = s["quantiles"]
    return (
        f"{s['scorer']} ({s['direction']}, N={s['N']}): min {s['min']:.4g}  "
        f"p25 {q.get('0.25', float('nan')):.4g}  median {q.get('0.5', float('nan')):.4g}  "
        f"p75 {q.get('0.75', float('nan')):.4g}  max {s['max']:.4g}  mean {s['mean']:.4g}\n"
        f"  unique values {s['num_unique']}, largest tie {s['largest_tie']} samples at "
        f"{s['largest_tie_value']:.4g}\n"
        f"  easiest: {', '.join(map(str, s['easiest']))}\n"
        f"  hardest: {', '.join(map(str, s['hardest']))}"
    )
