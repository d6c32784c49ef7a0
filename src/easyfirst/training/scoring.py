"""Scoring runs: train over seeds, save each run's dynamics, derive and ensemble scores.

Two kinds of scorers share one command. Dynamics scorers (CumAcc, FIT, ...) are derived from
one ordinary training run per seed; those runs are trained only when such a scorer (or
Prediction Depth without a checkpoint, which probes the run's model) is asked for. Training
scorers (CVLoss, C-score, Transfer Teacher, Prediction Depth) run their own trainings per seed
through ``TrainingScorer.run``. Every scorer is ensembled over the seeds.

Output layout of ``score_dataset(..., out_dir=OUT)``::

    OUT/run.json                          settings, seeds, scorers, dataset fingerprint
    OUT/seeds/seed_<s>/dynamics.pt        TrainingDynamics of seed s
    OUT/samples.npz                       sample ids, labels, numeric meta columns per split
    OUT/seeds/seed_<s>/metrics.json       per-epoch metrics, test accuracy
    OUT/seeds/seed_<s>/predictions.npz    dev/test logits of the evaluated checkpoint
    OUT/seeds/seed_<s>/checkpoint.pt      last epoch's checkpoint (for --resume)
    OUT/seeds/seed_<s>/scores/<scorer>.csv
    OUT/scores/<scorer>.csv               the seed ensemble
    OUT/summary.json                      per-scorer summaries and costs

A training scorer's per-seed file is reused when it exists with the same parameters (an
interrupted run continues where it stopped).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from torch import nn

from easyfirst.data.base import DatasetBundle
from easyfirst.recording.dynamics import TrainingDynamics
from easyfirst.scores import Scores, ScoresFileError, atomic_write_text
from easyfirst.scoring.ensemble import ensemble
from easyfirst.scoring.registry import get_scorer
from easyfirst.scoring.training_scorer import TrainingScorer, jsonable, sum_costs
from easyfirst.training.config import RunConfig
from easyfirst.training.distributed import is_main_process
from easyfirst.training.stacking import plan_stacking, train_stacked
from easyfirst.training.loop import CHECKPOINT, RunResult, train
from easyfirst.training.predictions import SAMPLES, write_predictions, write_sample_meta


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
        resume: continue interrupted ordinary runs from their checkpoints.
        progress: show progress bars.
        scorer_params: per training scorer name, its parameters (e.g.
            ``{"cvloss": {"folds": 5}}``); checked against the scorer before any training.

    Returns:
        The ensemble ``Scores`` per scorer name and the summary written to summary.json
        (``summary["scorers"][name]["cost"]`` = wall seconds and number of trainings of that
        scorer over all seeds; ``summary["cost"]`` = this call's ordinary per-seed runs).
        Under torch.distributed every rank trains; rank 0 writes the files.
    """
    out = Path(out_dir)
    scorer_objs = {name: get_scorer(name) for name in scorers}  # validate names up front
    params = {name: dict((scorer_params or {}).get(name, {})) for name in scorer_objs}
    for name in scorer_params or {}:
        if name not in scorer_objs:
            raise ValueError(
                f"Parameters given for scorer {name!r}, which is not among the scorers to run "
                f"({', '.join(scorer_objs)}); add it or drop its parameters."
            )
    for name, scorer in scorer_objs.items():
        if isinstance(scorer, TrainingScorer):
            params[name] = scorer.validate(bundle, cfg, params[name])
        elif params[name]:
            raise ValueError(
                f"Scorer {name!r} takes no parameters (it is derived from the training runs); "
                f"got {', '.join(params[name])}."
            )
    dynamics_names = [n for n, s in scorer_objs.items() if not isinstance(s, TrainingScorer)]
    model_users = [
        n
        for n, s in scorer_objs.items()
        if isinstance(s, TrainingScorer) and s.wants_run_model(params[n])
    ]
    _claim_out_dir(out, cfg, bundle, resume=resume)
    is_main = is_main_process()
    if is_main:
        write_sample_meta(out / SAMPLES, bundle)
    runs: list[TrainingDynamics] = []
    run_models: dict[int, nn.Module] = {}
    costs: dict[str, Any] = {"trainings": 0, "wall_s": 0.0}
    if dynamics_names or model_users:
        pending = [s for s in seeds if not (seed_dir(out, s) / "dynamics.pt").is_file()]
        plan = plan_stacking(bundle, cfg, pending, mode=cfg.stack)
        costs["stacking"] = {"stacked": plan.stack, "reason": plan.reason}
        if plan.stack:  # writes each seed's files; _plain_run below then just loads them
            _stacked_runs(bundle, cfg, pending, out, resume=resume, progress=progress,
                          costs=costs)
        for seed in seeds:
            dyn, model = _plain_run(
                bundle,
                cfg,
                seed,
                out,
                resume=resume,
                progress=progress,
                costs=costs,
                keep_model=bool(model_users),
            )
            runs.append(dyn)
            if model is not None:
                run_models[seed] = model
    result: dict[str, Scores] = {}
    summary: dict[str, Any] = {
        "dataset": bundle.name,
        "class_names": bundle.class_names,
        "seeds": list(seeds),
        "cost": costs,
        "scorers": {},
    }
    run_cost = {
        "wall_s": sum(float(d.meta.get("wall_s", 0.0)) for d in runs),
        "trainings": len(runs),
    }
    for name, scorer in scorer_objs.items():
        t0 = time.perf_counter()
        if isinstance(scorer, TrainingScorer):
            per_seed = [
                _training_scorer_seed(
                    scorer,
                    bundle,
                    cfg,
                    seed,
                    out,
                    params[name],
                    progress=progress,
                    model=run_models.get(seed) if name in model_users else None,
                )
                for seed in seeds
            ]
            cost = sum_costs(per_seed)
            if name in model_users:  # it probed the ordinary runs' models
                cost = {
                    "wall_s": cost["wall_s"] + run_cost["wall_s"],
                    "trainings": cost["trainings"] + run_cost["trainings"],
                    "shared": "the ordinary per-seed training runs",
                }
        else:
            per_seed = scorer.from_runs(runs)
            cost = {
                "wall_s": run_cost["wall_s"] + time.perf_counter() - t0,
                "trainings": run_cost["trainings"],
                "shared": "the ordinary per-seed training runs",
            }
        for seed, s in zip(seeds, per_seed, strict=True):
            if is_main:
                s.save(seed_dir(out, seed) / "scores" / f"{name}.csv")
        ens = ensemble(per_seed, names=[f"seeds/seed_{s}/scores/{name}.csv" for s in seeds])
        ens.meta["cost"] = cost
        if is_main:
            ens.save(out / "scores" / f"{name}.csv")
        result[name] = ens
        entry = ens.summary(ids=bundle.train.ids)
        entry["cost"] = cost
        if isinstance(scorer, TrainingScorer):
            entry["params"] = jsonable(params[name])
            for key in (
                "ratios",
                "subset_runs",
                "heldout_coverage",
                "layers",
                "features",
                "model_source",
                "source",
                "fold_sizes",
            ):
                if key in per_seed[0].meta:
                    entry[key] = per_seed[0].meta[key]
        summary["scorers"][name] = entry
    summary["test_accuracy"] = {str(d.meta["seed"]): d.meta.get("test_accuracy") for d in runs}
    if is_main:
        atomic_write_text(out / "summary.json", json.dumps(summary, indent=1))
    return result, summary


