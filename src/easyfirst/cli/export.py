"""``easyfirst export``: every training sample's rank, id, label, prediction and scores, as CSV."""

from __future__ import annotations

import argparse
from pathlib import Path

from easyfirst.cli.commands import COMMANDS
from easyfirst.errors import InputError

DESCRIPTION = """\
Write one CSV row per training sample of a score folder (or of the score folder inside a
reproduce folder), easiest first by one scorer:
  rank            0 = easiest by --by (empty where that scorer has no score)
  index           the sample's position in the training split
  id, label       the sample's id (e.g. its file) and label (class names, ';'-joined if several)
  predicted       the class the eval passes over the training set predict, majority over seeds
  <each scorer>   its seed-ensemble score
  seed_agreement  fraction of seeds whose own rank of the sample lies in the ensemble rank's
                  decile (1 = every seed places it alike; empty with fewer than 2 seeds)

With --label-issues, one row per likely mislabelled training sample instead, most evidence
first (default file: label_issues.csv in the score folder):
  issue_rank, index, id, given, suggested (the class the eval passes favour), probability
  (its mean eval probability over the seeds), seed_agreement (fraction of seeds predicting
  it), the evidence that ranked it (the seeds' mean AUM where recorded), each scorer's score.
The number flagged is estimated from the runs (confident learning on the eval passes); the
command prints how."""


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help=COMMANDS["export"].help, description=DESCRIPTION)
    p.add_argument("run_dir", metavar="RUN", help="an --out folder of easyfirst score or reproduce")
    p.add_argument("--out", default=None, metavar="FILE.csv",
                   help="where to write (default: per_sample.csv in the score folder; not "
                   "among the run's own files)")
    p.add_argument("--by", default=None, metavar="SCORER",
                   help="the scorer that ranks the rows "
                   "(default: the score run's first scorer, e.g. cumacc of --scorers cumacc,fit)")
    p.add_argument("--label-issues", action="store_true",
                   help="write only the likely mislabelled samples (see above)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from easyfirst.analysis.label_issues import write_label_issues
    from easyfirst.analysis.per_sample import find_score_folder, write_sample_csv
    from easyfirst.run_folder import writing_into

    if args.label_issues and args.by is not None:
        raise InputError("Expected --by without --label-issues (label issues are ranked by "
                         f"the runs' evidence); got --by {args.by}. Drop one of the two.")
    name = "label_issues.csv" if args.label_issues else "per_sample.csv"
    target = Path(args.out) if args.out is not None else find_score_folder(args.run_dir) / name
    with writing_into(target, target.parent, command="export"):  # the folder's lock
        _refuse_a_file_not_ours(target)
        if args.label_issues:
            path, found = write_label_issues(args.run_dir, target)
            print(f"label issues: {found.rule()}\n  -> {path}")
            return 0
        print(f"samples: {write_sample_csv(args.run_dir, target, by=args.by)}")
    return 0


HEADERS = (b"rank,index,id,", b"issue_rank,index,id,")  # the first cells export writes


def _refuse_a_file_not_ours(target: Path) -> None:
    """An existing ``--out`` is replaced only when an earlier export wrote it: a link, or a
    file with another first line (a user's notes, data), is refused before anything runs."""
    if target.is_symlink():
        what = "a symbolic link"
    elif target.is_file():
        with open(target, "rb") as fh:
            if fh.read(32).startswith(HEADERS):
                return
        what = "an existing file that export did not write"
    else:
        return
    raise InputError(f"Expected --out to be a new file or an earlier export's CSV; got "
                     f"{str(target)!r}, {what}. Choose another path (nothing was written).")
