"""Bad inputs, table-driven: each is refused in one line, and a finished run stays untouched.

Through the CLI every case must exit 2 with exactly one stderr line ``easyfirst: error: ...``
matching its regex, and leave every file of a finished ``score`` run byte-identical (and, by
default, write nothing into a fresh ``--out`` folder). Through the API a case must raise its
exception type with a message matching its regex.

Adding a case: append a ``Cli`` or ``Api`` row. ``Cli.argv`` strings are formatted with
``{done}`` (the finished run), ``{new}`` (a fresh folder), ``{files}`` (the bad input files of
the ``files`` fixture) and ``{file}`` (an existing regular file).
"""

from __future__ import annotations

import errno
import json
import os
import re
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bad_input_files
import pytest
import torch

from easyfirst.cli.main import main
from easyfirst.cli.options import parse_int_list
from easyfirst.data import load_dataset
from easyfirst.locks import LOCK
from easyfirst.models.registry import build_model, check_model_options
from easyfirst.recording import OutcomeRecorder, TrainingDynamics
from easyfirst.run_folder import read_json, read_sample_meta
from easyfirst.scores import Scores, ScoresFileError
from easyfirst.scores.aucurriculum import read_aucurriculum
from easyfirst.training.checkpoint import load_checkpoint

FAST = ["--dataset", "digits", "--model", "mlp", "--epochs", "1", "--device", "cpu",
        "--no-progress"]
DONE = ["--dataset", "digits", "--model", "mlp", "--epochs", "2", "--seeds", "0", "--scorer",
        "cumacc", "--device", "cpu", "--no-progress"]


@dataclass(frozen=True)
class Cli:
    """One bad command line: ``argv`` (see the module docstring) and the regex of its line."""

    id: str
    argv: list[str]
    expect: str
    writes_nothing: bool = True  # the fresh {new} folder stays absent or empty
    patch: Callable[[pytest.MonkeyPatch], None] | None = None
    marks: tuple[Any, ...] = ()
    prepare: Callable[[dict[str, Path]], Callable[[], None]] | None = None  # returns undo
    started: bool = False  # training had started: its notes (model, data) precede the error


@dataclass(frozen=True)
class Api:
    """One bad API call: ``call(env)`` must raise ``exc`` with a message matching ``expect``."""

    id: str
    call: Callable[[dict[str, Path]], object]
    exc: type[BaseException]
    expect: str
    marks: tuple[Any, ...] = ()


def _enospc(monkeypatch: pytest.MonkeyPatch) -> None:
    """Creating a file fails as on a full disk (the OSError names the temp file)."""

    def full(*args: Any, **kw: Any) -> Any:
        name = kw.get("prefix", "") + "x1y2z3" + kw.get("suffix", ".partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.path.join(kw["dir"], name))

    monkeypatch.setattr(tempfile, "mkstemp", full)


def _enospc_on_flush(monkeypatch: pytest.MonkeyPatch) -> None:
    """Writing fails as on a full disk at flush time (the OSError names no file)."""

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)


def _torch_save_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch.save fails as PyTorch's zip writer does on a full disk."""

    def full(*args: Any, **kw: Any) -> None:
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    monkeypatch.setattr(torch, "save", full)


def _torch_save_enospc(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch.save's open fails as on a full disk."""

    def full(obj: Any, f: Any, *args: Any, **kw: Any) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(f))

    monkeypatch.setattr(torch, "save", full)


def _live_lock(env: dict[str, Path]) -> Callable[[], None]:
    """A live process (this test's parent) holds the finished run's lock."""
    lock = env["done"] / LOCK
    lock.write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname(),
                                "started": "now", "command": "easyfirst score"}))
    return lock.unlink


FINISHED = r"already holds scores that finished; pass --resume .*, --overwrite to replace it"


def _score(*args: str) -> list[str]:
    return ["score", *FAST, *args]


def _train(*args: str) -> list[str]:
    return ["train", *FAST, *args]


