"""The GPU-facing benchmarks still run (smoke sizes, CPU): no timing is asserted here."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import gpu_step_variants  # noqa: E402
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
