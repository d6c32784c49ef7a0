"""Late fusion on constructed probabilities, and the accuracy tables over run folders."""

from __future__ import annotations

import json

import numpy as np
import pytest

from easyfirst.analysis.fusion import (
    RunPredictions,
    accuracy,
    fuse,
    fuse_runs,
    fusion_accuracy,
    load_predictions,
)
from easyfirst.analysis.results import (
    best_vs_baselines,
    find_runs,
    fusion_groups,
    fusion_results,
    table_by_ordering_pacing,
)

A = np.array([[0.9, 0.1], [0.4, 0.6], [0.45, 0.55]])  # predicts 0, 1, 1
B = np.array([[0.4, 0.6], [0.9, 0.1], [0.45, 0.55]])  # predicts 1, 0, 1
Y = np.array([0, 0, 0])


def test_fusion_beats_each_member_by_hand():
    assert accuracy(A, Y) == pytest.approx(1 / 3) and accuracy(B, Y) == pytest.approx(1 / 3)
    np.testing.assert_allclose(fuse([A, B]), [[1.3, 0.7], [1.3, 0.7], [0.9, 1.1]])
    assert fusion_accuracy([A, B], Y) == pytest.approx(2 / 3)
    ids = np.array(["a", "b", "c"])
    res = fuse_runs([RunPredictions(A, Y, ids, "a"), RunPredictions(B, Y, ids, "b")])
    assert res["accuracy"] == pytest.approx(2 / 3)
    assert res["member_accuracies"] == pytest.approx([1 / 3, 1 / 3])
    assert res["members"] == ["a", "b"]


def test_fusion_refuses_other_samples():
    with pytest.raises(ValueError, match="at least 2 runs to fuse; got 1"):
        fuse_runs([RunPredictions(A, Y, np.array(["a", "b", "c"]), "a")])
    with pytest.raises(ValueError, match="predicts other test samples than 'a'"):
        fuse_runs([RunPredictions(A, Y, np.array(["a", "b", "c"]), "a"),
                   RunPredictions(B, Y, np.array(["a", "b", "d"]), "b")])
    with pytest.raises(ValueError, match="one shape"):
        fuse([A, A[:2]])
    with pytest.raises(ValueError, match="at least one"):
        fuse([])


def _write_run(root, name, ordering, pacing, a, seed, dev_probs, test_probs):
    d = root / "runs" / name
    d.mkdir(parents=True)
    y = np.array([0, 0, 0])
    (d / "run.json").write_text(json.dumps({
        "config": {"seed": seed},
        "curriculum": {"ordering": ordering, "pacing": pacing, "start_fraction": 0.2,
                       "full_at": a},
        "scores": {"scorer": "cumacc", "seeds": [0, 1]} if ordering in ("curriculum", "anti")
        else None}))
    (d / "metrics.json").write_text(json.dumps({
        "metrics": [{"epoch": 1, "pool_size": 1, "dev_accuracy": 0.5},
                    {"epoch": 2, "pool_size": 3, "dev_accuracy": 0.6}],
        "test_accuracy": accuracy(test_probs, y), "best_epoch": 1}))
    np.savez(d / "predictions.npz", dev_probs=dev_probs, dev_targets=y,
             dev_ids=np.array(["d0", "d1", "d2"]), test_probs=test_probs, test_targets=y,
             test_ids=np.array(["t0", "t1", "t2"]))


GOOD = np.array([[0.9, 0.1]] * 3)  # 3/3
TWO = np.array([[0.9, 0.1], [0.9, 0.1], [0.1, 0.9]])  # 2/3
BAD = np.array([[0.1, 0.9]] * 3)  # 0/3


@pytest.fixture
def grid(tmp_path):
    _write_run(tmp_path, "cl-log-a0.5", "curriculum", "logarithmic", 0.5, 0, GOOD, GOOD)
    _write_run(tmp_path, "cl-exp-a0.5", "curriculum", "exponential", 0.5, 0, TWO, TWO)
    _write_run(tmp_path, "cl-log-a0.8", "curriculum", "logarithmic", 0.8, 0, TWO, BAD)
    _write_run(tmp_path, "rcl-log-a0.5", "random", "logarithmic", 0.5, 0, TWO, A)
    _write_run(tmp_path, "acl-log-a0.5", "anti", "logarithmic", 0.5, 0, BAD, B)
    _write_run(tmp_path, "baseline-s0", "none", "logarithmic", 0.5, 0, TWO, TWO)
    _write_run(tmp_path, "baseline-s1", "none", "logarithmic", 0.5, 1, GOOD, GOOD)
    _write_run(tmp_path, "baseline-s2", "none", "logarithmic", 0.5, 2, BAD, BAD)
    return find_runs(tmp_path)