def _stacked_runs(
    bundle: DatasetBundle,
    cfg: RunConfig,
    seeds: list[int],
    out: Path,
    *,
    resume: bool,
    progress: bool,
    costs: dict[str, Any],
) -> None:
    """Train ``seeds`` as one stack; write each seed's files as ``_plain_run`` does."""
    t0 = time.perf_counter()
    results = train_stacked(
        bundle,
        cfg,
        seeds,
        out_dir=out / "stacked" / ("seeds_" + "_".join(map(str, seeds))),
        resume=resume,
        progress=progress,
        member_dirs=[seed_dir(out, s) for s in seeds],
    )
    wall = time.perf_counter() - t0
    costs["trainings"] += len(seeds)
    costs["wall_s"] += wall
    for seed, res in zip(seeds, results, strict=True):
        if res.dynamics is None:  # pragma: no cover - stacked runs always record
            raise RuntimeError("training returned no dynamics")
        res.dynamics.meta.update(wall_s=wall / len(seeds), test_accuracy=res.test_accuracy)
        _save_seed(seed_dir(out, seed), bundle, res)


def _save_seed(sdir: Path, bundle: DatasetBundle, res: RunResult) -> None:
    """metrics.json, predictions.npz, then dynamics.pt: the last marks the seed done."""
    if res.dynamics is None:  # pragma: no cover - scoring runs always record
        raise RuntimeError("training returned no dynamics")
    atomic_write_text(sdir / "metrics.json", res.metrics_json())
    write_predictions(sdir / "predictions.npz", bundle, res.dev_logits, res.test_logits)
    res.dynamics.save(sdir / "dynamics.pt")


