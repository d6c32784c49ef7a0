"""easyfirst: curriculum learning driven by per-sample difficulty scores.

The pieces a custom training loop needs are re-exported here::

    from easyfirst import OutcomeRecorder, WithIndex, get_scorer
"""

from typing import Any as _Any

from easyfirst._version import __version__
from easyfirst.curriculum import CurriculumSampler, make_ordering
from easyfirst.data import ArraySplit, DatasetBundle, WithIndex, load_dataset, with_label_noise
from easyfirst.pacing import PacingFunction
from easyfirst.recording import OutcomeRecorder, TrainingDynamics
from easyfirst.scores import Scores
from easyfirst.scoring import ensemble, get_scorer
from easyfirst.training.config import RunConfig

__all__ = [
    "ArraySplit",
    "CurriculumSampler",
    "DatasetBundle",
    "OutcomeRecorder",
    "PacingFunction",
    "RunConfig",
    "Scores",
    "TrainingDynamics",
    "WithIndex",
    "__version__",
    "ensemble",
    "find_label_issues",
    "folder_findings",
    "folder_label_issues",
    "fuse_runs",
    "get_scorer",
    "load_dataset",
    "make_ordering",
    "paper_findings",
    "with_label_noise",
]

_LAZY = {"fuse_runs": "easyfirst.analysis.fusion",
         "find_label_issues": "easyfirst.analysis.label_issues",
         "folder_label_issues": "easyfirst.analysis.label_issues",
         "folder_findings": "easyfirst.analysis.findings",
         "paper_findings": "easyfirst.analysis.findings"}


def __getattr__(name: str) -> _Any:
    """``fuse_runs`` and the label-issue finders are imported on first use: they bring in the
    analysis layer (plots, matplotlib), which training does not need."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'easyfirst' has no attribute {name!r}")
