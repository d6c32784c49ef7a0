"""``easyfirst score`` with a costly scorer next to a dynamics scorer, end to end on digits."""

from __future__ import annotations

import json

import numpy as np

from easyfirst.cli.main import main
from easyfirst.scores import Scores


def _argv(out, *extra: str) -> list[str]:
    return [
        "score", "--dataset", "digits", "--model", "mlp", "--model-opt", "hidden=[16]",
        "--epochs", "2", "--seeds", "0,1", "--device", "cpu", "--no-progress",
        "--out", str(out), *extra,
    ]  # fmt: skip


def test_score_cvloss_and_cumacc(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_argv(out, "--scorer", "cvloss,cumacc", "--folds", "2")) == 0
    printed = capsys.readouterr().out
    assert "cvloss (lower_is_easier" in printed and "cost:" in printed
    for seed in (0, 1):
        s = Scores.load(out / "seeds" / f"seed_{seed}" / "scores" / "cvloss.csv")
        assert s.meta["seeds"] == [seed] and s.meta["params"] == {"folds": 2}
        assert np.isfinite(s.values).all()
    ens = Scores.load(out / "scores" / "cvloss.csv")
    assert ens.meta["seeds"] == [0, 1] and ens.meta["ensemble_size"] == 2
    summary = json.loads((out / "summary.json").read_text())
    cv, ca = summary["scorers"]["cvloss"]["cost"], summary["scorers"]["cumacc"]["cost"]
    assert cv["trainings"] == 4 and cv["wall_s"] > 0  # 2 folds x 2 seeds
    assert ca["trainings"] == 2 and "shared" in ca  # the two ordinary runs
    assert summary["cost"]["trainings"] == 2
    # a resumed rerun reuses every per-seed file: nothing is trained again
    assert main(_argv(out, "--scorer", "cvloss,cumacc", "--folds", "2", "--resume")) == 0
    again = json.loads((out / "summary.json").read_text())
    assert again["cost"]["trainings"] == 0
    assert again["scorers"]["cvloss"]["cost"] == cv
    np.testing.assert_array_equal(Scores.load(out / "scores" / "cvloss.csv").values, ens.values)


def test_score_costly_options_fail_fast_with_one_line(tmp_path, capsys):
    assert main(_argv(tmp_path / "a", "--scorer", "cvloss", "--folds", "1")) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Expected k >= 2 cross-validation folds; got k=1" in err
    assert main(_argv(tmp_path / "b", "--scorer", "cumacc", "--folds", "3")) == 2
    assert "--folds is used by cvloss only" in capsys.readouterr().err
    assert main(_argv(tmp_path / "c", "--scorer", "cscore", "--subset-ratios", "0.5,1.2")) == 2
    assert "strictly between 0 and 1; got 1.2" in capsys.readouterr().err
    assert main(_argv(tmp_path / "d", "--scorer", "prediction_depth", "--layers", "9")) == 2
    assert "Unknown layer '9' in Sequential. Valid: 0, 1, 2, 3" in capsys.readouterr().err
    assert not (tmp_path / "d" / "seeds").exists()  # refused before any training


def test_prediction_depth_probes_the_per_seed_run_models(tmp_path):
    """PD without a checkpoint reuses the ordinary runs: in memory, or reloaded from disk."""
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(_argv(a, "--scorer", "cumacc,prediction_depth", "--knn-k", "10")) == 0
    assert main(_argv(b, "--scorer", "cumacc")) == 0
    assert main(_argv(b, "--scorer", "cumacc,prediction_depth", "--knn-k", "10",
                      "--resume")) == 0
    pa = Scores.load(a / "scores" / "prediction_depth.csv")
    pb = Scores.load(b / "scores" / "prediction_depth.csv")
    np.testing.assert_array_equal(pa.values, pb.values)
    summary = json.loads((b / "summary.json").read_text())
    assert summary["cost"]["trainings"] == 0  # nothing retrained
    pd = summary["scorers"]["prediction_depth"]
    assert pd["layers"] == ["2"] and pd["cost"]["trainings"] == 2 and "shared" in pd["cost"]
