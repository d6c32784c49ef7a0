"""Model registry: ``name -> builder(input_shape=..., num_classes=..., **options) -> nn.Module``.

Registration metadata (``register_model(name, **meta)``, read with ``MODELS.meta(name)``):
``recipe`` (a ``models.recipes.Recipe``: the optimiser defaults the model was measured
with), ``test_input_shape`` (the smallest input the common model test feeds it; default a
3x16x16 image) and ``requires`` (an optional package it needs, e.g. ``"torchvision"``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from easyfirst.registry import Registry

ModelBuilder = Callable[..., nn.Module]
MODELS: Registry[ModelBuilder] = Registry("model")
register_model = MODELS.register


def build_model(
    name: str, *, input_shape: tuple[int, ...], num_classes: int, **options: Any
) -> nn.Module:
    """Build a registered model for inputs of shape ``input_shape`` (no batch dim)."""
    return MODELS.get(name)(input_shape=tuple(input_shape), num_classes=num_classes, **options)
