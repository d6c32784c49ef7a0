"""The benchmarks still run (smoke sizes, CPU): no timing is asserted here."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import cli_startup  # noqa: E402
import engine_overhead  # noqa: E402
import gpu_step_variants  # noqa: E402
import image_recipes  # noqa: E402
import protocol  # noqa: E402
import score_file_speed  # noqa: E402
import scoring_throughput  # noqa: E402


def test_scoring_throughput_smoke(tmp_path):
    out = tmp_path / "t.json"
    args = ["--smoke", "--device", "cpu", "--workers", "0", "--batch-sizes", "8"]
    assert scoring_throughput.main([*args, "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [(r["shape"], r["batch_size"]) for r in rows] == [("dcase", 8), ("cifar", 8)]
    for r in rows:
        assert r["c_mode"] == "sequential"  # auto never fuses on CPU
        assert r["a_reference"] > 0 and r["b_easyfirst_one_seed"] > 0
        assert r["ratio_b_over_a"] == pytest.approx(r["b_easyfirst_one_seed"] / r["a_reference"])


def test_score_file_speed_smoke(tmp_path):
    out = tmp_path / "s.json"
    assert score_file_speed.main(["--n", "3000", "--rounds", "2", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    for kind in score_file_speed.KINDS:
        row = result["summary"][kind]
        assert len(row["ratios"]) == 2 and row["csv"]["total"] > 0 and row["npz"]["total"] > 0
        assert result["bytes"][kind]["csv"] > result["bytes"][kind]["npz"] > 0


def test_cli_startup_smoke(tmp_path):
    out = tmp_path / "c.json"
    assert cli_startup.main(["--rounds", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["ratios"] == [result["median_s"]["help"] / result["median_s"]["import_torch"]]


def test_engine_overhead_smoke(tmp_path):
    out = tmp_path / "e.json"
    args = ["--dataset", "digits", "--model", "mlp", "--epochs", "1", "--rounds", "2"]
    assert engine_overhead.main([*args, "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert (result["model"], result["epochs"], len(result["ratios"])) == ("mlp", 1, 2)
    assert all(v > 0 for v in result["samples_per_s"].values())


def test_gpu_step_variants_smoke(tmp_path):
    out = tmp_path / "v.json"
    args = ["--smoke", "--device", "cpu", "--shapes", "cifar", "--batch-sizes", "4"]
    assert gpu_step_variants.main([*args, "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    names = [r["variant"] for r in rows]
    # graph rows need CUDA; every other variant ran, the vmapped ones with 2 members
    assert names == ["ref", "eager", "eager+bench", "eager+bench+fadam", "vmap",
                     "vmap+bench+fadam"]
    assert all(r["members"] == (2 if r["variant"].startswith("vmap") else 1) for r in rows)


def test_image_recipes_smoke(tmp_path):
    if not image_recipes.fmnist_present():
        pytest.skip("Fashion-MNIST is not installed in /usr/share/datasets/fashion-mnist "
                    "(apt-get install dataset-fashion-mnist): the image recipe benchmark needs it")
    out = tmp_path / "i.json"
    assert image_recipes.main(["--quick", "--recipes", "auto", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert set(data["timing"]["auto"]) == {"fmnist", "cifar"}
    assert all(t["samples_per_s"] > 0 for t in data["timing"]["auto"].values())
    run = data["fmnist"]["auto"]
    assert run["model"] == "image_cnn" and len(run["test_per_epoch"]) == 1  # --quick: 1 epoch
    noisy = data["noisy"]["auto"]
    assert data["noisy_flipped"] == round(0.1 * data["noisy_train"])
    assert len(noisy["test_accuracy"]) == 2 and noisy["train_s"] > 0
    assert set(noisy["scorers"]) == set(image_recipes.SCORERS)
    for q in noisy["scorers"].values():
        assert 0 < q["ap_pessimistic"] <= 1 and 0 < q["ap_rank"] <= 1


def test_image_recipes_ap_orders_ties_against_the_flipped():
    flipped = np.array([True, False, False, True, False])
    # one tie of all five: the three clean samples count as harder than both flipped ones,
    # which then come one by one: precision 1/4, then 2/5
    assert image_recipes.ap_pessimistic(np.zeros(5), flipped) == pytest.approx((1 / 4 + 2 / 5) / 2)
    # a tie of one flipped and one clean sample on top: the clean one first
    hard = np.array([2.0, 2.0, 0.0, 1.0, 0.0])
    assert image_recipes.ap_pessimistic(hard, flipped) == pytest.approx((1 / 2 + 2 / 3) / 2)
    # no ties: the flipped samples are the two hardest
    assert image_recipes.ap_pessimistic(np.array([3.0, 1.0, 0.0, 2.0, 0.5]), flipped) == 1.0


def test_protocol_smoke(tmp_path):
    work, results = tmp_path / "work", tmp_path / "results"
    args = ["--quick", "--threads", "1", "--work", str(work), "--results", str(results)]
    assert protocol.main(args) == 0
    copied = sorted(p.name for p in (results / "synthkws").iterdir())
    assert copied == ["findings.json", "reproduce.json", "results.json", "tables.md",
                      "timing.json"]
    timing = json.loads((results / "synthkws" / "timing.json").read_text())
    assert timing["runs"] == 5 and timing["runs_s"] > 0 and timing["scoring_s"] > 0
    findings = json.loads((results / "synthkws" / "findings.json").read_text())
    assert findings["alpha"] == 0.05 and findings["findings"]
    text = protocol.summary(results)
    assert text.startswith("| regime | runs |") and "\n| synthkws | 5 |" in text
    assert f"| {findings['findings'][0]['claim']} |" in text
