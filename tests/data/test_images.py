"""Image datasets from tiny files in each on-disk layout, and the batch augmentations."""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from easyfirst.audio.augment import Compose
from easyfirst.data import load_dataset
from easyfirst.data.image_augment import RandomCrop, RandomHorizontalFlip
from easyfirst.data.images import FASHION_MNIST_DEBIAN_ROOT

torch.set_num_threads(1)

PER_BATCH = 20  # images per CIFAR batch file in these tests


def _write_cifar(root: Path) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i, name in enumerate([*(f"data_batch_{k}" for k in range(1, 6)), "test_batch"]):
        batch = {
            b"batch_label": name.encode(),
            b"labels": [int(v) for v in rng.integers(0, 10, PER_BATCH)],
            b"data": rng.integers(0, 256, (PER_BATCH, 3072), dtype=np.uint8),
            b"filenames": [f"img_{i}_{j}.png".encode() for j in range(PER_BATCH)],
        }
        # The released files are Python 2 pickles (protocol 2) naming numpy.core.multiarray.
        raw = pickle.dumps(batch, protocol=2).replace(b"numpy._core.", b"numpy.core.")
        (folder / name).write_bytes(raw)
    return folder


def _write_idx(path: Path, array: np.ndarray, magic: int, *, gz: bool) -> None:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        raw = gzip.compress(raw)
    path.write_bytes(raw)


def _write_mnist(folder: Path, *, gz: bool, n_train: int = 30, n_test: int = 12) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        _write_idx(folder / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)),
                   2051, gz=gz)
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n), 2049, gz=gz)
    return folder


def _assert_disjoint(ds) -> None:
    train, dev, test = set(ds.train.ids), set(ds.dev.ids), set(ds.test.ids)
    assert not train & dev and not train & test and not dev & test


# ---------------------------------------------------------------------------------------------
# CIFAR-10


def test_cifar10_loads_splits_and_pixels(tmp_path) -> None:
    folder = _write_cifar(tmp_path)
    ds = load_dataset("cifar10", root=tmp_path)
    assert (len(ds.train), len(ds.dev), len(ds.test)) == (90, 10, 20)
    assert ds.train.inputs.shape[1:] == (3, 32, 32) and ds.train.inputs.dtype == torch.float32
    assert float(ds.train.inputs.min()) >= 0.0 and float(ds.train.inputs.max()) <= 1.0
    _assert_disjoint(ds)
    # The first image of data_batch_3 is position 40 of the training set: a train sample.
    with open(folder / "data_batch_3", "rb") as f:
        raw = pickle.load(f, encoding="bytes")
    i = ds.train.ids.index("cifar10/data_batch_3/00000")
    expected = raw[b"data"][0].reshape(3, 32, 32) / 255.0
    np.testing.assert_allclose(ds.train.inputs[i].numpy(), expected, rtol=0, atol=1e-7)
    assert int(ds.train.targets[i]) == raw[b"labels"][0]
    assert ds.dev.ids[0] == "cifar10/data_batch_1/00009"  # every 10th, from train
    # The folder itself works as root too, and ids and fingerprints are stable.
    again = load_dataset("cifar10", root=folder)
    assert again.train.ids == ds.train.ids and again.fingerprint == ds.fingerprint


def test_cifar10_normalize_uses_train_statistics(tmp_path) -> None:
    _write_cifar(tmp_path)
    ds = load_dataset("cifar10", root=tmp_path, normalize=True, dev_every=0)
    assert ds.dev is None
    means = ds.train.inputs.mean(dim=(0, 2, 3))
    torch.testing.assert_close(means, torch.zeros(3), atol=1e-5, rtol=0)
    assert len(ds.info["mean"]) == 3


def test_cifar10_missing_and_corrupt_files(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="root=None.*cifar-10-python.tar.gz"):
        load_dataset("cifar10")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset("cifar10", root=tmp_path / "nowhere")
    folder = _write_cifar(tmp_path)
    raw = (folder / "data_batch_3").read_bytes()
    (folder / "data_batch_3").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=r"data_batch_3' is corrupt or truncated"):
        load_dataset("cifar10", root=tmp_path)
    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": os.system}))
    with pytest.raises(ValueError, match="data_batch_3.*refusing to load"):
        load_dataset("cifar10", root=tmp_path)
    (folder / "data_batch_3").write_bytes(raw)
    (folder / "test_batch").unlink()
    with pytest.raises(FileNotFoundError, match="test_batch"):
        load_dataset("cifar10", root=tmp_path)


