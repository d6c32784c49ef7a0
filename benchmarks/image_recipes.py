"""Which image recipe learns, how fast, and how good are the scores it makes?

For each candidate recipe, in one process:

1. Timing (no data needed): training steps (augmentation, forward, backward, optimiser) on
   random inputs of Fashion-MNIST shape (1, 28, 28) and CIFAR-10 shape (3, 32, 32), the
   candidates alternating round after round so that a shared CPU's load falls on all of them
   alike. Reported: the median wall samples/s, and samples per CPU-second of this process
   (less sensitive to other processes on the machine).
2. Fashion-MNIST, full training set (60,000; no dev split), 1 seed: test accuracy after every
   epoch, and training samples/s of the real run (training steps only, the engine's clock).
3. Score quality: the first 12,000 training images with 10 % of labels flipped uniformly
   (``inject_label_noise(..., 0.1, "uniform", seed=0)``), 3 seeds x 5 epochs: training seconds,
   test accuracy per seed, and for cumacc, aum, celoss and confidence the average precision
   of ranking the flipped images as the hardest, from the 3-seed ensemble: ``ap_pessimistic``
   on the score values with every tie ordered against the flipped images (flipped last
   within a tie), and ``ap_rank`` of the ``Scores.ranks()`` order (the score file's ``rank``
   column, ties broken by the scores' own tie rule).

Recipes (``--recipes``, comma-separated):

- ``small_cnn``: the image default before this benchmark (small_cnn 16-32-64, Adam 1e-3,
  constant, batch 32, no augmentation).
- ``small_cnn_recipe``: the same network with the new recipe (Adam one-cycle 3e-3, batch 128,
  ``random_shift``): what the recipe alone changes.
- ``probe``: issue 26's probe (three conv-BN-ReLU-max-pool blocks 32-64-128: ``small_cnn`` at
  those widths; Adam one-cycle 3e-3, batch 128, 2-pixel shifts and horizontal flips).
- ``auto``: whatever ``--model auto`` picks for images and its registered recipe.
- ``image_cnn_narrow``: ``image_cnn`` at widths 24-48-96 with its recipe.
- ``--recipe NAME=JSON`` (repeatable) adds any other: RunConfig fields as JSON.

Run::

    python benchmarks/image_recipes.py --json image_recipes.json   # ~1.5 h on 2 shared cores
    python benchmarks/image_recipes.py --quick                      # smoke: a minute
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import average_precision_score

from easyfirst.audio.augment import build_augmentations
from easyfirst.data import ArraySplit, DatasetBundle, load_dataset
from easyfirst.data.images import FASHION_MNIST_DEBIAN_ROOT
from easyfirst.data.label_noise import inject_label_noise
from easyfirst.models import build_model
from easyfirst.scoring import ensemble, get_scorer
from easyfirst.scoring.base import SeedInputs
from easyfirst.training.config import RunConfig, configure
from easyfirst.training.loop import train
from easyfirst.training.optim import build_optimizer

SCORERS = ("cumacc", "aum", "celoss", "confidence")
NEW = {"lr": 3e-3, "schedule": "onecycle", "batch_size": 128}
RECIPES: dict[str, dict[str, Any]] = {
    "small_cnn": {"model": "small_cnn", "lr": 1e-3, "schedule": "constant", "batch_size": 32,
                  "augment": []},
    "small_cnn_recipe": {"model": "small_cnn", **NEW, "augment": ["random_shift"]},
    "probe": {"model": "small_cnn", "model_options": {"widths": [32, 64, 128]}, **NEW,
              "augment": ["random_shift", "hflip"]},
    "auto": {"model": "auto"},
    "image_cnn_narrow": {"model": "image_cnn", "model_options": {"widths": [24, 48, 96]}},
}
SHAPES = {"fmnist": (1, 28, 28), "cifar": (3, 32, 32)}


def fmnist_present(root: str | os.PathLike[str] = FASHION_MNIST_DEBIAN_ROOT) -> bool:
    """Whether the four Fashion-MNIST idx files (plain or .gz) are under ``root``."""
    stems = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")
    return all((Path(root) / s).is_file() or (Path(root) / f"{s}.gz").is_file() for s in stems)


def config_for(bundle: DatasetBundle, recipe: dict[str, Any], *, epochs: int,
               **extra: Any) -> tuple[RunConfig, str]:
    fields = {k: v for k, v in recipe.items() if k != "model"}
    return configure(bundle, model=recipe.get("model", "auto"), device="cpu",
                     dataset=bundle.name, **{"epochs": epochs, **fields, **extra})


# ---------------------------------------------------------------------------------------------
# 1. Timing on random inputs


def _stepper(cfg: RunConfig, shape: tuple[int, ...], n: int) -> tuple[Any, int]:
    """A closure running one training step of ``cfg`` on random ``shape`` inputs."""
    torch.manual_seed(0)
    model = build_model(cfg.model, input_shape=shape, num_classes=10, **cfg.model_options)
    model.train()
    opt = build_optimizer(cfg.optimizer, model.parameters(), lr=cfg.lr,
                          weight_decay=cfg.weight_decay)
    augment = build_augmentations(cfg.augment)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(n, *shape)
    y = torch.randint(0, 10, (n,))
    b = cfg.batch_size
    pos = [0]

    def step() -> None:
        s = pos[0] % (n - b + 1)
        xb, yb = x[s:s + b], y[s:s + b]
        if augment is not None:
            xb = augment(xb, gen)
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        pos[0] += b

    return step, b


def time_candidates(bundles: dict[str, DatasetBundle], recipes: dict[str, dict[str, Any]], *,
                    rounds: int, samples: int) -> dict[str, dict[str, Any]]:
    """Samples/s of each candidate on each shape, the candidates alternating every round."""
    steppers = {}
    for name, recipe in recipes.items():
        for shape_name, bundle in bundles.items():
            cfg, _ = config_for(bundle, recipe, epochs=1)
            step, b = _stepper(cfg, bundle.input_shape, max(samples, 4 * cfg.batch_size))
            step()  # warm-up (allocator, oneDNN primitives)
            steppers[name, shape_name] = (step, max(1, samples // b), b)
    walls: dict[tuple[str, str], list[float]] = {k: [] for k in steppers}
    cpus: dict[tuple[str, str], list[float]] = {k: [] for k in steppers}
    for _ in range(rounds):
        for key, (step, steps, b) in steppers.items():
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(steps):
                step()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            walls[key].append(steps * b / wall)
            cpus[key].append(steps * b / max(cpu, 1e-9))
    out: dict[str, dict[str, Any]] = {}
    for (name, shape_name), w in walls.items():
        out.setdefault(name, {})[shape_name] = {
            "samples_per_s": round(statistics.median(w), 1),
            "samples_per_s_rounds": [round(v, 1) for v in w],
            "samples_per_cpu_s": round(statistics.median(cpus[name, shape_name]), 1),
        }
    return out


def random_bundle(shape: tuple[int, ...], n: int = 8) -> DatasetBundle:
    """A tiny bundle of ``shape`` inputs, only for ``configure`` (input shape, no features)."""
    split = ArraySplit(torch.zeros(n, *shape), np.arange(n) % 10, [str(i) for i in range(n)])
    return DatasetBundle(f"random{shape}", split, None, None, [str(c) for c in range(10)])


# ---------------------------------------------------------------------------------------------
# 2. Fashion-MNIST accuracy


def fmnist_run(bundle: DatasetBundle, recipe: dict[str, Any], *, epochs: int) -> dict[str, Any]:
    cfg, note = config_for(bundle, recipe, epochs=epochs)
    t0 = time.perf_counter()
    res = train(bundle, replace(cfg, seed=0), progress=False, track_test=True)
    curve = [round(float(row["test_accuracy"]), 4) for row in res.metrics]
    seconds = res.info["train_seconds"]
    return {
        "config": note, "model": cfg.model,
        "params": sum(p.numel() for p in res.model.parameters()),
        "test_per_epoch": curve, "test_accuracy": curve[-1],
        "first_epoch_at_092": next((i + 1 for i, a in enumerate(curve) if a >= 0.92), None),
        "samples_per_s": round(len(bundle.train) * epochs / seconds, 1),
        "train_s": round(seconds, 1), "wall_s": round(time.perf_counter() - t0, 1),
        "loadavg_after": round(os.getloadavg()[0], 2),
    }


# ---------------------------------------------------------------------------------------------
# 3. Score quality under label noise


def noisy_bundle(full: DatasetBundle, n: int, rate: float) -> tuple[DatasetBundle, np.ndarray]:
    """The first ``n`` training images with ``rate`` of their labels flipped (seed 0)."""
    train_split = full.train.subset(np.arange(min(n, len(full.train))))
    noisy, flipped = inject_label_noise(train_split.targets.numpy(), rate, "uniform",
                                        num_classes=len(full.class_names), seed=0)
    split = ArraySplit(train_split.inputs, noisy, train_split.ids)
    name = f"{full.name}_first{len(split)}_noise{rate:g}"
    return DatasetBundle(name, split, None, full.test, full.class_names,
                         info=dict(full.info, label_noise={"rate": rate, "kind": "uniform"})
                         ), flipped


def hardness(scores: Any) -> np.ndarray:
    v = np.asarray(scores.values, dtype=np.float64)
    return -v if scores.higher_is_easier else v


def ap_pessimistic(hard: np.ndarray, flipped: np.ndarray) -> float:
    """AP of ranking ``flipped`` first by ``hard``, with each tie ordered against them: a
    total order (hardest first, clean before flipped within a tie), so a tied block of
    flipped samples is counted one by one, not at once (the issue's pessimistic AP)."""
    order = np.lexsort((flipped, -np.asarray(hard, dtype=np.float64)))
    rank = np.empty(order.size)
    rank[order] = np.arange(order.size, 0, -1)  # higher = flagged earlier
    return float(average_precision_score(flipped, rank))


def score_quality(bundle: DatasetBundle, flipped: np.ndarray, recipe: dict[str, Any], *,
                  seeds: int, epochs: int) -> dict[str, Any]:
    cfg, note = config_for(bundle, recipe, epochs=epochs)
    runs, tests, seconds, t0 = [], [], 0.0, time.perf_counter()
    for seed in range(seeds):
        res = train(bundle, replace(cfg, seed=seed), progress=False)
        runs.append((replace(cfg, seed=seed), res))
        tests.append(round(float(res.test_accuracy or 0.0), 4))
        seconds += res.info["train_seconds"]
    out: dict[str, Any] = {
        "config": note, "test_accuracy": tests, "train_s": round(seconds, 1),
        "wall_s": round(time.perf_counter() - t0, 1),
        "samples_per_s": round(len(bundle.train) * epochs * seeds / seconds, 1),
        "loadavg_after": round(os.getloadavg()[0], 2), "scorers": {},
    }
    for name in SCORERS:
        scorer = get_scorer(name)
        params = scorer.validate(bundle, cfg, {})
        ens = ensemble([scorer.score(SeedInputs(bundle, c, c.seed, dynamics=r.dynamics),
                                     **params) for c, r in runs])
        hard = hardness(ens)
        _, counts = np.unique(hard, return_counts=True)
        out["scorers"][name] = {
            "ap_pessimistic": round(ap_pessimistic(hard, flipped), 4),
            "ap_rank": round(float(average_precision_score(flipped, ens.ranks())), 4),
            "tie_break": ens.meta.get("tie_break"),
            "distinct_values": int(counts.size), "largest_tie": int(counts.max()),
        }
    return out


# ---------------------------------------------------------------------------------------------
# Tables and the command line


def print_tables(results: dict[str, Any]) -> None:
    timing, acc, noisy = results["timing"], results["fmnist"], results["noisy"]
    print("\n| recipe | model (params) | FMNIST test acc per epoch | final | epoch >= .92 | "
          "train samples/s (run) | FMNIST-shape samples/s (timing; per CPU-s) | CIFAR-shape "
          "samples/s (timing; per CPU-s) |")
    print("|---|---|---|---|---|---|---|---|")
    for name in results["recipes"]:
        a, t = acc.get(name, {}), timing.get(name, {})
        cells = [f"{t[s]['samples_per_s']:.0f} ({t[s]['samples_per_cpu_s']:.0f})" if s in t
                 else "-" for s in SHAPES]
        curve = ", ".join(f"{v:.3f}" for v in a.get("test_per_epoch", []))
        params = f"{a['model']} ({a['params'] / 1000:.0f} k)" if a else "-"
        print(f"| {name} | {params} | {curve or '-'} | {a.get('test_accuracy', '-')} | "
              f"{a.get('first_epoch_at_092') or '-'} | {a.get('samples_per_s', '-')} | "
              f"{cells[0]} | {cells[1]} |")
    if noisy:
        print(f"\n| recipe | train s ({results['noisy_seeds']} seeds) | test acc per seed | "
              + " | ".join(f"{s} AP pess. / rank" for s in SCORERS) + " |")
        print("|---|---|---|" + "---|" * len(SCORERS))
        for name, q in noisy.items():
            aps = " | ".join(f"{q['scorers'][s]['ap_pessimistic']:.3f} / "
                             f"{q['scorers'][s]['ap_rank']:.3f}" for s in SCORERS)
            accs = ", ".join(f"{a:.3f}" for a in q["test_accuracy"])
            print(f"| {name} | {q['train_s']:.0f} | {accs} | {aps} |")


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--recipes", default=",".join(RECIPES),
                   help=f"comma-separated names of {', '.join(RECIPES)}, or '' for none")
    p.add_argument("--recipe", action="append", default=[], metavar="NAME=JSON",
                   help="another recipe: RunConfig fields as JSON (repeatable)")
    p.add_argument("--sections", default="timing,fmnist,noisy")
    p.add_argument("--epochs", type=int, default=10, help="Fashion-MNIST epochs (default 10)")
    p.add_argument("--noisy-n", type=int, default=12000)
    p.add_argument("--noise-rate", type=float, default=0.1)
    p.add_argument("--noisy-seeds", type=int, default=3)
    p.add_argument("--noisy-epochs", type=int, default=5)
    p.add_argument("--timing-rounds", type=int, default=5)
    p.add_argument("--timing-samples", type=int, default=2560, help="samples per round")
    p.add_argument("--root", default=FASHION_MNIST_DEBIAN_ROOT, help="Fashion-MNIST folder")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--quick", action="store_true",
                   help="smoke mode: 1,024 training images, 1 epoch, 2 seeds, 1 timing round")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--resume", action="store_true",
                   help="keep what --json already holds and run only the missing parts")
    args = p.parse_args(argv)
    if args.quick:
        args.epochs = args.noisy_epochs = args.timing_rounds = 1
        args.noisy_seeds, args.noisy_n, args.timing_samples = 2, 1024, 256
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    recipes = {name: RECIPES[name] for name in args.recipes.split(",") if name}
    for item in args.recipe:
        name, _, spec = item.partition("=")
        recipes[name] = json.loads(spec)
    sections = set(args.sections.split(","))
    results: dict[str, Any] = {"recipes": recipes, "threads": torch.get_num_threads(),
                               "quick": args.quick, "timing": {}, "fmnist": {}, "noisy": {},
                               "noisy_seeds": args.noisy_seeds, "loadavg_start":
                               round(os.getloadavg()[0], 2)}
    if args.resume and args.json and Path(args.json).is_file():
        done = json.loads(Path(args.json).read_text())
        for key in ("timing", "fmnist", "noisy"):
            results[key] = {k: v for k, v in done.get(key, {}).items() if k in recipes}
        results["resumed_from"] = {k: done.get(k) for k in ("loadavg_start", "threads")}

    def save() -> None:
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))

    if "timing" in sections and set(recipes) - set(results["timing"]):
        bundles = {k: random_bundle(s) for k, s in SHAPES.items()}
        results["timing"] = time_candidates(bundles, recipes, rounds=args.timing_rounds,
                                            samples=args.timing_samples)
        print(f"timing done (load {os.getloadavg()[0]:.1f})", flush=True)
        save()
    if sections & {"fmnist", "noisy"} and not fmnist_present(args.root):
        print(f"Fashion-MNIST not found in {args.root}: skipping the accuracy and score "
              "sections (apt-get install dataset-fashion-mnist, or pass --root).")
        sections -= {"fmnist", "noisy"}
    if sections & {"fmnist", "noisy"}:
        run_data_sections(args, recipes, sections, results, save)
    print_tables(results)
    save()
    return 0


