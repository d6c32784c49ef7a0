"""Class balance of the curriculum pool."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from easyfirst.curriculum import balanced_pool, make_pool, stratified_pool

torch.set_num_threads(1)


def _data(counts: list[int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A random ordering (N,) and targets (N,) with the given per-class counts."""
    rng = np.random.default_rng(seed)
    targets = rng.permutation(np.repeat(np.arange(len(counts)), counts))
    return rng.permutation(len(targets)), targets


def _easiest_first_within_class(pool: np.ndarray, order: np.ndarray, y: np.ndarray) -> None:
    for c in np.unique(y):
        in_class = order[y[order] == c]
        chosen = pool[y[pool] == c]
        assert set(chosen) == set(in_class[: len(chosen)])


def test_none_is_the_prefix() -> None:
    order, y = _data([5, 5])
    assert make_pool(order, 4).tolist() == order[:4].tolist()
    assert make_pool(order, 4, balance="none", targets=y).tolist() == order[:4].tolist()


@pytest.mark.parametrize("size", [3, 4, 10, 11, 29, 30])
def test_balanced_counts_on_balanced_classes(size: int) -> None:
    order, y = _data([10, 10, 10])
    pool = balanced_pool(order, y, size)
    counts = np.bincount(y[pool], minlength=3)
    assert len(pool) == len(set(pool)) == size
    assert counts.sum() == size
    assert set(counts) <= {size // 3, -(-size // 3)}
    _easiest_first_within_class(pool, order, y)
    position = np.argsort(order)
    assert np.all(np.diff(position[pool]) > 0)  # returned in ordering order


def test_balanced_extra_goes_to_the_easiest_next_sample() -> None:
    order = np.arange(6)
    y = np.array([1, 1, 0, 0, 1, 0])
    # shares: 1 each; extra one goes to class 1 (its 2nd sample is at position 1).
    assert balanced_pool(order, y, 3).tolist() == [0, 1, 2]


def test_balanced_gives_a_small_class_share_to_others() -> None:
    order, y = _data([2, 20, 20])
    pool = balanced_pool(order, y, 21)
    assert np.bincount(y[pool], minlength=3).tolist() in ([2, 10, 9], [2, 9, 10])
    assert sorted(balanced_pool(order, y, len(order)).tolist()) == list(range(42))


@pytest.mark.parametrize("size", [5, 17, 50, 99, 100])
def test_stratified_keeps_proportions(size: int) -> None:
    counts = [50, 30, 15, 5]
    order, y = _data(counts, seed=1)
    pool = stratified_pool(order, y, size)
    got = np.bincount(y[pool], minlength=4)
    want = size * np.array(counts) / 100
    assert got.sum() == len(set(pool)) == size
    assert np.all(np.abs(got - want) < 1)
    _easiest_first_within_class(pool, order, y)


def test_missing_class_in_balanced_pool() -> None:
    order, y = _data([4, 4])
    with pytest.raises(ValueError, match=r"Expected every class .* got no samples of class\(es\)"):
        balanced_pool(order, y, 6, num_classes=3)
    order, y = _data([4, 4, 4])
    with pytest.raises(ValueError, match=r"at least one sample per class \(3\); got size 2"):
        balanced_pool(order, y, 2)


def test_bad_inputs() -> None:
    order, y = _data([4, 4])
    with pytest.raises(ValueError, match=r"Unknown balance 'even'\. Available: none, balanced"):
        make_pool(order, 4, balance="even", targets=y)
    with pytest.raises(ValueError, match=r"Expected targets .* got None"):
        make_pool(order, 4, balance="balanced")
    with pytest.raises(ValueError, match=r"Expected a pool size in 1\.\.8 .* got 9"):
        make_pool(order, 9)
    with pytest.raises(ValueError, match=r"Expected integer targets of shape \(8,\)"):
        make_pool(order, 4, balance="stratified", targets=y[:5])
    with pytest.raises(ValueError, match=r"below num_classes=1; got 1"):
        make_pool(order, 4, balance="stratified", targets=y, num_classes=1)
    with pytest.raises(ValueError, match=r"permutation of 0\.\.7"):
        make_pool(np.zeros(8, dtype=np.int64), 4)
