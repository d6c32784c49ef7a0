"""``easyfirst reproduce``: scoring, the curriculum grid, baselines, late fusion, the tables.

The grid is pacing (logarithmic, root, linear, exponential) x a in {0.5, 0.8} x ordering
{CL, RCL, ACL} with b = 0.2. Budgets (``--budget``):

  tiny   (default) 10 runs, 4 epochs: 2 scoring seeds, 2 baselines, {log, exp} x a=0.5 x 3
  small  30 runs, 6 epochs: 3 scoring seeds, 3 baselines, the full 24-run grid
  compare 73 runs, 6 epochs: 3 scoring seeds, then 10 seeds each of baseline, CL, RCL
         and ACL at {log, exp} x a=0.5: enough seeds for paired tests that survive
         Holm's correction over the findings (findings.json)
  paper  92 runs, 50 epochs: 10 scoring seeds, 10 baselines, the full grid x 3 seeds
  N      N runs (N >= 7), 6 epochs: 2 scoring seeds and 2 baselines, then grid cells of 3 runs
         (log, exp, root, linear at a=0.5, then at a=0.8); once the grid is full, the runs
         left go to more scoring seeds and baselines, alternately

Every run has its own folder under OUT/runs; re-running skips finished runs and resumes
interrupted ones. The command prints the tables and ends with the path of the report.
"""

from __future__ import annotations

import argparse

from easyfirst.cli.commands import COMMANDS
from easyfirst.cli.options import (
    add_data_args,
    add_train_args,
    load_data,
    one_of,
    run_config,
    scorer_names,
)
from easyfirst.data.registry import plain_doc
from easyfirst.errors import InputError
from easyfirst.scoring import SCORERS


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reproduce",
        help=COMMANDS["reproduce"].help,
        description=plain_doc(__doc__ or ""),
    )
    add_data_args(p)
    p.add_argument("--budget", default="tiny",
                   help="tiny, small, compare, paper, or a number of training runs (see above)")
    p.add_argument("--scorers", "--scorer", dest="scorers", default="cumacc,fit,celoss",
                   metavar="NAME[,NAME]",
                   help=f"scorers computed from the scoring runs, comma-separated, "
                   f"{one_of(SCORERS.names())}")
    p.add_argument("--order-by", default=None, metavar="NAME[,NAME]",
                   help="scorer(s) ordering the CL/ACL runs, among --scorers (default: the "
                   "first of --scorers)")
    p.add_argument("--best-k", type=int, default=3,
                   help="compare the best runs with the mean of the best k baselines")
    add_train_args(p, epochs=None, out_required=False, resumable=False)
    p.add_argument("--no-report", action="store_true", help="skip report.html / report.md")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from easyfirst.analysis.formats import format_text
    from easyfirst.analysis.report import write_report
    from easyfirst.monitor import note as say
    from easyfirst.protocol import make_plan, reproduce

    scorers = scorer_names(args.scorers)
    if args.best_k < 1:
        raise InputError(
            f"Expected --best-k >= 1 (the best baselines compared with); got {args.best_k}. "
            "Pass e.g. 3."
        )
    order_by = [s for s in args.order_by.split(",") if s] if args.order_by else None
    plan = make_plan(args.budget, scorers=scorers, order_by=order_by, best_k=args.best_k)
    args.epochs = args.epochs if args.epochs is not None else plan.epochs
    bundle = load_data(args)
    cfg, note = run_config(args, bundle)
    say(note)  # on stderr once the checks have passed: stdout holds results only
    out = args.out or f"runs/reproduce-{args.dataset}-{plan.budget}"
    print(f"reproduce on {bundle.name} ({len(bundle.train)} training samples, "
          f"{bundle.num_classes} classes): {plan.num_runs} runs of {cfg.model}, "
          f"{cfg.epochs} epochs each, budget {plan.budget} -> {out}")
    res = reproduce(bundle, cfg, plan, out_dir=out, progress=not args.no_progress)
    print(f"trained {res.trained} runs, skipped {res.skipped} finished ones")
    for table in res.tables:
        print()
        print(format_text(table))
    print()
    print(f"tables: {res.out_dir / 'tables.md'}")
    if not args.no_report:
        html_path, _ = write_report(res.out_dir)
        print(f"report: {html_path}")
    return 0
