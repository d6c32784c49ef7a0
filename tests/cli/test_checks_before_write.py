"""Refused runs change nothing: each bad input below exits 2 with one line on stderr, and the
folder it names (a user's folder, or a finished run) stays byte-identical, hidden files and
all. Then: ``--overwrite`` and ``--out .`` keep a user's files, and adding a scorer keeps the
finished score files byte-identical.

Adding a case: append a ``Case``; ``argv`` strings are formatted with ``{user}`` (a folder of
a user's own files), ``{done}`` (a finished score run), ``{bad}`` (a folder of edited
score files) and ``{inputs}`` (folder datasets with a bad CSV or WAV, a finished train run
``run`` and its copy ``garbage`` whose predictions.npz is not one).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from easyfirst.cli.main import main
from easyfirst.data import load_dataset
from easyfirst.locks import LOCK

FAST = ["--dataset", "digits", "--model", "mlp", "--epochs", "1", "--device", "cpu",
        "--no-progress"]
USER_FILES = {"my_notes.txt": b"notes", "my_data/x.bin": b"\0\1", ".notes.tmp": b"draft",
              "sub/.draft.partial": b"half", "sub/.other.json.k2.easyfirst-partial": b"theirs"}


def tree(folder: Path) -> dict[str, str]:
    """Every path under ``folder`` (folders too, hidden ones too) and its files' sha256."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            if p.is_file() else "dir" for p in sorted(folder.rglob("*"))}


def _user_folder(path: Path) -> Path:
    for name, data in USER_FILES.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)
    return path


