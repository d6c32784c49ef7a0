"""The tables of a reproduce folder: the paper's findings and tables over its finished runs.

``paper_tables`` computes them from run records; ``write_paper_tables`` reads the runs a
plan trained (``run_folder``'s train folders, ``load_run``) and the score folder's seed
agreement, and writes, in the reproduce folder ``OUT``::

    OUT/findings.json       the findings (claim, verdict, effect, ci_low, ci_high, p, n, ...)
    OUT/results.json        the tables' numbers, the plan, runs trained and skipped
    OUT/tables.md           the tables as Markdown

The plan is the workflow's (``easyfirst.workflows.reproduce.Plan.to_dict()``, as in
``reproduce.json``): ``best_k``, ``scorers`` and ``order_by`` are read from it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from easyfirst.analysis.findings import (
    FINDINGS_FILE,
    cell_table,
    findings_dict,
    findings_table,
    paper_findings,
    score_stability,
)
from easyfirst.analysis.formats import format_markdown
from easyfirst.analysis.results import (
    RunRecord,
    Table,
    best_vs_baselines,
    fusion_results,
    load_run,
    metric_name,
    runs_table,
    table_by_ordering_pacing,
)
from easyfirst.atomic import atomic_write_text

RESULTS_FILE = "results.json"
TABLES_FILE = "tables.md"


def paper_tables(records: Sequence[RunRecord], *, best_k: int = 3,
                 stability: Mapping[str, float] | None = None, order_by: str | None = None
                 ) -> tuple[list[Table], dict[str, Any]]:
    """The paper's tables over finished runs, and their numbers.

    Args:
        records: finished runs.
        best_k: best baselines compared with (and fused).
        stability: r1 per ordering scorer (``score_stability``), for the stability finding.
        order_by: the scorer whose CL/ACL runs the ordering findings use (the plan's first).

    Returns:
        ``[findings, per cell vs baseline, ordering x pacing, best vs best-k baselines, late
        fusion, all runs]`` (tables that need missing run types are left out) and
        ``{"findings", "best_vs_baselines", "fusion", "runs"}``.
    """
    found = paper_findings(records, best_k=best_k, stability=stability, order_by=order_by)
    tables = [findings_table(found, metric=metric_name(records)), cell_table(records),
              table_by_ordering_pacing(records)]
    results: dict[str, Any] = {"findings": findings_dict(found, stability)}
    if any(r.kind == "baseline" for r in records):
        t, data = best_vs_baselines(records, best_k)
        tables.append(t)
        results["best_vs_baselines"] = data
    ft, rows = fusion_results(records, k=best_k)
    if rows:
        tables.append(ft)
    results["fusion"] = rows
    tables.append(runs_table(records))
    results["runs"] = [{"name": r.name, "type": r.label, "pacing": r.pacing,
                        "full_at": r.full_at, "seed": r.seed, "dev_accuracy": r.dev_accuracy,
                        "test_accuracy": r.test_accuracy} for r in records]
    return tables, results


def write_paper_tables(
    out: str | Path, run_dirs: Sequence[str | Path], plan: Mapping[str, Any], *,
    trained: int, skipped: int,
) -> tuple[list[RunRecord], list[Table], dict[str, Any]]:
    """Compute the tables of the reproduce folder ``out`` and write its three files.

    Args:
        out: the reproduce folder (its score folder is ``out/score``).
        run_dirs: the plan's finished train runs, in the order of the tables (baselines,
            then the grid).
        plan: the plan as a dict (``Plan.to_dict()``); written into ``results.json``.
        trained, skipped: runs this call trained and found finished, for ``results.json``.

    Returns:
        The runs' records, the tables (``paper_tables``) and ``results.json``'s numbers.
    """
    folder = Path(out)
    records = [load_run(d) for d in run_dirs]
    stability = score_stability(folder / "score", plan["scorers"])
    tables, results = paper_tables(records, best_k=plan["best_k"], stability=stability,
                                   order_by=plan["order_by"][0])
    results.update(plan=dict(plan), trained=trained, skipped=skipped)
    atomic_write_text(folder / FINDINGS_FILE, json.dumps(results["findings"], indent=1))
    atomic_write_text(folder / RESULTS_FILE, json.dumps(results, indent=1, default=float))
    atomic_write_text(folder / TABLES_FILE,
                      "\n\n".join(format_markdown(t) for t in tables) + "\n")
    return records, tables, results
