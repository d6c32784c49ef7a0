"""What easyfirst's training loop costs over a minimal hand-written one.

Both train the same model (``--model``, default ``auto``'s pick for the dataset) on the same
training split, resident in memory, with the same optimiser, learning rate, batch size and
threads, no augmentation and a constant learning rate, for ``--epochs`` epochs:

- ``engine``: ``easyfirst.training.train`` recording every outcome (CumAcc, FIT, forgetting,
  probabilities, margins, EL2N) and evaluating the dev split after every epoch, as a scoring
  run does;
- ``hand``: a shuffled index per epoch, ``x[idx]``, forward, cross-entropy, backward, step.

They alternate (``--rounds`` pairs, which goes first alternating) so that the machine's load
falls on both alike. Printed: training samples/s of each (training epochs' samples over the
run's wall time, dev evaluation included for the engine) and the median of the paired ratios
engine / hand; and the same ratio for the engine's training steps alone (its own
``train_seconds``: the loop without the run's fixed costs, the model's input normalisation,
the per-epoch dev pass and the final eval-mode passes).

Run: ``python benchmarks/engine_overhead.py [--dataset synthkws] [--epochs 3] [--rounds 3]
[--threads 1] [--json out.json]``; FSDD with ``--dataset fsdd --root .../recordings``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from easyfirst.data import DatasetBundle, load_dataset
from easyfirst.models import build_model
from easyfirst.training.config import RunConfig, configure
from easyfirst.training.loop import train
from easyfirst.training.optim import build_optimizer

STEPS: list[float] = []  # the engine's own timing of its training steps, per engine run


def engine_run(bundle: DatasetBundle, cfg: RunConfig) -> float:
    """Wall seconds of ``train()``: every outcome recorded, dev evaluated each epoch, the
    eval-mode pass over the training set (CE loss, label issues) at the end."""
    start = time.perf_counter()
    result = train(bundle, cfg, progress=False, record=True)
    STEPS.append(result.info["train_seconds"])
    return time.perf_counter() - start


def hand_run(bundle: DatasetBundle, cfg: RunConfig) -> float:
    """Wall seconds of the minimal loop over the same data, model, optimiser and batch."""
    torch.manual_seed(cfg.seed)
    x = torch.as_tensor(np.asarray(bundle.train.inputs))  # resident, as the engine has it
    y = torch.as_tensor(np.asarray(bundle.train.targets))
    model = build_model(cfg.model, input_shape=tuple(x.shape[1:]),
                        num_classes=len(bundle.class_names), **cfg.model_options)
    opt = build_optimizer(cfg.optimizer, model.parameters(), lr=cfg.lr,
                          momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    g = torch.Generator().manual_seed(cfg.seed)
    start = time.perf_counter()
    model.train()
    for _ in range(cfg.epochs):
        for idx in torch.randperm(len(y), generator=g).split(cfg.batch_size):
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return time.perf_counter() - start


def measure(bundle: DatasetBundle, cfg: RunConfig, rounds: int) -> dict[str, Any]:
    runs = {"engine": engine_run, "hand": hand_run}
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(rounds):
        for name in sorted(runs, reverse=bool(i % 2)):
            seconds[name].append(runs[name](bundle, replace(cfg, seed=i)))
    samples = len(bundle.train) * cfg.epochs
    rate = {k: [samples / s for s in v] for k, v in seconds.items()}
    ratios = [e / h for e, h in zip(rate["engine"], rate["hand"], strict=True)]
    steps = [h / s for h, s in zip(seconds["hand"], STEPS[-rounds:], strict=True)]
    return {"dataset": bundle.name, "model": cfg.model, "batch_size": cfg.batch_size,
            "epochs": cfg.epochs, "threads": torch.get_num_threads(), "rounds": rounds,
            "samples_per_s": {k: round(statistics.median(v), 1) for k, v in rate.items()},
            "ratio_median": round(statistics.median(ratios), 3),
            "ratios": [round(r, 3) for r in ratios],
            "steps_ratio_median": round(statistics.median(steps), 3),
            "steps_ratios": [round(r, 3) for r in steps]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="synthkws")
    p.add_argument("--root", default=None)
    p.add_argument("--model", default="auto")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None, help="also write the result here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    bundle = load_dataset(args.dataset, **({"root": args.root} if args.root else {}))
    cfg, note = configure(bundle, model=args.model, epochs=args.epochs, augment=[],
                          schedule="constant", device="cpu")
    print(note, file=sys.stderr)
    result = measure(bundle, cfg, args.rounds)
    sps = result["samples_per_s"]
    print(f"{result['dataset']} {result['model']} batch {result['batch_size']}, "
          f"{args.threads} thread(s): engine {sps['engine']} samples/s, hand {sps['hand']} "
          f"samples/s; engine / hand {result['ratio_median']} (median of {args.rounds} pairs); "
          f"the engine's training steps alone / hand {result['steps_ratio_median']}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
