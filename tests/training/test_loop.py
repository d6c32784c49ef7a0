"""The training loop: determinism, exact resume, DDP equals one process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from easyfirst.data import load_dataset
from easyfirst.scores import Scores
from easyfirst.training.config import RunConfig
from easyfirst.training.loop import train


def _cfg(**kw) -> RunConfig:
    base = {
        "dataset": "digits",
        "model": "mlp",
        "epochs": 3,
        "batch_size": 32,
        "seed": 1,
        "device": "cpu",
        "model_options": {"hidden": [32], "dropout": 0.2},
    }
    base.update(kw)
    return RunConfig(**base)


def _assert_same_dynamics(a, b):
    da, db = a.to_dict(), b.to_dict()
    for k, v in da.items():
        if isinstance(v, torch.Tensor):
            torch.testing.assert_close(v, db[k], rtol=0, atol=0, equal_nan=True, msg=k)


def test_same_seed_same_result_different_seed_differs():
    bundle = load_dataset("digits")
    a = train(bundle, _cfg(), progress=False)
    b = train(bundle, _cfg(), progress=False)
    c = train(bundle, _cfg(seed=2), progress=False)
    _assert_same_dynamics(a.dynamics, b.dynamics)
    assert not torch.equal(a.dynamics.prob_sum, c.dynamics.prob_sum)
    assert a.dynamics.meta["dataset_fingerprint"] == bundle.fingerprint
    assert len(a.metrics) == 3 and a.test_accuracy is not None


@pytest.mark.parametrize("schedule", ["constant", "onecycle"])
def test_resume_after_interruption_is_bit_identical(tmp_path, schedule):
    bundle = load_dataset("digits")
    full = train(bundle, _cfg(epochs=4, schedule=schedule), progress=False)

    class Interrupt(Exception):
        pass

    def stop_after_two(epoch, row):
        if epoch == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(bundle, _cfg(epochs=4, schedule=schedule), out_dir=tmp_path, progress=False,
              on_epoch_end=stop_after_two)
    resumed = train(bundle, _cfg(epochs=4, schedule=schedule), out_dir=tmp_path, resume=True,
                    progress=False)
    _assert_same_dynamics(full.dynamics, resumed.dynamics)
    assert full.metrics == resumed.metrics
    for k, v in full.model.state_dict().items():
        torch.testing.assert_close(v, resumed.model.state_dict()[k], rtol=0, atol=0)


def test_resume_refuses_other_settings(tmp_path):
    bundle = load_dataset("digits")
    train(bundle, _cfg(epochs=1), out_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="different lr"):
        train(bundle, _cfg(epochs=1, lr=0.1), out_dir=tmp_path, resume=True, progress=False)


def test_batch_size_must_split_across_ranks(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "1")
    with pytest.raises(ValueError, match="Expected batch_size >= 1"):
        _cfg(batch_size=0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _one_and_two_processes(tmp_path, args: list[str]) -> tuple[Path, Path]:
    """Run the CLI with ``args`` in one process and under torchrun with 2 gloo processes."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    one, two = tmp_path / "one", tmp_path / "two"
    r1 = subprocess.run([sys.executable, "-m", "easyfirst.cli.main", *args, "--out", str(one)],
                        env=env, capture_output=True, text=True)
    assert r1.returncode == 0, r1.stderr
    r2 = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
         f"--master_port={_free_port()}", "-m", "easyfirst.cli.main", *args, "--out", str(two)],
        env=env, capture_output=True, text=True)
    assert r2.returncode == 0, r2.stderr[-3000:]
    return one, two


# The model families (and random batch transforms) DDP must not change: mlp with dropout and
# mixup; small_cnn (BatchNorm2d); the default audio model tcresnet8 (BatchNorm1d, dropout; its
# recipe's time_shift; on 8x8 digits: 8 bins x 8 frames).
DDP_MODELS = {
    "mlp": ["--model-opt", "hidden=[32]", "--model-opt", "dropout=0.2", "--augment", "mixup",
            "--optimizer", "sgd", "--lr", "0.05"],
    "small_cnn": ["--model-opt", "widths=[8,16]", "--augment", "none", "--optimizer", "sgd",
                  "--lr", "0.05", "--schedule", "constant"],
    "tcresnet8": ["--model-opt", "width_mult=0.5"],
}


