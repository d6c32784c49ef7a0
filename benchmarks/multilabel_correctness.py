"""Which multi-label "correct in this epoch" makes the best difficulty scores?

On ``kwsmix`` (pairs of synthkws words overlaid at known SNRs; the known difficulty of a
sample is the SNR of its weaker word, ``weaker_snr_db``), for every correctness rule of
``easyfirst.targets`` (``exact``, ``label-mean``, ``recall``, ``f1``): train the default
model (``--model auto`` and its recipe) for each seed, record CumAcc and FIT under that rule,
ensemble over the seeds and report the Spearman of each score with ``weaker_snr_db``
(scores where lower is easier are negated: +1 means "easy = high SNR"), the seed-group
agreement (1 vs 1 Spearman, mean over pairs), and the test mAP of the runs next to it.

The rule does not change training (the loss is BCE either way): every rule sees the same
models, so the comparison isolates the definition. Run::

    python benchmarks/multilabel_correctness.py                # 3 seeds, 30 epochs
    python benchmarks/multilabel_correctness.py --seeds 2 --epochs 5 --json out.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr

from easyfirst.data import load_dataset
from easyfirst.scoring import functional as F
from easyfirst.targets import MULTILABEL_CORRECTNESS
from easyfirst.training.config import configure
from easyfirst.training.loop import train

SCORES = {"cumacc": +1.0, "fit": -1.0}  # sign: +1 when higher is easier


def run(dataset: str, seeds: int, epochs: int, rules: list[str]) -> list[dict[str, Any]]:
    bundle = load_dataset(dataset, progress=False)
    known = np.asarray(bundle.train.meta["weaker_snr_db"], dtype=np.float64)
    rows = []
    for rule in rules:
        per_seed: dict[str, list[np.ndarray]] = {k: [] for k in SCORES}
        maps = []
        for seed in range(seeds):
            cfg, note = configure(bundle, model="auto", epochs=epochs, correctness=rule,
                                  seed=seed, device="cpu")
            res = train(bundle, cfg, progress=False)
            assert res.dynamics is not None
            per_seed["cumacc"].append(F.cumacc(res.dynamics).numpy())
            per_seed["fit"].append(F.fit(res.dynamics).numpy().astype(np.float64))
            maps.append(float(res.test_accuracy or float("nan")))
        row: dict[str, Any] = {"rule": rule, "test_map": maps, "recipe": note}
        for name, sign in SCORES.items():
            ens = sign * np.mean(per_seed[name], axis=0)
            row[f"{name}_vs_snr"] = float(spearmanr(ens, known)[0])
            pairs = [float(spearmanr(a, b)[0])
                     for a, b in itertools.combinations(per_seed[name], 2)]
            row[f"{name}_1v1"] = float(np.mean(pairs)) if pairs else float("nan")
            row[f"{name}_unique"] = int(len(np.unique(ens)))
        rows.append(row)
        print(_line(row), flush=True)
    return rows


def _line(r: dict[str, Any]) -> str:
    maps = ", ".join(f"{m:.3f}" for m in r["test_map"])
    return (f"{r['rule']:<11} CumAcc~SNR {r['cumacc_vs_snr']:+.3f} (1v1 {r['cumacc_1v1']:.3f}, "
            f"{r['cumacc_unique']} values)  FIT~SNR {r['fit_vs_snr']:+.3f} (1v1 "
            f"{r['fit_1v1']:.3f})  test mAP per seed {maps}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="kwsmix")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--rules", default=",".join(MULTILABEL_CORRECTNESS))
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    rows = run(args.dataset, args.seeds, args.epochs, args.rules.split(","))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"dataset": args.dataset, "seeds": args.seeds, "epochs": args.epochs,
                       "rows": rows}, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