def _scores(name: str) -> list[str]:  # train with the bad score file {files}/name
    return _train("--scores", "{files}/" + name, "--out", "{new}")


# the fixtures: the finished run, the bad files, a folder's sha256 per file
done, files, snapshot = bad_input_files.done, bad_input_files.files, bad_input_files.snapshot
NEW = ("--out", "{new}")
CLI: list[Cli] = [
    # argparse usage errors
    Cli("no-command", [], r"required: command; see easyfirst --help$"),
    Cli("unknown-command", ["scroe"], r"invalid choice: 'scroe'.*; see easyfirst --help$"),
    Cli("unknown-flag", _score("--bogus", *NEW), r"unrecognized arguments: --bogus; see "
        r"easyfirst score --help$"),
    Cli("epochs-not-int", _score("--epochs", "a", *NEW),
        r"argument --epochs: expected a whole number >= 1 and <= 32767; got 'a'; see "),
    Cli("lr-not-float", _score("--lr", "fast", *NEW),
        r"argument --lr: expected a finite number > 0 and <= 1e\+30; got 'fast'"),
    Cli("optimizer-choice", _score("--optimizer", "sgdd", *NEW), r"invalid choice: 'sgdd'"),
    Cli("score-without-out", ["score", "--dataset", "digits"], r"required: --out; see "
        r"easyfirst score --help"),
    Cli("report-without-dir", ["report"], r"required: RUN_DIR; see easyfirst report --help"),
    # dataset and model
    Cli("unknown-dataset", ["score", "--dataset", "digitz", *NEW],
        r"Unknown dataset 'digitz'\. Available: .*digits"),
    Cli("dataset-opt-unknown", _score("--dataset-opt", "bogus=1", *NEW),
        r"Unknown dataset option 'bogus' for 'digits'; expected one of: dev_fraction, "
        r"test_fraction\. Fix or drop it"),
    Cli("dataset-opt-no-equals", _score("--dataset-opt", "bogus", *NEW),
        r"Expected --dataset-opt KEY=VALUE; got 'bogus'"),
    Cli("root-for-bundled-dataset", _score("--root", "{files}", *NEW),
        r"Unknown dataset option 'root' for 'digits'; expected one of: dev_fraction"),
    Cli("model-opt-unknown", _score("--model-opt", "bogus=1", *NEW),
        r"Unknown model option 'bogus' for 'mlp'; expected one of: dropout, hidden\."),
    Cli("model-opt-set-by-easyfirst", _score("--model-opt", "num_classes=3", *NEW),
        r"'num_classes' is set by easyfirst for 'mlp'.*Drop num_classes"),
    Cli("model-opt-no-equals", _score("--model-opt", "dropout", *NEW),
        r"Expected --model-opt KEY=VALUE; got 'dropout'"),
    # the model builder's own check of its options (one line, before anything is written)
    Cli("model-opt-bad-value", _score("--model-opt", "hidden=abc", *NEW),
        r"Expected a list of hidden widths >= 1 .* got hidden='abc', dropout=0\.0\. Fix "
        r"--model-opt\.$"),
    Cli("model-opt-negative", _score("--model-opt", "hidden=[-3]", *NEW),
        r"Expected a list of hidden widths >= 1 and 0 <= dropout < 1 for mlp; got "
        r"hidden=\[-3\], dropout=0\.0\. Fix --model-opt\.$"),
    Cli("log-dir-is-a-file", _score("--log", "tensorboard", "--log-dir", "{file}", *NEW),
        r"Expected --log-dir to be a folder; got '.*a_file', an existing file"),
    Cli("model-unknown", _score("--model", "bogus", *NEW), r"Unknown model 'bogus'\. Available"),
    # training settings
    Cli("epochs-zero", _score("--epochs", "0", *NEW), r"--epochs: expected .* got '0'"),
    Cli("epochs-negative", _score("--epochs", "-1", *NEW), r"--epochs: expected .* got '-1'"),
    Cli("batch-size-zero", _score("--batch-size", "0", *NEW),
        r"--batch-size: expected a whole number >= 1 and <= 2147483647; got '0'"),
    Cli("lr-negative-into-done", ["score", *DONE, "--lr", "-1", "--out", "{done}"],
        r"--lr: expected a finite number > 0 .*; got '-1'"),
    Cli("lr-zero", _score("--lr", "0", *NEW), r"--lr: expected a finite number > 0 .*; got '0'"),
    Cli("device-bogus", _score("--device", "gpu", *NEW),
        r"Expected --device auto, cpu, cuda or cuda:N; got 'gpu'"),
    Cli("device-meta", _score("--device", "meta", *NEW), r"Expected --device auto, cpu"),
    Cli("device-missing-gpu", _score("--device", "cuda:99", *NEW),
        r"CUDA is not available here; use --device cpu|Expected --device cuda:0 to cuda:"),
    Cli("augment-unknown", _score("--augment", "flip", *NEW),
        r"Unknown augmentation 'flip'\. Available: .*hflip"),
    Cli("el2n-epoch-too-late", _score("--scorers", "el2n", "--el2n-epoch", "5", *NEW),
        r"Expected --el2n-epoch from 1 to --epochs \(1\); got 5\. Epochs are numbered from 1"),
    Cli("el2n-epoch-zero", _score("--scorers", "el2n", "--el2n-epoch", "0", *NEW),
        r"--el2n-epoch from 1 .* got 0"),
    Cli("out-is-a-file", _score("--out", "{file}"),
        r"Expected --out to be a folder; got '.*', which is an existing file"),
    Cli("out-under-a-file", _score("--out", "{file}/sub"), r"which lies under '.*', which is "
        r"an existing file"),
    Cli("done-other-settings", ["score", *DONE, "--lr", "0.5", "--out", "{done}"],
        r"holds \w+ with a different lr.*Choose another --out folder"),
    # scorers and seeds
    Cli("unknown-scorer", _score("--scorer", "cumac", *NEW),
        r"Unknown scorer 'cumac'\. Available: .*cumacc"),
    Cli("scorer-option-unused", _score("--folds", "3", *NEW),
        r"--folds is used by cvloss only; got --scorers cumacc\. Add the scorer or drop"),
    Cli("folds-one", _score("--scorer", "cvloss", "--folds", "1", *NEW),
        r"Expected k >= 2 cross-validation folds; got k=1"),
    Cli("seeds-repeated", _score("--seeds", "0,0", *NEW),
        r"Expected distinct --seeds; got '0,0', which repeats 0\. Name each once"),
    Cli("seeds-letters", _score("--seeds", "a,b", *NEW),
        r"Expected --seeds like 0,1,2 or 0-4; got 'a,b'"),
    Cli("seeds-reversed-range", _score("--seeds", "3-1", *NEW), r"got '3-1', which names none"),
    Cli("seeds-empty", _score("--seeds", ",", *NEW), r"got ',', which names none"),
    Cli("scorer-empty", _score("--scorer", "", *NEW), r"Expected --scorers like cumacc,fit"),
    # curriculum settings
    Cli("ordering-unknown", _train("--ordering", "anit", *NEW),
        r"Unknown ordering 'anit'\. Available: curriculum, anti"),
    Cli("pacing-unknown", _train("--ordering", "random", "--pacing", "lgo", *NEW),
        r"Unknown pacing 'lgo'\. Available: "),
    Cli("start-fraction-above-one", _train("--ordering", "random", "--start-fraction", "1.5",
                                           *NEW), r"Expected start_fraction .* got 1\.5"),
    Cli("start-fraction-zero", _train("--ordering", "random", "--start-fraction", "0", *NEW),
        r"Expected start_fraction .* in \(0, 1\]; got 0\.0"),
    Cli("full-at-above-one", _train("--ordering", "random", "--full-at", "2", *NEW),
        r"Expected full_at .* got 2\.0"),
    Cli("epoch-mode-unknown", _train("--ordering", "random", "--epoch-mode", "x", *NEW),
        r"Unknown epoch mode 'x'\. Available: constant, pool"),
    Cli("pace-by-unknown", _train("--ordering", "random", "--pace-by", "x", *NEW),
        r"Unknown pace_by 'x'\. Available: epoch, step"),
    Cli("balance-unknown", _train("--ordering", "random", "--balance", "x", *NEW),
        r"Unknown class balance 'x'"),
    Cli("curriculum-without-scores", _train(*NEW), r"needs difficulty scores; got none\. "
        r"Pass --scores FILE"),
    # score files
    Cli("scores-missing", _scores("missing.csv"), r"does not exist; check the path"),
    Cli("scores-is-a-folder", _train("--scores", "{done}", *NEW), r"Expected --scores to be a "
        r"score CSV file; got '.*', which is a folder\. Pass one of its score files: "
        r"'.*/scores/cumacc\.csv'"),
    Cli("scores-empty-folder", _train("--scores", "{files}/empty_dir", *NEW),
        r"which is a folder\. Pass a score CSV file \(OUT/scores/<scorer>\.csv"),
    Cli("folder-without-root", ["score", "--dataset", "folder", *NEW],
        r"Expected --root PATH for dataset folder \(the dataset folder: train\.csv, .*\); "
        r"got none\. Pass it \(easyfirst datasets folder shows the layout\)"),
    Cli("folder-root-missing", ["score", "--dataset", "folder", "--root", "{new}/nowhere", *NEW],
        r"Expected --root to be the folder of dataset folder .*got '.*nowhere', which does "
        r"not exist"),
    Cli("folder-root-without-train-csv", ["score", "--dataset", "folder", "--root",
                                          "{files}/empty_dir", *NEW],
        r"'.*empty_dir' has no train\.csv; expected a folder with train\.csv"),
    Cli("scores-binary", _scores("binary.csv"),
        r"'.*binary\.csv' is not a text score file \(byte 0x80 at offset \d+ is not UTF-8\)"),
    Cli("scores-empty-file", _scores("empty.csv"), r"expected a first line '# \{json header\}'"),
    Cli("scores-header-n-null", _scores("n_null.csv"),
        r"n_null\.csv': expected the header's N to be the number of samples .* got None"),
    Cli("scores-version-x", _scores("version_x.csv"),
        r"version_x\.csv': expected an integer header version \(1\); got 'x'"),
    Cli("scores-version-newer", _scores("version_99.csv"), r"version 99 is newer than "
        r"supported \(1\); upgrade easyfirst"),
    Cli("scores-inf", _scores("inf.csv"), r"inf\.csv': 1 of 1257 scores are infinite "
        r"\(first: index 0\)"),
    Cli("scores-nan", _scores("nan.csv"), r"nan\.csv': 2 of 1257 scores are NaN"),
    Cli("scores-other-dataset-size", _scores("short.csv"), r"has scores for 10 samples but the "
        r"dataset's training split has 1257\. Score this dataset first"),
    Cli("scores-foreign-fingerprint", _scores("foreign.csv"),
        r"fingerprint 0000, not on this dataset"),
    Cli("scores-no-fingerprint", _scores("no_fp.csv"), r"records no dataset fingerprint"),
    Cli("scores-aucurriculum-file", _scores("CELoss.csv"), r"aucurriculum score file: convert "
        r"it with easyfirst\.scores\.aucurriculum\.read_aucurriculum\("),
    # reproduce
    Cli("best-k-zero", ["reproduce", "--dataset", "digits", "--best-k", "0", *NEW],
        r"Expected --best-k >= 1 .* got 0"),
    Cli("budget-unknown", ["reproduce", "--dataset", "digits", "--budget", "huge", *NEW],
        r"Unknown budget 'huge'\. Available: tiny, small, compare, paper"),
    Cli("budget-too-small", ["reproduce", "--dataset", "digits", "--budget", "3", *NEW],
        r"Expected a budget of at least 7 runs"),
    Cli("order-by-not-scored", ["reproduce", "--dataset", "digits", "--order-by", "aum", *NEW],
        r"Ordering scorer\(s\) aum are not among the scorers computed"),
    Cli("reproduce-scorers-empty", ["reproduce", "--dataset", "digits", "--scorers", ",", *NEW],
        r"Expected --scorers like cumacc,fit,celoss; got ','"),
    Cli("reproduce-out-is-a-file", ["reproduce", "--dataset", "digits", "--out", "{file}"],
        r"Expected --out to be a folder"),
    # --dataset-opt values checked against the loader's defaults, before anything is written
    Cli("dataset-opt-nan", _score("--dataset-opt", "dev_fraction=nan", *NEW),
        r"Expected --dataset-opt dev_fraction to be a finite number \(default 0\.15\) for "
        r"'digits'; got 'nan'"),
    Cli("dataset-opt-negative-fraction", _score("--dataset-opt", "dev_fraction=-1", *NEW),
        r"dev_fraction to be a fraction from 0 to 1 .*; got -1"),
    Cli("dataset-opt-fractions-leave-nothing", _score(
        "--dataset-opt", "dev_fraction=0.5", "--dataset-opt", "test_fraction=0.5", *NEW),
        r"Expected dev_fraction \+ test_fraction < 1 for digits"),
    Cli("reproduce-budget-huge", ["reproduce", "--dataset", "digits", "--budget",
                                  "99999999999999999999", *NEW],
        r"Expected a budget of at most 100000 runs; got 99999999999999999999"),
    # another run's folder or files
    Cli("out-inside-another-run", _score("--out", "{done}/scores"),
        r"Expected --out outside the run's own files; got '.*scores', which is the run's "
        r"'scores' in '.*'\. Choose another path"),
    Cli("train-overwrites-a-score-run", _train("--ordering", "none", "--overwrite", "--out",
                                               "{done}"),
        r"Expected --out to be a new folder or one of an earlier train run; got '.*', which "
        r"holds a score run"),
    Cli("reproduce-into-a-score-run", ["reproduce", "--dataset", "digits", "--out", "{done}"],
        r"which holds a score run\. Choose another --out folder"),
    Cli("log-dir-inside-another-run", _train("--ordering", "none", "--log", "tensorboard",
                                             "--log-dir", "{done}/seeds", *NEW),
        r"Expected --log-dir outside the run's own files; got '.*seeds', which is the run's "
        r"'seeds'"),
    Cli("export-over-a-user-file", ["export", "{done}", "--out", "{file}"],
        r"Expected --out to be a new file or an earlier export's CSV; got '.*a_file', an "
        r"existing file that export did not write"),
    # report
    Cli("report-missing-folder", ["report", "{new}/nowhere"], r"is not a folder; expected the "
        r"--out folder of easyfirst score"),
    Cli("report-empty-folder", ["report", "{files}/empty_dir"], r"Nothing to report in"),
    Cli("report-target-above-one", ["report", "{done}", "--target", "2"],
        r"Expected target \(--target, a Spearman correlation\) in \(0, 1\); got 2\.0"),
    Cli("report-best-k-zero", ["report", "{done}", "--best-k", "0"],
        r"argument --best-k: expected a whole number >= 1; got '0'"),
    Cli("noise-seed-huge", _score("--noise-seed", "9" * 30, *NEW),
        r"argument --noise-seed: expected a whole number >= 0 and <= 4294967295"),
    Cli("report-out-is-a-file", ["report", "{done}", "--out", "{file}"],
        r"Expected the report's --out to be a folder; got '.*', an existing file"),
    # a full disk
    Cli("disk-full-creating-file", ["report", "{done}", *NEW],
        r"disk full while writing '.*new/report_files/hist_\w+\.png' \(No space left on "
        r"device\); free",  # the report's first file: a histogram
        writes_nothing=False, patch=_enospc),
    Cli("disk-full-on-flush", ["report", "{done}", *NEW], r"Could not write '.*report\.html': "
        r"disk full; expected room .* previous version is unchanged", writes_nothing=False,
        patch=_enospc_on_flush),
    Cli("disk-full-in-torch-save", _score(*NEW),
        r"Could not write '.*new/seeds/seed_0/checkpoint\.pt': disk full \(or the write "
        r"failed\); expected room and write permission there\. Free space or choose another "
        r"folder", writes_nothing=False, patch=_torch_save_fails, started=True),
    Cli("disk-full-opening-torch-save", _score(*NEW),
        r"Could not write '.*new/seeds/seed_0/checkpoint\.pt': disk full; expected room",
        writes_nothing=False, patch=_torch_save_enospc, started=True),
    # the output folder: its owner, a finished run, a diverging one
    Cli("done-rerun", ["score", *DONE, "--out", "{done}"], FINISHED),
    Cli("done-add-seed", ["score", *DONE, "--seeds", "0,1", "--out", "{done}"], FINISHED),
    Cli("done-other-scorer", ["score", *DONE, "--scorer", "fit", "--out", "{done}"], FINISHED),
    Cli("done-locked", ["score", *DONE, "--resume", "--out", "{done}"], r"is in use by another "
        r"easyfirst run \(pid \d+ on host .*choose another --out folder", prepare=_live_lock),
    Cli("lr-diverges", _score("--lr", "1e20", *NEW), r"Training diverged: seed 0, epoch 1, "
        r"step \d+ of \d+ has a NaN/inf loss; .*Lower --lr", writes_nothing=False,
        started=True),
]


