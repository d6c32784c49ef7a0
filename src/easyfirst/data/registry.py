"""Dataset registry: ``name -> loader(**options) -> DatasetBundle``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from easyfirst.data.base import DatasetBundle
from easyfirst.registry import Registry

DatasetLoader = Callable[..., DatasetBundle]
DATASETS: Registry[DatasetLoader] = Registry("dataset")
register_dataset = DATASETS.register


def load_dataset(name: str, **options: Any) -> DatasetBundle:
    """Load a registered dataset; ``options`` are loader keywords (e.g. ``root=...``).

    An option the loader does not take raises ``ValueError`` naming the ones it does.
    """
    DATASETS.check_keywords(name, options, how="--dataset-opt KEY=VALUE, --root PATH")
    return DATASETS.get(name)(**options)
