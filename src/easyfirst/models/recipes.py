"""Training recipes: the optimiser defaults each model is registered with, and ``auto``.

A model registered with ``recipe=Recipe(...)`` brings the settings it was measured with
(``benchmarks/audio_recipes.py``); a model without one gets :data:`DEFAULT_RECIPE`. The
settings apply only where the user sets none (``easyfirst.training.config.configure``).

``auto`` picks a model from what the inputs are: log-Mel features ``(1, M, T)`` (a dataset
whose ``info`` names its ``features``) get :data:`AUDIO_MODEL`, other ``(C, H, W)`` inputs
:data:`IMAGE_MODEL`, and flat or tabular inputs :data:`TABULAR_MODEL`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from easyfirst.models.registry import MODELS

AUDIO_MODEL = "tcresnet8"
IMAGE_MODEL = "image_cnn"
TABULAR_MODEL = "mlp"


@dataclass(frozen=True)
class Recipe:
    """Optimiser settings a model trains well with.

    Attributes:
        optimizer: optimizer registry name.
        lr: peak learning rate.
        schedule: learning-rate schedule name (``training/schedule.py``).
        weight_decay: L2 penalty.
        augment: batch augmentation names (``--augment``).
        batch_size: global batch size.
    """

    optimizer: str = "adam"
    lr: float = 1e-3
    schedule: str = "constant"
    weight_decay: float = 0.0
    augment: tuple[str, ...] = ()
    batch_size: int = 32

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One line, e.g. ``adam lr 0.003, onecycle, augment time_shift``."""
        wd = f", weight decay {self.weight_decay:g}" if self.weight_decay else ""
        return (f"{self.optimizer} lr {self.lr:g}, {self.schedule}{wd}, batch "
                f"{self.batch_size}, augment {','.join(self.augment) or 'none'}")


DEFAULT_RECIPE = Recipe()


def model_recipe(name: str) -> Recipe:
    """The recipe model ``name`` was registered with, else :data:`DEFAULT_RECIPE`."""
    recipe = MODELS.meta(name).get("recipe", DEFAULT_RECIPE)
    return recipe if isinstance(recipe, Recipe) else DEFAULT_RECIPE


def auto_model(input_shape: tuple[int, ...], info: Mapping[str, Any]) -> tuple[str, str]:
    """The model ``auto`` stands for, and why, for inputs of ``input_shape`` (no batch axis).

    Example:
        >>> auto_model((1, 64, 101), {"features": {"n_mels": 64}})
        ('tcresnet8', 'log-Mel inputs (1, 64, 101)')
        >>> auto_model((1, 8, 8), {})
        ('image_cnn', 'image-like inputs (1, 8, 8)')
    """
    shape = tuple(input_shape)
    if info.get("features") and len(shape) == 3 and shape[0] == 1:
        return AUDIO_MODEL, f"log-Mel inputs {shape}"
    if len(shape) == 3:
        return IMAGE_MODEL, f"image-like inputs {shape}"
    return TABULAR_MODEL, f"flat inputs {shape}"