# ---------------------------------------------------------------------------------------------
# idx (MNIST, Fashion-MNIST)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_idx_datasets_load(tmp_path, name: str, gz: bool) -> None:
    folder = _write_mnist(tmp_path / name, gz=gz)
    ds = load_dataset(name, root=folder)
    assert (len(ds.train), len(ds.dev), len(ds.test)) == (27, 3, 12)
    assert ds.train.inputs.shape[1:] == (1, 28, 28) and ds.num_classes == 10
    assert ds.train.ids[:2] == [f"{name}/train/00000", f"{name}/train/00001"]
    assert ds.dev.ids == [f"{name}/train/000{i}" for i in ("09", "19", "29")]
    assert ds.test.ids[0] == f"{name}/test/00000"
    _assert_disjoint(ds)
    assert load_dataset(name, root=folder).fingerprint == ds.fingerprint


def test_idx_missing_corrupt_and_truncated(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="root=None"):
        load_dataset("mnist")
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion_mnist", root=tmp_path / "nowhere")
    folder = _write_mnist(tmp_path / "plain", gz=False)
    labels = folder / "t10k-labels-idx1-ubyte"
    labels.unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        load_dataset("mnist", root=folder)
    _write_idx(labels, np.zeros(12), 2051, gz=False)  # an images magic on a labels file
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte' is not an idx file.*2049"):
        load_dataset("mnist", root=folder)
    images = folder / "train-images-idx3-ubyte"
    _write_idx(labels, np.zeros(12), 2049, gz=False)
    images.write_bytes(images.read_bytes()[:-5])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte' is corrupt or truncated"):
        load_dataset("mnist", root=folder)

    gz_folder = _write_mnist(tmp_path / "gz", gz=True)
    gz_file = gz_folder / "train-labels-idx1-ubyte.gz"
    gz_file.write_bytes(gz_file.read_bytes()[:-10])
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.gz' is corrupt or truncated"):
        load_dataset("mnist", root=gz_folder)


@pytest.mark.skipif(
    not os.path.isfile(os.path.join(FASHION_MNIST_DEBIAN_ROOT, "t10k-labels-idx1-ubyte.gz")),
    reason=f"Debian's Fashion-MNIST is not installed at {FASHION_MNIST_DEBIAN_ROOT} "
           "(apt-get install dataset-fashion-mnist)",
)
def test_fashion_mnist_from_debian_package() -> None:
    ds = load_dataset("fashion_mnist")
    assert (len(ds.train), len(ds.dev), len(ds.test)) == (54_000, 6_000, 10_000)
    assert ds.class_names[9] == "Ankle boot"
    assert torch.bincount(ds.test.targets).tolist() == [1000] * 10


# ---------------------------------------------------------------------------------------------
# Augmentations


def test_random_crop_matches_a_per_sample_reference() -> None:
    x = torch.rand(6, 3, 8, 8)
    out = RandomCrop(8, padding=2)(x, generator=torch.Generator().manual_seed(3))
    assert out.shape == x.shape
    # Same draws as the transform: top offsets then left offsets, one per sample.
    g = torch.Generator().manual_seed(3)
    top, left = torch.randint(0, 5, (6,), generator=g), torch.randint(0, 5, (6,), generator=g)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for b in range(6):
        t, s = int(top[b]), int(left[b])
        torch.testing.assert_close(out[b], padded[b, :, t:t + 8, s:s + 8], rtol=0, atol=0)


def test_augmentations_are_deterministic_given_a_generator() -> None:
    aug = Compose([RandomCrop(8, padding=2), RandomHorizontalFlip(0.5)])
    x = torch.rand(16, 1, 8, 8)
    a = aug(x, generator=torch.Generator().manual_seed(0))
    b = aug(x, generator=torch.Generator().manual_seed(0))
    c = aug(x, generator=torch.Generator().manual_seed(1))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    assert RandomCrop((5, 6))(x, generator=torch.Generator()).shape == (16, 1, 5, 6)


def test_horizontal_flip_probability_extremes() -> None:
    x = torch.rand(4, 2, 3, 5)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(RandomHorizontalFlip(1.0)(x, generator=g), x.flip(-1))
    assert torch.equal(RandomHorizontalFlip(0.0)(x, generator=g), x)
    flipped = RandomHorizontalFlip(0.5)(x, generator=g)
    for b in range(4):  # each sample is either untouched or mirrored
        assert torch.equal(flipped[b], x[b]) or torch.equal(flipped[b], x[b].flip(-1))


def test_augmentation_input_errors() -> None:
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        RandomHorizontalFlip()(torch.zeros(3, 4, 4), generator=torch.Generator())
    with pytest.raises(ValueError, match="exceeds the padded image"):
        RandomCrop(9)(torch.zeros(1, 1, 8, 8), generator=torch.Generator())
    with pytest.raises(ValueError, match="probability"):
        RandomHorizontalFlip(1.5)
