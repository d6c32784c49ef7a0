"""``easyfirst report``: a self-contained HTML report (and Markdown) of an output folder, or
with ``--hardest K`` the K hardest training samples of its score folder."""

from __future__ import annotations

import argparse
from contextlib import nullcontext
from pathlib import Path

from easyfirst.cli.commands import COMMANDS
from easyfirst.cli.options import positive_int
from easyfirst.errors import InputError


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help=COMMANDS["report"].help
    )
    p.add_argument("run_dir", metavar="RUN_DIR",
                   help="an --out folder of score, train or reproduce")
    p.add_argument("--out", default=None, help="where to write the report (default: RUN_DIR; "
                   "not inside the run's own files)")
    p.add_argument("--target", type=float, default=0.9,
                   help="Spearman for the seeds-needed estimate")
    p.add_argument("--best-k", type=positive_int, default=3,
                   help="compare the best runs with the mean of the best k baselines")
    p.add_argument("--hardest", type=positive_int, default=None, metavar="K",
                   help="print the K hardest training samples of the score folder (rank, index, "
                   "id, label, predicted, each scorer's score; easyfirst export writes all) "
                   "instead of writing the report")
    p.add_argument("--by", default=None, metavar="SCORER",
                   help="with --hardest: the scorer that ranks them "
                   "(default: the score run's first scorer, e.g. cumacc of --scorers cumacc,fit)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from easyfirst.analysis.report import write_report
    from easyfirst.run_folder import run_folder_of, writing_into

    if args.by is not None and args.hardest is None:
        raise InputError(f"--by ranks the samples of --hardest; got --by {args.by} without "
                         "--hardest. Add --hardest K, or drop --by.")
    if args.hardest is not None:
        from easyfirst.analysis.formats import format_text
        from easyfirst.analysis.per_sample import hardest_table

        print(format_text(hardest_table(args.run_dir, args.hardest, by=args.by)))
        return 0

    out = Path(args.out if args.out is not None else args.run_dir)
    other_run = run_folder_of(out.absolute()) == out.absolute()
    if other_run and out.resolve() != Path(args.run_dir).resolve():
        raise InputError(f"Expected --out to be RUN_DIR itself or a folder holding no run; got "
                         f"{str(out)!r}, which holds another run (whose own report would be "
                         "replaced). Choose another folder (nothing was written).")
    lock = writing_into(out, out, command="report") if Path(args.run_dir).is_dir() else (
        nullcontext())  # no run folder: write_report says so
    with lock:  # the folder's lock; refused inside a run's own files
        html_path, md_path = write_report(args.run_dir, args.out, target=args.target,
                                          best_k=args.best_k)
    print(f"markdown: {md_path}")
    print(f"report: {html_path}")
    return 0
