"""Image datasets read from local files, never downloaded: CIFAR-10, Fashion-MNIST and MNIST.

Inputs are float32 ``(N, C, H, W)`` in ``[0, 1]`` (optionally standardised per channel with
statistics of the train split). The dev split is every ``dev_every``-th training sample
(positions ``dev_every - 1, 2 * dev_every - 1, ...`` of the official training set), never the
test set. Ids are stable: ``cifar10/data_batch_3/01234``, ``fashion_mnist/train/00123``.

Example:
    >>> from easyfirst.data import load_dataset
    >>> ds = load_dataset("fashion_mnist")  # doctest: +SKIP
    >>> ds.train.inputs.shape  # doctest: +SKIP
    torch.Size([54000, 1, 28, 28])
"""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from easyfirst.data.base import ArraySplit, DatasetBundle
from easyfirst.data.registry import register_dataset
from easyfirst.errors import InputError, MissingFileError

#: Where Debian's ``dataset-fashion-mnist`` package puts the idx files.
FASHION_MNIST_DEBIAN_ROOT = "/usr/share/datasets/fashion-mnist"

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck"]
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot"]

_CIFAR_HOWTO = ("download cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html, "
                "extract it and pass root=<the folder holding cifar-10-batches-py/>")
_IDX_HOWTO = {
    "fashion_mnist": "on Debian/Ubuntu: apt-get install dataset-fashion-mnist (files land in "
                     f"{FASHION_MNIST_DEBIAN_ROOT}); else download the four *-ubyte.gz files from "
                     "https://github.com/zalandoresearch/fashion-mnist",
    "mnist": "download the four *-ubyte.gz files of MNIST (e.g. from "
             "https://ossci-datasets.s3.amazonaws.com/mnist/) into that folder",
}


# ---------------------------------------------------------------------------------------------
# Registered loaders


@register_dataset("cifar10")
def load_cifar10(
    *, root: str | os.PathLike[str] | None = None, dev_every: int = 10, normalize: bool = False
) -> DatasetBundle:
    """CIFAR-10 from the python pickles (``data_batch_1..5``, ``test_batch``), (3, 32, 32).

    Args:
        root: folder holding ``cifar-10-batches-py/`` (or that folder itself).
        dev_every: every ``dev_every``-th training image goes to dev (0: no dev split).
        normalize: standardise each channel with the train split's mean and std.

    Returns:
        A bundle with 45,000/5,000/10,000 images for the real data (``dev_every=10``).

    Raises:
        FileNotFoundError: ``root`` or a batch file is missing.
        ValueError: a batch file is corrupt, truncated or not a CIFAR-10 batch.
    """
    if root is None:
        raise MissingFileError(
            f"cifar10 needs a local copy; got root=None. Fix: {_CIFAR_HOWTO}."
        )
    folder = Path(root)
    if (folder / "cifar-10-batches-py").is_dir():
        folder = folder / "cifar-10-batches-py"
    if not folder.is_dir():
        raise MissingFileError(
            f"cifar10: expected a folder {str(folder)!r} holding data_batch_1..5 and test_batch;"
            f" it does not exist. Fix: {_CIFAR_HOWTO}."
        )
    parts = [_read_cifar_batch(folder / f"data_batch_{i}") for i in range(1, 6)]
    test_x, test_y, test_ids = _read_cifar_batch(folder / "test_batch")
    train_x = np.concatenate([p[0] for p in parts])
    train_y = np.concatenate([p[1] for p in parts])
    train_ids = [i for p in parts for i in p[2]]
    return _bundle(
        "cifar10", (train_x, train_y, train_ids), (test_x, test_y, test_ids),
        _cifar_class_names(folder), dev_every=dev_every, normalize=normalize,
        info={"source": str(folder), "format": "cifar-10 python pickles"},
    )


