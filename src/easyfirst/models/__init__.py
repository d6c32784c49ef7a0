"""Models: registry and builders (inputs ``(B, 1, mels, frames)`` for audio)."""

from easyfirst.models import efficientnet as _efficientnet  # noqa: F401  (registers)
from easyfirst.models import image_cnn as _image_cnn  # noqa: F401
from easyfirst.models import mlp as _mlp  # noqa: F401
from easyfirst.models import panns as _panns  # noqa: F401
from easyfirst.models import resnet as _resnet  # noqa: F401
from easyfirst.models import small_cnn as _small_cnn  # noqa: F401
from easyfirst.models import tcresnet as _tcresnet  # noqa: F401
from easyfirst.models.registry import MODELS, build_model, register_model

__all__ = ["MODELS", "build_model", "register_model"]
