"""``easyfirst score``: scoring runs over seeds, per-seed and ensemble scores, a summary."""

from __future__ import annotations

import argparse
from typing import Any

from easyfirst.cli.options import (
    add_data_args,
    add_train_args,
    dataset_options,
    parse_int_list,
    run_config,
)

# CLI option (argparse dest) -> (scorer parameter name, scorers that take it).
SCORER_OPTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "folds": ("folds", ("cvloss",)),
    "subset_ratios": ("subset_ratios", ("cscore",)),
    "subset_runs": ("subset_runs", ("cscore",)),
    "cscore_file": ("cscore_file", ("cscore",)),
    "embeddings": ("embeddings", ("transfer_teacher",)),
    "tt_variant": ("variant", ("transfer_teacher",)),
    "checkpoint": ("checkpoint", ("transfer_teacher", "prediction_depth")),
    "layers": ("layers", ("prediction_depth",)),
    "knn_k": ("knn_k", ("prediction_depth",)),
    "max_dim": ("max_dim", ("prediction_depth",)),
}


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="train over seeds and score every training sample")
    add_data_args(p)
    add_train_args(p, epochs=20)
    p.add_argument(
        "--scorer",
        default="cumacc",
        help="comma-separated scorer names (easyfirst scorers), e.g. cumacc,fit,aum,cvloss",
    )
    p.add_argument("--seeds", default="0", help="seeds, e.g. 0,1,2,3,4 or 0-4")
    p.add_argument("--el2n-epoch", type=int, default=0, help="epoch (0-based) for EL2N")
    p.add_argument(
        "--keep-history", action="store_true", help="also keep per-epoch correctness (bit-packed)"
    )
    g = p.add_argument_group("costly scorers (cvloss, cscore, transfer_teacher, prediction_depth)")
    g.add_argument("--folds", type=int, default=None, help="cvloss: k folds (default 3)")
    g.add_argument(
        "--subset-ratios",
        default=None,
        help="cscore: training fractions in (0, 1), e.g. 0.1,0.3,0.5,0.7,0.9 (the default)",
    )
    g.add_argument(
        "--subset-runs", type=int, default=None, help="cscore: models per ratio (default 3)"
    )
    g.add_argument(
        "--cscore-file",
        default=None,
        help="cscore: read precomputed C-scores (.npy (N,), .npz 'scores', CSV index,score)",
    )
    g.add_argument(
        "--embeddings",
        default=None,
        help="transfer_teacher: precomputed features .npy (N, D) in training-split order "
        "(without it or --checkpoint, a self-taught teacher is trained on this split)",
    )
    g.add_argument(
        "--checkpoint",
        default=None,
        help="transfer_teacher: teacher model file; prediction_depth: model trained on this "
        "split (an easyfirst checkpoint.pt or a state dict of --model); local files only",
    )
    g.add_argument(
        "--tt-variant",
        default=None,
        choices=["prob", "margin"],
        help="transfer_teacher: SVM true-class probability (default) or decision margin",
    )
    g.add_argument(
        "--layers",
        default=None,
        help="prediction_depth: comma-separated layer names, shallow first (default: the "
        "model's embedding layers)",
    )
    g.add_argument(
        "--knn-k", type=int, default=None, help="prediction_depth: k of the k-NN probes (30)"
    )
    g.add_argument(
        "--max-dim",
        type=int,
        default=None,
        help="prediction_depth: features per layer after random projection (512)",
    )
    p.set_defaults(func=run)


def parse_float_list(text: str, flag: str) -> list[float]:
    """``"0.1,0.5"`` -> ``[0.1, 0.5]``."""
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"Expected {flag} like 0.1,0.5,0.9; got {text!r}.") from None


def scorer_params(args: argparse.Namespace, scorers: list[str]) -> dict[str, dict[str, Any]]:
    """Route the costly scorers' options to the chosen scorers; refuse unused options."""
    out: dict[str, dict[str, Any]] = {}
    for dest, (param, users) in SCORER_OPTIONS.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        if dest == "subset_ratios":
            value = parse_float_list(value, "--subset-ratios")
        elif dest == "layers":
            value = [v for v in value.split(",") if v]
        chosen = [s for s in users if s in scorers]
        if not chosen:
            flag = "--" + dest.replace("_", "-")
            raise ValueError(
                f"{flag} is used by {', '.join(users)} only; got --scorer "
                f"{','.join(scorers)}. Add the scorer or drop {flag}."
            )
        for s in chosen:
            out.setdefault(s, {})[param] = value
    return out


def run(args: argparse.Namespace) -> int:
    from easyfirst.data import load_dataset
    from easyfirst.scoring import get_scorer
    from easyfirst.training.distributed import is_main_process
    from easyfirst.training.scoring import score_dataset

    scorers = [s for s in args.scorer.split(",") if s]
    for s in scorers:
        get_scorer(s)
    params = scorer_params(args, scorers)
    seeds = parse_int_list(args.seeds, "--seeds")
    bundle = load_dataset(args.dataset, **dataset_options(args))
    cfg, note = run_config(args, bundle, el2n_epoch=args.el2n_epoch,
                           keep_history=args.keep_history)
    if is_main_process():
        print(note, flush=True)
    results, summary = score_dataset(
        bundle,
        cfg,
        seeds=seeds,
        scorers=scorers,
        out_dir=args.out,
        resume=args.resume,
        progress=not args.no_progress,
        scorer_params=params,
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
        print("  " + format_cost(summary["scorers"][name]))
        print(f"  -> {args.out}/scores/{name}.csv")
    return 0


def format_cost(entry: dict[str, Any]) -> str:
    """One line: the scorer's cost over all seeds, and its settings that matter for reading it."""
    cost = entry.get("cost", {})
    text = f"cost: {cost.get('wall_s', 0.0):.1f} s wall, {cost.get('trainings', 0)} trainings"
    if cost.get("shared"):
        text += f" (shared: {cost['shared']})"
    if "ratios" in entry:
        text += (
            f"; subset ratios {', '.join(f'{r:g}' for r in entry['ratios'])}, "
            f"{entry.get('subset_runs')} runs each"
        )
    if "layers" in entry:
        text += f"; layers {', '.join(map(str, entry['layers']))}"
    if "features" in entry:
        text += f"; features: {entry['features']}"
    if "source" in entry:
        text += f"; {entry['source']}"
    return text


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
