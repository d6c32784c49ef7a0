"""CNN10 and CNN14 in the PANNs layout (Kong et al., 2020), on log-Mel inputs.

Inputs are ``(B, C, mels, frames)`` (PANNs itself feeds ``(B, 1, frames, mels)``). The layers are
the same; :func:`load_panns_checkpoint` transposes the 3x3 kernels so that a PANNs checkpoint
computes the same function on our layout (2x2 average pooling is symmetric, so nothing else
changes).

Module names are meant to be hooked (e.g. by Prediction Depth): ``bn0``, ``block1`` ..
``blockK`` (output after pooling), ``fc1`` (before its ReLU) and ``head`` (the logits);
``model.embedding_layers()`` lists them in depth order.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from easyfirst.errors import InputError, MissingFileError
from easyfirst.models.registry import register_model

# Keys of a PANNs checkpoint that are not part of our model: the AudioSet head, the built-in
# STFT/log-Mel front end and SpecAugment (ours run outside the model).
_SKIPPED_PREFIXES = ("fc_audioset.", "spectrogram_extractor.", "logmel_extractor.",
                     "spec_augmenter.")


class ConvBlock(nn.Module):
    """Two ``3x3 conv (no bias) -> BN -> ReLU`` then 2-D average pooling.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        pool: average-pool kernel (PANNs uses 2x2, and 1x1 for CNN14's last block).
    """

    def __init__(self, in_channels: int, out_channels: int, *, pool: int = 2) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, H, W) -> (B, C_out, H // pool, W // pool)``."""
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return F.avg_pool2d(x, self.pool) if self.pool > 1 else x


class PANNsCNN(nn.Module):
    """A PANNs CNN: ``bn0`` over mel bins, conv blocks, freq mean, time max+mean, ``fc1``, head.

    Args:
        in_channels: input channels C (1 for log-Mel; 3 works for images).
        num_bins: mel bins (the H axis), normalised by ``bn0`` like PANNs.
        widths: output channels of each conv block.
        num_classes: logits produced by ``head``.
        last_pool: pooling of the last block (PANNs: 2 for CNN10, 1 for CNN14).
        block_dropout: dropout after each block (PANNs: 0.2).
        fc_dropout: dropout before and after ``fc1`` (PANNs: 0.5).

    Shapes:
        ``(B, C, mels, frames) -> (B, num_classes)`` logits (no sigmoid/softmax).
    """

    def __init__(
        self, *, in_channels: int, num_bins: int, widths: tuple[int, ...], num_classes: int,
        last_pool: int = 2, block_dropout: float = 0.2, fc_dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.bn0 = nn.BatchNorm2d(num_bins)
        chans = [in_channels, *widths]
        for i, (cin, cout) in enumerate(zip(chans[:-1], chans[1:], strict=True), start=1):
            pool = last_pool if i == len(widths) else 2
            self.add_module(f"block{i}", ConvBlock(cin, cout, pool=pool))
        self.num_blocks = len(widths)
        self.fc1 = nn.Linear(widths[-1], widths[-1])
        self.head = nn.Linear(widths[-1], num_classes)
        self.block_drop = nn.Dropout(block_dropout)  # modules, so DDP can swap them
        self.fc_drop = nn.Dropout(fc_dropout)
        self._init_weights()

    def _init_weights(self) -> None:
        # As PANNs: xavier-uniform weights, zero biases, BN at identity.
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def embedding_layers(self) -> list[str]:
        """Names of the modules whose outputs are intermediate representations, shallow first."""
        return [*(f"block{i}" for i in range(1, self.num_blocks + 1)), "fc1"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, mels, frames) -> (B, num_classes)``."""
        x = self.bn0(x.transpose(1, 2)).transpose(1, 2)  # normalise each mel bin
        for i in range(1, self.num_blocks + 1):
            x = getattr(self, f"block{i}")(x)
            x = self.block_drop(x)
        x = x.mean(dim=2)  # over frequency -> (B, D, T)
        x = x.amax(dim=2) + x.mean(dim=2)  # over time -> (B, D)
        x = self.fc_drop(x)
        x = F.relu(self.fc1(x))
        x = self.fc_drop(x)
        return self.head(x)


def _build(
    name: str, widths: tuple[int, ...], last_pool: int, input_shape: tuple[int, ...],
    num_classes: int, checkpoint: str | os.PathLike[str] | None, block_dropout: float,
    fc_dropout: float,
) -> PANNsCNN:
    if len(input_shape) != 3:
        raise InputError(
            f"{name} expects inputs of shape (C, mels, frames); got {input_shape}. Add a channel "
            "axis to the features."
        )
    halvings = len(widths) - (1 if last_pool == 1 else 0)
    smallest = 2**halvings
    if min(input_shape[1:]) < smallest:
        raise InputError(
            f"{name} halves the input {halvings} times, so mels and frames must be at least "
            f"{smallest}; got input_shape={input_shape}. Use larger inputs or 'small_cnn'."
        )
    model = PANNsCNN(
        in_channels=input_shape[0], num_bins=input_shape[1], widths=widths,
        num_classes=num_classes, last_pool=last_pool, block_dropout=block_dropout,
        fc_dropout=fc_dropout,
    )
    if checkpoint is not None:
        load_panns_checkpoint(model, checkpoint)
    return model


def _scaled(widths: tuple[int, ...], width: float) -> tuple[int, ...]:
    if not width > 0:
        raise InputError(f"Expected width > 0; got {width}.")
    return tuple(max(1, round(c * width)) for c in widths)


@register_model("cnn10", test_input_shape=(1, 16, 20))
def cnn10(
    *, input_shape: tuple[int, ...], num_classes: int,
    checkpoint: str | os.PathLike[str] | None = None, block_dropout: float = 0.2,
    fc_dropout: float = 0.5, width: float = 1.0,
) -> PANNsCNN:
    """PANNs CNN10: 4 conv blocks (64-128-256-512), ``fc1`` 512 (~5.2M params at 527 classes).

    Args:
        input_shape: ``(C, mels, frames)``; mels and frames at least 16.
        num_classes: number of output logits.
        checkpoint: optional local PANNs checkpoint (e.g. ``Cnn10_mAP=0.380.pth``); all layers
            but the head are loaded (see :func:`load_panns_checkpoint`).
        block_dropout: dropout after each conv block.
        fc_dropout: dropout around ``fc1``.
        width: multiplier of every block width (a PANNs checkpoint needs 1).

    Example:
        >>> m = cnn10(input_shape=(1, 64, 101), num_classes=10)
        >>> m.eval()(torch.zeros(2, 1, 64, 101)).shape
        torch.Size([2, 10])
    """
    return _build("cnn10", _scaled((64, 128, 256, 512), width), 2, input_shape, num_classes,
                  checkpoint, block_dropout, fc_dropout)


@register_model("cnn14", test_input_shape=(3, 32, 32))
def cnn14(
    *, input_shape: tuple[int, ...], num_classes: int,
    checkpoint: str | os.PathLike[str] | None = None, block_dropout: float = 0.2,
    fc_dropout: float = 0.5, width: float = 1.0,
) -> PANNsCNN:
    """PANNs CNN14: 6 conv blocks (64 .. 2048, last without pooling), ``fc1`` 2048 (~80.8M).

    Args:
        input_shape: ``(C, mels, frames)``; mels and frames at least 32.
        num_classes: number of output logits.
        checkpoint: optional local PANNs checkpoint (e.g. ``Cnn14_mAP=0.431.pth``).
        block_dropout: dropout after each conv block.
        fc_dropout: dropout around ``fc1``.
        width: multiplier of every block width (a PANNs checkpoint needs 1).
    """
    return _build("cnn14", _scaled((64, 128, 256, 512, 1024, 2048), width), 1, input_shape,
                  num_classes, checkpoint, block_dropout, fc_dropout)


def _is_conv_kernel(key: str, value: torch.Tensor) -> bool:
    return value.ndim == 4 and key.endswith(".weight")


def to_panns_state_dict(model: PANNsCNN) -> dict[str, torch.Tensor]:
    """Our state dict in PANNs naming (``conv_blockI``, ``fc_audioset``) and kernel layout.

    The inverse of the mapping used by :func:`load_panns_checkpoint`; handy for exporting.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in model.state_dict().items():
        new = re.sub(r"^block(\d+)\.", r"conv_block\1.", key)
        new = re.sub(r"^head\.", "fc_audioset.", new)
        out[new] = value.transpose(-1, -2).contiguous() if _is_conv_kernel(key, value) else value
    return out


def load_panns_checkpoint(model: PANNsCNN, path: str | os.PathLike[str]) -> PANNsCNN:
    """Load a local PANNs checkpoint into ``model`` (in place), all layers but the head.

    Accepts the released files (state dict under ``"model"``) or a bare state dict. The
    AudioSet head ``fc_audioset`` and the STFT/log-Mel/SpecAugment keys are skipped; conv
    kernels are transposed from PANNs' ``(frames, mels)`` to our ``(mels, frames)`` layout.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not a state dict, or its keys/shapes do not match the model.
    """
    if not os.path.isfile(path):
        raise MissingFileError(
            f"PANNs checkpoint not found: expected a file at {os.fspath(path)!r}. Download it "
            "(e.g. Cnn14_mAP=0.431.pth from zenodo.org/record/3987831) and pass its local path."
        )
    raw = torch.load(path, map_location="cpu", weights_only=True)
    state = raw.get("model", raw) if isinstance(raw, Mapping) else None
    if not isinstance(state, Mapping):
        raise InputError(
            f"Expected a state dict (or one under key 'model') in {os.fspath(path)!r}; got "
            f"{type(raw).__name__}. Pass a PANNs .pth checkpoint."
        )
    ours = model.state_dict()
    mapped: dict[str, torch.Tensor] = {}
    unexpected: list[str] = []
    for key, value in state.items():
        if key.startswith(_SKIPPED_PREFIXES):
            continue
        new = re.sub(r"^conv_block(\d+)\.", r"block\1.", key)
        if new not in ours:
            unexpected.append(key)
            continue
        mapped[new] = value.transpose(-1, -2) if _is_conv_kernel(new, value) else value
    # Old checkpoints may lack BN step counters; they do not affect the function.
    wanted = [k for k in ours
              if not k.startswith("head.") and not k.endswith("num_batches_tracked")]
    missing = [k for k in wanted if k not in mapped]
    bad_shape = [f"{k} {tuple(mapped[k].shape)} vs {tuple(ours[k].shape)}" for k in wanted
                 if k in mapped and mapped[k].shape != ours[k].shape]
    if missing or unexpected or bad_shape:
        raise InputError(
            f"Checkpoint {os.fspath(path)!r} does not match this model: missing "
            f"{_short(missing)}; unexpected {_short(unexpected)}; shape mismatches (checkpoint vs "
            f"model) {_short(bad_shape)}. Build the model that matches the checkpoint (cnn10 or "
            "cnn14, input_shape=(1, 64, frames))."
        )
    model.load_state_dict(mapped, strict=False)
    return model


def _short(items: list[str], limit: int = 6) -> str:
    if not items:
        return "none"
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return "[" + ", ".join(items[:limit]) + "]" + more
