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

Target = int | torch.Tensor
"""One sample's target: a class id (single-label) or its ``(C,)`` float32 multi-hot row."""

LOCAL_INFO_KEYS = frozenset({"source", "missing"})
"""``DatasetBundle.info`` keys that describe this machine, not the data: not fingerprinted."""


def _as_targets(targets: torch.Tensor | np.ndarray | Sequence[Any], n: int) -> torch.Tensor:
    """``(N,)`` int64 class ids, or ``(N, C)`` float32 multi-hot from any 0/1 numeric matrix."""
    arr = targets.detach().cpu().numpy() if isinstance(targets, torch.Tensor) else np.asarray(
        targets)
    if arr.ndim == 1:
        return torch.as_tensor(arr, dtype=torch.long)
    got = f"shape {tuple(arr.shape)}, dtype {arr.dtype}"
    if arr.ndim == 2 and arr.dtype.kind in "biuf" and len(arr) == n:
        bad = ~np.isin(arr, (0, 1))
        if not bad.any():
            return torch.from_numpy(arr.astype(np.float32))
        got += f", value {arr[bad][0].item()!r} in row {int(np.argwhere(bad)[0][0])}"
    raise ValueError(
        f"Expected targets of shape (N,) class ids or (N, C) multi-hot of 0/1 with N={n}; got "
        f"{got}. Check the dataset loader: pass one class id per sample, or a 0/1 matrix."
    )


class ArraySplit(Dataset[tuple[torch.Tensor, Target]]):
    """One split held as arrays: ``inputs (N, ...)``, ``targets`` and ``ids``.

    ``inputs`` may be a tensor, a numpy array or a numpy memmap (feature caches); rows are
    gathered by index, so batches can be drawn without a DataLoader (see ``batch``).

    ``targets`` is either ``(N,)`` int64 class ids (single-label) or ``(N, C)`` float32
    multi-hot rows of 0/1 (multi-label: ``targets[i, c] == 1`` when sample ``i`` has class
    ``c``; a row may have several ones, or none). ``multi_label`` tells which.

    Args:
        inputs: sample features, shape (N, ...).
        targets: class ids, shape (N,) (cast to int64), or a 0/1 matrix of shape (N, C) of
            any numeric or bool dtype (stored as float32).
        ids: stable, load-order independent sample ids (e.g. relative file paths).
        meta: optional per-sample metadata columns (each of length N), e.g. ``{"snr_db": ...}``.

    Raises:
        ValueError: lengths differ, duplicate ids, or targets neither (N,) nor (N, C) of 0/1.
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
        n = len(self.inputs)
        self.targets = _as_targets(targets, n)
        self.ids = [str(i) for i in ids]
        self.meta = dict(meta or {})
        if len(self.targets) != n or len(self.ids) != n:
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

    @property
    def multi_label(self) -> bool:
        """True when ``targets`` are ``(N, C)`` multi-hot rows, False for ``(N,)`` class ids."""
        return self.targets.ndim == 2

    def __getitem__(self, index: int) -> tuple[torch.Tensor, Target]:
        """``(input, target)``: the target is an ``int`` class id, or a ``(C,)`` float32 row."""
        x = self.inputs[index]
        y = self.targets[index]
        return torch.as_tensor(np.asarray(x)) if not isinstance(x, torch.Tensor) else x, (
            y if self.multi_label else int(y))

    def batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Gather rows ``indices (B,)`` as ``(inputs (B, ...), targets (B,) or (B, C))``."""
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
        """A short hash of the dataset name, ids and targets: what scores are keyed by.

        Class ids hash as little-endian int64 (unchanged since the first release); multi-hot
        targets as a ``multi-hot`` tag, their shape and their uint8 bytes.
        """
        h = hashlib.sha256()
        h.update(name.encode())
        h.update(json.dumps(self.ids).encode())
        if self.multi_label:
            h.update(f"multi-hot{list(self.targets.shape)}".encode())
            h.update(self.targets.numpy().astype(np.uint8).tobytes())
        else:
            h.update(self.targets.numpy().astype("<i8").tobytes())
        return h.hexdigest()[:16]


@dataclass
class DatasetBundle:
    """A dataset with fixed splits. Scores are only ever computed on ``train``.

    Attributes:
        name: registry name plus options that change the content (e.g. ``"fsdd"``).
        train, dev, test: the splits (dev/test may be ``None``).
        class_names: names of the C classes, index = class id (multi-label: column of the
            multi-hot targets, so ``C == len(class_names)``).
        info: free-form facts for summaries (source path, sample rate, feature params, ...);
            the keys in :data:`LOCAL_INFO_KEYS` (``source``, ``missing``) are local facts.

    Raises:
        ValueError: dev/test targets not in train's form (class ids vs multi-hot), or
            multi-hot targets whose C differs from ``len(class_names)``.
    """

    name: str
    train: ArraySplit
    dev: ArraySplit | None
    test: ArraySplit | None
    class_names: list[str]
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        form = {True: "(N, C) multi-hot", False: "(N,) class ids"}
        for split, part in (("train", self.train), ("dev", self.dev), ("test", self.test)):
            if part is None:
                continue
            if part.multi_label != self.train.multi_label:
                raise ValueError(
                    f"Dataset {self.name!r}: {split} targets are {form[part.multi_label]} but "
                    f"train's are {form[self.train.multi_label]}; give every split one form."
                )
            if part.multi_label and part.targets.shape[1] != len(self.class_names):
                raise ValueError(
                    f"Dataset {self.name!r}: expected {split} multi-hot targets with one column "
                    f"per class ({len(self.class_names)}), got {part.targets.shape[1]} columns; "
                    f"check the loader's class_names."
                )

    @property
    def multi_label(self) -> bool:
        """True when the targets are ``(N, C)`` multi-hot rows (train's form; all splits')."""
        return self.train.multi_label

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
        (feature parameters, noise settings, ...) except the local ones
        (:data:`LOCAL_INFO_KEYS`: the ``source`` path, a ``missing`` files report).
        """
        facts = {k: v for k, v in self.info.items() if k not in LOCAL_INFO_KEYS}
        return self.train.fingerprint(self.name + json.dumps(facts, sort_keys=True, default=str))
