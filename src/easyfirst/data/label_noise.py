"""Injected label noise: flip a seeded share of training labels, and know which were flipped.

Two kinds, as in label-noise benchmarks:

- ``uniform`` (symmetric): each chosen sample gets another class drawn uniformly from the
  other C - 1 classes.
- ``pairs`` (asymmetric): classes are paired by a seeded permutation (``class_pairs``), and
  each chosen sample gets its class's partner (1 <-> 7, 3 <-> 5, ...). With an odd number of
  classes the one class left over flips to the first class of the permutation.

Exactly ``round(rate * N)`` samples are chosen (a seeded draw without replacement), so the
rate is the share of labels that are wrong, not an expectation.

:func:`with_label_noise` applies it to a dataset: the train split's labels only (dev and test
stay clean), the settings in ``bundle.info["label_noise"]`` (so the dataset fingerprint
changes), the mask and the original labels in ``train.meta["label_flipped"]`` and
``train.meta["clean_targets"]``. ``load_dataset(name, label_noise=0.1, noise_kind="pairs")``
and ``--label-noise 0.1 --noise-kind pairs`` go through it.

Example:
    >>> y = np.arange(10) % 2
    >>> noisy, flipped = inject_label_noise(y, 0.3, "uniform", num_classes=2, seed=0)
    >>> int(flipped.sum()), bool((noisy[flipped] != y[flipped]).all())
    (3, True)
    >>> class_pairs(4, seed=0).tolist()
    [2, 3, 0, 1]
"""

from __future__ import annotations

import copy
import dataclasses
import numbers
from typing import Any

import numpy as np
import torch

from easyfirst.data.base import DatasetBundle
from easyfirst.errors import InputError

NOISE_KINDS = ("uniform", "pairs")
FLIPPED = "label_flipped"
"""``train.meta`` column (and ``samples.npz`` key ``train.label_flipped``): the (N,) bool mask."""
CLEAN_TARGETS = "clean_targets"
"""``train.meta`` column (``samples.npz``: ``train.clean_targets``): the labels before flipping."""
NOISE_COLUMNS = (FLIPPED, CLEAN_TARGETS)


def check_label_noise(rate: float, kind: str, seed: int = 0) -> None:
    """Raise one line when ``rate`` is not in [0, 1), ``kind`` is not a noise kind or ``seed``
    is not a whole number >= 0."""
    if kind not in NOISE_KINDS:
        raise InputError(f"Expected a label-noise kind in {', '.join(NOISE_KINDS)}; got {kind!r}. "
                         "Pass --noise-kind uniform or --noise-kind pairs (noise_kind= in "
                         "Python).")
    if isinstance(rate, bool) or not (isinstance(rate, numbers.Real)
                                      and 0.0 <= float(rate) < 1.0):
        raise InputError(f"Expected a label-noise rate in [0, 1) (the share of training labels "
                         f"to flip); got {rate!r}. Pass e.g. --label-noise 0.1 (label_noise=0.1 "
                         "in Python), or 0 for none.")
    if isinstance(seed, bool) or not (isinstance(seed, numbers.Integral) and seed >= 0):
        raise InputError(f"Expected a label-noise seed that is a whole number >= 0; got "
                         f"{seed!r}. Pass e.g. --noise-seed 0 (noise_seed=0 in Python).")


def class_pairs(num_classes: int, *, seed: int = 0) -> np.ndarray:
    """``(C,)`` partner of each class: a seeded permutation of the classes, paired in order."""
    if num_classes < 2:
        raise InputError(f"Expected at least 2 classes to flip labels between; got {num_classes}.")
    perm = np.random.default_rng(seed).permutation(num_classes)
    partner = np.empty(num_classes, dtype=np.int64)
    for a, b in zip(perm[0::2], perm[1::2], strict=False):
        partner[a], partner[b] = b, a
    if num_classes % 2:
        partner[perm[-1]] = perm[0]
    return partner