def _env(done: tuple[Path, dict[str, str]], files: Path, tmp_path: Path) -> dict[str, Path]:
    return {"done": done[0], "new": tmp_path / "new", "files": files, "file": files / "a_file"}


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CLI])
def test_cli_refuses_in_one_line(case: Cli, done, files, tmp_path, capsys, monkeypatch,
                                 snapshot):
    env = _env(done, files, tmp_path)
    argv = [a.format(**{k: str(v) for k, v in env.items()}) for a in case.argv]
    if case.patch is not None:
        case.patch(monkeypatch)
    undo = case.prepare(env) if case.prepare is not None else None
    capsys.readouterr()
    code = main(argv)
    if undo is not None:
        undo()
    lines = (err := capsys.readouterr().err).splitlines()
    assert code == 2, err
    if case.started:  # the notes said what was picked; then one error line, nothing else
        assert not any("error" in line.lower() for line in lines[:-1]), err
        lines = lines[-1:]
    assert len(lines) == 1 and lines[0].startswith("easyfirst: error: "), err
    assert re.search(case.expect, lines[0]), lines[0]
    assert snapshot(done[0]) == done[1], "the finished run changed"
    if (new := env["new"]) and case.writes_nothing:
        assert not new.exists() or not any(new.rglob("*")), sorted(new.rglob("*"))


