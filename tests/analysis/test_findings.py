"""The paper's findings on synthetic run folders with a known truth: a real effect is
``shown`` (or ``reversed``), no effect is ``not distinguishable``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from easyfirst.analysis.findings import (
    cell_table,
    findings_dict,
    findings_table,
    folder_findings,
    paper_findings,
)
from easyfirst.analysis.results import find_runs

N_TEST = 400
ORDERING = {"CL": "curriculum", "RCL": "random", "ACL": "anti", "baseline": "none"}


def _write_run(root, kind, pacing, seed, acc, *, scorer="cumacc", rng, order=None):
    """A finished run whose test (and dev) predictions are right on ``acc`` of the samples,
    the wrong ones drawn at random per run (or the last of a shared ``order``: models that
    err on the same samples, which fusion cannot fix)."""
    name = f"{kind.lower()}-{scorer}-{pacing}-s{seed}" if kind != "baseline" \
        else f"baseline-s{seed}"
    d = root / "runs" / name
    d.mkdir(parents=True)
    y = np.zeros(N_TEST, dtype=np.int64)
    right = np.zeros(N_TEST, dtype=bool)
    order = rng.permutation(N_TEST) if order is None else order
    right[order[: round(acc * N_TEST)]] = True
    probs = np.where(right[:, None], [[0.8, 0.2]], [[0.3, 0.7]])
    ordered = kind in ("CL", "ACL")
    (d / "run.json").write_text(json.dumps({
        "config": {"seed": seed},
        "curriculum": {"ordering": ORDERING[kind], "pacing": pacing, "start_fraction": 0.2,
                       "full_at": 0.5},
        "scores": {"scorer": scorer, "seeds": [0, 1]} if ordered else None}))
    (d / "metrics.json").write_text(json.dumps({
        "metrics": [{"epoch": 1, "pool_size": 10}], "test_accuracy": float(right.mean())}))
    ids = np.array([f"t{i}" for i in range(N_TEST)])
    np.savez(d / "predictions.npz", dev_probs=probs, dev_targets=y, dev_ids=ids,
             test_probs=probs, test_targets=y, test_ids=ids)


def _grid(root, effect, *, seeds=10, spread=0.01, seed=0, shared_errors=False):
    """Baseline at 0.80 (+ per-seed noise); CL = baseline + effect[CL] at the same seed (the
    seed's initialisation moves every type alike), ACL and RCL likewise; logarithmic pacing
    gets effect['log'] on top."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(N_TEST) if shared_errors else None
    for s in range(seeds):
        level = 0.80 + rng.normal(0, spread)
        _write_run(root, "baseline", "-", s, level, rng=rng, order=order)
        for kind in ("CL", "RCL", "ACL"):
            for pacing in ("logarithmic", "exponential"):
                bonus = effect.get(kind, 0.0) + (effect.get("log", 0.0)
                                                 if pacing == "logarithmic" else 0.0)
                _write_run(root, kind, pacing, s, level + bonus + rng.normal(0, 0.0025),
                           rng=rng, order=order)
    return find_runs(root)


def _verdicts(findings):
    return {f.claim.split(" (")[0]: f.verdict for f in findings}


def test_a_real_effect_is_shown_and_its_reverse_reversed(tmp_path):
    records = _grid(tmp_path, {"CL": 0.05, "RCL": 0.08, "ACL": -0.05, "log": 0.03})
    found = paper_findings(records)
    v = _verdicts(found)
    assert v["CL beats the baseline"] == "shown"
    assert v["easy-to-hard"] == "shown"
    assert v["the difficulty order beats a random one with the same pacing"] == "reversed"
    assert v["faster pacing beats slower pacing"] == "shown"
    by = {f.claim.split(" (")[0]: f for f in found}
    cl = by["CL beats the baseline"]
    assert cl.n == 10 and cl.effect == pytest.approx(0.05 + 0.015, abs=0.01)
    assert cl.ci_low > 0 and cl.p < 0.05  # Holm over all findings still leaves it below .05
    fusion = [f for f in found if f.claim.startswith("late fusion")]
    assert [f.n for f in fusion] == [N_TEST, N_TEST]
    # independent errors: fusing four models fixes many of them, and the test says so
    assert fusion[0].verdict == "shown" and fusion[0].effect > 0.05
    table = findings_table(found)
    assert [r[0] for r in table.rows] == [f.claim for f in found]


def test_no_effect_is_not_distinguishable(tmp_path):
    records = _grid(tmp_path, {}, shared_errors=True)
    found = paper_findings(records)
    seed_paired = [f for f in found if not f.claim.startswith("late fusion")]
    assert len(seed_paired) == 4
    for f in found:
        assert f.verdict == "not distinguishable", f.text()
    d = findings_dict(found)
    assert d["alpha"] == 0.05 and len(d["findings"]) == len(found)
    json.dumps(d, allow_nan=False)  # NaN/inf became null


def test_too_few_seeds_cannot_show_a_large_effect(tmp_path):
    # 6 seeds: the exact sign-flip test cannot go below 2/64, and Holm over the six findings
    # multiplies it by 5 here (fusion's tiny p takes the factor 6), whatever the effect; the
    # seeds needed say so (at alpha / 6: at least 8)
    records = _grid(tmp_path, {"CL": 0.10}, seeds=6)
    by = {f.claim: f for f in paper_findings(records)}
    f = by["CL beats the baseline"]
    assert f.ci_low > 0 and f.p == pytest.approx(5 * 2 / 64)
    assert f.verdict == "not distinguishable" and f.seeds_needed == 8


def test_cell_table_pairs_each_cell_with_the_baseline(tmp_path):
    records = _grid(tmp_path, {"ACL": -0.10})
    t = cell_table(records)
    rows = {(r[0], r[1]): r for r in t.rows}
    assert [r[0] for r in t.rows][:2] == ["CL (cumacc)", "CL (cumacc)"]  # CL, RCL, ACL order
    assert rows[("ACL (cumacc)", "logarithmic")][-1] == "below baseline"
    assert rows[("CL (cumacc)", "logarithmic")][-1] == "not distinguishable at n = 10"
    assert rows[("baseline", "-")][3].endswith("(n=10)")


def test_the_more_stable_scorer_claim_needs_two_ordering_scorers(tmp_path):
    rng = np.random.default_rng(1)
    for s in range(10):
        _write_run(tmp_path, "baseline", "-", s, 0.8, rng=rng)
        _write_run(tmp_path, "CL", "logarithmic", s, 0.85, scorer="cumacc", rng=rng)
        _write_run(tmp_path, "CL", "logarithmic", s, 0.80, scorer="celoss", rng=rng)
    records = find_runs(tmp_path)
    found = paper_findings(records, stability={"cumacc": 0.9, "celoss": 0.5})
    f = next(f for f in found if f.claim.startswith("the more seed-stable"))
    assert "cumacc, r1 0.900, vs celoss, r1 0.500" in f.claim and f.verdict == "shown"
    assert not any(c.claim.startswith("the more seed-stable") for c in paper_findings(
        records, stability={"cumacc": 0.9}))
    assert [f.claim for f in folder_findings(tmp_path)][0] == "CL beats the baseline"
