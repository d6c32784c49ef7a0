"""Scoring functions (registry), functional math and seed ensembles."""

from easyfirst.scoring.ensemble import ensemble
from easyfirst.scoring.registry import SCORERS, DynamicsScorer, get_scorer

__all__ = ["SCORERS", "DynamicsScorer", "ensemble", "get_scorer"]
