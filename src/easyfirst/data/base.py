"""The dataset contract: fixed splits of array-backed samples with stable ids and a fingerprint."""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from easyfirst.data.indexed import WithIndex
from easyfirst.errors import InputError

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
    raise InputError(
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
            raise InputError(
                f"Expected inputs, targets and ids of equal length N; got {n}, "
                f"{tuple(self.targets.shape)} and {len(self.ids)}. Check the dataset loader."
            )
        if len(set(self.ids)) != n:
            raise InputError(
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

    def ids_targets_hash(self, salt: str = "") -> str:
        """A short hash of ``salt``, this split's ids and its targets.

        Not the dataset fingerprint: scores and files are keyed by
        :attr:`DatasetBundle.fingerprint`, which hashes train's ids and targets with the
        dataset name and content facts through this. Class ids hash as little-endian int64
        (unchanged since the first release); multi-hot targets as a ``multi-hot`` tag, their
        shape and their uint8 bytes.
        """
        h = hashlib.sha256()
        h.update(salt.encode())
        h.update(json.dumps(self.ids).encode())
        if self.multi_label:
            h.update(f"multi-hot{list(self.targets.shape)}".encode())
            h.update(self.targets.numpy().astype(np.uint8).tobytes())
        else:
            h.update(self.targets.numpy().astype("<i8").tobytes())
        return h.hexdigest()[:16]

    def fingerprint(self, name: str = "") -> str:
        """Deprecated alias of :meth:`ids_targets_hash`; the dataset fingerprint is
        ``bundle.fingerprint``."""
        warnings.warn("ArraySplit.fingerprint() is not the dataset fingerprint that scores are "
                      "keyed by; use bundle.fingerprint for that, or split.ids_targets_hash() "
                      "for this split's hash.", DeprecationWarning, stacklevel=2)
        return self.ids_targets_hash(name)


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
                raise InputError(
                    f"Dataset {self.name!r}: {split} targets are {form[part.multi_label]} but "
                    f"train's are {form[self.train.multi_label]}; give every split one form."
                )
            if part.multi_label and part.targets.shape[1] != len(self.class_names):
                raise InputError(
                    f"Dataset {self.name!r}: expected {split} multi-hot targets with one column "
                    f"per class ({len(self.class_names)}), got {part.targets.shape[1]} columns; "
                    f"check the loader's class_names."
                )

    @classmethod
    def from_datasets(cls, train: Dataset[Any], dev: Dataset[Any] | None = None,
                      test: Dataset[Any] | None = None, *, name: str,
                      class_names: Sequence[str] | None = None) -> DatasetBundle:
        """A bundle from map-style datasets whose items are ``(x, y)`` pairs.

        Every item is read once and kept in memory: ``x`` a tensor or array (one shape per
        split, stored as float32), ``y`` an int class id or a ``(C,)`` 0/1 multi-hot row.
        Sample ids are the item indices; ``name`` goes into :attr:`fingerprint`, so give
        each dataset its own. A ``WithIndex`` wrapper is looked through.

        Args:
            train, dev, test: the splits (dev/test optional).
            name: the dataset's name.
            class_names: names of the C classes; default ``"0" .. "C-1"`` with C from the
                targets (the largest class id + 1, or the multi-hot width).

        Raises:
            ValueError: an item that is not ``(x, y)``, inputs of different shapes, or class
                ids outside ``class_names``.

        Example:
            >>> import torch
            >>> from torch.utils.data import TensorDataset
            >>> ds = TensorDataset(torch.zeros(4, 3), torch.tensor([0, 1, 2, 1]))
            >>> bundle = DatasetBundle.from_datasets(ds, name="toy")
            >>> bundle.input_shape, bundle.class_names, len(bundle.fingerprint)
            ((3,), ['0', '1', '2'], 16)
        """
        tr = _materialise(train, "train")
        dv, te = (None if d is None else _materialise(d, w) for d, w in ((dev, "dev"),
                                                                          (test, "test")))
        splits = {"train": tr, "dev": dv, "test": te}
        single = {w: sp.targets for w, sp in splits.items() if sp is not None and not
                  sp.multi_label}
        if class_names is None:
            c = tr.targets.shape[1] if tr.multi_label else 1 + max(
                int(t.max()) for t in single.values())
            class_names = [str(i) for i in range(c)]
        for what, t in single.items():
            if int(t.min()) < 0 or int(t.max()) >= len(class_names):
                raise InputError(
                    f"Expected {what} class ids in [0, {len(class_names)}) (one per class name); "
                    f"got {int(t.min())}..{int(t.max())}. Map the labels to 0..C-1, or pass "
                    "every class in class_names.")
        return cls(name, tr, dv, te, list(class_names))

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
        """THE dataset fingerprint: what score files, runs and checkpoints are keyed by.

        It covers the name, the ids and labels, and the content-defining ``info`` facts
        (feature parameters, noise settings, ...) except the local ones
        (:data:`LOCAL_INFO_KEYS`: the ``source`` path, a ``missing`` files report).
        """
        facts = {k: v for k, v in self.info.items() if k not in LOCAL_INFO_KEYS}
        return self.train.ids_targets_hash(
            self.name + json.dumps(facts, sort_keys=True, default=str))


def _materialise(dataset: Dataset[Any], split: str) -> ArraySplit:
    """An ``ArraySplit`` of every ``(x, y)`` item of ``dataset``, ids ``"0" .. "N-1"``."""
    if isinstance(dataset, ArraySplit):
        return dataset
    dataset = getattr(dataset, "dataset", dataset) if isinstance(dataset, WithIndex) else dataset
    xs, ys, shape = [], [], None
    for i in range(len(dataset)):  # type: ignore[arg-type]
        item = dataset[i]
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise InputError(
                f"Expected every {split} item to be an (x, y) pair; got "
                f"{type(item).__name__} {_short(item)} at index {i}. Return (input, label) "
                "from __getitem__.")
        x = torch.as_tensor(np.asarray(item[0]) if not isinstance(item[0], torch.Tensor)
                            else item[0])
        if shape is None:
            shape = tuple(x.shape)
        elif tuple(x.shape) != shape:
            raise InputError(
                f"Expected every {split} input to have the shape of the first, {shape}; got "
                f"{tuple(x.shape)} at index {i}. Pad or crop the inputs to one shape.")
        y = item[1]
        y = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
        if y.ndim > 1 or y.dtype.kind not in "biuf" or (y.ndim == 0 and y.dtype.kind == "f"
                                                        and y != int(y)):
            raise InputError(
                f"Expected every {split} label to be an int class id or a (C,) 0/1 row; got "
                f"{_short(item[1])} at index {i}. Return (input, label) from __getitem__.")
        xs.append(x.float())
        ys.append(y)
    if not xs:
        raise InputError(f"Expected a {split} dataset with at least 1 item; got 0.")
    if len({y.shape for y in ys}) > 1:
        raise InputError(f"Expected every {split} label in one form (class ids or (C,) rows); "
                         "got both. Return one kind of label.")
    return ArraySplit(torch.stack(xs), np.stack(ys), [str(i) for i in range(len(xs))])


def _short(value: Any) -> str:
    text = repr(value).replace("\n", " ")
    return text if len(text) <= 60 else text[:57] + "..."
