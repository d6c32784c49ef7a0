"""Finished training runs as records, and the paper's accuracy tables over them.

A finished ``easyfirst train`` run is a folder with ``run.json``, ``metrics.json`` and
``predictions.npz``. ``load_run`` reads one; ``find_runs`` finds them below a folder. The
tables follow Rampp et al. (2024): mean test accuracy by ordering x pacing, the best run of
each ordering against the mean of the best k baselines, and late fusion of the best runs.
"Best" is always chosen on the dev split (the test split only reports); runs without dev
predictions are ranked by test accuracy, and the table says so.

Run types: ``CL`` (curriculum, easy first), ``ACL`` (anti-curriculum), ``RCL`` (random
ordering with the same pacing), ``baseline`` (full data every epoch).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from easyfirst.analysis.fusion import (
    RunPredictions,
    accuracy,
    compare_fusions,
    fuse_runs,
    load_predictions,
    read_predictions,
)
from easyfirst.analysis.stats import Comparison, mean_interval
from easyfirst.errors import MissingFileError
from easyfirst.run_folder import PREDICTIONS, is_finished, read_json

KIND_BY_ORDERING = {"curriculum": "CL", "random": "RCL", "anti": "ACL", "none": "baseline"}
KINDS = ("CL", "RCL", "ACL", "baseline")
PACING_ORDER = ("logarithmic", "root", "linear", "exponential")  # fast to slow saturation


@dataclass
class Table:
    """A small table of preformatted cells, rendered by ``easyfirst.analysis.report``;
    ``collapsed`` tables (long lists) start folded in HTML."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    note: str = ""
    collapsed: bool = False


def metric_name(records: Sequence[RunRecord]) -> str:
    """``mAP`` when every run is multi-label, else ``accuracy``."""
    return "mAP" if records and all(r.metric == "map" for r in records) else "accuracy"


def in_metric(make: Callable[..., Any]) -> Callable[..., Any]:
    """Tables of multi-label runs say mAP where single-label ones say accuracy."""

    @functools.wraps(make)
    def wrapped(records: Sequence[RunRecord], *args: Any, **kw: Any) -> Any:
        out = make(records, *args, **kw)
        if not records or any(r.metric != "map" for r in records):
            return out
        table = out[0] if isinstance(out, tuple) else out
        table.title = table.title.replace("accuracy", "mAP")
        table.columns = [c.replace("accuracy", "mAP").replace("acc", "mAP")
                         for c in table.columns]
        table.note = table.note.replace("accuracy", "mAP")
        return out

    return wrapped


@dataclass
class RunRecord:
    """One finished training run.

    Attributes:
        name: folder name.
        path: the run folder.
        kind: ``CL``, ``RCL``, ``ACL`` or ``baseline``.
        settings: ``run.json`` (config, curriculum, dataset, scores header).
        metrics: per-epoch rows of ``metrics.json`` (pool_size, losses, accuracies).
        test_accuracy: of the evaluated checkpoint (macro mAP for multi-label runs).
        dev_accuracy: of the evaluated checkpoint (from its dev predictions); NaN if no dev.
        metric: ``accuracy``, or ``map`` for multi-label runs.
    """

    name: str
    path: Path
    kind: str
    settings: dict[str, Any]
    metrics: list[dict[str, Any]]
    test_accuracy: float
    dev_accuracy: float
    extra: dict[str, Any] = field(default_factory=dict)
    metric: str = "accuracy"  # ``map``: multi-label, the two numbers are macro mAP

    @property
    def curriculum(self) -> dict[str, Any]:
        return dict(self.settings.get("curriculum") or {})

    @property
    def pacing(self) -> str:
        return str(self.curriculum.get("pacing", "")) if self.kind != "baseline" else "-"

    @property
    def full_at(self) -> float:
        return float(self.curriculum.get("full_at", math.nan))

    @property
    def seed(self) -> int:
        return int(self.settings.get("config", {}).get("seed", 0))

    @property
    def scorer(self) -> str | None:
        s = self.settings.get("scores")
        return None if not s else str(s.get("scorer"))

    @property
    def label(self) -> str:
        """``CL`` or ``CL (cumacc)`` when the ordering came from a named scorer."""
        return f"{self.kind} ({self.scorer})" if self.kind in ("CL", "ACL") and self.scorer \
            else self.kind

    def predictions(self, split: str = "test") -> RunPredictions:
        return load_predictions(self.path, split)

    def selection_accuracy(self) -> float:
        """Dev accuracy, or test accuracy where the dataset has no dev split."""
        return self.dev_accuracy if math.isfinite(self.dev_accuracy) else self.test_accuracy


