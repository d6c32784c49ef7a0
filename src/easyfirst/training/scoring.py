"""Scoring runs: train over seeds, save each run's dynamics, derive and ensemble scores.

Output layout of ``score_dataset(..., out_dir=OUT)``::

    OUT/run.json                          settings, seeds, scorers, dataset fingerprint
    OUT/seeds/seed_<s>/dynamics.pt        TrainingDynamics of seed s
    OUT/seeds/seed_<s>/metrics.json       per-epoch metrics, test accuracy
    OUT/seeds/seed_<s>/checkpoint.pt      last epoch's checkpoint (for --resume)
    OUT/seeds/seed_<s>/scores/<scorer>.csv
    OUT/scores/<scorer>.csv               the seed ensemble
    OUT/summary.json                      per-scorer summaries and costs
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from easyfirst.data.base import DatasetBundle
from easyfirst.recording.dynamics import TrainingDynamics
from easyfirst.scores import Scores, atomic_write_text
from easyfirst.scoring.ensemble import ensemble
from easyfirst.scoring.registry import get_scorer
from easyfirst.training.config import RunConfig
from easyfirst.training.distributed import is_main_process
from easyfirst.training.loop import train


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
) -> tuple[dict[str, Scores], dict[str, Any]]:
    """Train one run per seed (skipping finished ones), then write per-seed and ensemble scores.

    Returns the ensemble ``Scores`` per scorer name and the summary written to summary.json.
    Under torch.distributed every rank trains; rank 0 writes the files.
    """
    out = Path(out_dir)
    scorer_objs = {name: get_scorer(name) for name in scorers}  # validate names up front
    _claim_out_dir(out, cfg, bundle, resume=resume)
    runs: list[TrainingDynamics] = []
    costs: dict[str, Any] = {"trainings": 0, "wall_s": 0.0}
    for seed in seeds:
        sdir = seed_dir(out, seed)
        dyn_path = sdir / "dynamics.pt"
        if dyn_path.is_file():
            runs.append(TrainingDynamics.load(dyn_path))
            continue
        t0 = time.perf_counter()
        res = train(bundle, replace(cfg, seed=seed), out_dir=sdir, resume=resume, progress=progress)
        costs["trainings"] += 1
        costs["wall_s"] += time.perf_counter() - t0
        if res.dynamics is None:  # pragma: no cover - train(record=True) always records
            raise RuntimeError("training returned no dynamics")
        res.dynamics.meta.update(wall_s=time.perf_counter() - t0, test_accuracy=res.test_accuracy)
        if is_main_process():
            res.dynamics.save(dyn_path)
            atomic_write_text(
                sdir / "metrics.json",
                json.dumps(
                    {
                        "metrics": res.metrics,
                        "test_accuracy": res.test_accuracy,
                        "best_epoch": res.best_epoch,
                    },
                    indent=1,
                ),
            )
        runs.append(res.dynamics)
    is_main = is_main_process()
    result: dict[str, Scores] = {}
    summary: dict[str, Any] = {
        "dataset": bundle.name,
        "seeds": list(seeds),
        "cost": costs,
        "scorers": {},
    }
    for name, scorer in scorer_objs.items():
        per_seed = scorer.from_runs(runs)
        for seed, s in zip(seeds, per_seed, strict=True):
            if is_main:
                s.save(seed_dir(out, seed) / "scores" / f"{name}.csv")
        ens = ensemble(per_seed, names=[f"seeds/seed_{s}/scores/{name}.csv" for s in seeds])
        if is_main:
            ens.save(out / "scores" / f"{name}.csv")
        result[name] = ens
        summary["scorers"][name] = ens.summary(ids=bundle.train.ids)
    summary["test_accuracy"] = {str(d.meta["seed"]): d.meta.get("test_accuracy") for d in runs}
    if is_main:
        atomic_write_text(out / "summary.json", json.dumps(summary, indent=1))
    return result, summary


def _claim_out_dir(out: Path, cfg: RunConfig, bundle: DatasetBundle, *, resume: bool) -> None:
    """Refuse to mix runs of other settings or data into an existing output folder."""
    run_file = out / "run.json"
    settings = {k: v for k, v in cfg.to_dict().items() if k not in ("seed", "device")}
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
