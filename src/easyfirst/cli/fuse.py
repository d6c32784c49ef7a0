"""``easyfirst fuse``: late fusion (sum of softmax probabilities) of finished train runs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from easyfirst.cli.commands import COMMANDS
from easyfirst.cli.options import positive_int
from easyfirst.errors import InputError

DESCRIPTION = """\
Late fusion: add the class probabilities of several finished runs (easyfirst train --out
folders) and take the argmax; prints the fused and each member's test accuracy (macro mAP for
multi-label data) and the fused minus the best member with a paired-bootstrap interval over
the test samples and McNemar's p. Given one folder that holds runs (a reproduce folder, or
any parent), it prints the paper's table instead: the best run of each type (on dev) fused,
against its best member and against as many baselines fused, with the same intervals.
easyfirst report PARENT shows the same table."""


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fuse", help=COMMANDS["fuse"].help,
                       description=DESCRIPTION)
    p.add_argument("runs", nargs="+", metavar="RUN",
                   help="two or more train run folders, or one folder holding runs")
    p.add_argument("--split", choices=("test", "dev"), default="test",
                   help="the split whose predictions are fused")
    p.add_argument("--best-k", type=positive_int, default=3,
                   help="a folder of runs: fuse the best k baselines too (a reproduce "
                   "folder's plan wins)")
    p.add_argument("--json", default=None, metavar="FILE",
                   help="also write the numbers to FILE as JSON")
    p.set_defaults(func=run)


def _members_table(res: dict[str, Any], split: str) -> Any:
    from easyfirst.analysis.results import Table

    metric = "mAP" if res["metric"] == "map" else "accuracy"
    rows = [[name, f"{acc:.4f}"] for name, acc in
            zip(res["members"], res["member_accuracies"], strict=True)]
    rows.append(["fused (sum of probabilities)", f"{res['accuracy']:.4f}"])
    vs = res["vs_best_member"]
    note = f"fused - best member: {res['accuracy'] - res['best_member_accuracy']:+.4f}"
    if vs is not None:
        note += (f" [95 % CI {vs['ci_low']:+.4f}, {vs['ci_high']:+.4f}], McNemar p = "
                 f"{vs['p']:.4g} over {vs['n']} samples (paired bootstrap; these trained "
                 "models, not other seeds)")
    return Table(f"Late fusion of {len(res['members'])} runs ({split} split)",
                 ["run", f"{split} {metric}"], rows, note=note)


def run(args: argparse.Namespace) -> int:
    from easyfirst.analysis.formats import format_text
    from easyfirst.analysis.fusion import fuse_runs
    from easyfirst.analysis.report import REPRODUCE_FILE
    from easyfirst.analysis.results import find_runs, fusion_results
    from easyfirst.run_folder import PREDICTIONS, read_json, writing_into
    from easyfirst.scores import atomic_write_text

    if args.json is not None and Path(args.json).is_dir():
        raise InputError(f"Expected --json to be a file; got {args.json!r}, an existing folder. "
                         "Pass a file name such as fusion.json (nothing was changed).")
    root = Path(args.runs[0])
    if len(args.runs) == 1 and root.is_dir() and not (root / PREDICTIONS).is_file():
        records = find_runs(root)
        if len(records) < 2:
            raise InputError(
                f"{str(root)!r} holds {len(records)} finished train run(s) below it; expected "
                "at least 2 to fuse. Pass two or more train run folders, or a reproduce folder."
            )
        plan = root / REPRODUCE_FILE
        k = int(read_json(plan, what="the reproduce plan").get("plan", {}).get(
            "best_k", args.best_k)) if plan.is_file() else args.best_k
        table, rows = fusion_results(records, k=k, split=args.split)
        if not rows:
            raise InputError(
                f"{str(root)!r}: its {len(records)} runs form no fusion group (expected two "
                "run types, e.g. CL and ACL, or two baselines). Pass the run folders to fuse."
            )
        result: Any = {"split": args.split, "fusion": rows}
    else:
        res = fuse_runs(args.runs, split=args.split)
        table, result = _members_table(res, args.split), {"split": args.split, **res}
    print(format_text(table))
    if args.json is not None:
        clean = json.loads(json.dumps(result), parse_constant=lambda c: None)  # NaN -> null
        target = Path(args.json)
        with writing_into(target, target.parent, command="fuse"):
            print(f"json: {atomic_write_text(target, json.dumps(clean, indent=1))}")
    return 0
