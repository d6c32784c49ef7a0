"""Injected label noise: exact flip counts, both kinds, the train split only, the fingerprint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from easyfirst.data import (
    NOISE_KINDS,
    ArraySplit,
    DatasetBundle,
    inject_label_noise,
    load_dataset,
    with_label_noise,
)
from easyfirst.data.label_noise import class_pairs


@pytest.fixture(scope="module")
def digits() -> DatasetBundle:
    return load_dataset("digits")


@pytest.mark.parametrize("kind", NOISE_KINDS)
@pytest.mark.parametrize("rate", [0.0, 0.1, 0.3, 0.95])
def test_exactly_round_rate_n_labels_flip_each_to_another_class(kind, rate):
    y = np.arange(1001) % 7
    noisy, flipped = inject_label_noise(y, rate, kind, num_classes=7, seed=3)
    assert flipped.dtype == bool and int(flipped.sum()) == round(rate * 1001)
    assert (noisy[flipped] != y[flipped]).all() and (noisy[~flipped] == y[~flipped]).all()
    assert noisy.min() >= 0 and noisy.max() < 7


def test_pairs_flip_to_the_seeded_partner_and_uniform_spreads():
    y = np.arange(2000) % 10
    partner = class_pairs(10, seed=5)
    assert (partner[partner] == np.arange(10)).all() and (partner != np.arange(10)).all()
    noisy, flipped = inject_label_noise(y, 0.4, "pairs", num_classes=10, seed=5)
    assert (noisy[flipped] == partner[y[flipped]]).all()
    noisy, flipped = inject_label_noise(y, 0.4, "uniform", num_classes=10, seed=5)
    # each class goes to many others, not to one partner
    assert len(set(noisy[flipped & (y == 0)].tolist())) > 5
    odd = class_pairs(5, seed=0)
    assert (odd != np.arange(5)).all()  # the class left over flips too


def test_noise_is_seeded():
    y = np.arange(500) % 4
    a = inject_label_noise(y, 0.2, "uniform", num_classes=4, seed=1)
    b = inject_label_noise(y, 0.2, "uniform", num_classes=4, seed=1)
    c = inject_label_noise(y, 0.2, "uniform", num_classes=4, seed=2)
    assert all((x == z).all() for x, z in zip(a, b, strict=True))
    assert not (a[1] == c[1]).all()


def test_bundle_noise_touches_the_training_labels_only(digits):
    noisy = with_label_noise(digits, 0.2, "pairs", seed=4)
    flipped = noisy.train.meta["label_flipped"]
    assert flipped.dtype == bool and int(flipped.sum()) == round(0.2 * len(digits.train))
    assert noisy.info["label_noise"] == {"rate": 0.2, "kind": "pairs", "seed": 4,
                                         "flipped": int(flipped.sum())}
    clean = digits.train.targets.numpy()
    np.testing.assert_array_equal(noisy.train.meta["clean_targets"], clean)
    got = noisy.train.targets.numpy()
    assert (got[flipped] != clean[flipped]).all() and (got[~flipped] == clean[~flipped]).all()
    assert noisy.train.inputs is digits.train.inputs and noisy.train.ids == digits.train.ids
    for split in ("dev", "test"):
        assert getattr(noisy, split) is getattr(digits, split)
    assert "label_noise" not in digits.info and "label_flipped" not in digits.train.meta
    assert (digits.train.targets.numpy() == clean).all()  # the clean bundle is unchanged
    sub = noisy.train.subset([0, 5, 9])  # the mask follows a subset
    np.testing.assert_array_equal(sub.meta["label_flipped"], flipped[[0, 5, 9]])


def test_fingerprint_changes_with_noise_settings_not_with_rate_zero(digits):
    fps = {with_label_noise(digits, rate, kind, seed=seed).fingerprint
           for rate, kind, seed in [(0.1, "uniform", 0), (0.2, "uniform", 0),
                                    (0.1, "pairs", 0), (0.1, "uniform", 1)]}
    assert len(fps) == 4 and digits.fingerprint not in fps
    assert with_label_noise(digits, 0.0, "pairs", seed=3) is digits
    assert load_dataset("digits", label_noise=0.0, noise_kind="pairs").fingerprint \
        == digits.fingerprint


def test_load_dataset_takes_the_noise_keywords_for_any_dataset(digits):
    direct = with_label_noise(digits, 0.15, "pairs", seed=2)
    loaded = load_dataset("digits", label_noise=0.15, noise_kind="pairs", noise_seed=2)
    assert loaded.fingerprint == direct.fingerprint
    np.testing.assert_array_equal(loaded.train.meta["label_flipped"],
                                  direct.train.meta["label_flipped"])


def _multi_label() -> DatasetBundle:
    split = ArraySplit(torch.zeros(4, 2), np.eye(4, 3, dtype=np.float32), list("abcd"))
    return DatasetBundle("ml", split, None, None, ["x", "y", "z"])


@pytest.mark.parametrize(("call", "message"), [
    (lambda b: with_label_noise(b, 1.0), r"Expected a label-noise rate in \[0, 1\).*got 1\.0"),
    (lambda b: with_label_noise(b, -0.1), r"rate in \[0, 1\).*got -0\.1"),
    (lambda b: with_label_noise(b, "0.1"), r"rate in \[0, 1\).*got '0\.1'"),
    (lambda b: with_label_noise(b, 0.1, "pair"),
     r"Expected a label-noise kind in uniform, pairs; got 'pair'\. Pass --noise-kind"),
    (lambda b: with_label_noise(b, 0.1, seed=-1), r"seed that is a whole number >= 0; got -1"),
    (lambda b: with_label_noise(with_label_noise(b, 0.1), 0.1),
     r"Expected a dataset without injected label noise"),
    (lambda b: with_label_noise(_multi_label(), 0.1),
     r"Expected a single-label dataset for label noise; got 'ml'.*\(multi-label\)\. Drop "
     r"--label-noise"),
])
def test_bad_settings_are_one_line(digits, call, message):
    with pytest.raises(ValueError, match=message) as info:
        call(digits)
    assert "\n" not in str(info.value)


def test_rate_zero_accepts_any_dataset_and_bad_settings_are_refused_before_loading():
    ml = _multi_label()
    assert with_label_noise(ml, 0.0) is ml
    # fsdd without --root would say the root is missing: the noise settings are checked first
    with pytest.raises(ValueError, match="label-noise rate"):
        load_dataset("fsdd", label_noise=1.5)
    with pytest.raises(ValueError, match="label-noise kind"):
        load_dataset("fsdd", label_noise=0.0, noise_kind="bogus")
    with pytest.raises(ValueError, match="at least 2 classes"):
        inject_label_noise(np.zeros(5, dtype=int), 0.2, num_classes=1)
