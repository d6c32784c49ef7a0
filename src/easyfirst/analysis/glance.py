"""The report's first section, the answer at a glance, and its table of contents.

While the sections of a score or reproduce folder are built, a :class:`Glance` collects what
the summary says: the dataset and its training-set size, the run's settings, the test
accuracy per seed, how well the main scorer's seeds agree and how many seeds that suggests
for the target correlation, how many likely label issues were flagged and (reproduce) how
many findings got each verdict. :func:`summary_section` turns it into the "Summary" section.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from easyfirst.analysis.blocks import Section
from easyfirst.analysis.results import Table

SETTINGS = (("model", "model"), ("epochs", "epochs"), ("learning rate", "lr"),
            ("batch size", "batch_size"), ("optimizer", "optimizer"))


@dataclass
class Glance:
    """What the summary shows; fields stay empty where the folder has nothing to say."""

    dataset: str | None = None
    num_train: int | None = None
    config: dict[str, Any] = field(default_factory=dict)
    metric: str = "test accuracy"
    accuracy: dict[str, float] = field(default_factory=dict)
    scorer: str | None = None  # the main scorer, whose seed agreement is shown
    seeds_scored: int = 0
    seed_spearman: float = math.nan  # mean Spearman between two single seeds
    target: float = 0.9
    seeds_for: int | float | None = None
    issues: str | None = None
    verdicts: Counter[str] = field(default_factory=Counter)


def _num(x: float, digits: int = 4) -> str:
    return "-" if not math.isfinite(float(x)) else f"{float(x):.{digits}g}"


def _rows(g: Glance) -> list[list[str]]:
    rows = [["dataset", g.dataset or "-"]]
    if g.num_train is not None:
        rows.append(["training samples (N)", str(g.num_train)])
    rows += [[label, str(g.config[key])] for label, key in SETTINGS
             if g.config.get(key) is not None]
    if g.accuracy:
        vals = list(g.accuracy.values())
        rows.append([f"{g.metric} per seed", ", ".join(
            f"{_num(v)} (seed {k})" for k, v in g.accuracy.items())
            + (f"; mean {_num(sum(vals) / len(vals))}" if len(vals) > 1 else "")])
    if g.scorer is not None:
        if g.seeds_scored >= 2:
            need = "-" if g.seeds_for is None else (
                "more than any number (the seeds do not agree)" if g.seeds_for == math.inf
                else str(g.seeds_for))
            rows.append([f"seed agreement ({g.scorer})",
                         f"mean Spearman {_num(g.seed_spearman, 3)} between two seeds "
                         f"({g.seeds_scored} scored)"])
            rows.append([f"seeds suggested for Spearman {g.target:g}", need])
        else:
            rows.append([f"seed agreement ({g.scorer})",
                         f"- ({g.seeds_scored} seed scored: score two or more to measure it)"])
    if g.issues is not None:
        rows.append(["likely label issues", g.issues])
    if g.verdicts:
        rows.append(["findings", ", ".join(f"{n} {v}" for v, n in sorted(g.verdicts.items()))])
    return rows


def summary_section(g: Glance, titles: Sequence[str]) -> Section:
    """The "Summary" section: the ``Glance`` table, then the contents (``titles``)."""
    note = "Seed agreement: the robustness section's mean Spearman of single-seed scores; " \
        "seeds suggested: its Spearman-Brown estimate." if g.seeds_scored >= 2 else ""
    return Section("Summary", [Table("At a glance", ["", ""], _rows(g), note=note)],
                   contents=list(titles))


def anchor(title: str) -> str:
    """The HTML id of a section: its title lower-cased, runs of other characters as '-'
    (GitHub's Markdown headings get the same for plain titles)."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
