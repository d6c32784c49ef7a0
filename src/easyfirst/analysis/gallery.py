"""The report's sample tables: samples to look at and listen to, linked from the data map.

For a score folder: per scorer the ``K`` hardest and ``K`` easiest training samples (the
seed-ensemble scores in the scorer's easy-to-hard order), and the *likely label issues*;
each row with the sample's thumbnail and player (``sample_media``). The first row showing a
sample carries the HTML anchor that its ringed point on the data map links to.

Likely label issues (single-label runs whose ``dynamics.pt`` hold the eval pass): the
samples ``easyfirst.analysis.label_issues`` flags, with a number estimated from the runs; the
first rows with their media, then every flagged sample in a collapsed table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from easyfirst.analysis import plots
from easyfirst.analysis.blocks import Gallery, Image, Link, Row
from easyfirst.analysis.label_issues import LabelIssues
from easyfirst.analysis.per_sample import easy_to_hard
from easyfirst.analysis.results import Table
from easyfirst.analysis.sample_media import SampleMedia
from easyfirst.recording.dynamics import TrainingDynamics
from easyfirst.run_folder import read_sample_meta
from easyfirst.scores import Scores

K = 5
ISSUE_COLUMNS = ["given class", "suggested class", "mean probability", "seed agreement"]


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

    def issue_tables(self, found: LabelIssues | str, k: int) -> list[Gallery | Table | str]:
        """The first ``k`` flagged samples with their media, then all of them (collapsed);
        or the line saying why there are none."""
        if isinstance(found, str):
            return [f"Likely label issues: not shown. {found}"]
        if not len(found):
            return [f"Likely label issues: none. {found.rule()}."]

        def cells(j: int) -> list[str]:
            return [self.name(int(found.given[j])), self.name(int(found.suggested[j])),
                    f"{found.probability[j]:.3f}", f"{found.agreement[j]:.2f}",
                    _fmt(found.evidence[j])]

        columns = [*ISSUE_COLUMNS, f"mean {found.evidence_name}"]
        g = Gallery(f"Likely label issues: {len(found)} flagged" + (
            f", the {k} with the most evidence shown here" if len(found) > k else ""),
            ["sample", *columns], note=f"{found.rule()}. easyfirst export RUN --label-issues "
            "writes them all as CSV.")
        g.rows = [self.row(int(i), cells(j), "likely label issue, suggested "
                           f"{self.name(int(found.suggested[j]))}")
                  for j, i in enumerate(found.index[:k])]
        every = Table(f"All {len(found)} likely label issues, most evidence first",
                      ["#", "sample", *columns],
                      [[str(j + 1), self.sample_id(int(i)), *cells(j)]
                       for j, i in enumerate(found.index)], collapsed=True)
        return [g, every] if len(found) > k else [g]


def sample_tables(
    folder: Path, out_dir: Path, ensembles: dict[str, Scores], dyns: Sequence[TrainingDynamics],
    issues: LabelIssues | str, *, class_names: Sequence[str] | None, tag: str = "", k: int = K,
) -> tuple[list[Gallery | Table | str], dict[int, tuple[str, str]]]:
    """The blocks of the sample section, and ``{index: (href, title)}`` of the samples shown
    (what the data map links); ``issues``: the folder's label issues, or why there are none."""
    targets = dyns[0].targets.numpy() if dyns and dyns[0].targets is not None else None
    tables = SampleTables(folder, out_dir, class_names, targets, tag)
    blocks: list[Gallery | Table | str] = []
    for name, s in ensembles.items():
        blocks += tables.scorer_tables(name, s, k)
    blocks += tables.issue_tables(issues, 2 * k)
    return [*blocks, *tables.media.notes()], tables.shown


def linked_data_map(dyns: TrainingDynamics | Sequence[TrainingDynamics], path: Path,
                    shown: dict[int, tuple[str, str]], caption: str) -> Image:
    """The data map of ``dyns`` (one run, or the seeds' mean) with the ``shown`` samples
    ringed, each a link to its row."""
    png, xy = plots.marked_data_map(dyns, path, list(shown))
    return Image(png, caption + "; ringed: the samples of the tables below (click one)",
                 [Link(x, y, *shown[i]) for i, (x, y) in zip(shown, xy, strict=True)
                  if math.isfinite(x) and math.isfinite(y)])