@register_dataset("fashion_mnist")
def load_fashion_mnist(
    *, root: str | os.PathLike[str] = FASHION_MNIST_DEBIAN_ROOT, dev_every: int = 10,
    normalize: bool = False,
) -> DatasetBundle:
    """Fashion-MNIST from idx files (plain or ``.gz``), images (1, 28, 28).

    Args:
        root: folder with ``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``,
            ``t10k-images-idx3-ubyte[.gz]`` and ``t10k-labels-idx1-ubyte[.gz]``; defaults to
            where Debian's ``dataset-fashion-mnist`` package installs them.
        dev_every: every ``dev_every``-th training image goes to dev (0: no dev split).
        normalize: standardise with the train split's mean and std.

    Raises:
        FileNotFoundError: a file is missing. ValueError: a file is corrupt or truncated.
    """
    return _load_idx_dataset("fashion_mnist", root, FASHION_MNIST_CLASSES, dev_every, normalize)


@register_dataset("mnist")
def load_mnist(
    *, root: str | os.PathLike[str] | None = None, dev_every: int = 10, normalize: bool = False
) -> DatasetBundle:
    """MNIST from idx files (plain or ``.gz``), images (1, 28, 28); same layout as Fashion-MNIST.

    Args:
        root: folder with the four idx files (``train-*``, ``t10k-*``).
        dev_every: every ``dev_every``-th training image goes to dev (0: no dev split).
        normalize: standardise with the train split's mean and std.
    """
    if root is None:
        raise MissingFileError(
            f"mnist needs root=<folder with the idx files>; got root=None. Fix: "
            f"{_IDX_HOWTO['mnist']}."
        )
    return _load_idx_dataset("mnist", root, [str(c) for c in range(10)], dev_every, normalize)


# ---------------------------------------------------------------------------------------------
# Splitting and conversion


def _bundle(
    name: str, train: tuple[np.ndarray, np.ndarray, list[str]],
    test: tuple[np.ndarray, np.ndarray, list[str]], class_names: list[str], *, dev_every: int,
    normalize: bool, info: dict[str, Any],
) -> DatasetBundle:
    """Split uint8 ``(N, C, H, W)`` train arrays into train/dev and convert each to float32."""
    if dev_every < 0 or dev_every == 1:
        raise InputError(
            f"Expected dev_every = 0 (no dev split) or >= 2; got {dev_every}. Use e.g. 10."
        )
    x, y, ids = train
    positions = np.arange(len(y))
    is_dev = (positions % dev_every == dev_every - 1) if dev_every else np.zeros(len(y), bool)
    tr, dv = np.flatnonzero(~is_dev), np.flatnonzero(is_dev)
    # Convert per split so the float copy of the whole training set never exists twice.
    train_x = to_float_images(x[tr])
    mean = std = None
    if normalize:
        mean = train_x.mean(dim=(0, 2, 3), keepdim=True)
        std = train_x.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-8)
        train_x.sub_(mean).div_(std)

    def split(inputs: np.ndarray, targets: np.ndarray, split_ids: list[str]) -> ArraySplit:
        t = to_float_images(inputs)
        if mean is not None and std is not None:
            t.sub_(mean).div_(std)
        return ArraySplit(t, targets, split_ids)

    info = dict(info, dev_rule=f"every {dev_every}th training sample" if dev_every else "none",
                normalize=normalize)
    if mean is not None and std is not None:
        info.update(mean=mean.flatten().tolist(), std=std.flatten().tolist())
    return DatasetBundle(
        name,
        ArraySplit(train_x, y[tr], [ids[i] for i in tr]),
        split(x[dv], y[dv], [ids[i] for i in dv]) if dev_every else None,
        split(*test),
        class_names,
        info=info,
    )


def to_float_images(images: np.ndarray) -> torch.Tensor:
    """uint8 images ``(N, C, H, W)`` -> float32 tensor in ``[0, 1]`` of the same shape."""
    return torch.from_numpy(images.astype(np.float32, order="C")).div_(255.0)