def _recorder_targets(bad: int) -> None:
    rec = OutcomeRecorder(3)
    rec.update(torch.tensor([0, 1, 2]), torch.zeros(3, 4), torch.tensor([0, bad, 1]))
    rec.end_epoch()


def _update(idx: Any, logits: Any = None, targets: Any = None, **kw: Any) -> None:
    OutcomeRecorder(4).update(idx, logits, targets, **kw)


IDX, Z, Y = torch.tensor([0, 1]), torch.zeros(2, 3), torch.tensor([0, 2])
API: list[Api] = [
    Api("scores-n-null", lambda e: Scores.load(e["files"] / "n_null.csv"), ScoresFileError,
        r"expected the header's N to be the number of samples \(>= 1\); got None"),
    Api("scores-version-x", lambda e: Scores.load(e["files"] / "version_x.csv"),
        ScoresFileError, r"expected an integer header version \(1\); got 'x'"),
    Api("scores-binary", lambda e: Scores.load(e["files"] / "binary.csv"), ScoresFileError,
        r"binary\.csv' is not a text score file"),
    Api("scores-inf", lambda e: Scores.load(e["files"] / "inf.csv"), ScoresFileError,
        r"1 of 1257 scores are infinite"),
    Api("scores-nan", lambda e: Scores.load(e["files"] / "nan.csv"), ScoresFileError,
        r"2 of 1257 scores are NaN \(first: index 0\)"),
    Api("aucurriculum-nan-column", lambda e: read_aucurriculum(e["files"] / "auc_nan.csv"),
        ScoresFileError, r"line 3: column 'mean' is 'nan', not a finite number \(1 of 600 "
        r"rows are not\)"),
    Api("aucurriculum-binary", lambda e: read_aucurriculum(e["files"] / "binary.csv"),
        ScoresFileError, r"binary\.csv' is not a text CSV \(byte 0x80"),
    Api("recorder-float-indices", lambda e: _update(IDX.float(), Z, Y), ValueError,
        r"Expected integer sample indices; got dtype torch\.float32"),
    Api("recorder-bool-indices", lambda e: _update(IDX.bool(), Z, Y), ValueError,
        r"Expected integer sample indices; got dtype torch\.bool"),
    Api("recorder-logits-rows", lambda e: _update(IDX, torch.zeros(3, 3), Y), ValueError,
        r"Expected logits of shape \(B, C\) = \(2, C\) for 2 indices; got \(3, 3\)"),
    Api("recorder-logits-1d", lambda e: _update(IDX, torch.zeros(2), Y), ValueError,
        r"Expected logits of shape \(B, C\)"),
    Api("recorder-targets-size", lambda e: _update(IDX, Z, torch.tensor([0])), ValueError,
        r"Expected targets with one value per index \(2\); got shape \(1,\)"),
    Api("recorder-float-targets", lambda e: _update(IDX, Z, Y.float()), ValueError,
        r"Expected integer class-id targets; got dtype torch\.float32"),
    Api("recorder-loss-size", lambda e: _update(IDX, Z, Y, loss=torch.zeros(3)), ValueError,
        r"Expected loss with one value per index \(2\)"),
    Api("recorder-weight-size", lambda e: _update(IDX, Z, Y, weight=torch.ones(1)),
        ValueError, r"Expected weight with one value per index \(2\)"),
    Api("recorder-correct-size", lambda e: _update(IDX, correct=torch.ones(5)), ValueError,
        r"Expected correct with one value per index \(2\)"),
    Api("recorder-target-too-big", lambda e: _recorder_targets(4), ValueError,
        r"Expected targets in \[0, C\) for logits of C classes; got 1 outside it"),
    Api("recorder-target-negative", lambda e: _recorder_targets(-1), ValueError,
        r"Expected targets in \[0, C\)"),
    Api("recorder-outcome", lambda e: OutcomeRecorder(2, outcomes="margin"), ValueError,
        r"Unknown outcome 'margin'; expected 'all', 'core' or names among el2n, margins, probs"),
    Api("recorder-graded-after-binary", lambda e: [
        (r := OutcomeRecorder(2)).update(IDX, correct=torch.tensor([1, 0])),
        r.update(IDX, correct=torch.tensor([0.5, 1.0]))], ValueError,
        r"Expected the same kind of correctness in every update; got graded"),
    Api("dataset-option", lambda e: load_dataset("digits", bogus=1), ValueError,
        r"Unknown dataset option 'bogus' for 'digits'; expected one of: dev_fraction"),
    Api("model-option", lambda e: build_model("mlp", input_shape=(64,), num_classes=10,
                                              width=3),
        ValueError, r"Unknown model option 'width' for 'mlp'; expected one of: dropout, hidden"),
    Api("model-option-fixed", lambda e: check_model_options("mlp", {"input_shape": (1,)}),
        ValueError, r"'input_shape' is set by easyfirst"),
    Api("run-file-not-json", lambda e: read_json(e["files"] / "binary.csv", what="the summary"),
        ValueError, r"Expected the summary \('.*binary\.csv'\) to be JSON; got a file in another "
        r"format \(2048 bytes\)\. Restore"),
    Api("scores-header-seeds", lambda e: Scores.load(e["files"] / "seeds_x.csv"),
        ScoresFileError, r"expected the header's seeds to be a list of whole numbers >= 0 \(or "
        r"null\); got 'x'\. The header was edited"),
    Api("scores-header-scorer", lambda e: Scores.load(e["files"] / "scorer_5.csv"),
        ScoresFileError, r"expected the header's scorer to be a name \(or null\); got 5"),
    Api("scores-header-epochs", lambda e: Scores.load(e["files"] / "epochs_negative.csv"),
        ScoresFileError, r"expected the header's epochs to be a whole number >= 1 \(or null\); "
        r"got -1"),
    Api("scores-rank-overflows",
        lambda e: Scores.load(_edited_row(e, "0,0.5,1" + "9" * 23 + ",x,1")),
        ScoresFileError, r"line 3: index 0 or rank 1999+ is out of range \[0, 1257\)"),
    Api("scores-row-extra-cell", lambda e: Scores.load(_edited_row(e, "0,0.5,3,x,1,extra")),
        ScoresFileError, r"line 3: expected 5 cells like 'index,score,rank,id,label'"),
    Api("dynamics-garbage", lambda e: TrainingDynamics.load(_garbage(e, "dynamics.pt")),
        ValueError, r"dynamics\.pt' is not a readable dynamics file: expected one written by "
        r"easyfirst; got a text file \(7 bytes\)\. Delete that seed's folder"),
    Api("checkpoint-empty", lambda e: load_checkpoint(_garbage(e, "ck.pt", b"")), ValueError,
        r"ck\.pt' cannot be read: expected a file written by torch\.save; got an empty file"),
    Api("samples-npz-garbage", lambda e: read_sample_meta(_garbage(e, "samples.npz").parent),
        ValueError, r"samples\.npz' is not the samples file of an easyfirst run: .* got a text "
        r"file"),
    Api("int-list-repeats", lambda e: parse_int_list("1,2,1", "--seeds"), ValueError,
        r"Expected distinct --seeds; got '1,2,1', which repeats 1"),
]


