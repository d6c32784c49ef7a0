"""The dataset contract: fixed splits of array-backed samples with stable ids and a fingerprint."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset


class ArraySplit(Dataset[tuple[torch.Tensor, int]]):
    """One split held as arrays: ``inputs (N, ...)``, integer ``targets (N,)`` and ``ids``.

    ``inputs`` may be a tensor, a numpy array or a numpy memmap (feature caches); rows are
    gathered by index, so batches can be drawn without a DataLoader (see ``batch``).

    Args:
        inputs: sample features, shape (N, ...).
        targets: class ids, shape (N,).
        ids: stable, load-order independent sample ids (e.g. relative file paths).
        meta: optional per-sample metadata columns (each of length N), e.g. ``{"snr_db": ...}``.
    """

    def __init__(
        self,
        inputs: torch.Tensor | np.ndarray,
        targets: torch.Tensor | np.ndarray | Sequence[int],
        ids: Sequence[str],
        *,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.inputs = inputs
        self.targets = torch.as_tensor(np.asarray(targets), dtype=torch.long)
        self.ids = [str(i) for i in ids]
        self.meta = dict(meta or {})
        n = len(self.inputs)
        if self.targets.ndim != 1 or len(self.targets) != n or len(self.ids) != n:
            raise ValueError(
                f"Expected inputs, targets and ids of equal length N; got {n}, "
                f"{tuple(self.targets.shape)} and {len(self.ids)}. Check the dataset loader."
            )
        if len(set(self.ids)) != n:
            raise ValueError(
                "Expected unique sample ids; got duplicates. Check the dataset loader."
            )

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        x = self.inputs[index]
        return torch.as_tensor(np.asarray(x)) if not isinstance(x, torch.Tensor) else x, int(
            self.targets[index]
        )

    def batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Gather rows ``indices (B,)`` as ``(inputs (B, ...), targets (B,))`` CPU tensors."""
        if isinstance(self.inputs, torch.Tensor):
            x = self.inputs[indices]
        else:
            x = torch.from_numpy(np.ascontiguousarray(self.inputs[indices.numpy()]))
        return x, self.targets[indices]

    def as_tensor(self) -> torch.Tensor:
        """All inputs as one tensor (loads a memmap into memory)."""
        if isinstance(self.inputs, torch.Tensor):
            return self.inputs
        return torch.from_numpy(np.array(self.inputs))  # a writable in-memory copy

    def subset(self, indices: Sequence[int] | np.ndarray) -> ArraySplit:
        idx = np.asarray(indices, dtype=np.int64)
        inputs = (
            self.inputs[torch.as_tensor(idx)]
            if isinstance(self.inputs, torch.Tensor)
            else (self.inputs[idx])
        )
        meta = {k: np.asarray(v)[idx] for k, v in self.meta.items()}
        return ArraySplit(
            inputs, self.targets[torch.as_tensor(idx)], [self.ids[i] for i in idx], meta=meta
        )

    def fingerprint(self, name: str = "") -> str:
        """A short hash of the dataset name, ids and targets: what scores are keyed by."""
        h = hashlib.sha256()
        h.update(name.encode())
        h.update(json.dumps(self.ids).encode())
        h.update(self.targets.numpy().astype("<i8").tobytes())
        return h.hexdigest()[:16]


@dataclass
class DatasetBundle:
    """A dataset with fixed splits. Scores are only ever computed on ``train``.

    Attributes:
        name: registry name plus options that change the content (e.g. ``"fsdd"``).
        train, dev, test: the splits (dev/test may be ``None``).
        class_names: names of the C classes, index = class id.
        info: free-form facts for summaries (source path, sample rate, feature params, ...).
    """

    name: str
    train: ArraySplit
    dev: ArraySplit | None
    test: ArraySplit | None
    class_names: list[str]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train.inputs.shape[1:])

    @property
    def fingerprint(self) -> str:
        """Fingerprint of the training split, the one that scores describe.

        It covers the name, the ids and labels, and the content-defining ``info`` facts
        (feature parameters, noise settings, ...) except the local ``source`` path.
        """
        facts = {k: v for k, v in self.info.items() if k != "source"}
        return self.train.fingerprint(self.name + json.dumps(facts, sort_keys=True, default=str))