def inject_label_noise(targets: np.ndarray, rate: float, kind: str = "uniform", *,
                       num_classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Flip ``round(rate * N)`` of ``targets (N,)`` (module notes).

    Returns:
        ``(noisy (N,) int64, flipped (N,) bool)``; ``noisy[~flipped] == targets[~flipped]`` and
        ``noisy[flipped] != targets[flipped]``.

    Raises:
        ValueError: bad rate or kind, multi-label targets, fewer than 2 classes, or class ids
            outside ``[0, num_classes)``.
    """
    check_label_noise(rate, kind)
    y = np.asarray(targets)
    if y.ndim != 1:
        raise InputError(f"Expected (N,) class ids to flip; got targets of shape {y.shape} "
                         "(multi-label). Label noise is for single-label datasets only.")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise InputError(f"Expected class ids in [0, {num_classes}); got {int(y.min())}.."
                         f"{int(y.max())}. Check num_classes.")
    if num_classes < 2:
        raise InputError(f"Expected at least 2 classes to flip labels between; got {num_classes}.")
    y = y.astype(np.int64)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(y.size, size=int(round(rate * y.size)), replace=False)
    noisy = y.copy()
    if kind == "pairs":
        noisy[chosen] = class_pairs(num_classes, seed=seed)[y[chosen]]
    else:  # another class, uniformly: shift by 1..C-1
        noisy[chosen] = (y[chosen] + rng.integers(1, num_classes, size=chosen.size)) % num_classes
    flipped = np.zeros(y.size, dtype=bool)
    flipped[chosen] = True
    return noisy, flipped


def with_label_noise(bundle: DatasetBundle, rate: float, kind: str = "uniform", *,
                     seed: int = 0) -> DatasetBundle:
    """``bundle`` with ``round(rate * N)`` of its training labels flipped (module notes).

    Only the train split changes (its inputs are shared, not copied); dev and test keep their
    true labels. ``rate == 0`` returns ``bundle`` itself (any dataset), so its fingerprint is
    unchanged.

    Args:
        bundle: a single-label dataset without injected noise.
        rate: the share of training labels to flip, in [0, 1).
        kind: ``uniform`` (another class at random) or ``pairs`` (the class's seeded partner).
        seed: drives which samples flip and to what.

    Returns:
        A new bundle: ``info["label_noise"] = {"rate", "kind", "seed", "flipped"}`` (the
        number flipped), ``train.targets`` the noisy labels, ``train.meta["label_flipped"]``
        the (N,) bool mask and ``train.meta["clean_targets"]`` the (N,) original labels.

    Raises:
        ValueError: a bad rate, kind or seed, multi-label data, or a bundle that already has
            injected noise (one line each).

    Example:
        >>> from easyfirst.data import load_dataset
        >>> noisy = with_label_noise(load_dataset("digits"), 0.1, "pairs", seed=0)
        >>> noisy.info["label_noise"]["flipped"], int(noisy.train.meta["label_flipped"].sum())
        (126, 126)
    """
    check_label_noise(rate, kind, seed)
    if float(rate) == 0.0:
        return bundle
    if bundle.multi_label:
        raise InputError(f"Expected a single-label dataset for label noise; got {bundle.name!r}, "
                         "whose targets are (N, C) multi-hot (multi-label). Drop --label-noise "
                         "(label_noise=), or use a single-label dataset.")
    if "label_noise" in bundle.info:
        raise InputError(f"Expected a dataset without injected label noise; got {bundle.name!r} "
                         f"with {bundle.info['label_noise']}. Add noise to the clean dataset "
                         "once, with the rate you want in all.")
    clean = bundle.train.targets.numpy().astype(np.int64)
    noisy, flipped = inject_label_noise(clean, float(rate), kind,
                                        num_classes=bundle.num_classes, seed=int(seed))
    train = copy.copy(bundle.train)
    train.targets = torch.from_numpy(noisy)
    train.meta = {**bundle.train.meta, FLIPPED: flipped, CLEAN_TARGETS: clean}
    record: dict[str, Any] = {"rate": float(rate), "kind": kind, "seed": int(seed),
                              "flipped": int(flipped.sum())}
    return dataclasses.replace(bundle, train=train, info={**bundle.info, "label_noise": record})
