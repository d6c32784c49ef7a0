"""Pacing functions: pool size as a function of explicit training progress."""

from easyfirst.pacing import functional
from easyfirst.pacing import shapes as _shapes  # noqa: F401  (registers the built-in shapes)
from easyfirst.pacing.registry import PACINGS, PacingFunction, PacingShape, register_pacing

__all__ = ["PACINGS", "PacingFunction", "PacingShape", "functional", "register_pacing"]
