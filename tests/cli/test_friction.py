"""A newcomer's friction list, each item as the command that now behaves (digits, CPU).

One cost line per score run, notes never on stdout before an error, the score/dataset hint,
``report --hardest`` ranked by the run's main scorer, ``--threads``, and progress shown as
plain lines when stderr is not a terminal.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from easyfirst.cli.main import main
from easyfirst.scores import Scores

FAST = ["--dataset", "digits", "--model", "mlp", "--model-opt", "hidden=[16]", "--epochs", "2",
        "--device", "cpu"]


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """A score run whose scorers are not in name order: cumacc first, then aum, fit."""
    out = tmp_path_factory.mktemp("friction") / "score"
    assert main(["score", *FAST, "--no-progress", "--scorers", "cumacc,fit,aum", "--seeds",
                 "0,1", "--out", str(out)]) == 0
    return out


def test_score_prints_one_cost_line(tmp_path, capsys):
    out = tmp_path / "s"
    assert main(["score", *FAST, "--no-progress", "--scorers", "cumacc,fit,aum", "--out",
                 str(out)]) == 0
    printed = capsys.readouterr().out
    costs = [line for line in printed.splitlines() if "cost:" in line]
    assert len(costs) == 1, printed
    assert costs[0].startswith("cost: ") and costs[0].endswith("shared by cumacc, fit, aum")
    assert "1 trainings" in costs[0]


def test_notes_go_to_stderr_and_nothing_reaches_stdout_before_an_error(tmp_path, capsys):
    foreign = Scores(np.ones(1257), higher_is_easier=True,
                     meta={"dataset_fingerprint": "0000"}).save(tmp_path / "f.csv")
    argv = ["train", "--dataset", "digits", "--epochs", "2", "--device", "cpu", "--no-progress",
            "--scores", str(foreign), "--out", str(tmp_path / "a")]  # --model auto
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # no "model auto -> ..." before the error
    assert captured.err.count("\n") == 1 and captured.err.startswith("easyfirst: error: ")
    argv = ["train", "--dataset", "digits", "--epochs", "1", "--device", "cpu", "--no-progress",
            "--ordering", "random", "--out", str(tmp_path / "b")]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "model auto -> image_cnn" in captured.err
    assert "model auto" not in captured.out and "test accuracy" in captured.out


def test_scores_of_another_dataset_name_it(tmp_path, capsys):
    run = tmp_path / "runs" / "fsdd"
    path = Scores(np.ones(2400), higher_is_easier=True,
                  meta={"dataset_fingerprint": "abcd1234"}).save(run / "scores" / "cumacc.csv")
    (run / "run.json").write_text(json.dumps({
        "kind": "score", "dataset": "fsdd", "dataset_fingerprint": "abcd1234",
        "config": {"dataset_options": {"root": "/data/fsdd"}}}))
    argv = ["train", *FAST, "--no-progress", "--scores", str(path), "--out", str(tmp_path / "t")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "holds scores of dataset fsdd (fingerprint abcd1234), not of digits" in err
    assert err.endswith("pass --dataset fsdd --root /data/fsdd.")
    assert "Score this dataset first" not in err


def test_scores_without_a_run_record_keep_the_plain_message(tmp_path, capsys):
    path = Scores(np.ones(2400), higher_is_easier=True,
                  meta={"dataset_fingerprint": "abcd1234"}).save(tmp_path / "cumacc.csv")
    argv = ["train", *FAST, "--no-progress", "--scores", str(path), "--out", str(tmp_path / "t")]
    assert main(argv) == 2
    assert "Score this dataset first" in capsys.readouterr().err


def test_hardest_ranks_by_the_runs_first_scorer(scored, capsys):
    assert main(["report", str(scored), "--hardest", "3"]) == 0
    out = capsys.readouterr().out
    assert "hardest training samples by cumacc" in out
    assert main(["report", str(scored), "--hardest", "3", "--by", "aum"]) == 0
    assert "hardest training samples by aum" in capsys.readouterr().out
