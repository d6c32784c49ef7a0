"""Multi-label runs end to end: BCE training, multi-label dynamics scores, mAP, curricula with
label-aware pools, late fusion of sigmoids, the report; single-label-only scorers refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from easyfirst.analysis.fusion import fuse_runs, load_predictions
from easyfirst.analysis.report import write_report
from easyfirst.data.base import ArraySplit, DatasetBundle
from easyfirst.scores import Scores
from easyfirst.targets import mean_average_precision
from easyfirst.training.config import RunConfig
from easyfirst.workflows.curriculum import CurriculumSpec, train_curriculum
from easyfirst.workflows.score import score_dataset

C = 5


def _split(n: int, seed: int, name: str) -> ArraySplit:
    g = np.random.default_rng(seed)
    protos = np.random.default_rng(99).normal(size=(C, 16))
    y = (g.random((n, C)) < 0.3).astype(np.float32)
    y[np.arange(n), g.integers(0, C, n)] = 1.0
    noise = g.uniform(0.3, 2.5, n)  # a known difficulty per sample
    x = y @ protos + noise[:, None] * g.normal(size=(n, 16))
    return ArraySplit(torch.tensor(x, dtype=torch.float32), y,
                      [f"{name}/{i:04d}" for i in range(n)], meta={"noise": noise})


@pytest.fixture(scope="module")
def bundle() -> DatasetBundle:
    return DatasetBundle("toy-multilabel", _split(400, 0, "train"), _split(120, 1, "dev"),
                         _split(120, 2, "test"), [f"c{i}" for i in range(C)])


def _cfg(**kw) -> RunConfig:
    base = {"dataset": "toy", "model": "mlp", "epochs": 6, "batch_size": 32, "device": "cpu",
            "model_options": {"hidden": [32]}}
    return RunConfig(**{**base, **kw})


def test_score_multilabel(bundle, tmp_path):
    out = tmp_path / "score"
    res, summary = score_dataset(bundle, _cfg(), seeds=[0, 1], out_dir=out, progress=False,
                                 scorers=["cumacc", "fit", "celoss", "aum", "confidence"])
    maps = summary["test_map"]
    assert set(maps) == {"0", "1"} and min(maps.values()) > 0.7  # it learns
    noise = bundle.train.meta["noise"]
    for name, s in res.items():
        assert np.isfinite(s.values).all()
        easy = s.values if s.higher_is_easier else -s.values
        rho = np.corrcoef(np.argsort(np.argsort(easy)), np.argsort(np.argsort(-noise)))[0, 1]
        assert rho > 0.15, (name, rho)  # quieter samples score easier
    pred = np.load(out / "seeds" / "seed_0" / "predictions.npz")
    np.testing.assert_allclose(pred["test_probs"], 1 / (1 + np.exp(-pred["test_logits"])),
                               rtol=1e-6)
    assert pred["test_targets"].shape == (120, C)
    html, md = write_report(out)
    assert "test mAP" in md.read_text()


@pytest.mark.parametrize("rule", ["exact", "label-mean", "recall", "f1"])
def test_correctness_rules_give_their_own_cumacc(bundle, tmp_path, rule):
    res, _ = score_dataset(bundle, _cfg(epochs=3, correctness=rule), seeds=[0],
                           scorers=["cumacc"], out_dir=tmp_path / rule, progress=False)
    values = res["cumacc"].values
    assert values.min() >= 0 and values.max() <= 1
    if rule == "exact":
        assert set(np.unique(values * 3).round(6)) <= {0, 1, 2, 3}  # all-or-nothing epochs


@pytest.mark.parametrize("scorer", ["cvloss", "cscore", "transfer_teacher", "prediction_depth"])
def test_single_label_estimators_are_refused(bundle, tmp_path, scorer):
    with pytest.raises(ValueError, match=f"'{scorer}' is single-label; got the multi-label"):
        score_dataset(bundle, _cfg(), seeds=[0], scorers=[scorer], out_dir=tmp_path / "cv",
                      progress=False)
    assert not (tmp_path / "cv").exists()


@pytest.mark.parametrize("balance", ["balanced", "cover"])
def test_curriculum_multilabel_and_fusion(bundle, tmp_path, balance):
    scores = Scores(-bundle.train.meta["noise"], higher_is_easier=True,
                    meta={"dataset_fingerprint": bundle.fingerprint})
    runs = []
    for ordering in ("curriculum", "anti"):
        out = tmp_path / ordering
        spec = CurriculumSpec(ordering=ordering, start_fraction=0.1, balance=balance)
        res = train_curriculum(bundle, _cfg(), spec, scores=scores, out_dir=out,
                               progress=False)
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["test_map"] == pytest.approx(res.test_accuracy) and res.metric == "map"
        assert metrics["metrics"][0]["pool_size"] < 400 and "dev_map" in metrics["metrics"][0]
        tm = metrics["test_metrics"]
        assert tm["map"] == pytest.approx(res.test_accuracy) and len(tm["per_class_ap"]) == C
        assert tm["d_prime"] > 1.0 and 0.5 < tm["mean_auc"] <= 1
        runs.append(load_predictions(out))
    fused = fuse_runs(runs)
    mean_sigmoid = (runs[0].probs + runs[1].probs) / 2
    assert fused["accuracy"] == pytest.approx(
        mean_average_precision(torch.from_numpy(mean_sigmoid), torch.from_numpy(runs[0].targets)))
    html, md = write_report(tmp_path)
    assert "fused mAP" in md.read_text() and "test mAP" in md.read_text()


def test_reproduce_tiny_on_multilabel_data(bundle, tmp_path):
    from easyfirst import make_plan, reproduce

    res = reproduce(bundle, _cfg(epochs=3), make_plan("tiny"), out_dir=tmp_path / "r",
                    progress=False)
    text = (tmp_path / "r" / "tables.md").read_text()
    assert "test mAP" in text and "test acc" not in text and "accuracy" not in text
    assert all(r.metric == "map" and 0 < r.test_accuracy <= 1 for r in res.records)
