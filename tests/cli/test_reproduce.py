"""easyfirst reproduce end to end on digits (mlp, 2 epochs, the smallest budget): resumable."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from easyfirst.cli.main import main
from easyfirst.workflows.reproduce import make_plan

FAST = ["reproduce", "--dataset", "digits", "--model", "mlp", "--epochs", "2", "--device", "cpu",
        "--no-progress", "--scorers", "cumacc,fit"]


def test_budgets():
    assert make_plan("tiny").num_runs == 2 + 2 + 6
    assert make_plan("small").num_runs == 3 + 3 + 24
    assert make_plan("paper").num_runs == 10 + 10 + 72
    p = make_plan("compare")  # 10 seeds per compared cell: p < .05 / 6 is within reach
    assert (p.baseline_seeds, p.grid_seeds, p.num_runs) == (tuple(range(10)),) * 2 + (73,)
    p = make_plan("7")
    assert (p.score_seeds, p.baseline_seeds, p.cells) == ((0, 1), (0, 1), (("logarithmic", 0.5),))
    p = make_plan("31")  # 4 + 24 grid runs, 3 left: 2 more scoring seeds, 1 more baseline
    assert (len(p.score_seeds), len(p.baseline_seeds), len(p.cells), p.num_runs) == (4, 3, 8, 31)
    assert make_plan("12", scorers=["cumacc", "fit"], order_by=["cumacc", "fit"]).num_runs == 9
    with pytest.raises(ValueError,
                       match="Unknown budget 'huge'. Available: tiny, small, compare, paper"):
        make_plan("huge")
    with pytest.raises(ValueError, match="at least 7 runs"):
        make_plan("5")
    with pytest.raises(ValueError, match="not among the scorers"):
        make_plan("tiny", scorers=["cumacc"], order_by=["fit"])


def test_reproduce_resumes_and_skips_finished_runs(tmp_path, capsys):
    out = tmp_path / "rep"
    assert main([*FAST, "--budget", "7", "--out", str(out), "--no-report"]) == 0
    first = capsys.readouterr().out
    assert "trained 7 runs, skipped 0" in first
    for title in ("The paper's findings on these runs",
                  "Test accuracy per cell, paired with the baseline of the same seed",
                  "Mean test accuracy by ordering x pacing",
                  "Best run of each type vs the mean of the best 2 baselines",
                  "Late fusion (sum of softmax probabilities, test split)", "Training runs"):
        assert title in first
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert runs == ["acl-cumacc-logarithmic-a0.5-s0", "baseline-s0", "baseline-s1",
                    "cl-cumacc-logarithmic-a0.5-s0", "rcl-logarithmic-a0.5-s0"]
    for r in runs:
        assert (out / "runs" / r / "metrics.json").is_file()
        assert (out / "runs" / r / "predictions.npz").is_file()
    stamp = (out / "runs" / "baseline-s0" / "predictions.npz").stat().st_mtime_ns
    results = json.loads((out / "results.json").read_text())
    assert {r["fusion"] for r in results["fusion"]} >= {"CL+RCL+ACL+B1", "B1..B2"}
    findings = json.loads((out / "findings.json").read_text())
    assert findings == results["findings"]
    claims = [f["claim"] for f in findings["findings"]]
    assert claims and all(c.startswith("late fusion") for c in claims)  # 1 grid seed: no pairs
    for f in findings["findings"]:
        assert set(f) >= {"claim", "verdict", "effect", "ci_low", "ci_high", "p", "n"}
        if f["ci_low"] <= 0 <= f["ci_high"]:
            assert f["verdict"] == "not distinguishable"

    assert main([*FAST, "--budget", "7", "--out", str(out)]) == 0
    second = capsys.readouterr().out
    assert "trained 0 runs, skipped 7" in second
    assert (out / "runs" / "baseline-s0" / "predictions.npz").stat().st_mtime_ns == stamp
    assert second.rstrip().splitlines()[-1] == f"report: {out / 'report.html'}"
    html = (out / "report.html").read_text()
    assert "Results (Rampp et al. 2024 protocol)" in html and "Robustness" in html
    heads = re.findall(r"<h2 id='[^']*'>([^<]+)</h2>", html)  # the answer first
    assert heads[:3] == ["Summary", "Protocol", "Results (Rampp et al. 2024 protocol)"]
    counts = Counter(f["verdict"] for f in findings["findings"])
    said = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
    assert f"<td>findings</td><td>{said}</td>" in html

    # a bigger budget with the same epochs and scoring seeds trains only the new grid cell
    assert main([*FAST, "--budget", "10", "--out", str(out), "--no-report"]) == 0
    assert "trained 3 runs, skipped 7" in capsys.readouterr().out

    assert main([*FAST, "--budget", "7", "--lr", "0.1", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "different lr" in err
