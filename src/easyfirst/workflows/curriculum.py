"""Curriculum, anti-curriculum, random-curriculum and baseline training runs.

Output layout of ``train_curriculum(..., out_dir=OUT)``::

    OUT/run.json         kind, config (with seed), curriculum (ordering, pacing), scores header
    OUT/checkpoint.pt    last epoch (for --resume)
    OUT/metrics.json     per-epoch metrics (pool size, losses, accuracies), test accuracy
    OUT/model.pt         state dict of the selected (best-on-dev or last) model
    OUT/predictions.npz  dev/test logits, softmax probabilities, targets, ids (late fusion)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from easyfirst.curriculum.balance import BALANCES
from easyfirst.curriculum.ordering import ORDERINGS, make_ordering
from easyfirst.curriculum.sampler import MODES, PACE_BY, CurriculumSampler
from easyfirst.data.base import DatasetBundle
from easyfirst.errors import InputError
from easyfirst.locks import folder_lock
from easyfirst.pacing import PacingFunction
from easyfirst.run_folder import (
    claim_out_dir,
    read_json,
    run_record,
    write_metrics,
    write_predictions,
)
from easyfirst.scores import Scores, ScoresFileError, read_score_header
from easyfirst.training.checkpoint import save_checkpoint
from easyfirst.training.config import RunConfig, resolve_auto
from easyfirst.training.distributed import DistInfo, is_main_process, world_size
from easyfirst.training.loop import RunResult, train
from easyfirst.training.runs import check_model

FINISHED = "metrics.json"  # with predictions.npz: a finished run


@dataclass(frozen=True)
class CurriculumSpec:
    """How the training data is ordered and paced.

    Attributes:
        ordering: ``curriculum`` (easy first), ``anti`` (hard first), ``random`` (RCL: a seeded
            random ordering) or ``none`` (baseline, full data every epoch).
        pacing: pacing function name (``easyfirst.pacing.PACINGS``).
        start_fraction: b, the pool's initial fraction of the data.
        full_at: a, the training progress from which the full data is used.
        mode: ``constant`` (baseline's steps per epoch) or ``pool`` (one pass over the pool).
        balance: ``none``, ``balanced`` or ``stratified`` class balance of the pool.
        pace_by: ``epoch`` or ``step`` (the pool grows by optimizer step; constant mode).
    """

    ordering: str = "curriculum"
    pacing: str = "logarithmic"
    start_fraction: float = 0.2
    full_at: float = 0.5
    mode: str = "constant"
    balance: str = "none"
    pace_by: str = "epoch"

    def __post_init__(self) -> None:
        for what, value, valid in (("ordering", self.ordering, ORDERINGS),
                                   ("epoch mode", self.mode, MODES),
                                   ("class balance", self.balance, BALANCES),
                                   ("pace_by", self.pace_by, PACE_BY)):
            if value not in valid:
                raise InputError(f"Unknown {what} {value!r}. Available: {', '.join(valid)}.")
        PacingFunction(self.pacing, start_fraction=self.start_fraction, full_at=self.full_at)

    @property
    def needs_scores(self) -> bool:
        return self.ordering in ("curriculum", "anti")

    def describe(self) -> str:
        """``curriculum / logarithmic (b=0.2, a=0.5)``; the baseline names no pacing."""
        if self.ordering == "none":
            return "baseline (ordering none: the full data every epoch, no pacing)"
        return f"{self.ordering} / {self.pacing} (b={self.start_fraction}, a={self.full_at})"


def _scores_setting(scores: Scores | None) -> dict[str, Any] | None:
    """The scores a run is ordered by, as its ``run.json`` records them: the header without
    its ``cost`` (the scoring run's wall time is no setting; a resumed scoring run may
    rewrite it, and the run must still resume)."""
    return None if scores is None else {k: v for k, v in scores.header().items()
                                        if k != "cost"}


def load_scores_for(path: str | Path, bundle: DatasetBundle) -> Scores:
    """Load a score file and check it belongs to ``bundle``'s training split.

    Raises:
        ValueError: ``path`` is a folder (the line names the score files in it, if any).
    """
    if Path(path).is_dir():
        found = sorted(str(p) for p in (Path(path) / "scores").glob("*.csv")) or sorted(
            str(p) for p in Path(path).glob("*.csv"))
        hint = (f"Pass one of its score files: {', '.join(map(repr, found[:4]))}" if found
                else "Pass a score CSV file (OUT/scores/<scorer>.csv of easyfirst score)")
        raise InputError(f"Expected --scores to be a score CSV file; got {str(path)!r}, which "
                         f"is a folder. {hint}.")
    try:
        return Scores.load(path, expect_fingerprint=bundle.fingerprint,
                           expect_num_samples=len(bundle.train))
    except ScoresFileError:
        other = other_dataset(path, bundle)
        if other is None:
            raise
        raise ScoresFileError(other) from None


# The options of load_dataset that have their own flag (the others: --dataset-opt KEY=VALUE).
OPTION_FLAGS = {"root": "--root", "label_noise": "--label-noise", "noise_kind": "--noise-kind",
                "noise_seed": "--noise-seed"}


def other_dataset(path: str | Path, bundle: DatasetBundle) -> str | None:
    """One line naming the dataset a score file belongs to and the flags that load it, when
    its fingerprint is another dataset's and its header or run folder (``run.json``) names
    that dataset; None otherwise."""
    try:
        header = read_score_header(path)
    except (ScoresFileError, OSError):
        return None
    fp = header.get("dataset_fingerprint")
    if fp is None or fp == bundle.fingerprint:
        return None
    name, options = header.get("dataset"), header.get("dataset_options") or {}
    for folder in Path(path).resolve().parents[:4]:  # OUT/scores/x.csv, OUT/seeds/seed_0/...
        record = folder / "run.json"
        if record.is_file():
            run = read_json(record, what="the run record")
            if run.get("dataset_fingerprint") == fp:
                name = name or run.get("dataset")
                options = options or (run.get("config") or {}).get("dataset_options") or {}
            break
    if not isinstance(name, str) or not name or (name == bundle.name and not options):
        return None  # the same dataset with other files: the fingerprint message says so
    flags = " ".join([f"--dataset {name}"] + [
        f"{OPTION_FLAGS[k]} {_text(v)}" if k in OPTION_FLAGS else f"--dataset-opt {k}={_text(v)}"
        for k, v in options.items()])
    return (f"{str(path)!r} holds scores of dataset {name} (fingerprint {fp}), not of "
            f"{bundle.name} ({bundle.fingerprint}): pass {flags}.")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def train_curriculum(
    bundle: DatasetBundle,
    cfg: RunConfig,
    spec: CurriculumSpec,
    *,
    scores: Scores | None = None,
    out_dir: str | Path,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    on_epoch_end: Callable[[int, dict[str, Any]], None] | None = None,
) -> RunResult:
    """Train one run with the ordering and pacing of ``spec``; write the files listed above.

    ``cfg``'s ``model="auto"`` is resolved once, here, before the checks and the run."""
    cfg = resolve_auto(cfg, bundle)
    n = len(bundle.train)
    if spec.needs_scores:
        if scores is None:
            raise InputError(
                f"Ordering {spec.ordering!r} needs difficulty scores; got none. Pass --scores "
                "FILE (from easyfirst score), or use --ordering random or none."
            )
        if scores.num_samples != n:
            raise InputError(
                f"Scores cover {scores.num_samples} samples but the training split has {n}; "
                "score this dataset first (easyfirst score)."
            )
        if scores.fingerprint not in (None, bundle.fingerprint):
            raise InputError(
                f"Scores were computed on dataset fingerprint {scores.fingerprint}, not on "
                f"this dataset ({bundle.fingerprint}); score this dataset first."
            )
        easy_to_hard = scores.easy_to_hard()
    else:
        easy_to_hard = np.arange(n)
    ordering = make_ordering(easy_to_hard, spec.ordering, seed=cfg.seed)
    pacing = PacingFunction(spec.pacing, start_fraction=spec.start_fraction,
                            full_at=spec.full_at)

    def sampler_factory(d: DistInfo) -> CurriculumSampler:
        return CurriculumSampler(
            bundle.train, ordering, pacing=pacing, epochs=cfg.epochs,
            batch_size=cfg.batch_size // d.world_size, mode=spec.mode, pace_by=spec.pace_by,
            balance=spec.balance,
            targets=bundle.train.targets.numpy(), num_classes=bundle.num_classes,
            num_replicas=d.world_size, rank=d.rank, seed=cfg.seed,
        )

    out = Path(out_dir)
    settings = run_record("train", bundle, {**cfg.identity(), "seed": cfg.seed},
                          curriculum=spec.__dict__,
                          scores=_scores_setting(scores))
    check_model(cfg, bundle)
    sampler_factory(DistInfo(world_size=world_size()))  # its checks, before anything is written
    with folder_lock(out, enabled=is_main_process()):
        if is_main_process():
            claim_out_dir(out, settings, what="a run", resume=resume, overwrite=overwrite,
                          finished=[FINISHED, "predictions.npz"])
        result = train(bundle, cfg, out_dir=out, record=False, resume=resume,
                       progress=progress, sampler_factory=sampler_factory,
                       on_epoch_end=on_epoch_end)
        if is_main_process():
            write_run_outputs(out, bundle, result)
    return result


def write_run_outputs(out: Path, bundle: DatasetBundle, result: RunResult) -> None:
    """model.pt, predictions.npz, then metrics.json (``FINISHED``: written last, it marks the
    run complete)."""
    save_checkpoint(result.model.state_dict(), out / "model.pt")
    write_predictions(out / "predictions.npz", bundle, result.dev_logits, result.test_logits)
    write_metrics(out / FINISHED, bundle, result)
