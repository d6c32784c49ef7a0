"""scikit-learn's bundled 8x8 digits (1,797 images, offline)."""

from __future__ import annotations

import numpy as np
import torch

from easyfirst.data.base import ArraySplit, DatasetBundle
from easyfirst.data.registry import register_dataset
from easyfirst.errors import InputError


@register_dataset("digits")
def load_digits(*, dev_fraction: float = 0.15, test_fraction: float = 0.15) -> DatasetBundle:
    """Digits as (1, 8, 8) float images in [0, 1]; a fixed split by position hash.

    The split rule is deterministic and independent of any RNG: sample ``i`` goes to test when
    ``i % 100 < 100*test_fraction``, else to dev when below ``100*(test+dev)``, else train.
    """
    from sklearn.datasets import load_digits as sk_digits

    if not 0 <= dev_fraction + test_fraction < 1:
        raise InputError(f"Expected dev_fraction + test_fraction < 1 for digits (some training "
                         f"images left); got {dev_fraction} + {test_fraction}. Lower them.")

    d = sk_digits()
    x = torch.from_numpy((d.images / 16.0).astype(np.float32)).unsqueeze(1)
    y = d.target.astype(np.int64)
    ids = [f"digits/{i:04d}" for i in range(len(y))]
    bucket = np.arange(len(y)) % 100
    test = bucket < round(100 * test_fraction)
    dev = ~test & (bucket < round(100 * (test_fraction + dev_fraction)))
    train = ~test & ~dev

    def split(mask: np.ndarray) -> ArraySplit:
        idx = np.flatnonzero(mask)
        return ArraySplit(x[torch.from_numpy(idx)], y[idx], [ids[i] for i in idx])

    return DatasetBundle(
        "digits", split(train), split(dev), split(test), [str(c) for c in range(10)],
        info={"source": "sklearn.datasets.load_digits"},
    )
