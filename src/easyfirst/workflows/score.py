"""Scoring runs: train over seeds, save each run's dynamics, derive and ensemble scores.

Every scorer is a :class:`~easyfirst.scoring.base.Scorer`. The ordinary per-seed training
runs are trained only when some scorer uses them (the dynamics scorers; Prediction Depth
without a checkpoint probes their models); scorers that train models of their own do so in
``Scorer.score``. Every scorer is ensembled over the seeds.

Output layout of ``score_dataset(..., out_dir=OUT)``::

    OUT/run.json                          settings, dataset fingerprint
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
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from torch import nn

from easyfirst.atomic import atomic_write_text
from easyfirst.data.base import DatasetBundle
from easyfirst.estimators.base import jsonable, sum_costs
from easyfirst.estimators.features import load_model_file
from easyfirst.locks import folder_lock
from easyfirst.recording.dynamics import TrainingDynamics
from easyfirst.scores import Scores, ScoresFileError
from easyfirst.scoring import Scorer, SeedInputs, ensemble, get_scorer
from easyfirst.training.config import RunConfig, identity, resolve_auto
from easyfirst.training.distributed import is_main_process
from easyfirst.training.loop import CHECKPOINT, RunResult, train
from easyfirst.training.runs import check_model
from easyfirst.training.stacking import plan_stacking, train_stacked
from easyfirst.workflows.outputs import (
    SAMPLES,
    claim_out_dir,
    read_json,
    write_metrics,
    write_predictions,
    write_sample_meta,
)

SHARED = "the ordinary per-seed training runs"
SUMMARY = "summary.json"


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
) -> tuple[dict[str, Scores], dict[str, Any]]:
    """Score ``bundle.train`` with every scorer over ``seeds``; write per-seed and ensemble files.

    Args:
        bundle: the dataset.
        cfg: run configuration of every training (its seed is replaced per seed).
        seeds: the ensemble's seeds.
        scorers: scorer names (``easyfirst scorers``).
        out_dir: output folder (layout in the module docstring).
        resume: continue interrupted ordinary runs from their checkpoints, reuse finished
            seeds, add seeds or scorers to a finished folder.
        overwrite: replace the outputs of a finished (or other settings') folder.
        progress: show progress bars.
        scorer_params: per scorer name, its parameters (e.g. ``{"cvloss": {"folds": 5}}``);
            checked against the scorer before any training.

    Returns:
        The ensemble ``Scores`` per scorer name and the summary written to summary.json
        (``summary["scorers"][name]["cost"]`` = wall seconds and number of trainings of that
        scorer over all seeds; ``summary["cost"]`` = this call's ordinary per-seed runs).
        Under torch.distributed every rank trains; rank 0 writes the files.

    Nothing is written before the scorers' parameters and the model are checked; the folder
    is locked (``easyfirst.locks``) from the check of ``run.json`` to the last write.
    """
    out = Path(out_dir)
    objs = {name: get_scorer(name) for name in scorers}  # validate names up front
    unknown = [n for n in scorer_params or {} if n not in objs]
    if unknown:
        raise ValueError(
            f"Parameters given for scorer {unknown[0]!r}, which is not among the scorers to run "
            f"({', '.join(objs)}); add it or drop its parameters."
        )
    if len(set(seeds)) != len(seeds) or not seeds:
        raise ValueError(f"Expected distinct seeds, at least one; got {list(seeds)}. List each "
                         "seed once, e.g. 0,1,2.")
    params = {n: s.validate(bundle, cfg, dict((scorer_params or {}).get(n, {})))
              for n, s in objs.items()}
    check_model(cfg, bundle)
    with folder_lock(out, enabled=is_main_process()):
        if is_main_process():
            claim_out_dir(out, {"dataset_fingerprint": bundle.fingerprint,
                                "settings": cfg.identity()}, what="scores", resume=resume,
                          overwrite=overwrite, orphan="seeds", finished=[SUMMARY])
            write_sample_meta(out / SAMPLES, bundle)
        return _score(bundle, cfg, list(seeds), objs, params, out, resume=resume,
                      progress=progress)


def _score(bundle: DatasetBundle, cfg: RunConfig, seeds: list[int], objs: dict[str, Scorer],
           params: dict[str, dict[str, Any]], out: Path, *, resume: bool, progress: bool
           ) -> tuple[dict[str, Scores], dict[str, Any]]:
    """The scoring runs and every scorer, in a claimed folder (``score_dataset``)."""
    costs: dict[str, Any] = {"trainings": 0, "wall_s": 0.0}
    runs: dict[int, TrainingDynamics] = {}
    models: dict[int, nn.Module] = {}
    if any(s.uses_runs(params[n]) for n, s in objs.items()):
        keep = any(s.uses_run_model(params[n]) for n, s in objs.items())
        runs, models = _ordinary_runs(bundle, cfg, seeds, out, resume=resume,
                                      progress=progress, costs=costs, keep_model=keep)
    run_cost = {"wall_s": sum(float(d.meta.get("wall_s", 0.0)) for d in runs.values()),
                "trainings": len(runs), "shared": SHARED}
    summary: dict[str, Any] = {"dataset": bundle.name, "class_names": bundle.class_names,
                               "seeds": seeds, "cost": costs, "scorers": {}}
    result = {name: _score_all_seeds(scorer, params[name], bundle, cfg, seeds, out, runs,
                                     models, run_cost, summary, progress=progress)
              for name, scorer in objs.items()}
    metric = next((d.meta.get("test_metric", "accuracy") for d in runs.values()), "accuracy")
    summary[f"test_{metric}"] = {str(d.meta["seed"]): d.meta.get("test_accuracy")
                                 for d in runs.values()}  # accuracy, or mAP (multi-label)
    # Rows whose logits were NaN/inf (counted as misclassified; 0 for a healthy run).
    summary["nonfinite_logits"] = {str(d.meta["seed"]): int(d.meta.get("nonfinite_logits", 0))
                                   for d in runs.values()}
    if resume and (out / SUMMARY).is_file():  # scorers of earlier calls stay listed
        earlier = read_json(out / SUMMARY, what="the summary").get("scorers", {})
        summary["scorers"] = {**earlier, **summary["scorers"]}
    if is_main_process():
        atomic_write_text(out / SUMMARY, json.dumps(summary, indent=1))
    return result, summary


def _score_all_seeds(scorer: Scorer, params: dict[str, Any], bundle: DatasetBundle,
                     cfg: RunConfig, seeds: Sequence[int], out: Path,
                     runs: dict[int, TrainingDynamics], models: dict[int, nn.Module],
                     run_cost: dict[str, Any], summary: dict[str, Any], *, progress: bool
                     ) -> Scores:
    """One scorer over all seeds: per-seed files, the ensemble file, its summary entry."""
    t0 = time.perf_counter()
    uses_runs, uses_model = scorer.uses_runs(params), scorer.uses_run_model(params)
    per_seed = []
    for seed in seeds:
        inputs = SeedInputs(bundle, cfg, seed, dynamics=runs.get(seed) if uses_runs else None,
                            model=models.get(seed) if uses_model else None, progress=progress)
        per_seed.append(_seed_scores(scorer, inputs, params, out, reuse=not uses_runs))
    cost: dict[str, Any] = sum_costs(per_seed)
    if uses_runs:
        cost = {"wall_s": cost["wall_s"] + run_cost["wall_s"] + time.perf_counter() - t0,
                "trainings": cost["trainings"] + run_cost["trainings"], "shared": SHARED}
    name = scorer.name
    if is_main_process():
        for seed, s in zip(seeds, per_seed, strict=True):
            s.save(seed_dir(out, seed) / "scores" / f"{name}.csv")
    ens = ensemble(per_seed, names=[f"seeds/seed_{s}/scores/{name}.csv" for s in seeds])
    ens.meta["cost"] = cost
    if is_main_process():
        ens.save(out / "scores" / f"{name}.csv")
    entry = ens.summary(ids=bundle.train.ids)
    entry.update(cost=cost, seeds=list(seeds), **({"params": jsonable(params)} if params else {}))
    entry.update({k: per_seed[0].meta[k] for k in scorer.summary_keys if k in per_seed[0].meta})
    summary["scorers"][name] = entry
    return ens


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
    bundle: DatasetBundle, cfg: RunConfig, seeds: list[int], out: Path, *, resume: bool,
    progress: bool, costs: dict[str, Any], keep_model: bool,
) -> tuple[dict[int, TrainingDynamics], dict[int, nn.Module]]:
    """Each seed's ordinary run (stacked where the plan says so), or its saved files."""
    pending = [s for s in seeds if not (seed_dir(out, s) / "dynamics.pt").is_file()]
    plan = plan_stacking(bundle, cfg, pending, mode=cfg.stack)
    costs["stacking"] = {"stacked": plan.stack, "reason": plan.reason}
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
    diff = [k for k, v in resolve_auto(cfg, bundle).identity().items() if saved.get(k) != v]
    if diff or d.meta.get("dataset_fingerprint") != bundle.fingerprint:
        raise ValueError(
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