def run_data_sections(args: argparse.Namespace, recipes: dict[str, dict[str, Any]],
                      sections: set[str], results: dict[str, Any], save: Any) -> None:
    full = load_dataset("fashion_mnist", root=args.root, dev_every=0)
    if args.quick:  # a slice of train and test
        test = full.test.subset(np.arange(512)) if full.test is not None else None
        full = DatasetBundle(full.name, full.train.subset(np.arange(1024)), None, test,
                             full.class_names, info=full.info)
    noisy, flipped = noisy_bundle(full, args.noisy_n, args.noise_rate)
    results.update(fmnist_train=len(full.train), noisy_train=len(noisy.train),
                   noisy_flipped=int(flipped.sum()))
    for name, recipe in recipes.items():
        t0 = time.perf_counter()
        if "fmnist" in sections and name not in results["fmnist"]:
            results["fmnist"][name] = r = fmnist_run(full, recipe, epochs=args.epochs)
            print(f"  {name}: {r['config']}; test {r['test_per_epoch']}; "
                  f"{r['samples_per_s']:.0f} samples/s", flush=True)
            save()
        if "noisy" in sections and name not in results["noisy"]:
            results["noisy"][name] = q = score_quality(
                noisy, flipped, recipe, seeds=args.noisy_seeds, epochs=args.noisy_epochs)
            print(f"  {name} noisy: test {q['test_accuracy']}, train {q['train_s']} s, AP "
                  f"{ {s: v['ap_pessimistic'] for s, v in q['scorers'].items()} }; "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
            save()


if __name__ == "__main__":
    raise SystemExit(main())
