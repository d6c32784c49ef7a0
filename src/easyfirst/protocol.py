"""``reproduce``: the protocol of Rampp et al. (2024) end to end, in one call.

The reproduce workflow (``easyfirst.workflows.reproduce``) trains the plan's runs; analysis
(``easyfirst.analysis.paper_tables``) tests the findings and writes the tables over them.
Neither imports the other: this module, above both, runs one and then the other while the
folder stays locked. ``easyfirst reproduce`` and ``easyfirst.reproduce`` are this function::

    from easyfirst import load_dataset, make_plan, reproduce
    from easyfirst.training.config import configure

    bundle = load_dataset("digits")
    cfg, _ = configure(bundle, model="mlp", epochs=4, device="cpu")
    res = reproduce(bundle, cfg, make_plan("tiny"), out_dir="runs/reproduce-digits")
    print(res.results["findings"])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from easyfirst.analysis.paper_tables import write_paper_tables
from easyfirst.analysis.results import RunRecord, Table
from easyfirst.data.base import DatasetBundle
from easyfirst.training.config import RunConfig
from easyfirst.workflows.reproduce import Plan, make_plan, trained_plan

__all__ = ["ReproduceResult", "make_plan", "reproduce"]


@dataclass
class ReproduceResult:
    """What ``reproduce`` did and found."""

    out_dir: Path
    plan: Plan
    trained: int
    skipped: int
    records: list[RunRecord]
    tables: list[Table]
    results: dict[str, Any] = field(default_factory=dict)


def reproduce(
    bundle: DatasetBundle,
    cfg: RunConfig,
    plan: Plan,
    *,
    out_dir: str | Path,
    progress: bool = True,
) -> ReproduceResult:
    """Run (or finish) the protocol of ``plan`` in ``out_dir`` and compute its tables.

    Writes ``reproduce.json``, ``score/`` and ``runs/`` (the workflow's, see
    ``easyfirst.workflows.reproduce``), then ``findings.json``, ``results.json`` and
    ``tables.md`` (``easyfirst.analysis.paper_tables``).

    Args:
        bundle: the dataset.
        cfg: settings of every run (its ``seed`` is replaced per run; ``model="auto"`` is
            resolved once, before any run).
        plan: from ``make_plan``.
        out_dir: output folder.
        progress: one progress bar over all runs of the plan (and per-run epoch bars;
            plain lines when stderr is not a terminal).
    """
    with trained_plan(bundle, cfg, plan, out_dir=out_dir, progress=progress) as runs:
        records, tables, results = write_paper_tables(
            runs.out_dir, runs.run_dirs, plan.to_dict(), trained=runs.trained,
            skipped=runs.skipped)
    return ReproduceResult(runs.out_dir, plan, runs.trained, runs.skipped, records, tables,
                           results)
