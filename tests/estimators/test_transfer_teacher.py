"""Transfer Teacher: RBF-SVM scores on separable clusters, from embeddings or a model file."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from easyfirst.data.base import ArraySplit, DatasetBundle
from easyfirst.estimators.transfer_teacher import svm_scores
from easyfirst.models.registry import build_model
from easyfirst.scoring import SCORERS
from easyfirst.training.config import RunConfig
from easyfirst.training.loop import train

BORDER = 30  # a class-0 sample placed on the class-1 side


def _clusters(n_per: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Three well-separated 2-D clusters, plus one class-0 sample inside cluster 1."""
    g = np.random.default_rng(1)
    centers = [(-6, 0), (6, 0), (0, 8)]
    x = np.concatenate([g.normal(c, 0.6, (n_per, 2)) for c in centers] + [[[5.5, 0.3]]])
    y = np.array([0] * n_per + [1] * n_per + [2] * n_per + [0])
    return x, y


def _bundle(x: np.ndarray, y: np.ndarray) -> DatasetBundle:
    split = ArraySplit(torch.tensor(x), y, [f"p{i}" for i in range(len(y))])
    return DatasetBundle("clusters", split, None, None, ["a", "b", "c"])


def _cfg(**kw) -> RunConfig:
    base = dict(
        dataset="clusters", model="mlp", model_options={"hidden": [8]}, epochs=5, batch_size=8,
        lr=0.05, device="cpu", dtype="float64", eval_checkpoint="last", seed=0,
    )
    base.update(kw)
    return RunConfig(**base)


def test_svm_scores_on_separable_clusters_match_a_direct_svm():
    x, y = _clusters()
    prob = svm_scores(x, y, variant="prob", seed=3)
    margin = svm_scores(x, y, variant="margin", seed=3)
    # reference computed directly with scikit-learn
    z = StandardScaler().fit_transform(x)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        ref = SVC(kernel="rbf", probability=True, random_state=3).fit(z, y)
    np.testing.assert_allclose(prob, ref.predict_proba(z)[np.arange(len(y)), y], rtol=1e-12)
    df = SVC(kernel="rbf", random_state=3).fit(z, y).decision_function(z)
    others = np.where(np.eye(3, dtype=bool)[y], -np.inf, df).max(1)
    np.testing.assert_allclose(margin, df[np.arange(len(y)), y] - others, rtol=1e-12)
    clean = np.arange(len(y)) != BORDER
    # separable clusters: every clean sample is confidently right, the misplaced one is not
    assert (prob[clean] > 0.5).all() and (margin[clean] > 0).all()
    assert margin[BORDER] < 0 and prob[BORDER] == prob.min()


def test_binary_margin_sign():
    x, y = _clusters()
    keep = y < 2
    xb, yb = x[keep], y[keep]
    m = svm_scores(xb, yb, variant="margin", seed=0)
    df = SVC(kernel="rbf").fit(StandardScaler().fit_transform(xb), yb).decision_function(
        StandardScaler().fit_transform(xb)
    )
    np.testing.assert_allclose(m, np.where(yb == 1, df, -df), rtol=1e-12)


def test_transfer_teacher_from_embeddings_file(tmp_path):
    x, y = _clusters()
    bundle = _bundle(np.zeros((len(y), 4)), y)  # inputs unused: features come from the file
    np.save(tmp_path / "emb.npy", x)
    tt = SCORERS.get("transfer_teacher")
    s = tt.run(bundle, _cfg(), seed=2, embeddings=str(tmp_path / "emb.npy"), variant="margin")
    np.testing.assert_allclose(s.values, svm_scores(x, y, variant="margin", seed=2))
    assert s.meta["cost"]["trainings"] == 0 and s.higher_is_easier
    assert s.meta["params"]["variant"] == "margin"
    np.save(tmp_path / "bad.npy", x[:5])
    with pytest.raises(ValueError, match=r"has 5 rows but the training split has 31 samples"):
        tt.run(bundle, _cfg(), seed=0, embeddings=str(tmp_path / "bad.npy"))
    with pytest.raises(ValueError, match=r"Unknown Transfer Teacher variant 'mragin'"):
        tt.run(bundle, _cfg(), seed=0, embeddings=str(tmp_path / "emb.npy"), variant="mragin")


def test_transfer_teacher_from_model_files(tmp_path):
    x, y = _clusters()
    bundle, cfg, tt = _bundle(x, y), _cfg(), SCORERS.get("transfer_teacher")
    # a state dict of a registered model trained for another task (5 classes): new head is fine
    torch.manual_seed(0)
    teacher = build_model("mlp", input_shape=(2,), num_classes=5, hidden=[8]).double()
    torch.save(teacher.state_dict(), tmp_path / "teacher.pt")
    s = tt.run(bundle, cfg, seed=0, checkpoint=str(tmp_path / "teacher.pt"))
    with torch.no_grad():
        feats = teacher[:-1](torch.tensor(x)).numpy()  # the input of the head
    np.testing.assert_allclose(s.values, svm_scores(feats, y, seed=0), rtol=1e-10)
    assert s.meta["features"].startswith("checkpoint") and s.meta["cost"]["trainings"] == 0
    # an easyfirst checkpoint.pt, and the self-taught teacher (one training)
    train(bundle, cfg, out_dir=tmp_path / "run", record=False, progress=False)
    s2 = tt.run(bundle, cfg, seed=0, checkpoint=str(tmp_path / "run" / "checkpoint.pt"))
    s3 = tt.run(bundle, cfg, seed=0)
    np.testing.assert_allclose(s2.values, s3.values, rtol=1e-10)  # same run, same features
    assert s3.meta["cost"]["trainings"] == 1
    wrong = build_model("mlp", input_shape=(2,), num_classes=3, hidden=[4])
    torch.save(wrong.state_dict(), tmp_path / "wrong.pt")
    with pytest.raises(ValueError, match=r"does not fit model 'mlp'.*shape-mismatched"):
        tt.run(bundle, cfg, seed=0, checkpoint=str(tmp_path / "wrong.pt"))
