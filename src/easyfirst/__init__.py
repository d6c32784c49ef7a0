"""easyfirst: curriculum learning driven by per-sample difficulty scores.

The pieces a custom training loop needs are re-exported here::

    from easyfirst import OutcomeRecorder, WithIndex, get_scorer
"""

__version__ = "0.1.0"

from easyfirst.curriculum import CurriculumSampler, make_ordering  # noqa: E402
from easyfirst.data import ArraySplit, DatasetBundle, WithIndex, load_dataset  # noqa: E402
from easyfirst.pacing import PacingFunction  # noqa: E402
from easyfirst.recording import OutcomeRecorder, TrainingDynamics  # noqa: E402
from easyfirst.scores import Scores  # noqa: E402
from easyfirst.scoring import ensemble, get_scorer  # noqa: E402

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
