"""One writer per output folder, finished folders kept, failed runs leave nothing, divergence."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from easyfirst.cli.main import main
from easyfirst.data import load_dataset
from easyfirst.locks import LOCK
from easyfirst.recording.dynamics import TrainingDynamics
from easyfirst.scores import Scores
from easyfirst.training.config import RunConfig
from easyfirst.training.loop import train

FAST = ["--dataset", "digits", "--model", "mlp", "--epochs", "2", "--device", "cpu",
        "--no-progress"]


def _files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.fixture
def finished(tmp_path):
    out = tmp_path / "done"
    assert main(["score", *FAST, "--seeds", "0,1", "--scorer", "cumacc,fit", "--out",
                 str(out)]) == 0
    return out


def test_finished_folder_is_not_changed_without_resume(finished, capsys):
    before = _files(finished)
    for extra in (["--seeds", "0"], ["--seeds", "0,1", "--scorer", "aum"]):
        assert main(["score", *FAST, *extra, "--out", str(finished)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "already holds scores that finished" in err
        assert "--resume" in err and "--overwrite" in err
        assert _files(finished) == before


def test_overwrite_replaces_a_finished_folder(finished):
    assert main(["score", *FAST, "--seeds", "3", "--scorer", "cumacc", "--lr", "0.01",
                 "--overwrite", "--out", str(finished)]) == 0
    assert sorted(p.name for p in (finished / "seeds").iterdir()) == ["seed_3"]
    summary = json.loads((finished / "summary.json").read_text())
    assert summary["seeds"] == [3] and set(summary["scorers"]) == {"cumacc"}
    assert json.loads((finished / "run.json").read_text())["config"]["lr"] == 0.01
    assert not (finished / LOCK).exists()


def test_failed_model_writes_nothing_and_the_fix_runs(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["score", "--dataset", "digits", "--epochs", "1", "--device", "cpu", "--no-progress",
            "--out", str(out)]
    assert main([*args, "--model", "bogus"]) == 2
    assert "bogus" in capsys.readouterr().err
    assert main([*args, "--model", "mlp", "--model-opt", "widht=3"]) == 2
    assert "widht" in capsys.readouterr().err
    assert not out.exists()  # nothing written: not even the folder
    assert main([*args, "--model", "mlp"]) == 0


def test_reused_seed_files_of_other_settings_are_refused(finished, tmp_path, capsys):
    other = tmp_path / "other"
    assert main(["score", *FAST, "--lr", "0.01", "--seeds", "0", "--scorer", "cumacc",
                 "--out", str(other)]) == 0
    capsys.readouterr()  # that run's notes (stderr)
    # A seed folder from another lr copied in (an old version's race, or by hand).
    shutil.rmtree(finished / "seeds" / "seed_1")
    shutil.copytree(other / "seeds" / "seed_0", finished / "seeds" / "seed_1")
    before = _files(finished)
    assert main(["score", *FAST, "--seeds", "0,1", "--scorer", "cumacc,fit", "--resume",
                 "--out", str(finished)]) == 2
    err = capsys.readouterr().err
    assert "seed_1" in err and "different lr" in err and err.count("\n") == 1
    assert _files(finished) == before


def test_resume_removes_partial_writes(finished):
    stray = finished / "seeds" / "seed_0" / ".dynamics.pt.a1b2c3.partial"
    stray.write_bytes(b"\0" * 1000)
    assert main(["score", *FAST, "--seeds", "0,1", "--scorer", "cumacc,fit", "--resume",
                 "--out", str(finished)]) == 0
    assert not stray.exists()


def test_diverged_run_stops_naming_seed_epoch_and_step(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["score", *FAST, "--lr", "1e20", "--seeds", "4", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    lines = err.splitlines()  # the notes of a training that started (model ...), the error
    assert lines[-1].startswith("easyfirst: error: ") and err.count("easyfirst: error") == 1
    assert all(not line.startswith("easyfirst: error") for line in lines[:-1])
    # step 1's update makes the weights inf; step 2's loss is the first non-finite one
    assert "Training diverged: seed 4, epoch 1, step 2 of 40 has a NaN/inf loss" in err
    assert "learning rate 1e+20" in err and "Lower --lr" in err
    assert not (out / "seeds" / "seed_4" / "dynamics.pt").exists()  # no scores of it


def test_api_divergence_raises(tmp_path):
    bundle = load_dataset("digits")
    bad = bundle.train.inputs.clone()
    bad[5] = float("nan")  # one NaN sample: its batch's loss is NaN
    bundle.train.inputs.copy_(bad)
    cfg = RunConfig(dataset="digits", model="mlp", epochs=2, device="cpu")
    with pytest.raises(FloatingPointError, match=r"seed 0, epoch 1, step \d+ of \d+"):
        train(bundle, cfg, progress=False)


def test_unfinished_train_folder_is_resumed_not_reported_finished(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", *FAST, "--ordering", "random", "--out", str(out)]
    assert main(args) == 0
    (out / "predictions.npz").unlink()  # killed before its last write (older versions)
    assert main([*args, "--resume"]) == 0
    assert (out / "predictions.npz").is_file()
    assert main(args) == 2
    assert "already holds a run that finished" in capsys.readouterr().err


_RACER = """
import sys, time
from easyfirst.cli.main import main
start = float(sys.argv[1])
time.sleep(max(0.0, start - time.time()))  # imports finished: both call main at the same moment
sys.exit(main(sys.argv[2:]))
"""


def test_two_runs_started_at_once_into_one_folder(tmp_path):
    """One is refused with the lock's message; the other's results equal a lone run's."""
    out, lone = tmp_path / "shared", tmp_path / "lone"
    base = ["score", "--dataset", "digits", "--model", "mlp", "--epochs", "8", "--device", "cpu",
            "--no-progress", "--scorer", "cumacc,fit"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    start = time.time() + 6.0
    procs = [subprocess.Popen([sys.executable, "-c", _RACER, str(start), *base, "--lr", lr,
                               "--out", str(out)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for lr in ("0.001", "0.01")]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    (winner, _), = [(i, e) for i, (c, e) in enumerate(results) if c == 0]
    loser_err = results[1 - winner][1].strip().splitlines()
    assert len(loser_err) == 1 and "is in use by another easyfirst run" in loser_err[0]
    assert f"pid {procs[winner].pid}" in loser_err[0]
    lr = ("0.001", "0.01")[winner]
    assert main([*base, "--lr", lr, "--out", str(lone)]) == 0
    for name in ("cumacc", "fit"):
        a = Scores.load(out / "scores" / f"{name}.csv")
        b = Scores.load(lone / "scores" / f"{name}.csv")
        np.testing.assert_array_equal(a.values, b.values)
    assert json.loads((out / "run.json").read_text())["config"]["lr"] == float(lr)
    d = TrainingDynamics.load(out / "seeds" / "seed_0" / "dynamics.pt")
    assert d.meta["lr"] == float(lr)
    assert not (out / LOCK).exists()
