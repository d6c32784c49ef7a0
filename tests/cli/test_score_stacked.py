"""`easyfirst score --stack always` writes what `--stack never` writes (dropout-free model)."""

from __future__ import annotations

import json

import torch

from easyfirst.cli.main import main
from easyfirst.recording import TrainingDynamics
from easyfirst.scores import Scores

ARGS = ["score", "--dataset", "digits", "--model", "small_cnn", "--model-opt", "widths=[8]",
        "--epochs", "2", "--batch-size", "64", "--dtype", "float64", "--device", "cpu",
        "--scorer", "cumacc,celoss", "--seeds", "0,1", "--no-progress"]


def test_stacked_and_sequential_scoring_agree(tmp_path):
    assert main([*ARGS, "--stack", "always", "--out", str(tmp_path / "f")]) == 0
    assert main([*ARGS, "--stack", "never", "--out", str(tmp_path / "s")]) == 0
    for seed in (0, 1):
        a = TrainingDynamics.load(tmp_path / "f" / "seeds" / f"seed_{seed}" / "dynamics.pt")
        b = TrainingDynamics.load(tmp_path / "s" / "seeds" / f"seed_{seed}" / "dynamics.pt")
        torch.testing.assert_close(a.prob_sum, b.prob_sum, rtol=0, atol=1e-9)
        assert torch.equal(a.correct_sum, b.correct_sum)
        assert a.meta["stacked_seeds"] == [0, 1] and "stacked_seeds" not in b.meta
        assert (tmp_path / "f" / "seeds" / f"seed_{seed}" / "checkpoint.pt").is_file()
    for name in ("cumacc", "celoss"):
        fa = Scores.load(tmp_path / "f" / "scores" / f"{name}.csv")
        fb = Scores.load(tmp_path / "s" / "scores" / f"{name}.csv")
        torch.testing.assert_close(
            torch.as_tensor(fa.values), torch.as_tensor(fb.values), rtol=0, atol=1e-9
        )
    summary = json.loads((tmp_path / "f" / "summary.json").read_text())
    assert summary["cost"]["stacking"]["stacked"] is True
    assert summary["cost"]["trainings"] == 2
    # A resumed rerun finds every seed done and trains nothing.
    assert main([*ARGS, "--stack", "always", "--out", str(tmp_path / "f"), "--resume"]) == 0
