"""Prediction Depth: k-NN probes on hooked layers, on a constructed case with known depths."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from easyfirst.data.base import ArraySplit, DatasetBundle
from easyfirst.estimators.features import layer_embeddings
from easyfirst.estimators.prediction_depth import depth_from_agreement, knn_predict
from easyfirst.scoring import SCORERS
from easyfirst.training.config import RunConfig

LABELS = [0, 0, 0, 0, 1, 1, 1, 1]
# 1-D coordinates of the 8 samples at three layers. Sample 3 (class 0) sits among class 1 at
# layers 0 and 1 and joins class 0 at layer 2. With k = 3, every other sample's probe says its
# own class at every layer (distances worked out by hand: no ties at the 3rd neighbour).
LAYER_COORDS = [
    [0.0, 1.0, 2.0, 10.0, 11.0, 12.0, 13.0, 14.5],
    [0.0, 1.0, 2.0, 10.0, 11.0, 12.0, 13.0, 14.5],
    [0.0, 1.0, 2.0, 3.0, 11.0, 12.0, 13.0, 14.5],
]
# The model predicts the true label except for sample 7 (predicted 0): no probe ever agrees.
FINAL_PRED = [0, 0, 0, 0, 1, 1, 1, 0]
EXPECTED_DEPTH = [0, 0, 0, 2, 0, 0, 0, 3]


class Constructed(nn.Module):
    """Input: one-hot sample index (B, 8). Layers ``a``, ``b``, ``c`` output LAYER_COORDS."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c = (nn.Linear(8, 1, bias=False) for _ in range(3))
        self.head = nn.Linear(8, 2, bias=False)
        with torch.no_grad():
            for lin, coords in zip((self.a, self.b, self.c), LAYER_COORDS, strict=True):
                lin.weight.copy_(torch.tensor([coords]))
            self.head.weight.copy_(torch.nn.functional.one_hot(torch.tensor(FINAL_PRED), 2).T)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.a(x), self.b(x), self.c(x)
        return self.head(x)


def _bundle() -> DatasetBundle:
    split = ArraySplit(torch.eye(8), LABELS, [f"s{i}" for i in range(8)])
    return DatasetBundle("constructed", split, None, None, ["x", "y"])


def _cfg(**kw) -> RunConfig:
    base = dict(
        dataset="blobs", model="mlp", model_options={"hidden": [8, 8]}, epochs=5, batch_size=8,
        lr=0.05, device="cpu", dtype="float64", eval_checkpoint="last", seed=0,
    )
    base.update(kw)
    return RunConfig(**base)


def test_depth_from_agreement_by_hand():
    agree = torch.tensor([[1, 0, 1, 0, 1], [1, 1, 0, 0, 0], [1, 1, 1, 0, 1]]).bool()
    assert depth_from_agreement(agree).tolist() == [0, 1, 2, 3, 2]


def test_knn_excludes_the_sample_itself():
    x = torch.tensor([[0.0], [0.2], [0.3], [5.0]])
    y = torch.tensor([1, 0, 0, 1])
    # sample 0's nearest other samples are class 0; counting itself (aucurriculum) flips a
    # 1-NN probe to its own label
    assert knn_predict(x, y, k=1).tolist() == [0, 0, 0, 0]
    assert knn_predict(x, y, k=1, exclude_self=False).tolist() == [1, 0, 0, 1]
    with pytest.raises(ValueError, match=r"Expected 1 <= k <= 3 neighbours for 4 samples"):
        knn_predict(x, y, k=4)


def test_prediction_depth_on_constructed_case():
    pd = SCORERS.get("prediction_depth")
    s = pd.run(
        _bundle(), _cfg(), seed=0, model=Constructed().double(), layers=["a", "b", "c"],
        knn_k=3, max_dim=None,
    )
    assert s.values.tolist() == EXPECTED_DEPTH
    assert not s.higher_is_easier
    assert s.meta["layers"] == ["a", "b", "c"] and s.meta["cost"]["trainings"] == 0


def test_prediction_depth_trains_a_model_and_hooks_default_layers():
    g = np.random.default_rng(0)
    x = np.concatenate([g.normal((-3, 0), 0.7, (20, 2)), g.normal((3, 0), 0.7, (20, 2))])
    split = ArraySplit(torch.tensor(x), np.repeat([0, 1], 20), [f"b{i}" for i in range(40)])
    bundle = DatasetBundle("blobs", split, None, None, ["a", "b"])
    s = SCORERS.get("prediction_depth").run(bundle, _cfg(), seed=0, knn_k=5)
    assert s.meta["layers"] == ["2", "4"]  # the mlp's two ReLUs
    assert s.meta["cost"]["trainings"] == 1
    assert set(np.unique(s.values)) <= {0.0, 1.0, 2.0}
    assert np.mean(s.values == 0) > 0.8  # well-separated blobs: most are decided at once


