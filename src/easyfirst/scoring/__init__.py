"""Scoring functions (registry), functional math and seed ensembles."""

from easyfirst.scoring.ensemble import ensemble
from easyfirst.scoring.registry import SCORERS, DynamicsScorer, get_scorer
from easyfirst.scoring.training_scorer import ScorerOutput, TrainingScorer

__all__ = ["SCORERS", "DynamicsScorer", "ScorerOutput", "TrainingScorer", "ensemble", "get_scorer"]
