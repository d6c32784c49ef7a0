"""Scoring functions (registry), functional math and seed ensembles."""

from easyfirst.scoring.base import Param, Scorer, SeedInputs
from easyfirst.scoring.ensemble import ensemble
from easyfirst.scoring.registry import SCORERS, DynamicsScorer, get_scorer, register_scorer

__all__ = ["SCORERS", "DynamicsScorer", "Param", "Scorer", "SeedInputs", "ensemble",
           "get_scorer", "register_scorer"]
