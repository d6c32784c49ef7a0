"""C-score: held-out accuracy over random-subset models, and precomputed C-score files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from easyfirst.data.base import ArraySplit, DatasetBundle
from easyfirst.estimators.cscore import cscore_from_outcomes, load_cscore_file
from easyfirst.estimators.folds import holdout_windows
from easyfirst.scores import Scores
from easyfirst.scoring import SCORERS
from easyfirst.training.config import RunConfig
from easyfirst.training.loop import train

LONER = 24  # the one sample of class 2


def _bundle() -> DatasetBundle:
    """Blobs of classes 0 and 1 (12 samples each) and ONE sample of class 2 far from both.

    The class-2 sample is learnable only when it is in the training subset: held out, no model
    has seen class 2, so it is always misclassified (its C-score is 0 by hand).
    """
    g = np.random.default_rng(0)
    x = np.concatenate(
        [g.normal((-4, 0), 0.5, (12, 2)), g.normal((4, 0), 0.5, (12, 2)), [[0.0, 8.0]]]
    )
    y = np.array([0] * 12 + [1] * 12 + [2])
    split = ArraySplit(torch.tensor(x), y, [f"s{i}" for i in range(25)])
    return DatasetBundle("loner", split, None, None, ["a", "b", "c"])


def _cfg(**kw) -> RunConfig:
    base = dict(
        dataset="loner", model="mlp", model_options={"hidden": [16]}, epochs=30, batch_size=8,
        lr=0.05, device="cpu", dtype="float64", eval_checkpoint="last", seed=0,
    )
    base.update(kw)
    return RunConfig(**base)


def test_cscore_from_outcomes_by_hand():
    # two ratios; runs 0, 1 at ratio 0 and run 2 at ratio 1
    correct = np.array([[1, 0, 1, 1], [1, 1, 0, 1], [0, 0, 1, 1]], dtype=bool)
    held = np.array([[1, 1, 0, 0], [1, 1, 1, 0], [1, 0, 1, 0]], dtype=bool)
    scores, per_ratio = cscore_from_outcomes(correct, held, [0, 0, 1], 2)
    # sample 0: ratio 0 -> 2/2, ratio 1 -> 0/1 -> mean 0.5; sample 1: 1/2 only at ratio 0;
    # sample 2: ratio 0 -> 0/1, ratio 1 -> 1/1 -> 0.5; sample 3: never held out -> NaN
    np.testing.assert_allclose(per_ratio[0], [1.0, 0.5, 0.0, np.nan])
    np.testing.assert_allclose(per_ratio[1], [0.0, np.nan, 1.0, np.nan])
    np.testing.assert_allclose(scores, [0.5, 0.5, 0.5, np.nan])


def test_holdout_windows_cover_every_sample():
    wins = holdout_windows(10, 0.7, 4, seed=3)
    assert all(len(w) == 3 for w in wins)
    assert set(np.concatenate(wins).tolist()) == set(range(10))  # 4 * 3 >= 10
    assert all(np.array_equal(a, b) for a, b in zip(wins, holdout_windows(10, 0.7, 4, seed=3),
                                                     strict=True))


def test_cscore_sample_learnable_only_in_training_subset_scores_zero():
    bundle, cfg = _bundle(), _cfg()
    # the construction: a model that trains on the loner does classify it correctly
    full = train(bundle, cfg, record=False, progress=False).model
    with torch.no_grad():
        assert int(full.eval()(bundle.train.inputs[LONER : LONER + 1]).argmax()) == 2
    s = SCORERS.get("cscore").run(bundle, cfg, seed=0, subset_ratios=[0.5, 0.7], subset_runs=4)
    assert s.values[LONER] == 0.0
    np.testing.assert_array_equal(s.values[:LONER], 1.0)
    assert s.meta["ratios"] == [0.5, 0.7] and s.meta["subset_runs"] == 4
    assert s.meta["cost"]["trainings"] == 8
    assert s.meta["heldout_coverage"] == [1.0, 1.0]
    assert s.higher_is_easier


def test_cscore_file_formats(tmp_path):
    bundle, scorer = _bundle(), SCORERS.get("cscore")
    vals = np.linspace(0, 1, 25)
    np.save(tmp_path / "c.npy", vals)
    s = scorer.run(bundle, _cfg(), seed=0, cscore_file=str(tmp_path / "c.npy"))
    np.testing.assert_array_equal(s.values, vals)
    assert s.meta["cost"]["trainings"] == 0
    rows = "\n".join(f"{i},{v!r}" for i, v in reversed(list(enumerate(vals.tolist()))))
    (tmp_path / "c.csv").write_text("index,score\n" + rows + "\n")
    np.testing.assert_array_equal(load_cscore_file(tmp_path / "c.csv", 25), vals)
    np.savez(tmp_path / "c.npz", scores=vals, labels=bundle.train.targets.numpy())
    np.testing.assert_array_equal(
        load_cscore_file(tmp_path / "c.npz", 25, targets=bundle.train.targets), vals
    )
    Scores(vals, higher_is_easier=True, meta={"dataset_fingerprint": "fp"}).save(
        tmp_path / "e.csv"
    )
    np.testing.assert_array_equal(load_cscore_file(tmp_path / "e.csv", 25, fingerprint="fp"), vals)


def test_cscore_bad_input(tmp_path):
    bundle, scorer = _bundle(), SCORERS.get("cscore")
    with pytest.raises(ValueError, match=r"Expected subset ratios strictly between 0 and 1; got 1"):
        scorer.run(bundle, _cfg(), seed=0, subset_ratios=[0.5, 1.0])
    with pytest.raises(ValueError, match=r"strictly between 0 and 1; got 0\.0"):
        scorer.run(bundle, _cfg(), seed=0, subset_ratios=[0.0])
    with pytest.raises(ValueError, match=r"subset_runs=1 .* Use subset_runs >= 2"):
        scorer.run(bundle, _cfg(), seed=0, subset_ratios=[0.5], subset_runs=1)
    np.save(tmp_path / "short.npy", np.zeros(7))
    with pytest.raises(ValueError, match=r"has shape \(7,\) but the training split has 25"):
        scorer.run(bundle, _cfg(), seed=0, cscore_file=str(tmp_path / "short.npy"))
    (tmp_path / "short.csv").write_text("index,score\n0,1.0\n")
    with pytest.raises(ValueError, match=r"has 1 rows but the training split has 25 samples"):
        load_cscore_file(tmp_path / "short.csv", 25)
