"""`easyfirst score --seed-parallel` under torchrun (2 gloo processes) writes a sequential run's
files; its errors end on every rank."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from easyfirst.cli.main import main
from easyfirst.recording import TrainingDynamics
from easyfirst.scores import Scores
from easyfirst.training import distributed

# 3 seeds on 2 ranks (seed 2 on rank 0 after seed 0); cvloss trains 2 folds per seed itself.
ARGS = ["score", "--dataset", "digits", "--model", "mlp", "--model-opt", "hidden=[16]",
        "--epochs", "2", "--device", "cpu", "--seeds", "0-2", "--scorer", "cumacc,fit,cvloss",
        "--folds", "2", "--no-progress"]
TIMINGS = {"wall_s", "cost", "stacking"}  # how long and how it ran, not what it computed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _torchrun(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI under torchrun, 2 CPU processes; a hang fails the test after 300 s. torchrun
    looks at its workers every second (so each failing rank has time to say why)."""
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
         "--monitor-interval=1", f"--master_port={_free_port()}", "-m", "easyfirst.cli.main",
         *args],
        env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True, text=True, timeout=300)


def _errors(r: subprocess.CompletedProcess[str]) -> list[str]:
    """The ``easyfirst: error:`` messages of all ranks (their lines may interleave)."""
    assert r.returncode != 0
    return [m.split("\n")[0] for m in r.stderr.split("easyfirst: error: ")[1:]]


def _untimed(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _untimed(v) for k, v in x.items() if k not in TIMINGS}
    return [_untimed(v) for v in x] if isinstance(x, list) else x


def _assert_same_outputs(a: Path, b: Path) -> None:
    """Same files; equal scores (values and ranks), dynamics, predictions, JSON but timings."""
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files:
        if rel.suffix == ".csv":
            sa, sb = (Scores.load(d / rel) for d in (a, b))
            np.testing.assert_array_equal(sa.values, sb.values, err_msg=str(rel))
            np.testing.assert_array_equal(sa.ranks(), sb.ranks(), err_msg=str(rel))
            assert _untimed(sa.meta) == _untimed(sb.meta), rel
        elif rel.suffix == ".json":
            ja, jb = (json.loads((d / rel).read_text()) for d in (a, b))
            assert _untimed(ja) == _untimed(jb), rel
        elif rel.suffix == ".npz":
            za, zb = np.load(a / rel), np.load(b / rel)
            assert za.files == zb.files, rel
            for k in za.files:
                np.testing.assert_array_equal(za[k], zb[k], err_msg=f"{rel} {k}")
        elif rel.name == "checkpoint.pt":
            ma, mb = (torch.load(d / rel, weights_only=False)["model"] for d in (a, b))
            assert all(torch.equal(v, mb[k]) for k, v in ma.items()), rel
        elif rel.name == "dynamics.pt":
            da, db = (TrainingDynamics.load(d / rel) for d in (a, b))
            assert _untimed(da.meta) == _untimed(db.meta), rel
            ta, tb = da.to_dict(), db.to_dict()
            assert ta.keys() == tb.keys()
            for k, v in ta.items():
                if isinstance(v, torch.Tensor):
                    assert torch.equal(v, tb[k]), f"{rel} {k}"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A sequential run (this process) and a seed-parallel one of the same seeds."""
    root = tmp_path_factory.mktemp("seed_parallel")
    seq, par = root / "sequential", root / "parallel"
    assert main([*ARGS, "--out", str(seq)]) == 0
    r = _torchrun(*ARGS, "--seed-parallel", "--out", str(par))
    assert r.returncode == 0, r.stderr[-3000:]
    return seq, par


@pytest.mark.slow
def test_seed_parallel_writes_the_sequential_files(runs):
    seq, par = runs
    _assert_same_outputs(seq, par)
    summary = json.loads((par / "summary.json").read_text())
    assert summary["cost"]["trainings"] == 3 and summary["scorers"]["cvloss"]["cost"][
        "trainings"] == 6  # 3 ordinary runs, 2 folds x 3 seeds
    assert summary["cost"]["stacking"]["reason"].startswith("seed-parallel")


@pytest.mark.slow
def test_seed_parallel_resume_reuses_the_seeds(runs, tmp_path):
    seq, par = runs
    again = tmp_path / "again"
    shutil.copytree(par, again)
    (again / "seeds" / "seed_2" / "dynamics.pt").unlink()  # seed 2 (rank 0) was interrupted
    r = _torchrun(*ARGS, "--seed-parallel", "--resume", "--out", str(again))
    assert r.returncode == 0, r.stderr[-3000:]
    _assert_same_outputs(seq, again)
    summary = json.loads((again / "summary.json").read_text())
    assert summary["cost"]["trainings"] == 1  # only seed 2 trained again


@pytest.mark.slow
def test_a_rank_s_bad_input_fails_every_rank(runs, tmp_path):
    """Rank 1's seed 1 was trained with other settings: both ranks end with one line."""
    _, par = runs
    bad = tmp_path / "bad"
    shutil.copytree(par, bad)
    path = bad / "seeds" / "seed_1" / "dynamics.pt"
    d = TrainingDynamics.load(path)
    d.meta["config"]["epochs"] = 7
    d.save(path)
    errors = _errors(_torchrun(*ARGS, "--seed-parallel", "--resume", "--out", str(bad)))
    assert len(errors) == 2 and all("trained with a different epochs" in e for e in errors)
    assert any(e.startswith("Seed-parallel rank 1 failed") for e in errors)
    assert not (bad / ".easyfirst.lock").exists()


@pytest.mark.slow
def test_a_refused_folder_fails_every_rank(runs):
    """Rank 0 refuses a folder of other settings; rank 1 stops too, nothing is changed."""
    _, par = runs
    before = (par / "summary.json").read_bytes()
    r = _torchrun(*ARGS, "--epochs", "3", "--seed-parallel", "--resume", "--out", str(par))
    errors = _errors(r)
    assert len(errors) == 2 and all("holds scores with a different epochs" in e for e in errors)
    assert (par / "summary.json").read_bytes() == before


def test_seed_parallel_needs_torchrun(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert main([*ARGS, "--seed-parallel", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "torchrun --nproc_per_node=K" in err
    assert not (tmp_path / "o").exists()


def test_seed_parallel_needs_a_seed_per_process(tmp_path, monkeypatch, capsys):
    """Checked on every rank before the processes meet (here: one of two)."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main([*ARGS, "--seeds", "0", "--seed-parallel", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "at least one seed per process (2)" in err
    assert not (tmp_path / "o").exists()


def test_local_runs_are_single_process(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    assert distributed.world_size() == 4 and not distributed.is_main_process()
    with distributed.local_runs():
        assert distributed.world_size() == 1 and distributed.is_main_process()
        assert distributed.init_distributed(torch.device("cpu")) == distributed.DistInfo()
    assert distributed.world_size() == 4 and not distributed.is_main_process()