def test_pooling_and_projection_cap():
    conv = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(96, 2))
    split = ArraySplit(torch.randn(5, 1, 4, 4, generator=torch.Generator().manual_seed(0)),
                       [0, 1, 0, 1, 0], [str(i) for i in range(5)])
    (pooled, flat), _ = layer_embeddings(conv, split, ["1", "2"], device=torch.device("cpu"))
    with torch.no_grad():
        h = conv[1](conv[0](split.inputs))
    torch.testing.assert_close(pooled, h.mean(dim=(2, 3)))  # global average pool
    assert flat.shape == (5, 96)
    (capped,), _ = layer_embeddings(
        conv, split, ["2"], device=torch.device("cpu"), max_dim=10, seed=1
    )
    (again,), _ = layer_embeddings(
        conv, split, ["2"], device=torch.device("cpu"), max_dim=10, seed=1
    )
    assert capped.shape == (5, 10) and torch.equal(capped, again)  # seeded


def test_prediction_depth_bad_input(tmp_path):
    pd, bundle = SCORERS.get("prediction_depth"), _bundle()
    with pytest.raises(ValueError, match=r"Unknown layer 'nope' in Constructed\. Valid: a, b, c"):
        pd.run(
            bundle, _cfg(), seed=0, model=Constructed().double(), layers=["a", "nope"], knn_k=3
        )
    with pytest.raises(ValueError, match=r"Unknown layer 'fc9' in Sequential\. Valid: 0, 1, 2"):
        pd.run(bundle, _cfg(), seed=0, layers=["fc9"], knn_k=3)  # checked before training
    with pytest.raises(ValueError, match=r"Expected 1 <= knn_k <= N - 1 = 7; got 30"):
        pd.run(bundle, _cfg(), seed=0, model=Constructed().double(), layers=["a"])


def _blobs() -> DatasetBundle:
    g = np.random.default_rng(0)
    x = np.concatenate([g.normal((-3, 0), 0.7, (20, 2)), g.normal((3, 0), 0.7, (20, 2))])
    split = ArraySplit(torch.tensor(x), np.repeat([0, 1], 20), [f"b{i}" for i in range(40)])
    return DatasetBundle("blobs", split, None, None, ["a", "b"])


def test_meta_records_the_true_model_source_name_and_epochs(tmp_path):
    from easyfirst.models import build_model
    from easyfirst.scoring import SeedInputs

    pd, bundle, cfg = SCORERS.get("prediction_depth"), _blobs(), _cfg()
    mine = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(),
                         nn.Linear(8, 2)).double()
    facts = ("model_source", "model", "epochs")
    given = pd.run(bundle, cfg, seed=0, model=mine, knn_k=5)
    assert [given.meta[k] for k in facts] == ["a trained model passed as model=", "Sequential",
                                              None]
    assert given.meta["cost"]["trainings"] == 0
    run = pd.score(SeedInputs(bundle, cfg, 3, model=mine), knn_k=5)  # easyfirst score's path
    assert [run.meta[k] for k in facts] == ["the per-seed training run (seed 3)", "mlp", 5]
    net = build_model("mlp", input_shape=(2,), num_classes=2, hidden=[8, 8]).double()
    path = tmp_path / "ckpt.pt"
    torch.save({"config": {"model": "mlp", "model_options": {"hidden": [8, 8]}, "epochs": 7,
                           "eval_checkpoint": "last"},
                "model": net.state_dict(), "fingerprint": bundle.fingerprint}, path)
    ckpt = pd.run(bundle, _cfg(model="small_cnn", epochs=2), seed=0, checkpoint=str(path),
                  knn_k=5)
    assert [ckpt.meta[k] for k in facts] == [f"checkpoint {path}", "mlp", 7]
    fresh = pd.run(bundle, cfg, seed=0, knn_k=5)
    assert fresh.meta["model_source"] == "trained with the run configuration (5 epochs)"
    assert (fresh.meta["model"], fresh.meta["epochs"]) == ("mlp", 5)


def test_fewer_than_two_probed_layers_warn_with_the_fix():
    pd, bundle = SCORERS.get("prediction_depth"), _bundle()
    with pytest.warns(UserWarning, match=r"^Prediction Depth probes 1 layer, \['a'\], of "
                      r"Constructed, so every depth is 0 or 1; expected at least 2\. Name two "
                      r"or more hidden layers with layers=\[\.\.\.\]"):
        s = pd.run(bundle, _cfg(), seed=0, model=Constructed().double(), layers=["a"], knn_k=3)
    assert set(np.unique(s.values)) <= {0.0, 1.0}
