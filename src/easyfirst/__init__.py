"""easyfirst: curriculum learning driven by per-sample difficulty scores.

The pieces a custom training loop needs are re-exported here, and the paper's protocol in
one call (``reproduce``, ``make_plan``)::

    from easyfirst import OutcomeRecorder, WithIndex, get_scorer

Each name is imported on first use (PEP 562), so that ``import easyfirst.cli.main`` (and
``easyfirst --help``) loads no torch, and the analysis layer (plots, matplotlib, scipy) loads
only for the names that need it.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

from easyfirst._version import __version__
from easyfirst.errors import (
    EasyfirstError,
    InputError,
    MissingFileError,
    OutputExistsError,
    TrainingDivergedError,
)

if _typing.TYPE_CHECKING:  # the names below, for type checkers and editors
    from easyfirst.analysis.findings import folder_findings, paper_findings
    from easyfirst.analysis.fusion import fuse_runs
    from easyfirst.analysis.label_issues import find_label_issues, folder_label_issues
    from easyfirst.curriculum import CurriculumSampler, make_ordering
    from easyfirst.data import (
        ArraySplit,
        DatasetBundle,
        WithIndex,
        load_dataset,
        with_label_noise,
    )
    from easyfirst.pacing import PacingFunction
    from easyfirst.protocol import make_plan, reproduce
    from easyfirst.recording import OutcomeRecorder, TrainingDynamics
    from easyfirst.scores import Scores
    from easyfirst.scoring import ensemble, get_scorer
    from easyfirst.training.config import RunConfig

_LAZY = {
    "ArraySplit": "easyfirst.data",
    "CurriculumSampler": "easyfirst.curriculum",
    "DatasetBundle": "easyfirst.data",
    "OutcomeRecorder": "easyfirst.recording",
    "PacingFunction": "easyfirst.pacing",
    "RunConfig": "easyfirst.training.config",
    "Scores": "easyfirst.scores",
    "TrainingDynamics": "easyfirst.recording",
    "WithIndex": "easyfirst.data",
    "ensemble": "easyfirst.scoring",
    "find_label_issues": "easyfirst.analysis.label_issues",
    "folder_findings": "easyfirst.analysis.findings",
    "folder_label_issues": "easyfirst.analysis.label_issues",
    "fuse_runs": "easyfirst.analysis.fusion",
    "get_scorer": "easyfirst.scoring",
    "load_dataset": "easyfirst.data",
    "make_ordering": "easyfirst.curriculum",
    "make_plan": "easyfirst.protocol",
    "paper_findings": "easyfirst.analysis.findings",
    "reproduce": "easyfirst.protocol",
    "with_label_noise": "easyfirst.data",
}

__all__ = [
    "ArraySplit",
    "CurriculumSampler",
    "DatasetBundle",
    "EasyfirstError",
    "InputError",
    "MissingFileError",
    "OutcomeRecorder",
    "OutputExistsError",
    "PacingFunction",
    "RunConfig",
    "Scores",
    "TrainingDivergedError",
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
    "make_plan",
    "paper_findings",
    "reproduce",
    "with_label_noise",
]


def __getattr__(name: str) -> _typing.Any:
    """Import ``name``'s module on first use and keep the name here."""
    if name in _LAZY:
        value = getattr(_importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'easyfirst' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
