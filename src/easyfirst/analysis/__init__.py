"""Analyses of scores and runs: agreement, seed robustness, late fusion, findings with
statistics (``stats``), plots, reports."""

from easyfirst.analysis.agreement import agreement, agreement_matrix, rank_correlation
from easyfirst.analysis.findings import cell_table, folder_findings, paper_findings
from easyfirst.analysis.fusion import (
    RunPredictions,
    fuse,
    fuse_runs,
    fusion_accuracy,
    fusion_table,
    load_predictions,
)
from easyfirst.analysis.report import write_report
from easyfirst.analysis.results import (
    RunRecord,
    Table,
    best_vs_baselines,
    find_runs,
    fusion_results,
    load_run,
    table_by_ordering_pacing,
)
from easyfirst.analysis.robustness import (
    RobustnessCurve,
    disjoint_groups,
    fit_single_seed_correlation,
    robustness_curve,
    seeds_for_target,
    spearman_brown,
)

__all__ = [
    "RobustnessCurve",
    "RunPredictions",
    "RunRecord",
    "Table",
    "agreement",
    "agreement_matrix",
    "best_vs_baselines",
    "cell_table",
    "disjoint_groups",
    "find_runs",
    "folder_findings",
    "fit_single_seed_correlation",
    "fuse",
    "fuse_runs",
    "fusion_accuracy",
    "fusion_results",
    "fusion_table",
    "load_predictions",
    "load_run",
    "paper_findings",
    "rank_correlation",
    "robustness_curve",
    "seeds_for_target",
    "spearman_brown",
    "table_by_ordering_pacing",
    "write_report",
]
