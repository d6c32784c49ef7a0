"""The report's sample tables: samples to look at and listen to, linked from the data map.

For a score folder: per scorer the ``K`` hardest and ``K`` easiest training samples (the
seed-ensemble scores in the scorer's easy-to-hard order), and the *likely label issues*;
each row with the sample's thumbnail and player (``sample_media``). The first row showing a
sample carries the HTML anchor that its ringed point on the data map links to.

Likely label issues (single-label runs whose ``dynamics.pt`` hold the eval pass's
``eval_predicted`` and ``eval_confidence``; older runs lack them): training samples whose
CumAcc, averaged over the seeds, is at most ``MAX_CUMACC`` while the eval passes over the
training set give another class c a probability of at least ``MIN_CONFIDENCE`` averaged over
the seeds. c is the class with the largest summed probability over the seeds that predict
it, and a seed that predicts another class adds 0, so the average is a lower bound on the
seeds' mean probability of c. Sorted by that average, most confident first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from easyfirst.analysis import plots
from easyfirst.analysis.blocks import Gallery, Image, Link, Row
from easyfirst.analysis.per_sample import easy_to_hard
from easyfirst.analysis.sample_media import SampleMedia
from easyfirst.recording.dynamics import TrainingDynamics
from easyfirst.scores import Scores
from easyfirst.workflows.outputs import SAMPLES, read_sample_meta

K = 5
MAX_CUMACC, MIN_CONFIDENCE = 0.2, 0.8
RULE = (f"CumAcc (mean over the seeds) <= {MAX_CUMACC:g} and, in the eval passes over the "
        f"training set, another class predicted with mean probability >= {MIN_CONFIDENCE:g} "
        "over the seeds (a seed predicting a third class counts 0)")


def label_issues(dyns: Sequence[TrainingDynamics], targets: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | str:
    """``(indices, predicted class, mean probability, CumAcc)`` by the module's rule, most
    confident first; or one line saying why the runs cannot tell."""
    have = [d for d in dyns if d.eval_predicted is not None and d.eval_confidence is not None]
    if not dyns:
        return ("Likely label issues: not shown, no seed has a dynamics.pt (no scorer trained "
                "the ordinary runs).")
    if targets.ndim != 1:
        return "Likely label issues: not shown for multi-label data (one class per sample only)."
    if not have:
        return ("Likely label issues: not shown, the runs' dynamics.pt lack the eval pass's "
                "predicted classes (easyfirst before eval_predicted); score again to see them.")
    cumacc = np.mean([d.cumacc().numpy() for d in have], axis=0)
    low = np.flatnonzero(cumacc <= MAX_CUMACC)
    pred = np.stack([d.eval_predicted.numpy()[low] for d in have])  # type: ignore[union-attr]
    conf = np.stack([d.eval_confidence.numpy()[low] for d in have])  # type: ignore[union-attr]
    votes = np.zeros((len(low), int(max(pred.max(initial=0), targets.max(initial=0))) + 1))
    np.add.at(votes, (np.broadcast_to(np.arange(len(low)), pred.shape), pred), conf)
    cls, mean = votes.argmax(1), votes.max(1, initial=0.0) / len(have)
    keep = (mean >= MIN_CONFIDENCE) & (cls != targets[low])
    order = np.argsort(-mean[keep], kind="stable")
    return low[keep][order], cls[keep][order], mean[keep][order], cumacc[low][keep][order]


def _fmt(x: float) -> str:
    return "-" if not math.isfinite(float(x)) else f"{float(x):.4g}"


class SampleTables:
    """Builds the galleries of one score folder and remembers which samples they show."""

    def __init__(self, folder: Path, out_dir: Path, class_names: Sequence[str] | None,
                 targets: np.ndarray | None, tag: str) -> None:
        self.media = SampleMedia.open(folder, out_dir, tag=tag)
        arrays = read_sample_meta(folder)
        self.ids, self.tag = arrays.get("train.ids"), tag
        self.targets = arrays.get("train.targets", targets)
        self.names = list(class_names or [])
        self.shown: dict[int, tuple[str, str]] = {}  # index -> (href, title) of its anchor

    def name(self, c: int) -> str:
        return self.names[c] if 0 <= c < len(self.names) else f"class {c}"

    def label(self, i: int) -> str:
        if self.targets is None:
            return "-"
        t = self.targets[i]
        return self.name(int(t)) if np.ndim(t) == 0 else "; ".join(
            self.name(int(c)) for c in np.flatnonzero(t)) or "none"

    def sample_id(self, i: int) -> str:
        return str(self.ids[i]) if self.ids is not None and i < len(self.ids) else str(i)

    def row(self, i: int, cells: list[str], where: str) -> Row:
        r = Row(int(i), [self.sample_id(i), *cells], thumb=self.media.thumbnail(int(i)),
                clip=self.media.clip(int(i)))
        if r.index not in self.shown:
            r.anchor = f"{self.tag}sample-{r.index}"
            self.shown[r.index] = (f"#{r.anchor}", f"{r.cells[0]} ({self.label(i)}): {where}")
        return r

    def scorer_tables(self, name: str, s: Scores, k: int) -> list[Gallery]:
        order = easy_to_hard(s)
        v = np.asarray(s.values)
        out = []
        for what, picked in (("hardest", order[::-1][:k]), ("easiest", order[:k])):
            g = Gallery(f"{name}: the {len(picked)} {what} training samples",
                        ["sample", "class", name])
            g.rows = [self.row(i, [self.label(i), _fmt(v[i])], f"{what} by {name}")
                      for i in picked]
            out.append(g)
        return out

    def issue_table(self, dyns: Sequence[TrainingDynamics], k: int) -> Gallery | str:
        if self.targets is None:
            return f"Likely label issues: not shown, {SAMPLES} and the dynamics hold no labels."
        found = label_issues(dyns, np.asarray(self.targets))
        if isinstance(found, str):
            return found
        idx, cls, conf, cumacc = found
        g = Gallery(f"Likely label issues: {len(idx)} sample(s)" + (
            f", the {k} most confident shown" if len(idx) > k else ""),
            ["sample", "given class", "predicted class", "mean probability", "CumAcc"],
            note=f"Rule: {RULE}; over the {sum(d.eval_predicted is not None for d in dyns)} "
            "seed(s) whose runs recorded the eval pass's predictions.")
        g.rows = [self.row(i, [self.label(i), self.name(int(c)), f"{p:.3f}", f"{a:.3f}"],
                           f"likely label issue, predicted {self.name(int(c))}")
                  for i, c, p, a in zip(idx[:k], cls[:k], conf[:k], cumacc[:k], strict=True)]
        return g if g.rows else f"Likely label issues: none ({RULE})."


def sample_tables(
    folder: Path, out_dir: Path, ensembles: dict[str, Scores], dyns: Sequence[TrainingDynamics],
    *, class_names: Sequence[str] | None, tag: str = "", k: int = K,
) -> tuple[list[Gallery | str], dict[int, tuple[str, str]]]:
    """The blocks of the sample section, and ``{index: (href, title)}`` of the samples shown
    (what the data map links)."""
    targets = dyns[0].targets.numpy() if dyns and dyns[0].targets is not None else None
    tables = SampleTables(folder, out_dir, class_names, targets, tag)
    blocks: list[Gallery | str] = []
    for name, s in ensembles.items():
        blocks += tables.scorer_tables(name, s, k)
    blocks.append(tables.issue_table(dyns, 2 * k))
    return [*blocks, *tables.media.notes()], tables.shown


def linked_data_map(dyn: TrainingDynamics, path: Path, shown: dict[int, tuple[str, str]],
                    caption: str) -> Image:
    """The data map of ``dyn`` with the ``shown`` samples ringed, each a link to its row."""
    png, xy = plots.marked_data_map(dyn, path, list(shown))
    return Image(png, caption + "; ringed: the samples of the tables below (click one)",
                 [Link(x, y, *shown[i]) for i, (x, y) in zip(shown, xy, strict=True)
                  if math.isfinite(x) and math.isfinite(y)])
