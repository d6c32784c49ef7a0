"""TC-ResNet: temporal convolutions over log-Mel frames (Choi et al., 2019, arXiv:1904.03814).

Keyword-spotting networks treat the M mel bins as the channels of a 1-D signal over the T
frames: every convolution sees the whole spectrum of a few frames, so a few small layers
cover a word, and the cost is a 1-D convolution (fast on CPUs as well as GPUs). Layout here:

    InputNorm (per mel bin, training-split statistics; see models/input_norm.py)
    stem:   conv k=3 (M -> w0), BN, ReLU
    blocks: residual, each conv k -> BN -> ReLU -> conv k -> BN (+ shortcut) -> ReLU, the first
            conv of a block with stride 2 (1x1 conv + BN shortcut when shape changes)
    pool:   mean + max over time, dropout, linear head

``tcresnet8`` is the paper's TC-ResNet8 (widths 16-24-32-48, three blocks) and ``tcresnet14``
its TC-ResNet14 (six blocks), both at ``width_mult`` (paper: 1 and 1.5). The paper pools by the
mean over time; the mean + max pooling used here (as PANNs' head does) keeps a short word in a
long padded clip from being averaged away.

Module names for hooks (Prediction Depth): ``stem``, ``block1`` .. ``blockK``, ``pool``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from easyfirst.errors import InputError
from easyfirst.models.input_norm import DEFAULT_FLOOR_SIGMA, InputNorm
from easyfirst.models.recipes import Recipe
from easyfirst.models.registry import register_model

# Measured on FSDD and synthkws against small_cnn, CNN10 at 1/4 width and a plain 1-D probe
# (benchmarks/audio_recipes.py; the table is in the README).
AUDIO_RECIPE = Recipe(optimizer="adam", lr=5e-3, schedule="onecycle", batch_size=64,
                      augment=("time_shift",))


class TCBlock(nn.Module):
    """Residual block of two temporal convolutions; ``(B, C_in, T) -> (B, C_out, T / stride)``."""

    def __init__(self, cin: int, cout: int, *, kernel: int, stride: int) -> None:
        super().__init__()
        pad = kernel // 2
        self.conv1 = nn.Conv1d(cin, cout, kernel, stride=stride, padding=pad, bias=False)
        self.bn1 = nn.BatchNorm1d(cout)
        self.conv2 = nn.Conv1d(cout, cout, kernel, padding=pad, bias=False)
        self.bn2 = nn.BatchNorm1d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv1d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm1d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class TCResNet(nn.Module):
    """TC-ResNet over ``(B, 1, M, T)`` log-Mel inputs.

    Args:
        num_bins: mel bins M (the channels of the first convolution).
        num_classes: logits produced.
        widths: stem width, then one width per block.
        strides: stride of each block's first convolution (same length as ``widths[1:]``).
        kernel: temporal kernel of the blocks (paper: 9).
        dropout: dropout before the head.
        floor_sigma: the input floor (see :class:`InputNorm`).

    Shapes:
        ``(B, 1, M, T) -> (B, num_classes)``.
    """

    def __init__(
        self, *, num_bins: int, num_classes: int, widths: tuple[int, ...],
        strides: tuple[int, ...], kernel: int = 9, dropout: float = 0.1,
        floor_sigma: float = DEFAULT_FLOOR_SIGMA,
    ) -> None:
        super().__init__()
        if len(strides) != len(widths) - 1:
            raise InputError(
                f"Expected one stride per block ({len(widths) - 1}); got {len(strides)}."
            )
        self.norm = InputNorm(num_bins, dim=1, floor_sigma=floor_sigma)
        self.stem = nn.Sequential(
            nn.Conv1d(num_bins, widths[0], 3, padding=1, bias=False), nn.BatchNorm1d(widths[0]),
            nn.ReLU(),
        )
        for i, (cin, cout, s) in enumerate(zip(widths[:-1], widths[1:], strides, strict=True)):
            self.add_module(f"block{i + 1}", TCBlock(cin, cout, kernel=kernel, stride=s))
        self.num_blocks = len(strides)
        self.pool = nn.Identity()  # a named point after pooling, for probes
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(widths[-1], num_classes)

    def embedding_layers(self) -> list[str]:
        """Names of the modules whose outputs are intermediate representations, shallow first."""
        return ["stem", *(f"block{i}" for i in range(1, self.num_blocks + 1)), "pool"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x).flatten(1, 2)  # (B, 1, M, T) -> (B, M, T): bins are channels
        x = self.stem(x)
        for i in range(1, self.num_blocks + 1):
            x = getattr(self, f"block{i}")(x)
        x = self.pool(x.mean(dim=2) + x.amax(dim=2))
        return self.head(self.dropout(x))


def _build(
    name: str, base: tuple[int, ...], strides: tuple[int, ...], *, input_shape: tuple[int, ...],
    num_classes: int, width_mult: float, kernel: int, dropout: float, floor_sigma: float,
) -> TCResNet:
    if len(input_shape) != 3 or input_shape[0] != 1:
        raise InputError(
            f"{name} expects log-Mel inputs of shape (1, mels, frames); got {input_shape}. "
            "Use 'small_cnn' or 'resnet18' for images and 'mlp' for flat features."
        )
    if not width_mult > 0:
        raise InputError(f"Expected width_mult > 0; got {width_mult}.")
    widths = tuple(max(1, round(w * width_mult)) for w in base)
    return TCResNet(num_bins=input_shape[1], num_classes=num_classes, widths=widths,
                    strides=strides, kernel=kernel, dropout=dropout, floor_sigma=floor_sigma)


@register_model("tcresnet8", recipe=AUDIO_RECIPE, test_input_shape=(1, 16, 20))
def tcresnet8(
    *, input_shape: tuple[int, ...], num_classes: int, width_mult: float = 1.0, kernel: int = 9,
    dropout: float = 0.1, floor_sigma: float = DEFAULT_FLOOR_SIGMA,
) -> TCResNet:
    """TC-ResNet8: stem 16, blocks 24-32-48 with stride 2, times ``width_mult``.

    Example:
        >>> m = tcresnet8(input_shape=(1, 64, 101), num_classes=10)
        >>> m.eval()(torch.zeros(2, 1, 64, 101)).shape
        torch.Size([2, 10])
    """
    return _build("tcresnet8", (16, 24, 32, 48), (2, 2, 2), input_shape=input_shape,
                  num_classes=num_classes, width_mult=width_mult, kernel=kernel,
                  dropout=dropout, floor_sigma=floor_sigma)


@register_model("tcresnet14", recipe=AUDIO_RECIPE, test_input_shape=(1, 16, 20))
def tcresnet14(
    *, input_shape: tuple[int, ...], num_classes: int, width_mult: float = 1.0, kernel: int = 9,
    dropout: float = 0.1, floor_sigma: float = DEFAULT_FLOOR_SIGMA,
) -> TCResNet:
    """TC-ResNet14: stem 16, blocks 24-24-32-32-48-48 (stride 2 at 24, 32, 48), x ``width_mult``."""
    return _build("tcresnet14", (16, 24, 24, 32, 32, 48, 48), (2, 1, 2, 1, 2, 1),
                  input_shape=input_shape, num_classes=num_classes, width_mult=width_mult,
                  kernel=kernel, dropout=dropout, floor_sigma=floor_sigma)
