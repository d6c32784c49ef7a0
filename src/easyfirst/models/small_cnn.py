"""A small CNN fast enough for CPU demos on spectrograms or small images."""

from __future__ import annotations

from torch import nn

from easyfirst.errors import InputError
from easyfirst.models.registry import register_model


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
        nn.MaxPool2d(2, ceil_mode=True),
    )


@register_model("small_cnn")
def small_cnn(
    *, input_shape: tuple[int, ...], num_classes: int, widths: tuple[int, ...] = (16, 32, 64)
) -> nn.Module:
    """Input BN, conv blocks (3x3 conv, BN, ReLU, 2x2 max-pool), global average pool, head.

    Inputs ``(B, C, H, W)``; ``input_shape`` is ``(C, H, W)``. The input BatchNorm (per
    channel, like PANNs' ``bn0``) standardises raw log-Mel dB values or pixels.
    """
    if len(input_shape) != 3:
        raise InputError(
            f"small_cnn expects inputs of shape (C, H, W); got {input_shape}. Use 'mlp' for "
            "flat features."
        )
    chans = [input_shape[0], *widths]
    blocks = [_block(a, b) for a, b in zip(chans[:-1], chans[1:], strict=True)]
    return nn.Sequential(
        nn.BatchNorm2d(input_shape[0]), *blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(chans[-1], num_classes),
    )
