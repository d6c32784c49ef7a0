"""``easyfirst score``: scoring runs over seeds, per-seed and ensemble scores, a summary.

The scorers' own options (``--folds``, ``--subset-ratios``, ...) are built from the
parameters each scorer declares when it registers (``easyfirst.scoring.base.Param``); an
option declared by several scorers (``--checkpoint``) goes to each chosen one.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from easyfirst.cli.commands import COMMANDS
from easyfirst.cli.options import (
    add_data_args,
    add_train_args,
    load_data,
    one_of,
    parse_int_list,
    run_config,
    scorer_names,
)
from easyfirst.errors import InputError
from easyfirst.scoring import SCORERS, Param


def scorer_options() -> dict[str, list[tuple[str, Param]]]:
    """Option (``--flag``) -> the (scorer, parameter) pairs that declare it."""
    out: dict[str, list[tuple[str, Param]]] = {}
    for name, scorer in SCORERS.items():
        for param in scorer.params:
            out.setdefault(param.option, []).append((name, param))
    return out


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help=COMMANDS["score"].help)
    add_data_args(p)
    add_train_args(p, epochs=20)
    p.add_argument("--scorers", "--scorer", dest="scorers", default="cumacc",
                   metavar="NAME[,NAME]",
                   help=f"comma-separated scorers, {one_of(SCORERS.names())} (easyfirst "
                   "scorers)")
    p.add_argument("--seeds", "--seed", dest="seeds", default="0",
                   help="seeds, e.g. 0,1,2,3,4 or 0-4")
    p.add_argument(
        "--seed-parallel", action="store_true",
        help="under torchrun --nproc_per_node=K: one seed per process (seed i on rank i mod K), "
             "the same files as a sequential run",
    )
    p.add_argument(
        "--keep-history", action="store_true", help="also keep per-epoch correctness (bit-packed)"
    )
    g = p.add_argument_group("scorer options (declared by the scorers; see easyfirst scorers)")
    for option, users in scorer_options().items():
        param = users[0][1]
        helps = dict.fromkeys(u[1].help for u in users)
        g.add_argument(option, default=None, choices=param.choices, help="; ".join(helps))
    p.set_defaults(func=run)


def scorer_params(args: argparse.Namespace, scorers: list[str]) -> dict[str, dict[str, Any]]:
    """Route the scorer options to the chosen scorers; refuse options none of them takes."""
    out: dict[str, dict[str, Any]] = {}
    for option, users in scorer_options().items():
        text = getattr(args, option[2:].replace("-", "_"), None)
        if text is None:
            continue
        chosen = [(s, prm) for s, prm in users if s in scorers]
        if not chosen:
            raise InputError(
                f"{option} is used by {', '.join(s for s, _ in users)} only; got --scorers "
                f"{','.join(scorers)}. Add the scorer or drop {option}."
            )
        for s, prm in chosen:
            out.setdefault(s, {})[prm.name] = _parse(option, prm, text)
    return out


def _parse(option: str, param: Param, text: str) -> Any:
    """A scorer option's value, or one line: what it expects, what it got, where to look."""
    kind = {int: "a whole number", float: "a finite number"}.get(param.parse)  # type: ignore
    try:
        value = param.parse(text)
    except (ValueError, TypeError, OverflowError) as exc:
        why = kind or f"a value {getattr(param.parse, '__name__', 'it')} reads ({exc})"
        raise InputError(f"Expected {option} as {why}; got {text!r}. Fix {option} (easyfirst "
                         "scorers describes it).") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"Expected {option} as a finite number; got {text!r}. Fix {option}.")
    return value


def run(args: argparse.Namespace) -> int:
    from easyfirst.monitor import note as say
    from easyfirst.training.distributed import is_main_process
    from easyfirst.workflows.score import score_dataset

    scorers = scorer_names(args.scorers)
    params = scorer_params(args, scorers)
    seeds = parse_int_list(args.seeds, "--seeds")
    bundle = load_data(args)
    cfg, note = run_config(args, bundle, keep_history=args.keep_history)
    if is_main_process():
        say(note)  # on stderr once the checks have passed: stdout holds results only
    results, summary = score_dataset(
        bundle,
        cfg,
        seeds=seeds,
        scorers=scorers,
        out_dir=args.out,
        resume=args.resume,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        scorer_params=params,
        seed_parallel=args.seed_parallel,
    )
    if not is_main_process():
        return 0
    print(
        f"dataset {bundle.name}: {len(bundle.train)} training samples, "
        f"{bundle.num_classes} classes, fingerprint {bundle.fingerprint}"
    )
    metric = "mAP" if "test_map" in summary else "accuracy"
    accs = summary.get("test_map", summary.get("test_accuracy", {}))
    if accs:
        print(
            f"test {metric} per seed: "
            + ", ".join(f"{k}: {v:.4f}" for k, v in accs.items() if v is not None)
        )
    entries = {name: summary["scorers"][name] for name in results}
    shared = shared_runs(entries)
    for name, scores in results.items():
        print(format_summary(scores.summary(ids=bundle.train.ids)))
        if name not in shared:  # a scorer with trainings of its own: its cost here
            print("  " + format_cost(entries[name]))
        print(f"  -> {args.out}/scores/{name}.csv")
    if shared:
        print(format_shared_cost({name: entries[name] for name in shared}))
    return 0


SETTINGS = ("ratios", "layers", "features", "source")  # a summary entry's own settings


def shared_runs(entries: dict[str, dict[str, Any]]) -> list[str]:
    """The scorers whose whole cost is the same ordinary training runs (cumacc, fit, celoss,
    ...): their cost is printed once for all of them."""
    plain = [name for name, e in entries.items()
             if e.get("cost", {}).get("shared") and not any(k in e for k in SETTINGS)]
    first = entries[plain[0]]["cost"].get("trainings") if plain else None
    return [name for name in plain if entries[name]["cost"].get("trainings") == first]


def format_shared_cost(entries: dict[str, dict[str, Any]]) -> str:
    """One line: the cost of the training runs ``entries``' scorers share."""
    costs = [e["cost"] for e in entries.values()]
    wall = max(float(c.get("wall_s", 0.0)) for c in costs)
    return (f"cost: {wall:.1f} s wall, {costs[0].get('trainings', 0)} trainings ("
            f"{costs[0]['shared']}), shared by {', '.join(entries)}")


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
        f"  unique values {s['num_unique']}, " + (
            f"largest tie {s['largest_tie']} samples at {s['largest_tie_value']:.4g}, "
            f"ordered by {s['ties']}\n"
            if s["largest_tie"] > 1 else "no ties\n") +
        f"  easiest: {', '.join(map(str, s['easiest']))}\n"
        f"  hardest: {', '.join(map(str, s['hardest']))}"
    )
