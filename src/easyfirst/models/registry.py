"""Model registry: ``name -> builder(input_shape=..., num_classes=..., **options) -> nn.Module``.

Registration metadata (``register_model(name, **meta)``, read with ``MODELS.meta(name)``):
``recipe`` (a ``models.recipes.Recipe``: the optimiser defaults the model was measured
with), ``test_input_shape`` (the smallest input the common model test feeds it; default a
3x16x16 image) and ``requires`` (an optional package it needs, e.g. ``"torchvision"``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from easyfirst.errors import InputError
from easyfirst.registry import Registry

ModelBuilder = Callable[..., nn.Module]
MODELS: Registry[ModelBuilder] = Registry(
    "model", packages=("easyfirst.models",), entry_points="easyfirst.models")
register_model = MODELS.register


def build_model(
    name: str, *, input_shape: tuple[int, ...], num_classes: int, **options: Any
) -> nn.Module:
    """Build a registered model for inputs of shape ``input_shape`` (no batch dim).

    An option the builder does not take raises ``ValueError`` naming the ones it does.
    """
    check_model_options(name, options)
    return MODELS.get(name)(input_shape=tuple(input_shape), num_classes=num_classes, **options)


def check_model_options(name: str, options: Mapping[str, Any]) -> None:
    """Refuse (one line) builder options ``name`` does not take; before anything is built."""
    MODELS.check_keywords(name, options, how="--model-opt KEY=VALUE",
                          fixed=("input_shape", "num_classes"))


def check_buildable(name: str, *, input_shape: tuple[int, ...], num_classes: int,
                    **options: Any) -> None:
    """Build the model on the meta device (no memory, no weights): an unknown name, option
    or a value of the wrong type fails here in one line, before a run writes anything."""
    try:
        with torch.device("meta"):
            build_model(name, input_shape=input_shape, num_classes=num_classes, **options)
    except (TypeError, AttributeError, RuntimeError) as exc:
        raise InputError(
            f"Could not build model {name!r} with options {dict(options)} for inputs "
            f"{tuple(input_shape)}: {exc}; expected values of the builder's types (easyfirst "
            "models). Fix --model-opt."
        ) from None

