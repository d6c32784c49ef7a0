"""Fixtures of the bad-input table (``test_bad_inputs.py`` imports them): a finished run and
bad input files."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from easyfirst.cli.main import main
from easyfirst.scores import Scores

DONE = ["--dataset", "digits", "--model", "mlp", "--epochs", "2", "--seeds", "0", "--scorer",
        "cumacc", "--device", "cpu", "--no-progress"]
AUC = Path(__file__).parents[1] / "fixtures" / "aucurriculum_scores" / "curriculum"


def _sha(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A finished score run and the sha256 of each of its files."""
    out = tmp_path_factory.mktemp("bad_inputs") / "done"
    assert main(["score", *DONE, "--out", str(out)]) == 0
    return out, _sha(out)


@pytest.fixture(scope="module")
def files(done: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Bad input files, most of them edits of the finished run's score file."""
    d = tmp_path_factory.mktemp("bad_files")
    text = (done[0] / "scores" / "cumacc.csv").read_text()
    header, rest = text.split("\n", 1)
    meta = json.loads(header[2:])

    def edit(name: str, **changes: Any) -> None:
        (d / name).write_text("# " + json.dumps({**meta, **changes}) + "\n" + rest)

    edit("n_null.csv", N=None)
    edit("version_x.csv", version="x")
    edit("version_99.csv", version=99)
    edit("seeds_x.csv", seeds="x")
    edit("scorer_5.csv", scorer=5)
    edit("epochs_negative.csv", epochs=-1)
    lines = text.splitlines(keepends=True)

    def cells(line: str, score: str, rank: str | None = None) -> str:  # a row, id and label kept
        i, _, r, rest = line.split(",", 3)
        return ",".join([i, score, r if rank is None else rank, rest])

    (d / "inf.csv").write_text("".join([*lines[:2], cells(lines[2], "inf"), *lines[3:]]))
    (d / "nan.csv").write_text("".join([*lines[:2], cells(lines[2], "nan", ""),
                                        cells(lines[3], "nan", ""), *lines[4:]]))
    (d / "binary.csv").write_bytes(bytes(range(256)) * 8)
    (d / "empty.csv").write_text("")
    for name, n, fp in (("short", 10, meta["dataset_fingerprint"]), ("foreign", 1257, "0000"),
                        ("no_fp", 1257, None)):
        Scores(np.ones(n), higher_is_easier=True, meta={"dataset_fingerprint": fp}).save(
            d / f"{name}.csv")
    shutil.copy(AUC / "CELoss" / "CELoss.csv", d / "CELoss.csv")
    auc = (AUC / "CELoss" / "CELoss.csv").read_text().splitlines(keepends=True)
    cells = auc[2].split(",")  # line 3; its 'mean' cell becomes nan
    (d / "auc_nan.csv").write_text("".join([*auc[:2], ",".join([*cells[:-2], "nan", cells[-1]]),
                                            *auc[3:]]))
    (d / "a_file").write_text("not a folder\n")
    (d / "empty_dir").mkdir()
    return d


@pytest.fixture
def snapshot() -> Any:
    """``snapshot(folder)``: the sha256 of every file under it, by relative path."""
    return _sha

