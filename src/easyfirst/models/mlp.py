"""A multi-layer perceptron for tabular data and CPU demos."""

from __future__ import annotations

import math

from torch import nn

from easyfirst.errors import InputError
from easyfirst.models.registry import register_model


@register_model("mlp")
def mlp(
    *, input_shape: tuple[int, ...], num_classes: int, hidden: tuple[int, ...] = (128, 64),
    dropout: float = 0.0,
) -> nn.Module:
    """Flatten, then ``Linear -> ReLU (-> Dropout)`` per hidden width, then a linear head."""
    widths_ok = isinstance(hidden, list | tuple) and all(
        isinstance(h, int) and not isinstance(h, bool) and h >= 1 for h in hidden)
    if not widths_ok or not 0 <= dropout < 1:
        raise InputError(f"Expected a list of hidden widths >= 1 and 0 <= dropout < 1 for mlp; "
                         f"got hidden={hidden!r}, dropout={dropout!r}. Fix --model-opt.")
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(input_shape)
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)
