"""Recording per-sample training outcomes."""

from easyfirst.recording.dynamics import TrainingDynamics
from easyfirst.recording.recorder import OutcomeRecorder

__all__ = ["OutcomeRecorder", "TrainingDynamics"]
