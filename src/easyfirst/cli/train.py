"""``easyfirst train``: curriculum / anti-curriculum / random / baseline training."""

from __future__ import annotations

import argparse

from easyfirst.cli.commands import COMMANDS
from easyfirst.cli.options import (
    add_data_args,
    add_train_args,
    bounded,
    load_data,
    one_of,
    run_config,
)
from easyfirst.curriculum.balance import BALANCES
from easyfirst.curriculum.ordering import ORDERINGS
from easyfirst.curriculum.sampler import MODES, PACE_BY
from easyfirst.pacing import PACINGS
from easyfirst.scores import TIE_RULES


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help=COMMANDS["train"].help)
    add_data_args(p)
    add_train_args(p, epochs=20)
    p.add_argument("--scores", default=None, metavar="FILE",
                   help="score CSV from easyfirst score, e.g. OUT/scores/cumacc.csv (needed by "
                   "--ordering curriculum and anti)")
    p.add_argument("--ordering", default="curriculum",
                   help=f"{one_of(ORDERINGS)}: curriculum (easy first), anti (hard first), "
                   "random (a seeded random order), none (the baseline: full data, no pacing)")
    p.add_argument("--pacing", default="logarithmic",
                   help=f"pacing function, {one_of(PACINGS.names())} (easyfirst pacings)")
    p.add_argument("--start-fraction", type=float, default=0.2, help="b: initial pool fraction")
    p.add_argument("--full-at", type=float, default=0.5,
                   help="a: training progress from which all data is used")
    p.add_argument("--epoch-mode", default="constant",
                   help=f"{one_of(MODES)}: the baseline's steps per epoch, or one pass over "
                   "the pool")
    p.add_argument("--pace-by", default="epoch",
                   help=f"{one_of(PACE_BY)}: when the pool grows (step: every optimizer "
                   "step, constant mode only)")
    p.add_argument("--balance", default="none",
                   help=f"{one_of(BALANCES)}: balanced (multi-label: rarest labels first), "
                   "stratified (single-label), cover (every class in the pool from the first "
                   "epoch)")
    p.add_argument("--ties", default="file", choices=("file", *TIE_RULES),
                   help="how samples with equal scores are ordered: file (the rule in the score "
                   "file's header; easyfirst score: evidence), evidence (by the finer evidence of "
                   "the same runs, e.g. AUM), random (a seeded permutation), dataset-order (lower "
                   "index first, the paper quick start's rule)")
    p.add_argument("--seed", type=bounded("seed"), default=0,
                   help="seed of the run (initialisation, "
                   "order of batches, random ordering)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from easyfirst.monitor import note as say
    from easyfirst.training.distributed import is_main_process
    from easyfirst.workflows.curriculum import CurriculumSpec, load_scores_for, train_curriculum

    spec = CurriculumSpec(ordering=args.ordering, pacing=args.pacing,
                          start_fraction=args.start_fraction, full_at=args.full_at,
                          mode=args.epoch_mode, balance=args.balance, pace_by=args.pace_by)
    bundle = load_data(args)
    cfg, note = run_config(args, bundle, seed=args.seed)
    if is_main_process():
        say(note)  # on stderr once the checks have passed: stdout holds results only
    scores = load_scores_for(args.scores, bundle) if args.scores else None
    if scores is not None and args.ties != "file":
        scores = scores.with_tie_rule(args.ties)
    result = train_curriculum(bundle, cfg, spec, scores=scores, out_dir=args.out,
                              resume=args.resume, overwrite=args.overwrite,
                              progress=not args.no_progress)
    if is_main_process():
        pools = [m["pool_size"] for m in result.metrics]
        print(f"{spec.describe()} on {bundle.name}: pool {pools[0]} -> {pools[-1]} of "
              f"{len(bundle.train)}")
        if result.test_accuracy is not None:
            metric = "mAP" if result.metric == "map" else "accuracy"
            print(f"test {metric} {result.test_accuracy:.4f} (epoch {result.best_epoch + 1}, "
                  f"{cfg.eval_checkpoint} on dev)")
        print(f"  -> {args.out}")
    return 0
