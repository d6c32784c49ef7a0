"""Files of per-sample results: a run's dev/test predictions, and a dataset's sample facts.

``predictions.npz`` (``write_predictions``): per split ``dev``/``test`` with data, the
``{split}_logits (N, C)``, ``{split}_probs`` (softmax), ``{split}_targets (N,)`` and
``{split}_ids (N,)``; late fusion and the report read it.

``samples.npz`` (``write_sample_meta``): per split, ``{split}.ids``, ``{split}.targets`` and
every numeric per-sample meta column as ``{split}.meta.{column}`` (synthkws: ``snr_db``), so
a report can relate scores and accuracies to known sample facts without loading the dataset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from easyfirst.atomic import atomic_write
from easyfirst.data.base import DatasetBundle

SAMPLES = "samples.npz"


def _write_npz(path: Path, arrays: dict[str, Any]) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    atomic_write(path, write)


def write_predictions(
    path: Path, bundle: DatasetBundle, dev_logits: torch.Tensor | None,
    test_logits: torch.Tensor | None,
) -> None:
    """Write ``predictions.npz`` at ``path`` (layout in the module docstring)."""
    arrays: dict[str, Any] = {}
    for name, split, logits in (("dev", bundle.dev, dev_logits), ("test", bundle.test,
                                                                  test_logits)):
        if split is None or logits is None:
            continue
        arrays[f"{name}_logits"] = logits.numpy()
        arrays[f"{name}_probs"] = torch.softmax(logits, 1).numpy()
        arrays[f"{name}_targets"] = split.targets.numpy()
        arrays[f"{name}_ids"] = np.array(split.ids)
    _write_npz(path, arrays)


def write_sample_meta(path: Path, bundle: DatasetBundle) -> None:
    """Write ``samples.npz`` at ``path`` (layout in the module docstring)."""
    arrays: dict[str, Any] = {}
    for name in ("train", "dev", "test"):
        split = getattr(bundle, name)
        if split is None:
            continue
        arrays[f"{name}.ids"] = np.array(split.ids)
        arrays[f"{name}.targets"] = split.targets.numpy()
        for col, values in split.meta.items():
            v = np.asarray(values)
            if np.issubdtype(v.dtype, np.number) and v.ndim == 1:
                arrays[f"{name}.meta.{col}"] = v
    _write_npz(path, arrays)
