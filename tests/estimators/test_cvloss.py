"""CVLoss: stratified folds partition the data; each sample scored by the model that did not
train on it (checked against fold models trained by hand)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from easyfirst.data.base import ArraySplit, DatasetBundle
from easyfirst.estimators import TrainingScorer
from easyfirst.estimators.cvloss import part_bundle
from easyfirst.estimators.folds import complement, stratified_folds
from easyfirst.scoring import SCORERS, ensemble
from easyfirst.training.config import RunConfig
from easyfirst.training.loop import train


def _blobs(n_per: int = 12, *, flip: int | None = None) -> DatasetBundle:
    """Two 2-D Gaussian blobs at (-4, 0) and (4, 0); ``flip`` relabels one sample."""
    g = np.random.default_rng(0)
    x = np.concatenate([g.normal((-4, 0), 0.5, (n_per, 2)), g.normal((4, 0), 0.5, (n_per, 2))])
    y = np.repeat([0, 1], n_per)
    if flip is not None:
        y[flip] = 1 - y[flip]
    split = ArraySplit(torch.tensor(x), y, [f"b{i}" for i in range(len(y))])
    return DatasetBundle("blobs", split, None, None, ["a", "b"])


def _cfg(**kw) -> RunConfig:
    base = dict(
        dataset="blobs", model="mlp", model_options={"hidden": [16]}, epochs=10, batch_size=8,
        lr=0.05, device="cpu", dtype="float64", eval_checkpoint="last", seed=0,
    )
    base.update(kw)
    return RunConfig(**base)


def test_stratified_folds_partition_the_data():
    y = np.array([0] * 7 + [1] * 5 + [2] * 3)
    folds = stratified_folds(y, 3, seed=4)
    allidx = np.concatenate(folds)
    assert sorted(allidx.tolist()) == list(range(len(y)))  # disjoint and complete
    sizes = [len(f) for f in folds]
    assert max(sizes) - min(sizes) <= 1
    for c in range(3):
        per_fold = [int((y[f] == c).sum()) for f in folds]
        assert max(per_fold) - min(per_fold) <= 1, "folds must be stratified"
    again = stratified_folds(y, 3, seed=4)
    assert all(np.array_equal(a, b) for a, b in zip(folds, again, strict=True))
    other = stratified_folds(y, 3, seed=5)
    assert not all(np.array_equal(a, b) for a, b in zip(folds, other, strict=True))


def test_cvloss_is_the_loss_of_the_model_that_did_not_train_on_the_sample():
    bundle = _blobs(flip=3)  # sample 3 sits in blob 0 with label 1
    cfg = _cfg()
    scorer = SCORERS.get("cvloss")
    assert isinstance(scorer, TrainingScorer) and not scorer.higher_is_easier
    s = scorer.run(bundle, cfg, seed=0, folds=3)
    # hand-computed reference: train each fold model ourselves, evaluate on its held-out fold
    n = len(bundle.train)
    ref = np.full(n, np.nan)
    for j, held in enumerate(stratified_folds(bundle.train.targets, 3, seed=0)):
        model = train(part_bundle(bundle, complement(n, held), f"f{j}"), cfg, record=False,
                      progress=False).model
        with torch.no_grad():
            x = bundle.train.inputs[torch.as_tensor(held)]
            loss = F.cross_entropy(model.eval()(x), bundle.train.targets[held], reduction="none")
        ref[held] = loss.numpy()
    np.testing.assert_allclose(s.values, ref, rtol=1e-10, atol=1e-12)
    assert int(np.argmax(s.values)) == 3, "the mislabelled sample must have the largest loss"
    assert s.meta["cost"]["trainings"] == 3 and s.meta["cost"]["wall_s"] > 0
    assert s.meta["params"] == {"folds": 3} and s.meta["seeds"] == [0]
    assert s.meta["dataset_fingerprint"] == bundle.fingerprint
    assert s.meta["fold_sizes"] == [8, 8, 8]
    # seeds ensemble through the existing ensemble()
    s1 = scorer.run(bundle, cfg, seed=1, folds=3)
    ens = ensemble([s, s1])
    np.testing.assert_allclose(ens.values, (s.values + s1.values) / 2)
    assert ens.meta["seeds"] == [0, 1]


def test_cvloss_bad_input():
    bundle, scorer = _blobs(), SCORERS.get("cvloss")
    with pytest.raises(ValueError, match=r"Expected k >= 2 cross-validation folds; got k=1\."):
        scorer.run(bundle, _cfg(), seed=0, folds=1)
    with pytest.raises(ValueError, match=r"Expected k <= N = 24 folds"):
        scorer.run(bundle, _cfg(), seed=0, folds=25)
    with pytest.raises(ValueError, match=r"Unknown parameter 'k' for scorer 'cvloss'\. Available"):
        scorer.run(bundle, _cfg(), seed=0, k=3)
