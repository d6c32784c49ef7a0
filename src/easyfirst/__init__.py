"""easyfirst: curriculum learning driven by per-sample difficulty scores.

The pieces a custom training loop needs are re-exported here::

    from easyfirst import OutcomeRecorder, WithIndex, get_scorer
"""

from easyfirst import estimators  # noqa: F401  (registers the scorers that train models)
from easyfirst._version import __version__
from easyfirst.curriculum import CurriculumSampler, make_ordering
from easyfirst.data import ArraySplit, DatasetBundle, WithIndex, load_dataset
from easyfirst.pacing import PacingFunction
from easyfirst.recording import OutcomeRecorder, TrainingDynamics
from easyfirst.scores import Scores
from easyfirst.scoring import ensemble, get_scorer

__all__ = [
    "ArraySplit",
    "CurriculumSampler",
    "DatasetBundle",
    "OutcomeRecorder",
    "PacingFunction",
    "Scores",
    "TrainingDynamics",
    "WithIndex",
    "__version__",
    "ensemble",
    "get_scorer",
    "load_dataset",
    "make_ordering",
]
