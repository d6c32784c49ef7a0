"""A plain convolutional network for images of any size, fast on CPUs: ``auto``'s image model.

Layout (``widths = (w0, w1, ..., wK)``):

    InputNorm (per channel, training-split statistics; see models/input_norm.py)
    stem:   conv 3x3 stride ``stem_stride`` (C -> w0), BN, ReLU
    blocks: conv 3x3 (w[i-1] -> w[i]), BN, ReLU, then 2x2 max-pool (the last block keeps its
            resolution)
    pool:   mean + max over the image, dropout, linear head

With the default ``stem_stride=2`` the first convolution already halves the image: the
full-resolution activations (the costly part on a CPU, where BN, ReLU and pooling are
memory-bound) are never formed. Inputs of any size from 8x8 up work: digits (1, 8, 8) run at
4x4, 2x2 and 2x2; Fashion-MNIST (1, 28, 28) at 14x14, 7x7 and 7x7; CIFAR (3, 32, 32) at 16x16,
8x8 and 8x8.

Module names for hooks (Prediction Depth): ``stem``, ``block1`` .. ``blockK``, ``pool``.
"""

from __future__ import annotations

import torch
from torch import nn

from easyfirst.errors import InputError
from easyfirst.models.input_norm import InputNorm
from easyfirst.models.recipes import Recipe
from easyfirst.models.registry import register_model

# Measured on Fashion-MNIST (and CIFAR-shaped timing) against small_cnn, small_cnn with this
# recipe and the issue-26 probe (benchmarks/image_recipes.py; the table is in
# benchmarks/results/cpu-2026-12-07/image_recipes.md). No flips: auto also picks this model
# for digits and MNIST, where a mirrored digit is another digit or none.
IMAGE_RECIPE = Recipe(optimizer="adam", lr=3e-3, schedule="onecycle", batch_size=128,
                      augment=("random_shift",))


def _conv_bn_relu(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU()]


class ImageCNN(nn.Module):
    """Stem, conv blocks with max-pooling, mean + max pooling, linear head (module notes).

    Args:
        in_channels: C of the ``(C, H, W)`` inputs.
        num_classes: logits produced.
        widths: stem width, then one width per block (at least one block).
        stem_stride: stride of the stem convolution (2 halves the image at once).
        dropout: dropout before the head.

    Shapes:
        ``(B, C, H, W) -> (B, num_classes)``.
    """

    def __init__(self, *, in_channels: int, num_classes: int, widths: tuple[int, ...],
                 stem_stride: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm = InputNorm(in_channels, dim=0)
        self.stem = nn.Sequential(*_conv_bn_relu(in_channels, widths[0], stem_stride))
        self.num_blocks = len(widths) - 1
        for i, (cin, cout) in enumerate(zip(widths[:-1], widths[1:], strict=True), start=1):
            pool = [nn.MaxPool2d(2, ceil_mode=True)] if i < self.num_blocks else []
            self.add_module(f"block{i}", nn.Sequential(*_conv_bn_relu(cin, cout), *pool))
        self.pool = nn.Identity()  # a named point after pooling, for probes
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * widths[-1], num_classes)

    def embedding_layers(self) -> list[str]:
        """Names of the modules whose outputs are intermediate representations, shallow first."""
        return ["stem", *(f"block{i}" for i in range(1, self.num_blocks + 1)), "pool"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(self.norm(x))
        for i in range(1, self.num_blocks + 1):
            x = getattr(self, f"block{i}")(x)
        x = self.pool(torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1))
        return self.head(self.dropout(x))


@register_model("image_cnn", recipe=IMAGE_RECIPE, test_input_shape=(1, 8, 8))
def image_cnn(
    *, input_shape: tuple[int, ...], num_classes: int, widths: tuple[int, ...] = (32, 64, 128),
    stem_stride: int = 2, dropout: float = 0.0,
) -> ImageCNN:
    """Stem 32 (stride 2), blocks 64 (then max-pool) and 128, mean + max pooling.

    Example:
        >>> m = image_cnn(input_shape=(1, 28, 28), num_classes=10)
        >>> m.eval()(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """
    if len(input_shape) != 3:
        raise InputError(
            f"image_cnn expects inputs of shape (C, H, W); got {input_shape}. Use 'mlp' for flat "
            "features."
        )
    widths = tuple(int(w) for w in widths)
    if len(widths) < 2 or min(widths) < 1 or stem_stride < 1:
        raise InputError(
            f"Expected widths of a stem and at least one block, each >= 1, and stem_stride >= 1;"
            f" got widths={widths}, stem_stride={stem_stride}."
        )
    return ImageCNN(in_channels=input_shape[0], num_classes=num_classes, widths=widths,
                    stem_stride=stem_stride, dropout=dropout)
