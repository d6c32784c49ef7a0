"""Datasets: the ``ArraySplit``/``DatasetBundle`` contract, ``WithIndex`` and the registry."""

from easyfirst.data import audioset as _audioset  # noqa: F401
from easyfirst.data import dcase2020 as _dcase2020  # noqa: F401
from easyfirst.data import digits as _digits  # noqa: F401  (registers)
from easyfirst.data import folder as _folder  # noqa: F401  (folder, fsdd)
from easyfirst.data import hf as _hf  # noqa: F401  (Hugging Face datasets on disk)
from easyfirst.data import image_augment as _image_augment  # noqa: F401  (hflip, random_crop)
from easyfirst.data import images as _images  # noqa: F401
from easyfirst.data import kwsmix as _kwsmix  # noqa: F401  (multi-label synthkws overlays)
from easyfirst.data import speechcommands as _speechcommands  # noqa: F401
from easyfirst.data import synthkws as _synthkws  # noqa: F401
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