def _garbage(env: dict[str, Path], name: str, data: bytes = b"garbage") -> Path:
    """A file ``name`` holding ``data`` in a fresh folder."""
    env["new"].mkdir(exist_ok=True)
    (env["new"] / name).write_bytes(data)
    return env["new"] / name


def _edited_row(env: dict[str, Path], row: str) -> Path:
    """The finished run's cumacc.csv with its first row replaced by ``row``."""
    lines = (env["done"] / "scores" / "cumacc.csv").read_text().splitlines(keepends=True)
    return _garbage(env, "edited.csv", "".join([*lines[:2], row + "\n", *lines[3:]]).encode())


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in API])
def test_api_refuses(case: Api, done, files, tmp_path):
    with pytest.raises(case.exc, match=case.expect):
        case.call(_env(done, files, tmp_path))


def test_the_table_is_large_and_ids_are_unique():  # ids name the cases in the report
    ids = [c.id for c in CLI] + [f"api:{c.id}" for c in API]
    assert len(ids) == len(set(ids)) and len(CLI) >= 40


def test_any_other_exception_is_one_line_unless_debugging(capsys, monkeypatch):
    assert main(["--version"]) == 0 and main(["score", "--help"]) == 0  # these still exit 0
    capsys.readouterr()

    def boom(*args: Any, **kw: Any) -> None:
        raise TypeError("unsupported operand\nsecond line")

    monkeypatch.setattr("easyfirst.cli.report.run", boom)
    monkeypatch.delenv("EASYFIRST_DEBUG", raising=False)
    assert main(["report", "x"]) == 2
    assert capsys.readouterr().err == ("easyfirst: error: unsupported operand (TypeError; set "
                                       "EASYFIRST_DEBUG=1 for the traceback)\n")
    monkeypatch.setenv("EASYFIRST_DEBUG", "1")
    with pytest.raises(TypeError, match="unsupported operand"):
        main(["report", "x"])
