"""``easyfirst export RUN --out F`` and ``easyfirst report RUN --out D`` killed (SIGKILL) at
seeded random points while they write: no half-written file ever stands under a final name
(each one there is the uninterrupted run's, byte for byte; only the writer's temp files and
its lock may be left), the run folder is byte-identical to before, and a rerun completes and
writes what an uninterrupted run writes (byte-identical: both commands are deterministic).

Each kill runs the command in a fresh folder and waits for its lock (taken before anything
is read) and k of the n files the uninterrupted run writes there (k seeded in 0..n-1, temp
files counted), then a seeded 0-50 ms: the kills fall inside its writes, between and within
files. Each killed folder is then rerun in place. Cost: about 45 s of CPU in all."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from easyfirst.atomic import PARTIAL
from easyfirst.cli.main import main
from easyfirst.locks import LOCK

SCORE = ["score", "--dataset", "digits", "--model", "mlp", "--epochs", "2", "--seeds", "0,1",
         "--scorer", "cumacc,aum", "--device", "cpu", "--no-progress"]
KILLS = {"export": 3, "report": 2}  # report: about 4 s of CPU a run


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("kill") / "s"
    assert main([*SCORE, "--out", str(out)]) == 0
    return out


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _final(files: dict[str, str]) -> dict[str, str]:
    """The files under final names: not a writer's temp file, not a folder's lock."""
    return {k: v for k, v in files.items()  # temp files, or in a staging folder (report's)
            if not any(part.endswith(PARTIAL) for part in Path(k).parts)
            and not Path(k).name.startswith(LOCK)}


def _files_in(folder: Path) -> int:
    """Files in ``folder`` but its lock: temp files and finished ones."""
    return sum(1 for p in folder.rglob("*") if p.is_file() and not p.name.startswith(LOCK))


def _kill_once(argv: list[str], watch: Path, after: int, delay: float) -> int:
    """Start ``easyfirst ARGV``; SIGKILL it ``delay`` s after its lock and ``after`` files
    stand in ``watch``; its exit code (-9 when it was still running)."""
    p = subprocess.Popen([sys.executable, "-m", "easyfirst.cli.main", *argv],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env=dict(os.environ, OMP_NUM_THREADS="1"))
    deadline = time.monotonic() + 120
    while p.poll() is None and time.monotonic() < deadline and not (
            (watch / LOCK).exists() and _files_in(watch) >= after):
        time.sleep(0.002)
    time.sleep(delay)
    p.kill()
    return p.wait(timeout=60)


@pytest.mark.parametrize("command", ["export", "report"])
def test_killed_at_random_leaves_no_half_file_and_reruns_alike(run, tmp_path, command):
    """Killed after k of the n files it writes (k seeded in 0..n-1) and a seeded 0-50 ms."""
    before = _hashes(run)
    name = "per_sample.csv" if command == "export" else ""

    def argv(folder: Path) -> list[str]:
        folder.mkdir(exist_ok=True)  # watched for the command's lock and files
        return [command, str(run), "--out", str(folder / name).rstrip("/")]

    assert main(argv(tmp_path / "ref")) == 0
    expected = _hashes(tmp_path / "ref")
    assert _final(expected) == expected and expected  # no temp file, no lock left
    rng = random.Random(f"kill-{command}")
    codes = []
    for i in range(KILLS[command]):
        out = tmp_path / f"killed{i}"
        codes.append(_kill_once(argv(out), out, rng.randrange(len(expected)),
                                rng.uniform(0, 0.05)))
        found = _final(_hashes(out))
        assert found.items() <= expected.items(), sorted(found.items() - expected.items())
        assert _hashes(run) == before
        assert main(argv(out)) == 0  # the rerun completes
        assert _final(_hashes(out)) == expected
        assert _hashes(run) == before
    assert -9 in codes  # at least one kill came before the end
