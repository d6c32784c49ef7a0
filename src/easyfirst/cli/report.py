"""``easyfirst report``: a self-contained HTML report (and Markdown) of an output folder."""

from __future__ import annotations

import argparse


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="write report.html and report.md for a score, train or reproduce folder"
    )
    p.add_argument("run_dir", metavar="RUN_DIR",
                   help="an --out folder of score, train or reproduce")
    p.add_argument("--out", default=None, help="where to write the report (default: RUN_DIR)")
    p.add_argument("--target", type=float, default=0.9,
                   help="Spearman for the seeds-needed estimate (default 0.9)")
    p.add_argument("--best-k", type=int, default=3,
                   help="compare the best runs with the mean of the best k baselines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from easyfirst.analysis.report import write_report

    html_path, md_path = write_report(args.run_dir, args.out, target=args.target,
                                      best_k=args.best_k)
    print(f"markdown: {md_path}")
    print(f"report: {html_path}")
    return 0
