"""Datasets: the ``ArraySplit``/``DatasetBundle`` contract, ``WithIndex`` and the registry.

Every module of this package that registers a dataset (``@register_dataset``) is found by
the registry on its first lookup; nothing here needs to import it.
"""

from easyfirst.data.base import ArraySplit, DatasetBundle
from easyfirst.data.indexed import WithIndex
from easyfirst.data.label_noise import NOISE_KINDS, inject_label_noise, with_label_noise
from easyfirst.data.registry import DATASETS, load_dataset, register_dataset

__all__ = [
    "DATASETS",
    "ArraySplit",
    "DatasetBundle",
    "NOISE_KINDS",
    "WithIndex",
    "inject_label_noise",
    "load_dataset",
    "register_dataset",
    "with_label_noise",
]