# ---------------------------------------------------------------------------------------------
# CIFAR-10 python pickles


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only, so a batch file cannot run code."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),  # the original (Python 2) files
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.numeric", "_frombuffer"),  # pickle protocol 5
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # bytes under protocol 2 from Python 3
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if module == "numpy.core.multiarray":  # numpy >= 2 warns on the old path
            module = "numpy._core.multiarray" if hasattr(np, "_core") else module
        return super().find_class(module, name)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """One batch file -> uint8 images (N, 3, 32, 32), labels (N,), ids."""
    if not path.is_file():
        raise MissingFileError(
            f"cifar10: expected the batch file {str(path)!r}; it is missing. Fix: {_CIFAR_HOWTO}."
        )
    try:
        with open(path, "rb") as f:
            batch = _ArrayOnlyUnpickler(f, encoding="bytes").load()
        data = np.asarray(batch[b"data"])
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except Exception as exc:
        raise InputError(
            f"cifar10: {str(path)!r} is corrupt or truncated ({type(exc).__name__}: {exc}). "
            f"Fix: {_CIFAR_HOWTO}."
        ) from None
    n = len(labels)
    if data.dtype != np.uint8 or data.shape != (n, 3072) or labels.ndim != 1 or (
        n and (labels.min() < 0 or labels.max() > 9)
    ):
        raise InputError(
            f"cifar10: {str(path)!r} is not a CIFAR-10 batch: expected uint8 data ({n}, 3072) "
            f"and labels in 0..9; got {data.dtype} {data.shape}. Fix: {_CIFAR_HOWTO}."
        )
    ids = [f"cifar10/{path.name}/{i:05d}" for i in range(n)]
    return data.reshape(n, 3, 32, 32), labels, ids


def _cifar_class_names(folder: Path) -> list[str]:
    meta = folder / "batches.meta"
    if meta.is_file():
        try:
            with open(meta, "rb") as f:
                names = _ArrayOnlyUnpickler(f, encoding="bytes").load()[b"label_names"]
            if len(names) == 10:
                return [n.decode() if isinstance(n, bytes) else str(n) for n in names]
        except Exception:
            pass  # the names are cosmetic; the standard ones are right for CIFAR-10
    return list(CIFAR10_CLASSES)


# ---------------------------------------------------------------------------------------------
# idx files (MNIST, Fashion-MNIST)

_IDX_IMAGES, _IDX_LABELS = 2051, 2049  # magic numbers: 0x00000803, 0x00000801


def _load_idx_dataset(
    name: str, root: str | os.PathLike[str], class_names: list[str], dev_every: int,
    normalize: bool,
) -> DatasetBundle:
    folder = Path(root)
    if not folder.is_dir():
        raise MissingFileError(
            f"{name}: expected a folder {str(folder)!r} with train-images-idx3-ubyte[.gz] and "
            f"the other idx files; it does not exist. Fix: {_IDX_HOWTO[name]}."
        )
    splits = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = _read_idx(_find_idx(folder, f"{prefix}-images-idx3-ubyte", name), _IDX_IMAGES)
        labels = _read_idx(_find_idx(folder, f"{prefix}-labels-idx1-ubyte", name), _IDX_LABELS)
        if len(images) != len(labels) or (len(labels) and labels.max() >= len(class_names)):
            raise InputError(
                f"{name}: {prefix} images and labels disagree: {len(images)} images, "
                f"{len(labels)} labels (max {labels.max() if len(labels) else '-'}). Fix: "
                f"{_IDX_HOWTO[name]} again."
            )
        ids = [f"{name}/{split}/{i:05d}" for i in range(len(labels))]
        splits[split] = (images[:, None], labels.astype(np.int64), ids)
    return _bundle(name, splits["train"], splits["test"], class_names, dev_every=dev_every,
                   normalize=normalize, info={"source": str(folder), "format": "idx"})


def _find_idx(folder: Path, stem: str, name: str) -> Path:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise MissingFileError(
        f"{name}: expected {str(folder / stem)!r} or its .gz; it is missing. Fix: "
        f"{_IDX_HOWTO[name]}."
    )


def _read_idx(path: Path, magic: int) -> np.ndarray:
    """Read an idx file of unsigned bytes: labels ``(N,)`` or images ``(N, H, W)``, uint8."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise InputError(
            f"{str(path)!r} is corrupt or truncated ({type(exc).__name__}: {exc}). Fetch the "
            "file again."
        ) from None
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    got = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if got != magic:
        raise InputError(
            f"{str(path)!r} is not an idx file of the expected kind: expected magic number "
            f"{magic} (0x{magic:08x}); got {got}. Check the file name and fetch it again."
        )
    if len(raw) < header:
        raise InputError(f"{str(path)!r} is truncated: header cut short. Fetch the file again.")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise InputError(
            f"{str(path)!r} is corrupt or truncated: header says {dims} bytes of data "
            f"({expected} in all); got {len(raw)}. Fetch the file again."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)