def load_run(run_dir: str | Path) -> RunRecord:
    """Read a finished run folder (``run.json``, ``metrics.json``, ``predictions.npz``)."""
    p = Path(run_dir)
    if not is_finished(p):
        raise MissingFileError(
            f"{str(p)!r} is not a finished run: expected metrics.json and predictions.npz; "
            "finish it first (easyfirst train ... --resume)."
        )
    settings = read_json(p / "run.json", what="a run's settings") \
        if (p / "run.json").is_file() else {}
    metrics = read_json(p / "metrics.json", what="a run's metrics")
    ordering = str((settings.get("curriculum") or {}).get("ordering", "none"))
    z = read_predictions(p / PREDICTIONS)
    dev = accuracy(z["dev_probs"], z["dev_targets"]) if "dev_probs" in z and \
        len(z["dev_targets"]) else math.nan
    test = metrics.get("test_accuracy", metrics.get("test_map"))  # multi-label: macro mAP
    return RunRecord(
        name=p.name, path=p, kind=KIND_BY_ORDERING.get(ordering, ordering), settings=settings,
        metrics=list(metrics.get("metrics", [])),
        test_accuracy=math.nan if test is None else float(test), dev_accuracy=dev,
        metric="map" if "test_map" in metrics else "accuracy",
    )


def run_folders(root: str | Path, *, max_depth: int = 2) -> list[Path]:
    """``easyfirst train`` folders (finished or not) in ``root`` and its subfolders (up to
    ``max_depth`` levels), by path."""
    found: list[Path] = []
    level = [Path(root)]
    for _ in range(max_depth + 1):
        nxt: list[Path] = []
        for d in level:
            if (d / "run.json").is_file() and \
                    "curriculum" in read_json(d / "run.json", what="a run's settings"):
                found.append(d)
            elif d.is_dir():
                nxt += sorted(c for c in d.iterdir() if c.is_dir() and not c.name.startswith("."))
        level = nxt
    return sorted(found)


def find_runs(root: str | Path, *, max_depth: int = 2) -> list[RunRecord]:
    """Finished runs in ``root`` and its subfolders (up to ``max_depth`` levels), by path."""
    return [load_run(d) for d in run_folders(root, max_depth=max_depth) if is_finished(d)]


def best_runs(records: Sequence[RunRecord], k: int = 1) -> list[RunRecord]:
    """The k runs with the highest selection (dev) accuracy; ties by name."""
    return sorted(records, key=lambda r: (-r.selection_accuracy(), r.name))[:k]


def _mean_ci(values: Sequence[float]) -> str:
    """``0.9800 [0.9733, 0.9867] (n=5)``: the mean and its 95 % bootstrap interval."""
    v = [x for x in values if math.isfinite(x)]
    return mean_interval(v).text() if v else "-"


def _selected_on(records: Sequence[RunRecord]) -> str:
    return "dev" if all(math.isfinite(r.dev_accuracy) for r in records) else "dev (test if no dev)"


