"""Scorers that train (or embed with) models of their own: CVLoss, C-score, Transfer Teacher,
Prediction Depth. Importing the package registers them in ``easyfirst.scoring.SCORERS``."""

from easyfirst.estimators import cscore, cvloss, prediction_depth, transfer_teacher
from easyfirst.estimators.base import ScorerOutput, TrainingScorer, register_estimator

__all__ = ["ScorerOutput", "TrainingScorer", "cscore", "cvloss", "prediction_depth",
           "register_estimator", "transfer_teacher"]
