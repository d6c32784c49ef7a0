"""Which audio recipe learns, how fast, and how good are the scores it makes?

For each dataset (FSDD, official split; synthkws) and each candidate recipe, in one process:
test accuracy after every epoch (mean over seeds), the dev-selected test accuracy per seed,
training samples/s (training steps only, no evaluation), and, on synthkws, the quality of
each dynamics scorer: Spearman of the 3-seed ensemble with the per-sample SNR (higher SNR
should be easier), and the Spearman between disjoint seed groups (1 vs 1, averaged over
pairs; 2 vs 2 and 3 vs 3 where there are enough seeds). Scores where lower is easier are
negated, so +1 always means "the same easy-to-hard order".

Recipes (``--recipes``, comma-separated):

- ``small_cnn``: today's default before this benchmark (small_cnn, Adam 1e-3, constant).
- ``auto``: the default now, whatever ``--model auto`` picks and its registered recipe.
- ``cnn10_quarter``: PANNs CNN10 at 1/4 width, Adam 1e-3 constant (the PANNs recipe).
- ``probe1d``: the plain 1-D probe of issue 12 (per-mel BN, 4 blocks of kernel-5 1-D convs
  over time with max pooling, max over time; Adam one-cycle to 3e-3), defined here.
- ``--recipe NAME=JSON`` (repeatable) adds any other, e.g.
  ``--recipe 'tc_aug={"model": "tcresnet8", "augment": ["time_shift"]}'``.

Run::

    python benchmarks/audio_recipes.py                  # both datasets, 4 recipes, ~45 min
    python benchmarks/audio_recipes.py --datasets synthkws --recipes auto --seeds 6
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn

from easyfirst.data import DatasetBundle, load_dataset
from easyfirst.models import MODELS, register_model
from easyfirst.scoring import ensemble, get_scorer
from easyfirst.training.config import configure
from easyfirst.training.loop import train

SCORERS = ("cumacc", "fit", "celoss", "aum", "forgetting")
EPOCHS = {"fsdd": 10, "synthkws": 30}  # FSDD: the issue-12 target; synthkws: the main job
RECIPES: dict[str, dict[str, Any]] = {
    "small_cnn": {"model": "small_cnn", "lr": 1e-3, "schedule": "constant"},
    "auto": {"model": "auto"},
    "cnn10_quarter": {"model": "cnn10", "model_options": {"width": 0.25}, "lr": 1e-3,
                      "schedule": "constant"},
    "probe1d": {"model": "probe1d", "lr": 3e-3, "schedule": "onecycle"},
}


class Probe1d(nn.Module):
    """Issue 12's probe: per-mel BatchNorm, 4 x (conv k=5, BN, ReLU, max-pool 2), max over T."""

    def __init__(self, num_bins: int, num_classes: int, width: int = 96) -> None:
        super().__init__()
        self.bn0 = nn.BatchNorm1d(num_bins)
        layers: list[nn.Module] = []
        cin = num_bins
        for _ in range(4):
            layers += [nn.Conv1d(cin, width, 5, padding=2, bias=False), nn.BatchNorm1d(width),
                       nn.ReLU(), nn.MaxPool1d(2, ceil_mode=True)]
            cin = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.bn0(x.flatten(1, 2))).amax(dim=2))


