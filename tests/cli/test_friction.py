"""A newcomer's friction list, each item as the command that now behaves (digits, CPU).

One cost line per score run, notes never on stdout before an error, the score/dataset hint,
``report --hardest`` ranked by the run's main scorer, ``--threads``, and progress shown as
plain lines when stderr is not a terminal.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

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


@pytest.fixture
def thread_calls(monkeypatch):
    """The thread counts ``torch.set_num_threads`` is called with (it still sets them)."""
    import torch

    calls: list[int] = []
    real = torch.set_num_threads

    def record(n: int) -> None:
        calls.append(n)
        real(n)

    monkeypatch.setattr(torch, "set_num_threads", record)
    return calls


def test_threads_are_set_for_the_run_and_restored(tmp_path, thread_calls, monkeypatch):
    import torch

    from easyfirst.cli import options

    before = torch.get_num_threads()
    argv = ["train", *FAST, "--no-progress", "--ordering", "random", "--threads", "2", "--out",
            str(tmp_path / "a")]
    assert main(argv) == 0
    assert thread_calls == [2, before] and torch.get_num_threads() == before
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(options, "usable_cores", lambda: 3)
    argv = ["train", *FAST, "--no-progress", "--ordering", "random", "--out", str(tmp_path / "c")]
    thread_calls.clear()
    assert main(argv) == 0
    assert thread_calls == [3, before]  # the default: the cores this process may use
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    thread_calls.clear()
    assert main([*argv[:-1], str(tmp_path / "d")]) == 0
    assert thread_calls == [1, before]  # torchrun's (or the user's) OMP_NUM_THREADS wins


def test_busy_machine_gets_one_note(tmp_path, capsys, monkeypatch):
    from easyfirst.cli import options

    monkeypatch.setattr(options, "usable_cores", lambda: 2)
    monkeypatch.setattr(options.os, "getloadavg", lambda: (5.0, 4.0, 3.0))
    argv = ["train", *FAST, "--no-progress", "--ordering", "random", "--threads", "2", "--out",
            str(tmp_path / "a")]
    assert main(argv) == 0
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    assert notes == ["note: this machine looks busy (load average 5.0 on 2 cores); training "
                     "with 2 threads may be slow, --threads 1 may be faster"]
    assert main([*argv[:-4], "--threads", "1", "--out", str(tmp_path / "b")]) == 0
    assert "note:" not in capsys.readouterr().err  # one thread: nothing to say
    assert main([*argv[:-4], "--threads", "4", "--out", str(tmp_path / "c")]) == 0
    assert "more than the 2 cores this process may use" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_bad_threads_is_one_usage_line(tmp_path, capsys, value):
    assert main(["train", *FAST, "--threads", value, "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--threads: expected a whole number >= 1" in err


def test_progress_in_a_log_is_plain_lines(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("EASYFIRST_PROGRESS", raising=False)  # stderr here is not a terminal
    assert main(["score", *FAST, "--seeds", "0,1", "--out", str(tmp_path / "s")]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "\x1b" not in err
    lines = err.splitlines()
    assert any(line.startswith("job: 4/4 epochs (100%)") for line in lines), err
    assert any(line.startswith("mlp seed 0: 1/2 epochs (50%)") for line in lines), err


def test_plain_progress_says_each_tenth_once():
    import io
    import sys

    from easyfirst.monitor.progress import PlainProgress, progress_bar

    buf, real = io.StringIO(), sys.stderr
    sys.stderr = buf
    try:
        with PlainProgress(total=40, desc="clips", unit="clip") as bar:
            for _ in range(40):
                bar.update(1)
        with PlainProgress(total=10, desc="cut", unit="epoch") as bar:
            bar.update(3)
            bar.set_postfix({"loss": 0.5})
        assert not isinstance(progress_bar(total=3, desc="x", disable=True), PlainProgress)
    finally:
        sys.stderr = real
    lines = buf.getvalue().splitlines()
    assert len(lines) == 10 + 1 + 1  # each tenth; then a jump of 3 tenths, the closing line
    assert lines[9].startswith("clips: 40/40 clips (100%), ")
    assert lines[-1].startswith("cut: 3/10 epochs (30%), ") and lines[-1].endswith(
        " left [loss=0.5]")


IN_HOUSE = re.compile(r"the seed uses|seed document|source document|seed family|the seed's `|"
                      r"the seed loop|\b[Ii]ssue #?\d+|family=\"seed\"")


def test_no_in_house_words_in_the_package_or_the_docs(capsys):
    root = Path(__file__).resolve().parents[2]
    files = [*(root / "src" / "easyfirst").rglob("*.py"), *(root / "docs").rglob("*.md"),
             root / "README.md"]
    found = [f"{p.relative_to(root)}:{n}: {line.strip()}" for p in files
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if IN_HOUSE.search(line)]
    assert not found, "\n".join(found)
    assert main(["pacings"]) == 0
    out = capsys.readouterr().out
    assert "family paper" in out and "family seed" not in out


def test_piled_up_scores_get_log_bins_and_whole_counts(tmp_path):
    from easyfirst.analysis.plots import histogram_bins, score_histograms

    rng = np.random.default_rng(0)
    ce = np.r_[rng.uniform(1e-4, 0.05, 900), rng.uniform(0.5, 6.0, 100)]  # CE loss: piled at 0
    edges, xscale, yscale = histogram_bins(ce)
    assert (xscale, yscale) == ("log", "linear") and edges[0] == ce.min()
    assert np.histogram(ce, edges)[0].max() < 0.5 * ce.size  # the pile spread out
    aum = np.r_[np.zeros(900), rng.normal(-2, 1, 100)]  # piled, not positive: log counts
    assert histogram_bins(aum)[1:] == ("linear", "log")
    even = rng.uniform(0, 1, 1000)
    assert histogram_bins(even)[1:] == ("linear", "linear")
    assert histogram_bins(np.array([0.0, 0.5, 1.0]))[1:] == ("linear", "linear")
    path = score_histograms(Scores(ce, higher_is_easier=False, meta={"scorer": "celoss"}),
                            tmp_path / "h.png", targets=np.arange(1000) % 3)
    assert path.stat().st_size > 0
