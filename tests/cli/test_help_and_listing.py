"""Help texts, option names, listings, the run.json schema, --no-progress, epoch numbering."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from easyfirst.audio.augment import AUGMENTATIONS
from easyfirst.cli.listing import _registries
from easyfirst.cli.main import build_parser, main
from easyfirst.data import DATASETS
from easyfirst.models import MODELS
from easyfirst.pacing import PACINGS
from easyfirst.scoring import SCORERS

FAST = ["--dataset", "digits", "--model", "mlp", "--epochs", "2", "--device", "cpu",
        "--no-progress"]
CLI = "import sys; from easyfirst.cli.main import main; sys.exit(main(sys.argv[1:]))"
MARKUP = re.compile(r"``|:(?:class|func|meth|mod|attr):`|(?<![\w*])\*[A-Za-z][\w ]*\*(?!\w)")


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _helps(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Option string -> its help as the formatter writes it (before line wrapping)."""
    fmt = parser._get_formatter()
    return {s: fmt._expand_help(a) for a in parser._actions if a.help
            for s in a.option_strings}


def test_help_shows_every_default():
    checked = 0
    for name, parser in _subparsers().items():
        parser.format_help()  # renders
        helps = _helps(parser)
        for action in parser._actions:
            default = action.default
            if not action.option_strings or default is None or default is False \
                    or default in (argparse.SUPPRESS, []):
                continue
            text = helps[action.option_strings[0]]
            assert "default" in text.lower(), (name, action.option_strings, text)
            if "default" not in (action.help or "").lower():  # the formatter added it
                assert f"(default: {default})" in text, (name, action.option_strings, text)
            checked += 1
    assert checked > 40  # score, train and reproduce share about 15 each


@pytest.mark.parametrize("command, option, names", [
    ("train", "--pacing", PACINGS.names()), ("train", "--augment", AUGMENTATIONS.names()),
    ("score", "--model", MODELS.names()), ("score", "--scorers", SCORERS.names()),
    ("reproduce", "--scorers", SCORERS.names()), ("score", "--dataset", DATASETS.names()),
    ("train", "--ordering", ["curriculum", "anti", "random", "none"]),
])
def test_help_lists_registry_names(command, option, names):
    text = _helps(_subparsers()[command])[option]
    assert names and all(n in text for n in names), text


@pytest.mark.parametrize("command, argv, dest, value", [
    ("score", ["--scorer", "fit"], "scorers", "fit"),
    ("score", ["--scorers", "fit"], "scorers", "fit"),
    ("score", ["--seed", "3"], "seeds", "3"),
    ("reproduce", ["--scorer", "aum"], "scorers", "aum"),
])
def test_one_option_per_concept_old_names_kept(command, argv, dest, value):
    out = [] if command == "reproduce" else ["--out", "x"]
    args = build_parser().parse_args([command, *argv, *out])
    assert getattr(args, dest) == value


@pytest.mark.parametrize("command", list(_registries()))
def test_listings_print_no_markup(command, capsys):
    assert main([command]) == 0
    text = capsys.readouterr().out
    assert len(text.splitlines()) == len(_registries()[command].names())
    assert not MARKUP.search(text), MARKUP.search(text)


def test_datasets_name_prints_layout_and_options(capsys):
    assert main(["datasets", "folder"]) == 0
    text = capsys.readouterr().out
    assert "root/train.csv" in text and "root/dev.csv" in text
    assert "--root PATH (required): the dataset folder" in text
    for option in ("features=panns16k", "duration=None", "cache_dir=None", "chunk_size=None"):
        assert option in text
    assert "progress=" not in text  # set by --no-progress
    assert not MARKUP.search(text), MARKUP.search(text)
    for name in DATASETS.names():  # every loader is described, plainly
        assert main(["datasets", name]) == 0
        text = capsys.readouterr().out
        assert text.startswith(f"{name}: ") and not MARKUP.search(text), (name, text)
    assert "Layout:" in (main(["datasets", "speechcommands"]), capsys.readouterr().out)[1]


def _legacy(path: Path) -> dict:
    """Rewrite ``path`` (a run.json) as easyfirst wrote it before one schema."""
    new = json.loads(path.read_text())
    if new["kind"] == "score":
        old = {"dataset_fingerprint": new["dataset_fingerprint"], "settings": new["config"]}
    else:
        old = {k: new[k] for k in ("config", "curriculum", "dataset", "dataset_fingerprint",
                                   "scores")}
    path.write_text(json.dumps(old))
    return new