def _plain_run(
    bundle: DatasetBundle,
    cfg: RunConfig,
    seed: int,
    out: Path,
    *,
    resume: bool,
    progress: bool,
    costs: dict[str, Any],
    keep_model: bool,
) -> tuple[TrainingDynamics, nn.Module | None]:
    """One ordinary training run of ``seed`` (or its saved dynamics), and its model if asked."""
    sdir = seed_dir(out, seed)
    dyn_path = sdir / "dynamics.pt"
    if dyn_path.is_file():
        model = None
        if keep_model:
            from easyfirst.scoring.features import load_model_file

            model, _ = load_model_file(sdir / CHECKPOINT, bundle, replace(cfg, seed=seed))
        return TrainingDynamics.load(dyn_path), model
    t0 = time.perf_counter()
    res = train(bundle, replace(cfg, seed=seed), out_dir=sdir, resume=resume, progress=progress)
    costs["trainings"] += 1
    costs["wall_s"] += time.perf_counter() - t0
    if res.dynamics is None:  # pragma: no cover - train(record=True) always records
        raise RuntimeError("training returned no dynamics")
    res.dynamics.meta.update(wall_s=time.perf_counter() - t0, test_accuracy=res.test_accuracy)
    if is_main_process():
        _save_seed(sdir, bundle, res)
    # Kept on the CPU until a scorer probes it (several seeds' models may be held at once).
    return res.dynamics, res.model.cpu() if keep_model else None


def _training_scorer_seed(
    scorer: TrainingScorer,
    bundle: DatasetBundle,
    cfg: RunConfig,
    seed: int,
    out: Path,
    params: dict[str, Any],
    *,
    progress: bool,
    model: nn.Module | None,
) -> Scores:
    """One seed of a training scorer, reusing its saved file when the parameters match."""
    path = seed_dir(out, seed) / "scores" / f"{scorer.name}.csv"
    if path.is_file():
        try:
            saved = Scores.load(
                path, expect_fingerprint=bundle.fingerprint, expect_num_samples=len(bundle.train)
            )
        except ScoresFileError:
            saved = None
        if saved is not None and saved.meta.get("params") == jsonable(params):
            return saved
    return scorer.run(bundle, cfg, seed=seed, progress=progress, model=model, **params)


def _claim_out_dir(out: Path, cfg: RunConfig, bundle: DatasetBundle, *, resume: bool) -> None:
    """Refuse to mix runs of other settings or data into an existing output folder."""
    run_file = out / "run.json"
    settings = cfg.identity()
    mine = {"dataset_fingerprint": bundle.fingerprint, "settings": settings}
    if run_file.is_file():
        theirs = json.loads(run_file.read_text())
        if theirs != mine:
            diff = [k for k in settings if theirs.get("settings", {}).get(k) != settings[k]]
            if theirs.get("dataset_fingerprint") != bundle.fingerprint:
                diff.insert(0, "dataset")
            raise ValueError(
                f"{str(out)!r} holds runs with a different {', '.join(diff) or 'setup'}; "
                "expected the same settings. Choose another --out folder (nothing was changed)."
            )
        return
    if (out / "seeds").exists() and not resume:
        raise ValueError(f"{str(out)!r} has runs but no run.json; choose another --out folder.")
    atomic_write_text(run_file, json.dumps(mine, indent=1))