if "probe1d" not in MODELS:
    @register_model("probe1d")
    def _probe1d(*, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
        return Probe1d(input_shape[1], num_classes)


def easiness(scores: Any) -> np.ndarray:
    v = np.asarray(scores.values, dtype=np.float64)
    return v if scores.higher_is_easier else -v


def group_agreement(per_seed: list[Any], size: int) -> float | None:
    """Mean Spearman between disjoint groups of ``size`` seeds (consecutive groups)."""
    groups = [per_seed[i:i + size] for i in range(0, len(per_seed) - size + 1, size)]
    if len(groups) < 2:
        return None
    ens = [easiness(ensemble(g)) if size > 1 else easiness(g[0]) for g in groups]
    pairs = list(itertools.combinations(range(len(ens)), 2))
    return float(np.mean([spearmanr(ens[a], ens[b]).statistic for a, b in pairs]))


def run_recipe(bundle: DatasetBundle, recipe: dict[str, Any], *, seeds: int, epochs: int,
               device: str) -> dict[str, Any]:
    fields = {"epochs": epochs, **{k: v for k, v in recipe.items() if k != "model"}}
    epochs = fields["epochs"]
    cfg, note = configure(bundle, model=recipe.get("model", "auto"), device=device,
                          dataset=bundle.name, **fields)
    runs, curves, tests, seconds = [], [], [], 0.0
    for seed in range(seeds):
        res = train(bundle, replace(cfg, seed=seed), progress=False, track_test=True)
        runs.append(res)
        curves.append([row["test_accuracy"] for row in res.metrics])
        tests.append(res.test_accuracy)
        seconds += res.info["train_seconds"]
    out: dict[str, Any] = {
        "config": note, "model": cfg.model,
        "params": sum(p.numel() for p in runs[0].model.parameters()),
        "test_per_epoch": np.mean(curves, 0).round(4).tolist(),
        "test_accuracy": [round(float(t), 4) for t in tests],
        "samples_per_s": round(len(bundle.train) * epochs * seeds / seconds, 1),
        "train_s_per_seed": round(seconds / seeds, 2),
    }
    snr = bundle.train.meta.get("snr_db")
    if snr is not None and bundle.test is not None:
        correct = np.stack([(r.test_logits.argmax(1) == bundle.test.targets).numpy()
                            for r in runs])
        test_snr = np.asarray(bundle.test.meta["snr_db"])
        out["test_at_10db"] = round(float(correct[:, test_snr >= 10].mean()), 4)
        out["test_below_0db"] = round(float(correct[:, test_snr < 0].mean()), 4)
        quality = {}
        for name in SCORERS:
            per_seed = [get_scorer(name)(r.dynamics) for r in runs]
            quality[name] = {
                "snr_3seed": round(float(spearmanr(easiness(ensemble(per_seed[:3])),
                                                   snr).statistic), 4),
                **{f"{k}v{k}": None if (a := group_agreement(per_seed, k)) is None
                   else round(a, 4) for k in (1, 2, 3)},
            }
            if name == "cumacc":
                # 1 vs 1 over all pairs, not only consecutive ones
                easy = [easiness(s) for s in per_seed]
                out["cumacc_1v1_all_pairs"] = round(float(np.mean(
                    [spearmanr(easy[a], easy[b]).statistic
                     for a, b in itertools.combinations(range(len(easy)), 2)])), 4)
        out["quality"] = quality
    return out


def print_tables(results: dict[str, dict[str, dict[str, Any]]]) -> None:
    for ds, by_recipe in results.items():
        print(f"\n### {ds}\n")
        print("| recipe | model (params) | mean test acc (per seed) | test acc per epoch | "
              "train samples/s | train s/seed |")
        print("|---|---|---|---|---|---|")
        for name, r in by_recipe.items():
            per_epoch = ", ".join(f"{a:.2f}" for a in r["test_per_epoch"])
            accs = ", ".join(f"{a:.3f}" for a in r["test_accuracy"])
            print(f"| {name} | {r['model']} ({r['params'] / 1000:.0f} k) | "
                  f"{np.mean(r['test_accuracy']):.3f} ({accs}) | {per_epoch} | "
                  f"{r['samples_per_s']:.0f} | {r['train_s_per_seed']:.1f} |")
        if any("quality" in r for r in by_recipe.values()):
            print("\n| recipe | scorer | Spearman with SNR (3 seeds) | 1v1 | 2v2 | 3v3 | "
                  "test acc >= 10 dB / < 0 dB |")
            print("|---|---|---|---|---|---|---|")
            for name, r in by_recipe.items():
                for scorer, q in r.get("quality", {}).items():
                    cells = " | ".join("-" if q[k] is None else f"{q[k]:.3f}"
                                       for k in ("1v1", "2v2", "3v3"))
                    print(f"| {name} | {scorer} | {q['snr_3seed']:.3f} | {cells} | "
                          f"{r['test_at_10db']:.3f} / {r['test_below_0db']:.3f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", default="fsdd,synthkws")
    p.add_argument("--recipes", default="small_cnn,auto,cnn10_quarter,probe1d",
                   help=f"comma-separated names of {', '.join(RECIPES)}, or '' for none")
    p.add_argument("--recipe", action="append", default=[], metavar="NAME=JSON",
                   help="another recipe: RunConfig fields as JSON (repeatable)")
    p.add_argument("--seeds", type=int, default=None,
                   help="seeds of the default recipe (auto; default: 3 on fsdd, 6 on synthkws, "
                   "enough for two disjoint 3-seed ensembles)")
    p.add_argument("--other-seeds", type=int, default=None,
                   help="seeds of the other recipes (default: 3 on fsdd, 4 on synthkws)")
    p.add_argument("--epochs", type=int, default=None, help="default: fsdd 10, synthkws 15")
    p.add_argument("--fsdd-root", default=os.environ.get(
        "EASYFIRST_FSDD", "../shared/data/fsdd/recordings"))
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    recipes = {name: RECIPES[name] for name in args.recipes.split(",") if name}
    for item in args.recipe:
        name, _, spec = item.partition("=")
        recipes[name] = json.loads(spec)
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for ds in (d for d in args.datasets.split(",") if d):
        opts = {"root": args.fsdd_root} if ds == "fsdd" else {}
        bundle = load_dataset(ds, progress=False, **opts)
        main_seeds = args.seeds or (6 if ds == "synthkws" else 3)
        other_seeds = args.other_seeds or (4 if ds == "synthkws" else 3)
        epochs = args.epochs or EPOCHS.get(ds, 10)
        print(f"{ds}: {len(bundle.train)} train / {len(bundle.test or [])} test, inputs "
              f"{bundle.input_shape}, {main_seeds} seeds (auto) / {other_seeds} (others) x "
              f"{epochs} epochs, torch threads {torch.get_num_threads()}", flush=True)
        results[ds] = {}
        for name, recipe in recipes.items():
            seeds = main_seeds if name == "auto" else other_seeds
            t0 = time.perf_counter()
            results[ds][name] = r = run_recipe(bundle, recipe, seeds=seeds, epochs=epochs,
                                               device=args.device)
            print(f"  {name}: {r['config']}; mean test {np.mean(r['test_accuracy']):.3f}; "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
    print_tables(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
