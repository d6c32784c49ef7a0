"""Datasets: the ``ArraySplit``/``DatasetBundle`` contract, ``WithIndex`` and the registry."""

from easyfirst.data import digits as _digits  # noqa: F401  (registers)
from easyfirst.data.base import ArraySplit, DatasetBundle
from easyfirst.data.indexed import WithIndex
from easyfirst.data.registry import DATASETS, load_dataset, register_dataset

__all__ = ["DATASETS", "ArraySplit", "DatasetBundle", "WithIndex", "load_dataset", "register_dataset"]
