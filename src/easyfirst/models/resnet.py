"""ResNet-18 in the CIFAR layout: 3x3 stem, no max-pool, BasicBlocks [2, 2, 2, 2]."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from easyfirst.errors import InputError
from easyfirst.models.registry import register_model


class BasicBlock(nn.Module):
    """``conv3x3 -> BN -> ReLU -> conv3x3 -> BN`` plus a (projected) shortcut, then ReLU.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        stride: stride of the first conv (2 halves H and W).
    """

    def __init__(self, in_channels: int, out_channels: int, *, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, H, W) -> (B, C_out, H / stride, W / stride)``."""
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """A CIFAR-style ResNet: ``stem``, ``layer1`` .. ``layer4``, global average pool, ``head``.

    Args:
        in_channels: input channels C.
        num_classes: number of output logits.
        blocks: BasicBlocks per stage.
        widths: channels per stage.

    Shapes:
        ``(B, C, H, W) -> (B, num_classes)``.
    """

    def __init__(
        self, *, in_channels: int, num_classes: int, blocks: tuple[int, ...] = (2, 2, 2, 2),
        widths: tuple[int, ...] = (64, 128, 256, 512),
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]), nn.ReLU(),
        )
        cin = widths[0]
        self.num_stages = len(widths)
        for i, (n, cout) in enumerate(zip(blocks, widths, strict=True), start=1):
            stride = 1 if i == 1 else 2
            layers = [BasicBlock(cin, cout, stride=stride)]
            layers += [BasicBlock(cout, cout) for _ in range(n - 1)]
            self.add_module(f"layer{i}", nn.Sequential(*layers))
            cin = cout
        self.head = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def embedding_layers(self) -> list[str]:
        """Names of the modules whose outputs are intermediate representations, shallow first."""
        return ["stem", *(f"layer{i}" for i in range(1, self.num_stages + 1))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W) -> (B, num_classes)``."""
        x = self.stem(x)
        for i in range(1, self.num_stages + 1):
            x = getattr(self, f"layer{i}")(x)
        return self.head(x.mean(dim=(2, 3)))


@register_model("resnet18")
def resnet18(*, input_shape: tuple[int, ...], num_classes: int) -> CifarResNet:
    """ResNet-18 for small images (11.2M params at 10 classes); inputs ``(B, C, H, W)``.

    Example:
        >>> m = resnet18(input_shape=(3, 32, 32), num_classes=10)
        >>> m.eval()(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """
    if len(input_shape) != 3:
        raise InputError(
            f"resnet18 expects inputs of shape (C, H, W); got {input_shape}. Use 'mlp' for flat "
            "features."
        )
    return CifarResNet(in_channels=input_shape[0], num_classes=num_classes)
