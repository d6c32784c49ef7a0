"""easyfirst fuse (and easyfirst.fuse_runs) on the runs of a small reproduce folder (digits)."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

import easyfirst
from easyfirst.cli.main import main

REPRODUCE = ["reproduce", "--dataset", "digits", "--model", "mlp", "--epochs", "2", "--device",
             "cpu", "--no-progress", "--scorers", "cumacc", "--budget", "7", "--no-report"]


@pytest.fixture(scope="module")
def rep(tmp_path_factory):
    out = tmp_path_factory.mktemp("fuse") / "rep"
    assert main([*REPRODUCE, "--out", str(out)]) == 0
    return out


def _fused_by_hand(folders):
    preds = [np.load(f / "predictions.npz") for f in folders]
    y = preds[0]["test_targets"]
    members = [float((p["test_probs"].argmax(1) == y).mean()) for p in preds]
    return float((sum(p["test_probs"] for p in preds).argmax(1) == y).mean()), members


def test_fuse_runs_prints_fused_and_member_accuracy(rep, tmp_path, capsys):
    capsys.readouterr()
    runs = [rep / "runs" / "cl-cumacc-logarithmic-a0.5-s0", rep / "runs" / "baseline-s0",
            rep / "runs" / "acl-cumacc-logarithmic-a0.5-s0"]
    assert main(["fuse", *map(str, runs), "--json", str(tmp_path / "f.json")]) == 0
    out = capsys.readouterr().out
    fused, members = _fused_by_hand(runs)
    data = json.loads((tmp_path / "f.json").read_text())
    assert data["accuracy"] == fused and data["member_accuracies"] == members
    assert data["members"] == [r.name for r in runs] and data["metric"] == "accuracy"
    for run, acc in zip(runs, members, strict=True):
        assert acc == json.loads((run / "metrics.json").read_text())["test_accuracy"]
        assert re.search(rf"\n{run.name} +{acc:.4f}\n", out)
    assert re.search(rf"\nfused \(sum of probabilities\) +{fused:.4f}\n", out)
    vs = data["vs_best_member"]  # paired over the test samples, against the best member
    assert vs["effect"] == pytest.approx(fused - max(members)) and vs["n"] > 0
    assert vs["ci_low"] <= vs["effect"] <= vs["ci_high"] and 0 < vs["p"] <= 1
    assert f"McNemar p = {vs['p']:.4g} over {vs['n']} samples" in out
    py = easyfirst.fuse_runs(runs)  # the same from Python, from the folders
    assert py["accuracy"] == fused and py["member_accuracies"] == members


def test_fuse_of_a_reproduce_folder_prints_the_papers_table(rep, tmp_path, capsys):
    capsys.readouterr()
    assert main(["fuse", str(rep), "--json", str(tmp_path / "t.json")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Late fusion (sum of softmax probabilities, test split)")
    rows = {r["fusion"]: r for r in json.loads((tmp_path / "t.json").read_text())["fusion"]}
    assert {"CL+RCL+ACL+B1", "B1..B2"} <= set(rows)
    results = json.loads((rep / "results.json").read_text())  # reproduce's own fusion rows
    for row in results["fusion"]:
        mine = rows[row["fusion"]]
        assert mine["members"] == row["members"] and mine["accuracy"] == row["accuracy"]
        assert mine["accuracy"] == _fused_by_hand([rep / "runs" / m for m in row["members"]])[0]
        assert re.search(rf"\n{re.escape(row['fusion'])} .* {row['accuracy']:.4f} ", out)


def _other_run(rep, tmp_path, name, edit):
    """A copy of a finished run with one of its files edited by ``edit(folder)``."""
    d = tmp_path / name
    shutil.copytree(rep / "runs" / "baseline-s1", d)
    edit(d)
    return d


def _other_test_set(d):
    with np.load(d / "predictions.npz") as z:
        arrays = dict(z)
    arrays["test_ids"] = np.roll(arrays["test_ids"], 1)
    np.savez(d / "predictions.npz", **arrays)


def _other_dataset(d):
    run = json.loads((d / "run.json").read_text())
    (d / "run.json").write_text(json.dumps({**run, "dataset_fingerprint": "0000"}))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda rep, tmp: [rep / "runs" / "baseline-s0"],
         r"Expected at least 2 runs to fuse; got 1\. Pass two or more run folders"),
        (lambda rep, tmp: [rep / "runs" / "baseline-s0", rep / "score"],
         r"'.*score' holds no predictions\.npz; expected a finished easyfirst train run"),
        (lambda rep, tmp: [rep / "runs" / "baseline-s0", tmp / "missing"],
         r"'.*missing' does not exist; expected a finished easyfirst train run"),
        (lambda rep, tmp: [rep / "runs" / "baseline-s0",
                           _other_run(rep, tmp, "o", _other_test_set)],
         r"Run 'o' predicts other test samples than 'baseline-s0' .* expected the same test set"),
        (lambda rep, tmp: [rep / "runs" / "baseline-s0",
                           _other_run(rep, tmp, "d", _other_dataset)],
         r"Run 'd' was trained on dataset fingerprint 0000 but 'baseline-s0' on \w+; expected "
         r"runs of one dataset"),
        (lambda rep, tmp: [rep / "score"],
         r"'.*score' holds 0 finished train run\(s\) below it; expected at least 2"),
    ],
)
def test_fuse_refuses_in_one_line_and_writes_nothing(rep, tmp_path, capsys, make, message):
    capsys.readouterr()
    runs = make(rep, tmp_path)
    out = tmp_path / "f.json"
    assert main(["fuse", *map(str, runs), "--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("easyfirst: error: ")
    assert re.search(message, err), err
    assert not out.exists()
    with pytest.raises((ValueError, FileNotFoundError)):  # Python refuses them too
        easyfirst.fuse_runs(runs)


def test_fuse_json_into_a_folder_is_refused(rep, tmp_path, capsys):
    runs = [rep / "runs" / "baseline-s0", rep / "runs" / "baseline-s1"]
    assert main(["fuse", *map(str, runs), "--json", str(tmp_path)]) == 2
    assert "Expected --json to be a file" in capsys.readouterr().err
