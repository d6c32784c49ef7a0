"""Scoring runs: train over seeds, save each run's dynamics, derive and ensemble scores.

Every scorer is a :class:`~easyfirst.scoring.base.Scorer`. The ordinary per-seed training
runs are trained only when some scorer uses them (the dynamics scorers; Prediction Depth
without a checkpoint probes their models); scorers that train models of their own do so in
``Scorer.score``. Every scorer is ensembled over the seeds.

Output layout of ``score_dataset(..., out_dir=OUT)``::

    OUT/run.json                          kind, config, dataset fingerprint (run_record)
    OUT/samples.npz                       sample ids, labels, numeric meta columns per split
    OUT/seeds/seed_<s>/dynamics.pt        TrainingDynamics of seed s
    OUT/seeds/seed_<s>/metrics.json       per-epoch metrics, test accuracy
    OUT/seeds/seed_<s>/predictions.npz    dev/test logits of the evaluated checkpoint
    OUT/seeds/seed_<s>/checkpoint.pt      last epoch's checkpoint (for --resume)
    OUT/seeds/seed_<s>/scores/<scorer>.csv
    OUT/scores/<scorer>.csv               the seed ensemble
    OUT/summary.json                      per-scorer summaries and costs

A per-seed file of a scorer that does not use the runs is reused when it exists with the same
parameters (an interrupted run continues where it stopped).

Seed-parallel (``seed_parallel=True`` under ``torchrun --nproc_per_node=K``): rank r trains
``seeds[r::K]`` one by one, unstacked and single-process (``local_runs``), and writes those
seeds' files, every scorer's per-seed scores included; then every rank reads all seeds' files
and rank 0 writes the ensembles and summary as a sequential run does. A gloo group serves two
gathers: after rank 0 claims the folder, after the ranks' seeds; an error on any rank is
raised on all.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from easyfirst.atomic import atomic_write_text
from easyfirst.data.base import DatasetBundle
from easyfirst.errors import InputError
from easyfirst.estimators.base import jsonable, sum_costs
from easyfirst.estimators.features import load_model_file
from easyfirst.locks import folder_lock
from easyfirst.monitor import expect_epochs, log_scores
from easyfirst.recording.dynamics import TrainingDynamics
from easyfirst.run_folder import (
    SAMPLES,
    SUMMARY,
    Cost,
    ScoreSummary,
    claim_out_dir,
    read_summary,
    run_record,
    write_metrics,
    write_predictions,
    write_sample_meta,
)
from easyfirst.scores import Scores, ScoresFileError, label_texts, save_unless_same
from easyfirst.scoring import DynamicsScorer, Scorer, SeedInputs, ensemble, get_scorer
from easyfirst.training.config import RunConfig, identity, merge_record_needs, resolve_auto
from easyfirst.training.distributed import is_main_process, local_runs, world_size
from easyfirst.training.loop import CHECKPOINT, RunResult, train
from easyfirst.training.runs import check_model
from easyfirst.training.stacking import StackPlan, plan_stacking, train_stacked

SHARED = "the ordinary per-seed training runs"
# Seed-parallel ranks wait for each other's trainings; a dead rank fails the gather at once
# (torchrun stops its peers), so this bounds only a rank that hangs.
GATHER_TIMEOUT = timedelta(days=7)


def seed_dir(out_dir: Path, seed: int) -> Path:
    return out_dir / "seeds" / f"seed_{seed}"


def score_dataset(
    bundle: DatasetBundle,
    cfg: RunConfig,
    *,
    seeds: Sequence[int],
    scorers: Sequence[str],
    out_dir: str | Path,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    scorer_params: Mapping[str, Mapping[str, Any]] | None = None,
    seed_parallel: bool = False,
) -> tuple[dict[str, Scores], ScoreSummary]:
    """Score ``bundle.train`` with every scorer over ``seeds``; write per-seed and ensemble files.

    Args:
        bundle: the dataset.
        cfg: run configuration of every training (its seed is replaced per seed;
            ``model="auto"`` is resolved once, here).
        seeds: the ensemble's seeds.
        scorers: scorer names (``easyfirst scorers``).
        out_dir: output folder (layout in the module docstring).
        resume: continue interrupted ordinary runs from their checkpoints, reuse finished
            seeds, add seeds or scorers to a finished folder.
        overwrite: replace the outputs of a finished (or other settings') folder.
        progress: show progress bars.
        scorer_params: per scorer name, its parameters (e.g. ``{"cvloss": {"folds": 5}}``);
            checked against the scorer before any training.
        seed_parallel: under torchrun, train one seed per process (module notes); the
            files equal a sequential run's.

    Returns:
        The ensemble ``Scores`` per scorer name and the summary written to summary.json
        (``summary["scorers"][name]["cost"]`` = wall seconds and number of trainings of that
        scorer over all seeds; ``summary["cost"]`` = this call's ordinary per-seed runs).
        Under torch.distributed every rank trains (each seed data-parallel, or its own
        seeds with ``seed_parallel``) and returns them; rank 0 writes the shared files.

    Nothing is written before the scorers' parameters and the model are checked; the folder
    is locked (``easyfirst.locks``) from the check of ``run.json`` to the last write.
    """
    out = Path(out_dir)
    cfg = resolve_auto(cfg, bundle)  # once: every run, file and check below sees the model
    objs = {name: get_scorer(name) for name in scorers}  # validate names up front
    unknown = [n for n in scorer_params or {} if n not in objs]
    if unknown:
        raise InputError(
            f"Parameters given for scorer {unknown[0]!r}, which is not among the scorers to run "
            f"({', '.join(objs)}); add it or drop its parameters."
        )
    if len(set(seeds)) != len(seeds) or not seeds:
        raise InputError(f"Expected distinct seeds, at least one; got {list(seeds)}. List each "
                         "seed once, e.g. 0,1,2.")
    params = {n: s.validate(bundle, cfg, dict((scorer_params or {}).get(n, {})))
              for n, s in objs.items()}
    cfg = merge_record_needs(cfg, [  # a plugin scorer without record_needs needs the core
        s.record_needs(params[n]) if hasattr(s, "record_needs") else {} for n, s in objs.items()])
    check_model(cfg, bundle)
    group = _seed_group(list(seeds)) if seed_parallel else None
    with ExitStack() as held:

        def claim() -> None:
            if is_main_process():  # the lock is held from here to the last write
                held.enter_context(folder_lock(out))
                claim_out_dir(out, run_record("score", bundle, cfg.identity()), what="scores",
                              resume=resume, overwrite=overwrite, orphan="seeds",
                              finished=[SUMMARY])
                write_sample_meta(out / SAMPLES, bundle)

        if group is None:
            claim()
            return _score(bundle, cfg, list(seeds), objs, params, out, resume=resume,
                          progress=progress)
        _every_rank(claim, group)
        return _seed_parallel(bundle, cfg, list(seeds), objs, params, out, group,
                              resume=resume, progress=progress)


def _seed_group(seeds: list[int]) -> Any:
    """The gloo group of a seed-parallel run's processes (torchrun's), after its checks."""
    world = world_size()
    if world <= 1:
        raise InputError("Expected --seed-parallel to run under torchrun (WORLD_SIZE > 1); got "
                         "one process. Launch it with torchrun --nproc_per_node=K, or drop "
                         "--seed-parallel.")
    if len(seeds) < world:
        raise InputError(f"Expected at least one seed per process ({world}) with --seed-parallel;"
                         f" got {len(seeds)} ({','.join(map(str, seeds))}). Pass --seeds "
                         f"0-{world - 1} or more, or start fewer processes.")
    if torch.cuda.is_available():  # --device cuda: this rank's GPU (auto picks it anyway)
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    if dist.is_initialized():
        return dist.new_group(backend="gloo", timeout=GATHER_TIMEOUT)
    dist.init_process_group("gloo", timeout=GATHER_TIMEOUT)
    return dist.group.WORLD


def _every_rank(step: Callable[[], Any], group: Any) -> list[Any]:
    """``step()`` on this rank, then every rank's result on each rank; an error of any rank
    is raised on all of them (one line), so no rank waits on one that failed."""
    error: Exception | None = None
    try:
        mine: tuple[Any, str | None] = (step(), None)
    except Exception as exc:
        error = exc
        lines = [line for line in str(exc).splitlines() if line.strip()]
        mine = (None, lines[0] if lines else type(exc).__name__)
    every: list[Any] = [None] * dist.get_world_size(group)
    dist.all_gather_object(every, mine, group=group)
    if error is not None:
        raise error
    for rank, (_, line) in enumerate(every):
        if line is not None:
            raise RuntimeError(f"Seed-parallel rank {rank} failed, so this rank stopped too: "
                               f"{line}")
    return [result for result, _ in every]


def _seed_parallel(bundle: DatasetBundle, cfg: RunConfig, seeds: list[int],
                   objs: dict[str, Scorer], params: dict[str, dict[str, Any]], out: Path,
                   group: Any, *, resume: bool, progress: bool
                   ) -> tuple[dict[str, Scores], ScoreSummary]:
    """Seed i on rank i mod K (its runs and per-seed scores), then ``_score`` from the files."""
    mine = seeds[dist.get_rank(group)::dist.get_world_size(group)]

    def share() -> Cost:
        costs: Cost = {"trainings": 0, "wall_s": 0.0}
        with local_runs():
            runs, models = _ordinary_runs(bundle, cfg, mine, objs, params, out, resume=resume,
                                           progress=progress, costs=costs, stack=False)
            for name, scorer in objs.items():
                _per_seed(scorer, params[name], bundle, cfg, mine, out, runs, models,
                          progress=progress)
        return costs

    every: list[Cost] = _every_rank(share, group)
    done: Cost = {**every[0], "trainings": sum(c["trainings"] for c in every),
                  "wall_s": sum(c["wall_s"] for c in every)}
    return _score(bundle, cfg, seeds, objs, params, out, resume=resume, progress=progress,
                  done=done)


def _score(bundle: DatasetBundle, cfg: RunConfig, seeds: list[int], objs: dict[str, Scorer],
           params: dict[str, dict[str, Any]], out: Path, *, resume: bool, progress: bool,
           done: Cost | None = None) -> tuple[dict[str, Scores], ScoreSummary]:
    """The scoring runs and every scorer, in a claimed folder (``score_dataset``). ``done``:
    the costs of seed-parallel ranks that just wrote every seed's files (read, not redone)."""
    costs: Cost = {"trainings": 0, "wall_s": 0.0}
    runs, models = _ordinary_runs(bundle, cfg, seeds, objs, params, out, resume=resume,
                                  progress=progress, costs=costs)
    costs = done or costs
    run_cost = {"wall_s": sum(float(d.meta.get("wall_s", 0.0)) for d in runs.values()),
                "trainings": len(runs), "shared": SHARED}
    summary: ScoreSummary = {"dataset": bundle.name, "class_names": bundle.class_names,
                             "seeds": seeds, "cost": costs, "scorers": {}}
    result = {name: _score_all_seeds(scorer, params[name], bundle, cfg, seeds, out, runs,
                                     models, run_cost, summary, progress=progress,
                                     fresh=done is not None)
              for name, scorer in objs.items()}
    metric = next((d.meta.get("test_metric", "accuracy") for d in runs.values()), "accuracy")
    tested = {str(d.meta["seed"]): d.meta.get("test_accuracy") for d in runs.values()}
    if metric == "map":  # multi-label: macro mAP
        summary["test_map"] = tested
    else:
        summary["test_accuracy"] = tested
    # Rows whose logits were NaN/inf (counted as misclassified; 0 for a healthy run).
    summary["nonfinite_logits"] = {str(d.meta["seed"]): int(d.meta.get("nonfinite_logits", 0))
                                   for d in runs.values()}
    if resume:  # scorers of earlier calls stay listed
        earlier = read_summary(out).get("scorers", {})
        summary["scorers"] = {**earlier, **summary["scorers"]}
    if is_main_process():
        atomic_write_text(out / SUMMARY, json.dumps(summary, indent=1))
    return result, summary


def _score_all_seeds(scorer: Scorer, params: dict[str, Any], bundle: DatasetBundle,
                     cfg: RunConfig, seeds: Sequence[int], out: Path,
                     runs: dict[int, TrainingDynamics], models: dict[int, nn.Module],
                     run_cost: dict[str, Any], summary: ScoreSummary, *, progress: bool,
                     fresh: bool) -> Scores:
    """One scorer over all seeds: per-seed files, the ensemble file, its summary entry."""
    t0 = time.perf_counter()
    per_seed = _per_seed(scorer, params, bundle, cfg, seeds, out, runs, models,
                         progress=progress, fresh=fresh)
    cost: dict[str, Any] = sum_costs(per_seed)
    if scorer.uses_runs(params):
        cost = {"wall_s": cost["wall_s"] + run_cost["wall_s"] + time.perf_counter() - t0,
                "trainings": cost["trainings"] + run_cost["trainings"], "shared": SHARED}
    name = scorer.name
    ens = ensemble(per_seed, names=[f"seeds/seed_{s}/scores/{name}.csv" for s in seeds])
    ens.meta["cost"] = cost
    if is_main_process():  # an unchanged file (added scorers, --resume) stays byte-identical
        ens = save_unless_same(ens, out / "scores" / f"{name}.csv", ids=bundle.train.ids,
                               labels=label_texts(bundle.train.targets, bundle.class_names))
        cost = ens.meta["cost"]
        log_scores(name, ens.values)
    entry = ens.summary(ids=bundle.train.ids)
    entry.update(cost=cost, seeds=list(seeds), **({"params": jsonable(params)} if params else {}))
    entry.update({k: per_seed[0].meta[k] for k in scorer.summary_keys if k in per_seed[0].meta})
    summary["scorers"][name] = entry
    return ens


def _per_seed(scorer: Scorer, params: dict[str, Any], bundle: DatasetBundle, cfg: RunConfig,
              seeds: Sequence[int], out: Path, runs: dict[int, TrainingDynamics],
              models: dict[int, nn.Module], *, progress: bool, fresh: bool = False
              ) -> list[Scores]:
    """One scorer's scores of each seed, saved in the seed's folder. ``fresh``: this call's
    seed-parallel ranks just wrote them, so they are read, except a dynamics scorer's: its
    math is cheap and its tie key (``Scores.tie_key``) lives in the run, not the file."""
    uses_runs, uses_model = scorer.uses_runs(params), scorer.uses_run_model(params)
    reuse = not uses_runs or (fresh and not isinstance(scorer, DynamicsScorer))
    per_seed = []
    for seed in seeds:
        inputs = SeedInputs(bundle, cfg, seed, dynamics=runs.get(seed) if uses_runs else None,
                            model=models.get(seed) if uses_model else None, progress=progress)
        per_seed.append(_seed_scores(scorer, inputs, params, out, reuse=reuse))
    if is_main_process():
        for seed, s in zip(seeds, per_seed, strict=True):
            save_unless_same(s, seed_dir(out, seed) / "scores" / f"{scorer.name}.csv",
                             ids=bundle.train.ids,
                             labels=label_texts(bundle.train.targets, bundle.class_names))
    return per_seed


def _seed_scores(scorer: Scorer, inputs: SeedInputs, params: dict[str, Any], out: Path, *,
                 reuse: bool) -> Scores:
    """One seed's scores; a saved file with the same parameters is reused where allowed."""
    path = seed_dir(out, inputs.seed) / "scores" / f"{scorer.name}.csv"
    if reuse and path.is_file():
        try:
            saved = Scores.load(path, expect_fingerprint=inputs.bundle.fingerprint,
                                expect_num_samples=len(inputs.bundle.train), allow_nan=True)
        except ScoresFileError:
            saved = None
        if saved is not None and saved.meta.get("params") == jsonable(params):
            return saved
    return scorer.score(inputs, **params)


def _ordinary_runs(
    bundle: DatasetBundle, cfg: RunConfig, seeds: list[int], objs: dict[str, Scorer],
    params: dict[str, dict[str, Any]], out: Path, *, resume: bool, progress: bool,
    costs: Cost, stack: bool = True,
) -> tuple[dict[int, TrainingDynamics], dict[int, nn.Module]]:
    """Each seed's ordinary run (stacked where the plan says so and ``stack``), or its saved
    files, and the models where a scorer probes them; none when no scorer uses the runs."""
    if not any(s.uses_runs(params[n]) for n, s in objs.items()):
        return {}, {}
    keep_model = any(s.uses_run_model(params[n]) for n, s in objs.items())
    pending = [s for s in seeds if not (seed_dir(out, s) / "dynamics.pt").is_file()]
    plan = (plan_stacking(bundle, cfg, pending, mode=cfg.stack) if stack else
            StackPlan(False, "seed-parallel: each process trains its seeds one at a time"))
    costs["stacking"] = {"stacked": plan.stack, "reason": plan.reason}
    expect_epochs(len(pending) * cfg.epochs)  # the job's overall line (easyfirst.monitor)
    runs: dict[int, TrainingDynamics] = {}
    models: dict[int, nn.Module] = {}

    def finish(seed: int, res: RunResult, wall: float) -> None:
        """Save a fresh run's files at once (a later crash does not lose it)."""
        if res.dynamics is None:  # pragma: no cover - scoring runs always record
            raise RuntimeError("training returned no dynamics")
        res.dynamics.meta.update(wall_s=wall, test_accuracy=res.test_accuracy,
                                 test_metric=res.metric)
        if is_main_process():
            _save_seed(seed_dir(out, seed), bundle, res)
        runs[seed] = res.dynamics
        if keep_model:  # kept on the CPU until a scorer probes it
            models[seed] = res.model.cpu()
        costs["trainings"] += 1
        costs["wall_s"] += wall

    if plan.stack:
        t0 = time.perf_counter()
        folder = out / "stacked" / ("seeds_" + "_".join(map(str, pending)))
        results = train_stacked(bundle, cfg, pending, out_dir=folder, resume=resume,
                                progress=progress, member_dirs=[seed_dir(out, s) for s in pending])
        share = (time.perf_counter() - t0) / len(pending)
        for seed, res in zip(pending, results, strict=True):
            finish(seed, res, share)
    for seed in [] if plan.stack else pending:
        t0 = time.perf_counter()
        res = train(bundle, replace(cfg, seed=seed), out_dir=seed_dir(out, seed), resume=resume,
                    progress=progress)
        finish(seed, res, time.perf_counter() - t0)
    for seed in seeds:
        if seed not in runs:
            runs[seed] = _saved_run(seed_dir(out, seed) / "dynamics.pt", bundle,
                                    replace(cfg, seed=seed))
            if keep_model:
                models[seed], _ = load_model_file(seed_dir(out, seed) / CHECKPOINT, bundle,
                                                  replace(cfg, seed=seed))
    return {s: runs[s] for s in seeds}, models


def _saved_run(path: Path, bundle: DatasetBundle, cfg: RunConfig) -> TrainingDynamics:
    """A finished seed's dynamics, refused (one line) when another run's settings made it."""
    d = TrainingDynamics.load(path)
    saved = identity(d.meta.get("config") or {})
    diff = [k for k, v in cfg.identity().items() if saved.get(k) != v]
    if diff or d.meta.get("dataset_fingerprint") != bundle.fingerprint:
        raise InputError(
            f"{str(path)!r} was trained with a different {', '.join(diff) or 'dataset'} than "
            "this run; expected one folder per setting. Pass --overwrite to retrain it, or "
            "choose another --out folder."
        )
    return d


def _save_seed(sdir: Path, bundle: DatasetBundle, res: RunResult) -> None:
    """metrics.json, predictions.npz, then dynamics.pt: the last marks the seed done."""
    assert res.dynamics is not None  # checked by the caller
    write_metrics(sdir / "metrics.json", bundle, res)
    write_predictions(sdir / "predictions.npz", bundle, res.dev_logits, res.test_logits)
    res.dynamics.save(sdir / "dynamics.pt")
