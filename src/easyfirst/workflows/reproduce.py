"""``easyfirst reproduce``'s runs: the protocol of Rampp et al. (2024) at a chosen scale.

1. Scoring runs over seeds for the chosen scorers (``score_dataset``), ensembled per scorer.
2. Baselines over seeds (full data every epoch: ``CurriculumSpec(ordering="none")``).
3. The grid: pacing (logarithmic, root, linear, exponential) x a (full-at) in {0.5, 0.8} x
   ordering CL (easy first, by the ensemble scores), RCL (random order, same pacing) and ACL
   (hard first), with b = 0.2 (start fraction).

``trained_plan`` trains them (this module imports no analysis). The paper's findings and
tables over the finished runs are ``easyfirst.analysis.paper_tables``'s (each claim
``shown``, ``reversed`` or ``not distinguishable at n = K``, with its effect, interval and p;
every cell's mean with its interval and its paired difference from the baseline, mean test
accuracy by ordering x pacing, the best run of each type (on dev) against the mean of the
best k baselines, and late fusion of the best runs with paired intervals);
``easyfirst.protocol.reproduce`` (and the command) runs both in the folder's lock.

Layout of ``OUT``::

    OUT/reproduce.json      kind, config, dataset fingerprint, the plan (budget, seeds, grid)
    OUT/score/              easyfirst score output (seeds/, scores/<scorer>.csv, summary.json)
    OUT/runs/<run>/         one easyfirst train output per run (metrics.json, predictions.npz)
    OUT/findings.json       the findings (claim, verdict, effect, ci_low, ci_high, p, n, ...)
    OUT/results.json        the tables' numbers; OUT/tables.md the tables as Markdown

Every run has its own folder; a finished run (metrics.json + predictions.npz) is skipped and
an interrupted one resumes from its checkpoint, so the command can be re-run at will. The
settings (dataset, model, epochs, optimiser...) of a folder are fixed by its first run. Another
budget in the same folder reuses the runs it shares when the epochs and the scoring seeds
agree (e.g. ``7`` then ``16``) and is refused otherwise.

Budgets (``--budget``):

=========  =====================================================================  =======
budget     runs                                                                   epochs
=========  =====================================================================  =======
``tiny``   2 scoring seeds, 2 baselines, pacing {log, exp} x a {0.5} x 3 orders   4
``small``  3 scoring seeds, 3 baselines, the full grid (4 x 2 x 3 = 24 runs)      6
``paper``  10 scoring seeds, 10 baselines, the full grid with 3 seeds (72 runs)   50
``compare`` 3 scoring seeds, then 10 seeds of baseline, CL, RCL and ACL at        6
           pacing {log, exp} x a {0.5} (73 runs): enough seeds per compared
           cell for a paired test to reach p < 0.05 after Holm over the
           findings (``findings.json``)
``N``      2 scoring seeds and 2 baselines, then grid cells (3 runs each) in the  6
           order log, exp, root, linear at a = 0.5, then the same at a = 0.8;
           runs left once the grid is full go to extra scoring seeds and
           baselines, alternately (N >= 7)
=========  =====================================================================  =======

With several ``order_by`` scorers, each cell holds CL and ACL per scorer plus one RCL.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from easyfirst.atomic import atomic_write_text
from easyfirst.data.base import DatasetBundle
from easyfirst.errors import InputError
from easyfirst.locks import folder_lock
from easyfirst.monitor import expect_epochs
from easyfirst.monitor.progress import progress_bar
from easyfirst.run_folder import claim_out_dir, is_finished, read_json, run_record
from easyfirst.scores import Scores
from easyfirst.training.config import RunConfig, resolve_auto
from easyfirst.training.distributed import is_main_process
from easyfirst.training.runs import check_model
from easyfirst.workflows.curriculum import CurriculumSpec, train_curriculum
from easyfirst.workflows.score import score_dataset

PACING_ORDER = ("logarithmic", "exponential", "root", "linear")
FULL_AT = (0.5, 0.8)
START_FRACTION = 0.2
# Seeds per compared cell: Holm over the ~6 findings needs the strongest p < 0.05 / 6; the
# exact sign-flip test reaches 2 / 2**n at best, so n >= 8 (every seed agreeing); 10 leaves
# room for a seed or two that disagree.
COMPARE_SEEDS = 10
ORDER_NAMES = {"CL": "curriculum", "RCL": "random", "ACL": "anti", "baseline": "none"}


@dataclass(frozen=True)
class Plan:
    """What a reproduce run trains.

    Attributes:
        budget: the budget it came from (``tiny``, ``small``, ``paper`` or a number).
        score_seeds: seeds of the scoring runs.
        baseline_seeds: seeds of the baseline runs.
        cells: (pacing, a) pairs of the grid, each trained with CL, RCL and ACL.
        grid_seeds: seeds of every grid run.
        epochs: default epochs of the budget (``RunConfig.epochs`` may override).
        scorers: scorers computed from the scoring runs.
        order_by: scorers whose ensemble orders CL and ACL runs.
        start_fraction: b.
        best_k: number of best baselines the best runs are compared with.
    """

    budget: str
    score_seeds: tuple[int, ...]
    baseline_seeds: tuple[int, ...]
    cells: tuple[tuple[str, float], ...]
    grid_seeds: tuple[int, ...] = (0,)
    epochs: int = 6
    scorers: tuple[str, ...] = ("cumacc",)
    order_by: tuple[str, ...] = ("cumacc",)
    start_fraction: float = START_FRACTION
    best_k: int = 3

    @property
    def pacings(self) -> list[str]:
        return list(dict.fromkeys(p for p, _ in self.cells))

    @property
    def full_at(self) -> list[float]:
        return sorted({a for _, a in self.cells})

    def grid_runs(self) -> list[RunSpec]:
        runs: list[RunSpec] = []
        for seed in self.grid_seeds:
            for pacing, a in self.cells:
                for scorer in self.order_by:
                    runs.append(RunSpec("CL", seed, pacing, a, scorer))
                runs.append(RunSpec("RCL", seed, pacing, a, None))
                for scorer in self.order_by:
                    runs.append(RunSpec("ACL", seed, pacing, a, scorer))
        return runs

    def baseline_runs(self) -> list[RunSpec]:
        return [RunSpec("baseline", s, None, None, None) for s in self.baseline_seeds]

    @property
    def num_runs(self) -> int:
        return len(self.score_seeds) + len(self.baseline_seeds) + len(self.grid_runs())

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(pacings=self.pacings, full_at=self.full_at, num_runs=self.num_runs)
        return d


@dataclass(frozen=True)
class RunSpec:
    """One training run of the grid (or a baseline)."""

    kind: str
    seed: int
    pacing: str | None
    full_at: float | None
    scorer: str | None

    @property
    def name(self) -> str:
        if self.kind == "baseline":
            return f"baseline-s{self.seed}"
        by = f"-{self.scorer}" if self.scorer else ""
        return f"{self.kind.lower()}{by}-{self.pacing}-a{self.full_at:g}-s{self.seed}"


MAX_BUDGET = 100_000  # runs: far beyond any grid (the largest plan trains a few hundred)


def make_plan(
    budget: str | int,
    *,
    scorers: Sequence[str] = ("cumacc",),
    order_by: Sequence[str] | None = None,
    best_k: int = 3,
) -> Plan:
    """The plan of a budget (see the module table).

    Args:
        budget: ``tiny``, ``small``, ``paper``, or a total number of training runs.
        scorers: scorers to compute from the scoring runs.
        order_by: scorers that order CL/ACL runs (default: the first of ``scorers``).
        best_k: best baselines to compare with.
    """
    scorers = tuple(scorers)
    if not scorers:
        raise InputError("Expected at least one scorer; got none. Pass e.g. --scorers cumacc.")
    order = tuple(order_by) if order_by else scorers[:1]
    missing = [s for s in order if s not in scorers]
    if missing:
        raise InputError(
            f"Ordering scorer(s) {', '.join(missing)} are not among the scorers computed "
            f"({', '.join(scorers)}); add them to --scorers."
        )
    all_cells = tuple((p, a) for a in FULL_AT for p in PACING_ORDER)
    common: dict[str, Any] = {"scorers": scorers, "order_by": order, "best_k": best_k}
    text = str(budget).strip()
    if text == "tiny":
        return Plan("tiny", (0, 1), (0, 1), (("logarithmic", 0.5), ("exponential", 0.5)),
                    epochs=4, **common)
    if text == "small":
        return Plan("small", (0, 1, 2), (0, 1, 2), all_cells, epochs=6, **common)
    if text == "compare":
        seeds = tuple(range(COMPARE_SEEDS))
        return Plan("compare", (0, 1, 2), seeds, (("logarithmic", 0.5), ("exponential", 0.5)),
                    grid_seeds=seeds, epochs=6, **common)
    if text == "paper":
        return Plan("paper", tuple(range(10)), tuple(range(10)), all_cells, grid_seeds=(0, 1, 2),
                    epochs=50, **common)
    if not text.isdigit():
        raise InputError(
            f"Unknown budget {text!r}. Available: tiny, small, compare, paper, or a number of "
            "runs (e.g. 20)."
        )
    n = int(text)
    per_cell = 2 * len(order) + 1
    if n > MAX_BUDGET:
        raise InputError(f"Expected a budget of at most {MAX_BUDGET} runs; got {text}. Pass a "
                         "smaller number, or paper for the paper's full protocol.")
    if n < 4 + per_cell:
        raise InputError(
            f"Expected a budget of at least {4 + per_cell} runs (2 scoring seeds, 2 baselines, "
            f"one grid cell of {per_cell}); got {n}. Pass a larger number or tiny."
        )
    cells = min(len(all_cells), (n - 4) // per_cell)
    left = n - 4 - cells * per_cell if cells == len(all_cells) else 0
    score_n, base_n = 2 + math.ceil(left / 2), 2 + left // 2
    return Plan(text, tuple(range(score_n)), tuple(range(base_n)), all_cells[:cells], epochs=6,
                **common)


@dataclass(frozen=True)
class PlanRuns:
    """The finished runs of a plan in its reproduce folder.

    Attributes:
        out_dir: the reproduce folder.
        plan: the plan they were trained for.
        trained: runs this call trained (scoring seeds included).
        skipped: runs it found finished.
        run_dirs: the train runs' folders, baselines then the grid (the tables' order).
    """

    out_dir: Path
    plan: Plan
    trained: int
    skipped: int
    run_dirs: tuple[Path, ...]


@contextmanager
def trained_plan(
    bundle: DatasetBundle,
    cfg: RunConfig,
    plan: Plan,
    *,
    out_dir: str | Path,
    progress: bool = True,
) -> Iterator[PlanRuns]:
    """Train (or finish) the runs of ``plan`` in ``out_dir``, then hold the folder's lock
    while the ``with`` block uses them (``easyfirst.protocol.reproduce`` writes the tables
    there, ``easyfirst.analysis.paper_tables``)::

        with trained_plan(bundle, cfg, plan, out_dir=out) as runs:
            ...  # every run of runs.run_dirs is finished

    Args:
        bundle: the dataset.
        cfg: settings of every run (its ``seed`` is replaced per run; ``model="auto"`` is
            resolved once, here).
        plan: from ``make_plan``.
        out_dir: output folder (see the module docstring for the layout).
        progress: one progress bar over all runs of the plan (and per-run epoch bars;
            plain lines when stderr is not a terminal).
    """
    out = Path(out_dir)
    cfg = resolve_auto(cfg, bundle)  # once, before any run: score and train runs get it
    header = run_record("reproduce", bundle, cfg.identity(),
                        class_names=list(bundle.class_names), plan=plan.to_dict())
    check_model(cfg, bundle)
    with folder_lock(out, enabled=is_main_process()):
        yield _train_plan(bundle, cfg, plan, out, header, progress=progress)


def _train_plan(bundle: DatasetBundle, cfg: RunConfig, plan: Plan, out: Path,
                header: dict[str, Any], *, progress: bool) -> PlanRuns:
    """``trained_plan``'s runs, in its locked folder."""
    claim_out_dir(out, header, what="a reproduce run", resume=True, file="reproduce.json",
                  keys=("config", "dataset_fingerprint"), write=False)
    grid = plan.grid_runs()
    baselines = plan.baseline_runs()
    for spec in [*baselines, *grid]:  # refuse stale runs before training anything
        _check_finished_run(out / "runs" / spec.name, plan)
    atomic_write_text(out / "reproduce.json", json.dumps(header, indent=1))

    bar = progress_bar(total=plan.num_runs, desc="reproduce", unit="run",
                       disable=not progress)
    expect_epochs(cfg.epochs * sum(not is_finished(out / "runs" / s.name)
                                   for s in [*baselines, *grid]))  # the job's overall line
    trained = skipped = 0
    ensembles: dict[str, Scores] = {}
    for i, seed in enumerate(plan.score_seeds):
        bar.set_postfix_str(f"score seed {seed}")
        ensembles, summary = score_dataset(
            bundle, cfg, seeds=list(plan.score_seeds[: i + 1]), scorers=list(plan.scorers),
            out_dir=out / "score", resume=True, progress=progress,
        )
        done = int(summary.get("cost", {}).get("trainings", 0))
        trained += done
        skipped += 1 - done
        bar.update(1)

    for spec in [*baselines, *grid]:
        run_dir = out / "runs" / spec.name
        bar.set_postfix_str(spec.name)
        if is_finished(run_dir):
            skipped += 1
        else:
            cspec = CurriculumSpec(
                ordering=ORDER_NAMES[spec.kind], pacing=spec.pacing or "logarithmic",
                start_fraction=plan.start_fraction, full_at=spec.full_at or 0.5,
            )
            train_curriculum(bundle, replace(cfg, seed=spec.seed), cspec,
                             scores=ensembles[spec.scorer] if spec.scorer else None,
                             out_dir=run_dir, resume=True, progress=progress)
            trained += 1
        bar.update(1)
    bar.close()
    return PlanRuns(out, plan, trained, skipped,
                    tuple(out / "runs" / s.name for s in [*baselines, *grid]))


def _check_finished_run(run_dir: Path, plan: Plan) -> None:
    """A finished CL/ACL run must have been ordered by scores of this plan's scoring seeds."""
    if not (is_finished(run_dir) and (run_dir / "run.json").is_file()):
        return
    scores = read_json(run_dir / "run.json", what="a run's settings").get("scores") or {}
    seeds = scores.get("seeds")
    if seeds is not None and sorted(seeds) != sorted(plan.score_seeds):
        raise InputError(
            f"{str(run_dir)!r} was ordered by scores of seeds {seeds}, but this plan scores "
            f"seeds {list(plan.score_seeds)}; expected the same. Use the budget that made this "
            "folder, or another --out folder."
        )

