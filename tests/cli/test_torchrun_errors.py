"""Errors under torchrun (2 gloo processes on CPU): each rank's one ``easyfirst: error:`` line.

What torchrun itself prints cannot be prevented from the workers: when a worker exits
non-zero, however it exits (exit code 2 after its line, no uncaught exception, no error
file), the launcher process raises ``ChildFailedError`` and prints its traceback (about 30
lines: a table of the failed ranks) and two log lines ("Sending process ... closing signal
SIGTERM", "failed (exitcode: 2) local_rank: ..."), exit code 1. ``python -m
easyfirst.cli.launch`` (torchrun's options and launcher, easyfirst's error handling) prints
only the ranks' line and exits 2. Each rank checks its options and prints the line itself, so
the same line may appear once per rank that got that far before the launcher stopped the
others; no other line.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from easyfirst.cli import launch

RUN = ["--nproc_per_node=2", "--monitor-interval=1"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _launch(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *RUN, f"--master_port={_free_port()}", *args],
        env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True, text=True, timeout=300)


CASES = [
    (["score", "--dataset", "digits", "--epochs", "-1"],
     "easyfirst: error: argument --epochs: expected a whole number >= 1 and <= 32767; got "
     "'-1'; see easyfirst score --help"),
    (["score", "--dataset", "folder", "--root", "{tmp}/missing", "--epochs", "1"],
     "easyfirst: error: Expected --root to be the folder of dataset folder"),
]


@pytest.mark.parametrize(("argv", "line"), CASES, ids=["option", "input"])
def test_launch_prints_the_ranks_line_and_exits_2(tmp_path: Path, argv, line):
    out = tmp_path / "out"
    r = _launch("easyfirst.cli.launch", *[a.replace("{tmp}", str(tmp_path)) for a in argv],
                "--out", str(out))
    assert r.returncode == 2, r.stderr
    lines = r.stderr.splitlines()
    assert 1 <= len(lines) <= 2 and all(x.startswith(line) for x in lines), r.stderr
    assert len(set(lines)) == 1 and r.stdout == ""
    assert not out.exists()


def test_launch_s_own_errors_are_one_line(tmp_path: Path):
    """The launcher's own failure (its port in use): one line, exit code 2, no traceback."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = subprocess.run(
            [sys.executable, "-m", "easyfirst.cli.launch", *RUN, f"--master_port={port}",
             *CASES[0][0][:3], "--out", str(tmp_path / "out")],
            env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True, text=True,
            timeout=300)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("easyfirst: error: torchrun's launcher: ") and (
        "address already in use" in r.stderr)


@pytest.mark.slow
def test_plain_torchrun_adds_its_traceback(tmp_path: Path):
    """What the launcher adds under plain torchrun (documented in docs/how-to/gpus.md)."""
    argv, line = CASES[0]
    r = _launch("torch.distributed.run", "-m", "easyfirst.cli.main", *argv,
                "--out", str(tmp_path / "out"))
    assert r.returncode == 1
    assert line in r.stderr and "ChildFailedError" in r.stderr and "Traceback" in r.stderr


def test_launch_argv_and_failure_lines(capsys):
    assert launch.torchrun_argv(["--nproc_per_node", "2", "score", "--seeds", "0-1"]) == [
        "--nproc_per_node", "2", "-m", "easyfirst.cli.main", "score", "--seeds", "0-1"]
    assert launch.main(["--nproc_per_node=2", "--dataset", "digits"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("easyfirst: error: Expected an easyfirst "
                                                   "command (")
    assert launch.failure_line(1, 2) is None  # the worker printed its own line
    assert launch.failure_line(0, -9) == (
        "rank 0 was killed by SIGKILL; see its messages above (EASYFIRST_DEBUG=1 shows a "
        "Python error's traceback)")
    assert launch.failure_line(1, 1).startswith("rank 1 ended with exit code 1; ")
    assert (launch.exit_code(2), launch.exit_code(-9), launch.exit_code(1)) == (2, 137, 1)