def test_load_predictions(grid):
    p = load_predictions(grid[0].path, "dev")
    assert p.probs.shape == (3, 2) and p.ids.tolist() == ["d0", "d1", "d2"]
    with pytest.raises(FileNotFoundError, match="finished easyfirst train run"):
        load_predictions(grid[0].path.parent, "test")


def test_table_by_ordering_pacing(grid):
    t = table_by_ordering_pacing(grid)
    assert t.columns == ["ordering", "logarithmic", "exponential", "all"]  # paper order
    rows = {r[0]: r[1:] for r in t.rows}
    # CL logarithmic: test accs 1.0 (a=0.5) and 0.0 (a=0.8) -> 0.5, bootstrap over {0, 1}
    assert rows["CL (cumacc)"][0] == "0.5000 [0.0000, 1.0000] (n=2)"
    assert rows["CL (cumacc)"][1] == "0.6667 [n/a, n/a] (n=1)"  # one run: no interval
    assert rows["RCL"] == ["0.3333 [n/a, n/a] (n=1)", "-", "0.3333 [n/a, n/a] (n=1)"]
    assert rows["baseline"][-1] == "0.5556 [0.0000, 1.0000] (n=3)"
    assert list(rows) == ["CL (cumacc)", "RCL", "ACL (cumacc)", "baseline"]


def test_best_vs_baselines_selects_on_dev(grid):
    t, data = best_vs_baselines(grid, k=2)
    assert data["k"] == 2
    # best 2 baselines on dev: s1 (dev 1.0, test 1.0), s0 (dev 2/3, test 2/3)
    assert data["best_k_baseline_mean"] == pytest.approx(5 / 6)
    # CL: best on dev is cl-log-a0.5 (dev 1.0), test 1.0
    assert data["best"]["CL (cumacc)"]["run"] == "cl-log-a0.5"
    assert data["best"]["CL (cumacc)"]["delta"] == pytest.approx(1 - 5 / 6)
    # cl-exp and cl-log-a0.8 tie on dev (2/3); tie broken by name, never by test accuracy
    assert t.rows[-1][0] == "mean of best 2 baselines"


def test_fusion_groups_and_table(grid):
    groups = fusion_groups(grid, k=2)
    assert list(groups) == ["CL+RCL+ACL+B1", "CL+RCL+ACL", "CL+ACL", "B1..B3", "B1..B2"]
    assert [r.name for r in groups["CL+RCL+ACL+B1"]] == [
        "cl-log-a0.5", "rcl-log-a0.5", "acl-log-a0.5", "baseline-s1"]
    t, rows = fusion_results(grid, k=2)
    by = {r["fusion"]: r for r in rows}
    # RCL (A) + ACL (B) fused: 2/3 (the hand example); + CL (GOOD) -> 3/3
    assert by["CL+ACL"]["accuracy"] == pytest.approx(1.0)
    sums = GOOD + A + B + GOOD
    assert by["CL+RCL+ACL+B1"]["accuracy"] == pytest.approx(np.mean(sums.argmax(1) == 0))
    assert by["B1..B2"]["delta_vs_best_k_baselines"] == pytest.approx(
        by["B1..B2"]["accuracy"] - 5 / 6)
    assert len(t.rows) == 5
    # CL+RCL+ACL fused (GOOD + A + B: 3/3) vs B1..B3 fused (TWO + GOOD + BAD: 2/3), paired
    # over the 3 test samples: one discordant sample, McNemar p = 1
    assert by["CL+RCL+ACL"]["vs_baselines_fused"]["group"] == "B1..B3"
    assert by["CL+RCL+ACL"]["vs_baselines_fused"]["effect"] == pytest.approx(1 / 3)
    assert by["CL+RCL+ACL"]["vs_baselines_fused"]["p"] == pytest.approx(1.0)
    assert by["CL+ACL"]["vs_best_member"]["effect"] == pytest.approx(0.0)  # GOOD is a member
    assert by["B1..B2"]["vs_baselines_fused"] is None