@in_metric
def table_by_ordering_pacing(records: Sequence[RunRecord]) -> Table:
    """Mean test accuracy [95 % CI] per run type (rows) and pacing (columns), over a and
    seeds."""
    curr = [r for r in records if r.kind != "baseline"]
    rank = {p: i for i, p in enumerate(PACING_ORDER)}
    pacings = sorted(dict.fromkeys(r.pacing for r in curr), key=lambda p: rank.get(p, len(rank)))
    labels = [lab for kind in KINDS[:3] for lab in dict.fromkeys(r.label for r in curr)
              if lab.split(" ")[0] == kind]
    rows = []
    for lab in labels:
        mine = [r for r in curr if r.label == lab]
        rows.append([lab] + [_mean_ci([r.test_accuracy for r in mine if r.pacing == p])
                             for p in pacings] + [_mean_ci([r.test_accuracy for r in mine])])
    base = [r for r in records if r.kind == "baseline"]
    if base:
        rows.append(["baseline"] + ["-"] * len(pacings)
                    + [_mean_ci([r.test_accuracy for r in base])])
    a_values = sorted({r.full_at for r in curr if math.isfinite(r.full_at)})
    return Table(
        "Mean test accuracy by ordering x pacing",
        ["ordering"] + pacings + ["all"],
        rows,
        note="mean [95 % bootstrap interval] over saturation fractions a in "
        f"{{{', '.join(f'{a:g}' for a in a_values)}}} and seeds; n = runs. The paired "
        "comparisons with the baseline are in the per-cell table.",
    )


@in_metric
def best_vs_baselines(records: Sequence[RunRecord], k: int = 3) -> tuple[Table, dict[str, Any]]:
    """The best run of each type (on dev) against the mean test accuracy of the best k baselines.

    Returns:
        The table and ``{"best_k_baseline_mean", "k", "best": {label: {...}}}``.
    """
    base = [r for r in records if r.kind == "baseline"]
    top = best_runs(base, k)
    ref = float(np.mean([r.test_accuracy for r in top])) if top else math.nan
    data: dict[str, Any] = {"k": len(top), "best_k_baseline_mean": ref, "best": {}}
    rows = []
    labels = list(dict.fromkeys(r.label for r in records if r.kind != "baseline"))
    for lab in [lab for kind in KINDS for lab in labels if lab.split(" ")[0] == kind] + (
            ["baseline"] if base else []):
        mine = [r for r in records if r.label == lab]
        b = best_runs(mine, 1)[0]
        delta = b.test_accuracy - ref
        data["best"][lab] = {"run": b.name, "dev_accuracy": b.dev_accuracy,
                             "test_accuracy": b.test_accuracy, "delta": delta, "of": len(mine)}
        rows.append([lab, b.name, f"{b.dev_accuracy:.4f}", f"{b.test_accuracy:.4f}",
                     f"{delta:+.4f}" if math.isfinite(delta) else "-", str(len(mine))])
    if top:
        rows.append([f"mean of best {len(top)} baselines", ", ".join(r.name for r in top),
                     f"{np.mean([r.dev_accuracy for r in top]):.4f}", f"{ref:.4f}", "+0.0000",
                     str(len(base))])
    return Table(
        f"Best run of each type vs the mean of the best {len(top)} baselines",
        ["type", "best run", "dev acc", "test acc", "Δ test vs baselines", "runs"],
        rows,
        note=f"best = highest accuracy on {_selected_on(records)}; test accuracy reported. "
        "The best of many runs is an optimistic pick, so it is compared with the mean of the "
        "best k baselines rather than with one baseline.",
    ), data


def fusion_groups(records: Sequence[RunRecord], *, k: int = 3) -> dict[str, list[RunRecord]]:
    """Named sets of runs to fuse: the best run of each type, and the best baselines.

    ``CL+RCL+ACL+B1`` (one run per type: the paper's fusion of orderings), ``CL+RCL+ACL``,
    ``CL+ACL``, and ``B1..Bm`` (the best m baselines, m = number of members of the first set,
    so the comparison fuses equally many models), plus ``B1..Bk`` when k differs.
    """
    best: dict[str, RunRecord] = {}
    for kind in KINDS:
        mine = [r for r in records if r.kind == kind]
        if mine:
            best["B1" if kind == "baseline" else kind] = best_runs(mine, 1)[0]
    base = best_runs([r for r in records if r.kind == "baseline"], len(records))
    groups: dict[str, list[RunRecord]] = {}
    for combo in (("CL", "RCL", "ACL", "B1"), ("CL", "RCL", "ACL"), ("CL", "ACL")):
        members = [best[c] for c in combo if c in best]
        if len(members) >= 2:
            groups.setdefault("+".join(c for c in combo if c in best), members)
    first = next(iter(groups.values()), [])
    for m in dict.fromkeys((len(first), k)):
        m = min(m, len(base))
        if m >= 2:
            groups.setdefault(f"B1..B{m}", base[:m])
    return groups


