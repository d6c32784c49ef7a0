"""The label-noise benchmarks still run (smoke sizes): their JSON holds every number the
tables print, consistent with the definitions; no quality or speed is asserted here."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import label_issues  # noqa: E402
import tie_rules  # noqa: E402


def test_label_issues_quick(tmp_path):
    pytest.importorskip("cleanlab", reason="cleanlab (the benchmark's bench extra) is not "
                        "installed: pip install cleanlab")
    out = tmp_path / "l.json"
    assert label_issues.main(["--quick", "--threads", "1", "--json", str(out)]) == 0
    row = json.loads(out.read_text())["rows"][0]
    assert (row["n_train"], row["n_flipped"]) == (500, 50)
    e, c = row["easyfirst"], row["cleanlab"]
    assert e["trainings"] == 2 and c["trainings"] == 2
    assert e["flagged"] <= e["estimated"] and 0 <= e["precision"] <= 1
    assert set(e["ap"]["cumacc"]) == {"pessimistic", "rank_column", "ties_random",
                                      "ties_dataset-order"}
    # the rank column orders every tie, so it is never below the pessimistic order
    assert e["ap"]["cumacc"]["rank_column"] >= e["ap"]["cumacc"]["pessimistic"]
    assert c["prune_by_noise_rate"]["flagged"] > 0


def test_tie_rules_quick(tmp_path):
    out = tmp_path / "t.json"
    assert tie_rules.main(["--quick", "--threads", "1", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert set(r["cumacc"]) == {"evidence", "random", "dataset-order"}
    assert all({"ap", "spearman", "hardest10_overlap"} <= set(q) for q in r["fit"].values())
    c = r["curriculum"]
    assert [len(v) for v in c["test_accuracy"].values()] == [2, 2, 2]
    assert c["random"]["minus_random"][0] == 0.0 and c["random"]["p"] == 1.0