@pytest.mark.slow
@pytest.mark.parametrize("model", list(DDP_MODELS))
def test_torchrun_two_gloo_processes_equal_one_process(tmp_path, model):
    """`easyfirst score` under torchrun (2 CPU processes, gloo) gives one process's scores:
    BatchNorm statistics are the global batch's, evaluation is split over the ranks."""
    args = ["score", "--dataset", "digits", "--model", model, *DDP_MODELS[model],
            "--epochs", "3", "--batch-size", "32", "--dtype", "float64", "--device", "cpu",
            "--scorer", "cumacc,fit,celoss", "--no-progress"]
    one, two = _one_and_two_processes(tmp_path, args)
    for name in ("cumacc", "fit"):
        a = Scores.load(one / "scores" / f"{name}.csv")
        b = Scores.load(two / "scores" / f"{name}.csv")
        np.testing.assert_array_equal(a.values, b.values)
    a = Scores.load(one / "scores" / "celoss.csv")
    b = Scores.load(two / "scores" / "celoss.csv")
    np.testing.assert_allclose(a.values, b.values, rtol=1e-9)
    pa, pb = (np.load(d / "seeds" / "seed_0" / "predictions.npz") for d in (one, two))
    np.testing.assert_allclose(pa["test_logits"], pb["test_logits"], rtol=1e-9, atol=1e-9)
    run = json.loads((two / "seeds" / "seed_0" / "metrics.json").read_text())
    assert run["test_accuracy"] > 0.5  # it learned: equality of noise would prove little


@pytest.mark.slow
def test_torchrun_curriculum_training_equals_one_process(tmp_path):
    """`easyfirst train` (curriculum ordering, small_cnn) under torchrun with 2 gloo processes."""
    from easyfirst.cli.main import main

    score_out = tmp_path / "score"
    assert main(["score", "--dataset", "digits", "--model", "mlp", "--epochs", "2",
                 "--device", "cpu", "--no-progress", "--out", str(score_out)]) == 0
    args = ["train", "--dataset", "digits", "--model", "small_cnn", "--model-opt", "widths=[8,16]",
            "--epochs", "3", "--batch-size", "32", "--dtype", "float64", "--device", "cpu",
            "--scores", str(score_out / "scores" / "cumacc.csv"), "--ordering", "curriculum",
            "--no-progress"]
    one, two = _one_and_two_processes(tmp_path, args)
    a = np.load(one / "predictions.npz")["test_probs"]
    b = np.load(two / "predictions.npz")["test_probs"]
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_a_checkpoint_of_the_earlier_best_key_resumes():
    """Checkpoints written before ``dev_metric`` name the best epoch's dev metric
    ``dev_accuracy`` (it held mAP for multi-label data too)."""
    from easyfirst.training.selection import DevSelection

    sel = DevSelection(load_dataset("digits"), 1, "accuracy", device=torch.device("cpu"),
                       dtype=torch.float32, track_test=False)
    sel.load_state_dict({"metrics": [[]], "best": [{"epoch": 3, "dev_accuracy": 0.9}],
                         "best_state": None})
    assert sel.best == [{"epoch": 3, "dev_metric": 0.9}]


def test_a_callback_sees_every_hook_in_order_and_resumes_where_the_checkpoint_is(tmp_path):
    """A ``Callback`` passed to ``train`` is called after the engine's own checkpoint: an
    interrupted run resumes at the epoch after its last checkpoint, and the callback's
    ``on_fit_start`` says so."""
    from easyfirst.training.callbacks import Callback

    class Seen(Callback):
        def __init__(self, stop_at: int | None = None) -> None:
            self.calls: list[tuple[str, int]] = []
            self.stop_at = stop_at

        def on_fit_start(self, engine, first_epoch):
            self.calls.append(("start", first_epoch))

        def on_epoch_end(self, engine, epoch, rows):
            assert (tmp_path / "checkpoint.pt").is_file() and rows[0]["epoch"] == epoch + 1
            self.calls.append(("epoch", epoch))
            if epoch == self.stop_at:
                raise KeyboardInterrupt

        def on_fit_end(self, engine):
            self.calls.append(("end", engine.cfg.epochs))

    bundle = load_dataset("digits")
    first = Seen(stop_at=1)
    with pytest.raises(KeyboardInterrupt):
        train(bundle, _cfg(epochs=3), out_dir=tmp_path, progress=False, callbacks=[first])
    assert first.calls == [("start", 0), ("epoch", 0), ("epoch", 1)]
    second = Seen()
    train(bundle, _cfg(epochs=3), out_dir=tmp_path, resume=True, progress=False,
          callbacks=[second])
    assert second.calls == [("start", 2), ("epoch", 2), ("end", 3)]