def _ci_text(c: dict[str, Any] | Comparison | None) -> str:
    """``+0.0100 [-0.0033, +0.0233], p = 0.34`` of a sample-paired comparison, or ``-``."""
    if c is None:
        return "-"
    return (c if isinstance(c, Comparison) else Comparison(**c)).text().rsplit(" (n=", 1)[0]


@in_metric
def fusion_results(
    records: Sequence[RunRecord], *, k: int = 3, split: str = "test"
) -> tuple[Table, list[dict[str, Any]]]:
    """Late fusion (sum of softmax probabilities) of the ``fusion_groups``: table and rows.

    Each fused group is compared on the same samples (paired bootstrap interval, McNemar p)
    with its best member and, for groups of several run types, with the fusion of as many
    baselines (``B1..Bm``) where there are enough.
    """
    groups = fusion_groups(records, k=k)
    base = best_runs([r for r in records if r.kind == "baseline"], k)
    ref = float(np.mean([r.test_accuracy for r in base])) if base else math.nan
    preds = {name: [m.predictions(split) for m in members] for name, members in groups.items()}
    rows_data: list[dict[str, Any]] = []
    rows: list[list[str]] = []
    for name, members in preds.items():
        res = {"fusion": name, **fuse_runs(members)}
        res["delta_vs_best_k_baselines"] = round(res["accuracy"] - ref, 12)  # no float noise
        twin = f"B1..B{len(members)}"
        vs = compare_fusions(members, preds[twin]) \
            if not name.startswith("B") and twin in preds else None
        res["vs_baselines_fused"] = None if vs is None else {"group": twin, **asdict(vs)}
        rows_data.append(res)
        rows.append([name, ", ".join(res["members"]), f"{res['accuracy']:.4f}",
                     f"{res['best_member_accuracy']:.4f}", _ci_text(res["vs_best_member"]),
                     f"{twin}: {_ci_text(vs)}" if vs is not None else "-",
                     f"{res['delta_vs_best_k_baselines']:+.4f}" if math.isfinite(ref) else "-"])
    return Table(
        f"Late fusion (sum of softmax probabilities, {split} split)",
        ["fusion", "members", "fused acc", "best member", "fused − best member [95 % CI], p",
         "fused − as many baselines fused [95 % CI], p", f"Δ vs mean of best {len(base)}"],
        rows,
        note=f"members are the best run of each type on {_selected_on(records)}; Bi is the "
        "i-th best baseline. Intervals: paired bootstrap over the test samples; p: McNemar's "
        "exact test. They hold for these trained models, not across seeds.",
    ), rows_data


@in_metric
def runs_table(records: Sequence[RunRecord]) -> Table:
    """Every run: type, pacing, a, b, seed, final pool, dev and test accuracy."""
    rows = []
    for r in records:
        c = r.curriculum
        pools = [m.get("pool_size") for m in r.metrics]
        rows.append([
            r.name, r.label, r.pacing,
            f"{c.get('full_at', '-')}" if r.kind != "baseline" else "-",
            f"{c.get('start_fraction', '-')}" if r.kind != "baseline" else "-",
            str(r.seed), f"{pools[0]} → {pools[-1]}" if pools else "-",
            f"{r.dev_accuracy:.4f}" if math.isfinite(r.dev_accuracy) else "-",
            f"{r.test_accuracy:.4f}" if math.isfinite(r.test_accuracy) else "-",
        ])
    return Table("Training runs", ["run", "type", "pacing", "a", "b", "seed", "pool",
                                   "dev acc", "test acc"], rows)
