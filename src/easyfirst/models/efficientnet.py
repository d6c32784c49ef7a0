"""EfficientNet-B0 from torchvision (optional dependency), randomly initialised."""

from __future__ import annotations

from torch import nn

from easyfirst.errors import InputError
from easyfirst.models.registry import register_model

_INSTALL = (
    "efficientnet_b0 needs torchvision; install it with: pip install 'easyfirst[vision]' "
    "(torchvision matching your torch)"
)


@register_model("efficientnet_b0", requires="torchvision")
def efficientnet_b0(*, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """torchvision's EfficientNet-B0 (no pretrained weights), stem adapted to C channels.

    Inputs ``(B, C, H, W)``; ``input_shape`` is ``(C, H, W)``. Output ``(B, num_classes)``.

    Raises:
        ImportError: torchvision is missing or does not import beside this torch.
    """
    if len(input_shape) != 3:
        raise InputError(
            f"efficientnet_b0 expects inputs of shape (C, H, W); got {input_shape}. Use 'mlp' "
            "for flat features."
        )
    try:
        from torchvision.models import efficientnet_b0 as tv_efficientnet_b0
    except Exception as exc:  # a torchvision built for another torch fails with other errors too
        raise ImportError(f"{_INSTALL}. Import failed with: {exc}") from exc
    model = tv_efficientnet_b0(weights=None, num_classes=num_classes)
    if input_shape[0] != 3:
        old = model.features[0][0]
        if not isinstance(old, nn.Conv2d):  # pragma: no cover - torchvision layout changed
            raise TypeError(f"Expected a Conv2d stem in torchvision's efficientnet_b0; got {old}.")
        # Same stem as torchvision's (3x3, stride 2, padding 1), on C input channels.
        model.features[0][0] = nn.Conv2d(
            input_shape[0], old.out_channels, 3, stride=2, padding=1, bias=False
        )
    return model