@pytest.fixture(scope="module")
def done(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("checks") / "done"
    assert main(["score", *FAST, "--epochs", "2", "--scorer", "cumacc", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def bad(done, tmp_path_factory) -> Path:
    """Score files whose header an editor changed."""
    folder = tmp_path_factory.mktemp("bad_scores")
    header, rest = (done / "scores" / "cumacc.csv").read_text().split("\n", 1)
    meta = json.loads(header[2:])
    flip = {"higher_is_easier": "lower_is_easier", "lower_is_easier": "higher_is_easier"}
    for name, changes in (("flipped", {"direction": flip[meta["direction"]]}),
                          ("seed_abc", {"tie_seed": "abc"}), ("seed_neg", {"tie_seed": -5}),
                          ("rule", {"tie_break": "alphabetical"})):
        (folder / f"{name}.csv").write_text("# " + json.dumps({**meta, **changes}) + "\n" + rest)
    return folder


def _dataset(root: Path, csv: bytes, n: int = 4) -> Path:
    """A folder dataset: ``n`` short WAVs a0.wav.. and ``train.csv`` holding ``csv``."""
    root.mkdir(parents=True)
    t = np.arange(1600) / 16000
    for i in range(n):
        sf.write(root / f"a{i}.wav", (0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t)
                                      ).astype(np.float32), 16000)
    (root / "train.csv").write_bytes(csv)
    return root


def _rows(n: int = 4) -> str:
    return "".join(f"a{i}.wav,{'yes' if i % 2 else 'no'}\n" for i in range(n))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Bad inputs to read: folder datasets, and a train run whose copy has a garbage
    predictions.npz."""
    folder = tmp_path_factory.mktemp("inputs")
    _dataset(folder / "latin1", ("file,label\n" + _rows() + "a0.wav,caf\xe9\n").encode("latin-1"))
    _dataset(folder / "absolute", f"file,label\n{_rows()}{folder / 'latin1' / 'a0.wav'},no\n"
             .encode())
    _dataset(folder / "outside", f"file,label\n{_rows()}../latin1/a0.wav,no\n".encode())
    _dataset(folder / "header_only", b"file,label\n")
    (folder / "header_only" / "dev.csv").write_text("file,label\n" + _rows())
    _dataset(folder / "tiny", ("file,label\n" + _rows(24)).encode(), n=24)
    nan = _dataset(folder / "nan_wav", ("file,label\n" + _rows()).encode())
    wave = np.zeros(1600, np.float32)
    wave[[5, 9]] = np.nan, np.inf
    sf.write(nan / "a3.wav", wave, 16000, subtype="FLOAT")
    assert main(["train", *FAST, "--ordering", "none", "--out", str(folder / "run")]) == 0
    shutil.copytree(folder / "run", folder / "garbage")
    (folder / "garbage" / "predictions.npz").write_bytes(b"garbage\n")
    return folder


@dataclass(frozen=True)
class Case:
    id: str
    argv: list[str]
    expect: str  # regex of the one line
    watch: str = "user"  # the folder that must stay byte-identical: user, done or inputs
    locked: bool = False  # a live process holds the watched folder's lock


def _score(*args: str) -> list[str]:
    return ["score", *FAST, *args, "--out", "{user}"]


def _train(*args: str) -> list[str]:
    return ["train", *FAST, "--ordering", "none", *args, "--out", "{user}"]


def _folder(name: str, *args: str) -> list[str]:  # a run on the folder dataset {inputs}/name
    return ["score", "--dataset", "folder", "--root", "{inputs}/" + name, "--model", "mlp",
            "--epochs", "1", "--device", "cpu", "--no-progress", *args, "--out", "{user}"]


NUMBER = r"argument {}: expected a {} .*; got '{}'; see easyfirst (score|train) --help$"
CASES = [
    Case("lr-nan", _score("--lr", "nan"), NUMBER.format("--lr", "finite number > 0", "nan")),
    Case("lr-inf", _train("--lr", "inf"), NUMBER.format("--lr", "finite number > 0", "inf")),
    Case("lr-overflows-float32", _score("--lr", "1e31"), r"--lr: .*<= 1e\+30; got '1e31'"),
    Case("weight-decay-negative", _train("--weight-decay", "-1"),
         NUMBER.format("--weight-decay", "finite number", "-1")),
    Case("weight-decay-nan", _score("--weight-decay", "nan"), r"--weight-decay: .* got 'nan'"),
    Case("momentum-nan", _score("--momentum", "nan"),
         NUMBER.format("--momentum", "finite number", "nan")),
    Case("epochs-beyond-the-recorder", _score("--epochs", "100000"),
         r"--epochs: expected a whole number >= 1 and <= 32767; got '100000'"),
    Case("batch-size-zero", _train("--batch-size", "0"), r"--batch-size: .* got '0'"),
    Case("seeds-huge", _score("--seeds", "99999999999999999999"),
         r"Expected --seeds from 0 to 4294967295; got 99999999999999999999"),
    Case("seed-huge", _train("--seed", "99999999999999999999"),
         NUMBER.format("--seed", "whole number", "99999999999999999999")),
    Case("folds-nan", _score("--scorer", "cvloss", "--folds", "nan"),
         r"Expected --folds as a whole number; got 'nan'\. Fix --folds"),
    Case("folds-fraction", _score("--scorer", "cvloss", "--folds", "2.5"), r"got '2\.5'"),
    Case("scores-direction-flipped", _train("--ordering", "curriculum", "--scores",
                                            "{bad}/flipped.csv")[:-2] + ["--out", "{user}"],
         r"flipped\.csv': expected ranks that order the scores easiest first; they order the "
         r"scores the other way"),
    Case("scores-tie-seed-text", ["train", *FAST, "--scores", "{bad}/seed_abc.csv", "--out",
                                  "{user}"], r"seed_abc\.csv': expected tie_seed to be a whole "
         r"number >= 0; got 'abc'"),
    Case("scores-tie-seed-negative", ["train", *FAST, "--scores", "{bad}/seed_neg.csv",
                                      "--out", "{user}"], r"seed_neg\.csv': .* got -5"),
    Case("scores-tie-rule", ["train", *FAST, "--scores", "{bad}/rule.csv", "--out", "{user}"],
         r"rule\.csv': expected tie_break among evidence, random, dataset-order"),
    Case("export-over-a-score-file", ["export", "{done}", "--out", "{done}/scores/cumacc.csv"],
         r"Expected --out outside the run's own files; got '.*cumacc\.csv', which is inside the "
         r"run's 'scores' in '.*done'\. Choose another path", watch="done"),
    Case("export-over-run-json", ["export", "{done}", "--out", "{done}/run.json"],
         r"which is the run's 'run\.json'", watch="done"),
    Case("export-into-seeds", ["export", "{done}", "--label-issues", "--out",
                               "{done}/seeds/x.csv"], r"inside the run's 'seeds'", watch="done"),
    Case("report-into-scores", ["report", "{done}", "--out", "{done}/scores"],
         r"which is the run's 'scores'", watch="done"),
    Case("export-while-locked", ["export", "{done}"], r"is in use by another easyfirst run",
         watch="done", locked=True),
    Case("report-while-locked", ["report", "{done}"], r"is in use by another easyfirst run",
         watch="done", locked=True),
    Case("score-while-locked", ["score", *FAST, "--out", "{user}"],
         r"is in use by another easyfirst run", locked=True),
    # folder datasets: the file, what was expected, what was got, what to do
    Case("csv-latin1", _folder("latin1"), r"latin1/train\.csv: expected UTF-8 text; byte 0xe9 "
         r"at offset \d+ is not UTF-8 .*Save the file as UTF-8"),
    Case("csv-path-leads-out", _folder("outside"), r"outside/train\.csv line 6: expected a "
         r"file inside the dataset folder '.*outside'; got '\.\./latin1/a0\.wav', which leads "
         r"out of it"),
    Case("csv-absolute-path", _folder("absolute"), r"absolute/train\.csv line 6: expected a "
         r"file path relative to the dataset folder '.*absolute'; got the absolute path "
         r"'/.*a0\.wav'\. Write it relative to that folder"),
    Case("csv-header-only", _folder("header_only"), r"header_only/train\.csv: expected at least "
         r"one row of file,label after the header; got none\. Add the train files"),
    Case("root-is-a-file", _folder("tiny/train.csv"), r"Expected --root to be the folder of "
         r"dataset folder .*; got '.*tiny/train\.csv', which is a file, not a folder\. Pass its "
         r"folder, e.g\. '.*tiny'"),
    Case("wav-nan", _folder("nan_wav", "--batch-size", "2"), r"'.*nan_wav/a3\.wav' holds 2 NaN "
         r"or infinite sample\(s\) of 1600 \(first: sample 5, 0\.000 s\); expected finite "
         r"audio\. Re-export it"),
    Case("baseline-smaller-than-a-batch", ["train", *_folder("tiny")[1:-2], "--ordering", "none",
                                           "--batch-size", "32", "--out", "{user}"],
         r"Expected the training split to hold at least one batch \(32 samples\); got 24 "
         r"samples\. Lower the batch size \(--batch-size\) to 24 or less"),
    # fuse
    Case("fuse-a-run-with-itself", ["fuse", "{inputs}/run", "{inputs}/run/"],
         r"Expected distinct runs to fuse; got '.*run' twice \(also as '.*run/'\)\. A run fused "
         r"with itself only repeats its accuracy: pass each run once", watch="inputs"),
    Case("report-into-another-run", ["report", "{done}", "--out", "{inputs}/run"],
         r"Expected --out to be RUN_DIR itself or a folder holding no run; got '.*run', which "
         r"holds another run", watch="inputs"),
    Case("report-of-a-damaged-run", ["report", "{inputs}/garbage"],  # built aside: no PNG left
         r"garbage/predictions\.npz' is not a predictions file of easyfirst train",
         watch="inputs"),
    Case("fuse-garbage-predictions", ["fuse", "{inputs}/run", "{inputs}/garbage"],
         r"'.*garbage/predictions\.npz' is not a predictions file of easyfirst train: expected a "
         r"NumPy \.npz archive of named arrays; got a text file \(\d+ bytes\)\. Leave that run "
         r"out, or train it again", watch="inputs"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_refused_in_one_line_and_nothing_changes(case, done, bad, inputs, tmp_path, capsys):
    user = _user_folder(tmp_path / "user")
    folders = {"user": user, "done": done, "bad": bad, "inputs": inputs}
    watched = folders[case.watch]
    lock = watched / LOCK
    if case.locked:
        lock.write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname(),
                                    "started": "now", "command": "easyfirst score"}))
    before = tree(watched)
    capsys.readouterr()
    try:
        code = main([a.format(**{k: str(v) for k, v in folders.items()}) for a in case.argv])
        after = tree(watched)
    finally:
        if case.locked:
            lock.unlink()
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("easyfirst: error: "), err
    assert re.search(case.expect, lines[0]), lines[0]
    assert after == before


def test_a_byte_order_mark_in_train_csv_is_read(tmp_path):  # as spreadsheets save UTF-8
    root = _dataset(tmp_path / "bom", ("\ufefffile,label\n" + _rows()).encode())
    ds = load_dataset("folder", root=root, progress=False)
    assert ds.train.ids == [f"a{i}.wav" for i in range(4)] and ds.class_names == ["no", "yes"]


def test_the_corrected_rerun_goes_through(tmp_path, capsys):
    user = _user_folder(tmp_path / "user")
    before = tree(user)
    assert main(["train", *FAST, "--ordering", "none", "--lr", "nan", "--out", str(user)]) == 2
    assert tree(user) == before
    assert main(["train", *FAST, "--ordering", "none", "--lr", "0.01", "--out", str(user)]) == 0
    after = tree(user)
    assert {k: after.get(k) for k in before} == before  # every file of the user's kept
    assert (user / "metrics.json").is_file()


def test_overwrite_replaces_only_the_runs_own_outputs(tmp_path):
    user = _user_folder(tmp_path / "user")
    mine = tree(user)
    assert main(["score", *FAST, "--seeds", "0,1", "--out", str(user)]) == 0
    assert main(["score", *FAST, "--seeds", "3", "--scorer", "fit", "--overwrite", "--out",
                 str(user)]) == 0
    after = tree(user)
    assert {k: after.get(k) for k in mine} == mine  # notes, data, hidden drafts: all kept
    assert sorted(p.name for p in (user / "seeds").iterdir()) == ["seed_3"]
    assert sorted(p.name for p in (user / "scores").iterdir()) == ["fit.csv"]
    owned = json.loads((user / ".easyfirst.outputs.json").read_text())["outputs"]
    assert not set(owned) & {"my_notes.txt", "my_data", ".notes.tmp", "sub"}
    assert {p.name for p in user.iterdir()} - set(owned) == {
        "my_notes.txt", "my_data", ".notes.tmp", "sub", ".easyfirst.outputs.json"}


def test_a_run_into_the_current_folder_keeps_hidden_files(tmp_path, monkeypatch):
    user = _user_folder(tmp_path / "user")
    mine = tree(user)
    monkeypatch.chdir(user)
    assert main(["train", *FAST, "--ordering", "none", "--weight-decay", "-1", "--out",
                 "."]) == 2
    assert tree(user) == mine
    assert main(["train", *FAST, "--ordering", "none", "--out", "."]) == 0
    assert main(["train", *FAST, "--ordering", "none", "--overwrite", "--out", "."]) == 0
    after = tree(user)
    assert {k: after.get(k) for k in mine} == mine


def test_adding_a_scorer_keeps_every_finished_file_byte_identical(tmp_path):
    out = tmp_path / "s"
    args = ["score", *FAST, "--epochs", "2", "--seeds", "0,1", "--out", str(out)]
    assert main([*args, "--scorer", "cumacc,aum"]) == 0
    before = tree(out)
    assert main([*args, "--scorer", "cumacc,aum,fit", "--resume"]) == 0
    after = tree(out)
    changed = sorted(k for k in before if after[k] != before[k])
    assert changed == ["summary.json"]
    assert {k for k in after if k not in before} == {
        "scores/fit.csv", "seeds/seed_0/scores/fit.csv", "seeds/seed_1/scores/fit.csv"}


def test_a_refused_report_leaves_the_run_folder_as_it_was(tmp_path, capsys):
    """The report is built in a staging folder and moved in whole: a member's damaged score
    file, read after the first figures are drawn, leaves no PNG behind."""
    run = tmp_path / "run"
    assert main(["score", *FAST, "--seeds", "0,1", "--scorer", "cumacc,fit",
                 "--out", str(run)]) == 0
    (run / "seeds" / "seed_0" / "scores" / "cumacc.csv").write_text("garbage\n")
    before = tree(run)  # hidden paths included: no staging folder may stay
    capsys.readouterr()
    assert main(["report", str(run)]) == 2
    assert "seed_0/scores/cumacc.csv': expected a first line" in capsys.readouterr().err
    assert tree(run) == before