def test_score_and_train_write_one_run_json_schema_and_resume_old_folders(tmp_path, capsys):
    score, train = tmp_path / "score", tmp_path / "train"
    assert main(["score", *FAST, "--scorers", "cumacc", "--out", str(score)]) == 0
    assert main(["train", *FAST, "--scores", str(score / "scores" / "cumacc.csv"),
                 "--out", str(train)]) == 0
    records = {p.parent.name: json.loads((p).read_text()) for p in (score / "run.json",
                                                                    train / "run.json")}
    common = {"kind", "version", "easyfirst_version", "cwd", "dataset", "dataset_fingerprint",
              "config"}
    assert common <= set(records["score"]) and common <= set(records["train"])
    assert set(records["score"]) - common == set()
    assert set(records["train"]) - common == {"curriculum", "scores"}
    assert records["score"]["config"]["lr"] == records["train"]["config"]["lr"]
    for folder, argv in ((train, ["train", *FAST, "--scores",  # before score rewrites it
                                  str(score / "scores" / "cumacc.csv")]),
                         (score, ["score", *FAST, "--scorers", "cumacc"])):
        new = _legacy(folder / "run.json")
        assert main([*argv, "--lr", "0.5", "--resume", "--out", str(folder)]) == 2
        assert "with a different lr" in capsys.readouterr().err
        assert "kind" not in json.loads((folder / "run.json").read_text())  # left as it was
        assert main([*argv, "--resume", "--out", str(folder)]) == 0, capsys.readouterr().err
        assert json.loads((folder / "run.json").read_text()) == new  # upgraded in place


def test_ordering_none_names_no_pacing_and_epochs_count_from_one(tmp_path, capsys):
    out = tmp_path / "base"
    assert main(["train", *FAST, "--ordering", "none", "--pacing", "root", "--out",
                 str(out)]) == 0
    text = capsys.readouterr().out
    assert "baseline (ordering none" in text and "root" not in text.split(" on ")[0]
    metrics = json.loads((out / "metrics.json").read_text())
    assert [r["epoch"] for r in metrics["metrics"]] == [1, 2]
    assert metrics["best_epoch"] in (1, 2)
    assert f"(epoch {metrics['best_epoch']}, best on dev)" in text


def _audio_folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = {"train": ["a0", "b0", "a1", "b1"], "dev": ["a2", "b2"], "test": ["a3", "b3"]}
    for split, names in rows.items():
        for n in names:
            (root / "audio").mkdir(parents=True, exist_ok=True)
            sf.write(root / "audio" / f"{n}.wav", rng.normal(0, 0.1, 1600).astype(np.float32),
                     16000)
        (root / f"{split}.csv").write_text(
            "file,label\n" + "".join(f"audio/{n}.wav,{n[0]}\n" for n in names))
    return root


@pytest.mark.parametrize("flag", [["--no-progress"], []])
def test_no_progress_hides_the_feature_cache_bars(flag, tmp_path, capsys):
    root = _audio_folder(tmp_path / "data")
    argv = ["score", "--dataset", "folder", "--root", str(root), "--dataset-opt",
            f"cache_dir={tmp_path / 'cache'}", "--model", "mlp", "--epochs", "1", "--device",
            "cpu", *flag, "--out", str(tmp_path / "out")]
    assert main(argv) == 0
    err = capsys.readouterr().err
    bars = re.findall(r"folder-train.*\d+/\d+", err)  # the caching bar of the train split
    assert (not bars) if flag else bars, err
    if flag:
        assert "%|" not in err and "it/s" not in err, err


def test_models_name_shows_the_recipe_and_model_options(capsys):
    assert main(["models", "tcresnet8"]) == 0
    out = capsys.readouterr().out
    assert "recipe: adam lr 0.005" in out and "width_mult=1.0" in out and "dropout=0.1" in out
    assert "input_shape" not in out and "[256,128]" in out
    assert main(["models", "nope"]) == 2
    assert re.search(r"Unknown model 'nope'\. Available: .*cnn10", capsys.readouterr().err)


def test_a_listing_into_a_closed_pipe_stops_quietly():
    """``easyfirst scorers | head -1``: the reader goes away; no error line, exit 141."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run([sys.executable, "-c", CLI, "scorers"], stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (141, "")
