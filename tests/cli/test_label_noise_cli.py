"""--label-noise on the command line: recorded in run.json and samples.npz, refused cleanly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from easyfirst.cli.main import main
from easyfirst.data import ArraySplit, DatasetBundle, load_dataset, register_dataset
from easyfirst.data.registry import DATASETS
from easyfirst.run_folder import read_sample_meta

FAST = ["--dataset", "digits", "--model", "mlp", "--epochs", "2", "--no-progress",
        "--device", "cpu"]
NOISE = ["--label-noise", "0.2", "--noise-kind", "pairs", "--noise-seed", "3"]


@pytest.fixture(scope="module")
def noisy_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("noisy")
    assert main(["score", *FAST, *NOISE, "--scorer", "cumacc", "--seeds", "0",
                 "--out", str(out)]) == 0
    return out


def test_score_records_the_noise_in_run_json_and_samples(noisy_run):
    run = json.loads((noisy_run / "run.json").read_text())
    expected = load_dataset("digits", label_noise=0.2, noise_kind="pairs", noise_seed=3)
    n = len(expected.train)
    assert run["label_noise"] == {"rate": 0.2, "kind": "pairs", "seed": 3,
                                  "flipped": round(0.2 * n)}
    assert run["dataset_fingerprint"] == expected.fingerprint
    assert run["dataset_fingerprint"] != load_dataset("digits").fingerprint
    assert {k: run["config"]["dataset_options"][k] for k in
            ("label_noise", "noise_kind", "noise_seed")} == {
        "label_noise": 0.2, "noise_kind": "pairs", "noise_seed": 3}
    arrays = read_sample_meta(noisy_run)
    flipped, clean = arrays["train.label_flipped"], arrays["train.clean_targets"]
    assert flipped.dtype == bool and int(flipped.sum()) == round(0.2 * n)
    np.testing.assert_array_equal(flipped, expected.train.meta["label_flipped"])
    given = arrays["train.targets"]
    assert (given[flipped] != clean[flipped]).all() and (given[~flipped] == clean[~flipped]).all()
    np.testing.assert_array_equal(clean, load_dataset("digits").train.targets.numpy())
    np.testing.assert_array_equal(arrays["test.targets"], expected.test.targets.numpy())
    assert not any(k.startswith("train.meta.") for k in arrays)
    assert "dev.label_flipped" not in arrays and "test.label_flipped" not in arrays


def test_other_noise_settings_are_refused_and_change_nothing(noisy_run, capsys):
    before = {p.name: p.read_bytes() for p in noisy_run.iterdir() if p.is_file()}
    for other in (["--label-noise", "0.1", "--noise-kind", "pairs", "--noise-seed", "3"],
                  ["--label-noise", "0.2", "--noise-seed", "3"], []):
        assert main(["score", *FAST, *other, "--scorer", "cumacc", "--seeds", "0",
                     "--resume", "--out", str(noisy_run)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "different dataset" in err, err
    after = {p.name: p.read_bytes() for p in noisy_run.iterdir() if p.is_file()}
    assert after == before


def test_rate_zero_is_the_clean_dataset(tmp_path, capsys):
    out = tmp_path / "clean"
    assert main(["score", *FAST, "--scorer", "cumacc", "--seeds", "0", "--out", str(out)]) == 0
    run = json.loads((out / "run.json").read_text())
    assert "label_noise" not in run and run["dataset_fingerprint"] == \
        load_dataset("digits").fingerprint
    assert "train.label_flipped" not in read_sample_meta(out)
    # --label-noise 0 (any kind or seed) is the same data and settings: the folder is reused
    assert main(["score", *FAST, "--label-noise", "0", "--noise-kind", "pairs", "--noise-seed",
                 "9", "--scorer", "cumacc", "--seeds", "0", "--resume", "--out", str(out)]) == 0


def test_train_records_the_noise(tmp_path):
    out = tmp_path / "train"
    assert main(["train", *FAST, "--label-noise", "0.1", "--ordering", "random",
                 "--out", str(out)]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["label_noise"]["rate"] == 0.1 and run["label_noise"]["kind"] == "uniform"
    assert run["dataset_fingerprint"] == load_dataset("digits", label_noise=0.1).fingerprint


@pytest.fixture
def multi_label_toy():
    @register_dataset("ml_toy_noise")
    def load_ml_toy() -> DatasetBundle:
        """A four-sample multi-label toy (tests only)."""
        rows = np.eye(4, 3, dtype=np.float32)
        split = ArraySplit(np.zeros((4, 2), np.float32), rows, list("abcd"))
        return DatasetBundle("ml_toy_noise", split, None, None, ["x", "y", "z"])

    yield "ml_toy_noise"
    DATASETS.unregister("ml_toy_noise")


@pytest.mark.parametrize(("args", "message"), [
    (["--label-noise", "1"], r"Expected a label-noise rate in [0, 1) (the share of training "
                             r"labels to flip); got 1.0. Pass e.g. --label-noise 0.1"),
    (["--label-noise", "-0.2"], "got -0.2"),
    (["--label-noise", "0.1", "--noise-kind", "pair"],
     "Expected a label-noise kind in uniform, pairs; got 'pair'. Pass --noise-kind uniform"),
    (["--noise-kind", "bogus"], "got 'bogus'"),
    (["--label-noise", "0.1", "--noise-seed", "-1"],
     "--noise-seed: expected a whole number >= 0 and <= 4294967295; got '-1'"),
    (["--dataset", "ml_toy_noise", "--label-noise", "0.1"],
     "Expected a single-label dataset for label noise; got 'ml_toy_noise'"),
])
@pytest.mark.parametrize("command", ["score", "train"])
def test_bad_noise_settings_are_one_line_and_write_nothing(
        multi_label_toy, tmp_path, capsys, command, args, message):
    out = tmp_path / "out"
    assert main([command, *FAST, *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("easyfirst: error: ") and message in err, err
    assert not out.exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "note.txt").write_text("mine")
    assert main([command, *FAST, *args, "--out", str(kept)]) == 2
    assert [p.name for p in kept.iterdir()] == ["note.txt"]


def test_help_documents_the_noise_options(capsys):
    assert main(["score", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for option in ("--label-noise RATE", "--noise-kind KIND", "--noise-seed N", "uniform, pairs",
                   "TRAINING labels"):
        assert option in text, option
