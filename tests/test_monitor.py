"""The job's overall progress line and the ``--log`` loggers (TensorBoard, MLflow)."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from easyfirst.cli.main import main
from easyfirst.monitor import Job, job
from easyfirst.monitor.loggers import histogram_counts
from easyfirst.scores import Scores

DATA = ["--dataset", "digits", "--model", "mlp", "--epochs", "3", "--batch-size", "64",
        "--device", "cpu"]
SCORE = ["score", *DATA, "--scorer", "cumacc", "--seeds", "0,1", "--stack", "never"]


def _metrics(seed_dir: Path) -> list[dict]:
    return json.loads((seed_dir / "metrics.json").read_text())["metrics"]


def test_job_counts_announced_and_unannounced_trainings():
    j = Job(show=False)
    j.expect(2 * 5)  # two seeds of five epochs announced
    j.begin(5)
    assert (j.total, j.planned, j.first) == (10, 5, 5)
    j.advance(5)
    j.begin(5)
    j.advance(5)
    j.begin(3)  # a costly scorer's training nobody announced adds its epochs
    assert (j.total, j.planned, j.done) == (13, 0, 10)
    assert j.run_name(None, 0, "mlp") == "mlp-seed_0"
    assert j.run_name(None, 0, "mlp") == "mlp-seed_0-2"  # names stay unique


def test_score_shows_one_line_for_the_whole_job(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EASYFIRST_PROGRESS", "bars")  # as on a terminal (plain lines: friction)
    assert main([*SCORE, "--out", str(tmp_path / "s")]) == 0
    err = capsys.readouterr().err
    lines = [s for s in re.split(r"[\r\n]", err) if s.startswith("job:")]
    # seeds x epochs = 6 member-epochs, with elapsed<remaining (the whole job's ETA)
    assert lines and all("/6 " in s for s in lines), lines
    assert re.search(r"job: 100%.*6/6 \[\d\d:\d\d<00:00", err)
    midway = [s for s in lines if "| 3/6 " in s]  # after seed 0: an ETA for seed 1's epochs
    assert midway and re.search(r"3/6 \[\d\d:\d\d<\d\d:\d\d", midway[-1]), lines


def test_one_training_shows_no_job_line_and_no_progress_hides_it(tmp_path, capsys):
    assert main(["train", *DATA, "--ordering", "random", "--out", str(tmp_path / "t")]) == 0
    assert "job:" not in capsys.readouterr().err  # the run's own bar says it all
    assert main([*SCORE, "--out", str(tmp_path / "s"), "--no-progress"]) == 0
    assert "job:" not in capsys.readouterr().err


def test_tensorboard_gets_every_epoch_pool_size_and_score_histogram(tmp_path):
    pytest.importorskip("tensorboard", reason="needs the extra: pip install 'easyfirst[log]'")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "s"
    assert main([*SCORE, "--out", str(out), "--log", "tensorboard", "--no-progress"]) == 0
    for seed in (0, 1):
        acc = EventAccumulator(str(out / "logs" / "seeds" / f"seed_{seed}")).Reload()
        rows = _metrics(out / "seeds" / f"seed_{seed}")
        for key in ("train_loss", "train_accuracy", "dev_accuracy", "pool_size"):
            got = [(e.step, e.value) for e in acc.Scalars(key)]
            want = [(r["epoch"], r[key]) for r in rows]
            assert [s for s, _ in got] == [1, 2, 3]
            np.testing.assert_allclose([v for _, v in got], [v for _, v in want], rtol=1e-6)
    hist = EventAccumulator(str(out / "logs" / "scores")).Reload()
    assert "scores/cumacc" in hist.Tags()["histograms"]
    n = Scores.load(out / "scores" / "cumacc.csv").num_samples
    assert hist.Histograms("scores/cumacc")[0].histogram_value.num == n


def test_mlflow_gets_every_epoch_and_the_score_histogram(tmp_path, monkeypatch):
    pytest.importorskip("mlflow", reason="needs the extra: pip install 'easyfirst[log]'")
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    out = tmp_path / "s"
    assert main([*SCORE, "--out", str(out), "--log", "mlflow", "--no-progress"]) == 0
    client = MlflowClient(tracking_uri=(out / "logs" / "mlruns").as_uri())
    exp = client.get_experiment_by_name("easyfirst")
    runs = {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}
    assert set(runs) == {"seeds/seed_0", "seeds/seed_1", "scores"}
    rows = _metrics(out / "seeds" / "seed_1")
    hist = client.get_metric_history(runs["seeds/seed_1"].info.run_id, "train_loss")
    assert [(m.step, round(m.value, 6)) for m in sorted(hist, key=lambda m: m.step)] == [
        (r["epoch"], round(r["train_loss"], 6)) for r in rows]
    saved = client.download_artifacts(runs["scores"].info.run_id, "scores/cumacc.json",
                                      str(tmp_path))
    counts = json.loads(Path(saved).read_text())
    n = Scores.load(out / "scores" / "cumacc.csv").num_samples
    assert sum(counts["counts"]) == n and len(counts["edges"]) == 21


def test_curriculum_pool_sizes_are_logged(tmp_path):
    pytest.importorskip("tensorboard", reason="needs the extra: pip install 'easyfirst[log]'")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "t"
    assert main(["train", *DATA, "--ordering", "random", "--pacing", "linear",
                 "--start-fraction", "0.25", "--full-at", "1.0", "--out", str(out),
                 "--log", "tensorboard", "--no-progress"]) == 0
    acc = EventAccumulator(str(next((out / "logs").iterdir()))).Reload()
    pools = [e.value for e in acc.Scalars("pool_size")]
    assert pools == [r["pool_size"] for r in _metrics(out)]
    assert pools[0] < pools[-1]  # the pool grows as the pacing says


def test_missing_logger_package_fails_first_in_one_line(tmp_path, monkeypatch, capsys):
    real = importlib.import_module

    def no_tensorboard(name: str, *a, **k):
        if name.split(".")[0] == "tensorboard":
            raise ImportError(f"No module named {name!r}")
        return real(name, *a, **k)

    monkeypatch.setattr(importlib, "import_module", no_tensorboard)
    out = tmp_path / "s"
    assert main([*SCORE, "--out", str(out), "--log", "tensorboard"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'easyfirst[log]'" in err[0], err
    assert not out.exists()  # checked before anything ran or was written


def test_unknown_logger_is_one_line(capsys):
    assert main([*SCORE, "--out", "x", "--log", "wandb"]) == 2
    err = capsys.readouterr().err
    assert "unknown logger 'wandb'; expected one of mlflow, tensorboard" in err


def test_histogram_counts_drop_nonfinite_values():
    h = histogram_counts(np.array([0.0, 0.5, 1.0, np.nan, np.inf]), bins=2)
    assert h == {"edges": [0.0, 0.5, 1.0], "counts": [1, 2]}


def test_loggers_need_a_folder():
    with pytest.raises(ValueError, match="--log-dir"), job(log=["tensorboard"]):
        pass
