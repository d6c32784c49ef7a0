"""Pacing functions: pool size as a function of explicit training progress."""

from easyfirst.pacing import functional
from easyfirst.pacing.registry import PACINGS, PacingFunction, PacingShape, register_pacing

__all__ = ["PACINGS", "PacingFunction", "PacingShape", "functional", "register_pacing"]
