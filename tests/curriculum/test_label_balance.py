"""Multi-label pools (label-frequency aware round robin) and pools that keep every class."""

from __future__ import annotations

import numpy as np
import pytest

from easyfirst.curriculum.balance import make_pool


def _multihot(n: int, c: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    freq = 0.6 / (1 + np.arange(c))  # class 0 frequent, the last ones rare
    y = (rng.random((n, c)) < freq).astype(np.float32)
    y[np.arange(n), rng.integers(0, c, n)] = 1  # at least one label each
    return y


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_balanced_multilabel_pool_favours_rare_labels(seed):
    y = _multihot(400, 8, seed)
    order = np.random.default_rng(seed).permutation(400)
    for size in (8, 40, 137, 400):
        pool = make_pool(order, size, balance="balanced", targets=y)
        assert len(pool) == size == len(set(pool.tolist()))
        rank = {int(s): r for r, s in enumerate(order)}
        assert [rank[int(s)] for s in pool] == sorted(rank[int(s)] for s in pool)
    small = make_pool(order, 40, balance="balanced", targets=y)
    prefix = order[:40]
    per_class_pool, per_class_prefix = y[small].sum(0), y[prefix].sum(0)
    assert per_class_pool[-1] > per_class_prefix[-1]  # the rarest class gets more room
    assert per_class_pool.min() >= 1
    assert per_class_pool.std() < per_class_prefix.std()  # flatter than the plain prefix


@pytest.mark.parametrize("multi", [False, True])
def test_cover_keeps_every_class_from_the_start(multi):
    rng = np.random.default_rng(3)
    y = _multihot(300, 6, 3) if multi else rng.integers(0, 6, 300)
    hard_class = (y[:, 5] > 0) if multi else (y == 5)
    order = np.concatenate([np.flatnonzero(~hard_class), np.flatnonzero(hard_class)])
    for size in (6, 10, 100, 300):
        pool = make_pool(order, size, balance="cover", targets=y)
        assert len(pool) == size
        present = y[pool].max(0) > 0 if multi else np.isin(np.arange(6), y[pool])
        assert present.all()
        plain = order[:size]
        assert len(set(pool.tolist()) - set(plain.tolist())) <= 6  # only class stand-ins swap
    tiny = make_pool(order, 2, balance="cover", targets=y)
    assert (y[tiny].max(0) > 0).all() if multi else set(y[tiny]) == set(range(6))


def test_stratified_is_single_label_only():
    with pytest.raises(ValueError, match="stratified' needs single-label targets"):
        make_pool(np.arange(10), 5, balance="stratified", targets=_multihot(10, 3, 0))
