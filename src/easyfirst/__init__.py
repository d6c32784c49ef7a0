"""easyfirst: curriculum learning driven by per-sample difficulty scores.

The pieces a custom training loop needs are re-exported here::

    from easyfirst import OutcomeRecorder, WithIndex, get_scorer
"""

from typing import Any as _Any

from easyfirst import estimators  # noqa: F401  (registers the scorers that train models)
from easyfirst._version import __version__
from easyfirst.curriculum import CurriculumSampler, make_ordering
from easyfirst.data import ArraySplit, DatasetBundle, WithIndex, load_dataset
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
    "fuse_runs",
    "get_scorer",
    "load_dataset",
    "make_ordering",
]


def __getattr__(name: str) -> _Any:
    """``fuse_runs`` is imported on first use: late fusion brings in the analysis layer
    (plots, matplotlib), which training does not need."""
    if name == "fuse_runs":
        from easyfirst.analysis.fusion import fuse_runs

        return fuse_runs
    raise AttributeError(f"module 'easyfirst' has no attribute {name!r}")
