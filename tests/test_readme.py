"""The documentation's examples (own training loop, curriculum, costly scorers, late fusion,
the paper's quick start) run as written and do what their pages say; the README's commands
are the ones CI runs. The examples live in docs/ (found by their ``<!-- example: NAME -->``
marker, see tests/test_docs.py, which runs every other example)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def _example(name: str = "own-loop") -> str:
    from test_docs import example

    return example(name)[1]


def test_readme_own_loop_example_runs():
    namespace: dict = {}
    exec(compile(_example(), "docs", "exec"), namespace)
    scores = namespace["scores"]
    assert scores.num_samples == 512
    assert 0.0 <= scores.values.min() <= scores.values.max() <= 1.0
    # the separable task is learned: most samples end up easy
    assert scores.values.mean() > 0.5


def test_readme_quickstart_example_runs():
    namespace: dict = {}
    exec(compile(_example("quickstart"), "docs", "exec"), namespace)
    scores, rankings = namespace["scores"], namespace["rankings"]
    assert scores.shape == (512,) and 0.0 <= scores.min() <= scores.max() <= 1.0
    np.testing.assert_array_equal(rankings["curriculum"], np.argsort(-scores, kind="stable"))
    np.testing.assert_array_equal(rankings["anti"], np.argsort(scores, kind="stable"))
    y = namespace["y"].numpy()
    assert (namespace["fused"].argmax(1) == y).mean() > 0.9  # the separable task is learned


def test_readme_python_curriculum_example_runs():
    import pytest

    from easyfirst import PacingFunction

    namespace: dict = {}
    exec(compile(_example("python-curriculum"), "docs", "exec"), namespace)
    pacing = PacingFunction("linear", start_fraction=0.2, full_at=0.8)
    sizes = namespace["pool_sizes"]
    assert sizes == [pacing.size_at(e, 5, 512) for e in range(5)]  # as the pacing says
    assert sizes == sorted(set(sizes)) and sizes[0] < 512 == sizes[-1]
    sampler, scores = namespace["sampler"], namespace["scores"]
    sampler.set_epoch(0)
    pool, values = sampler.pool, scores.values
    rest = np.setdiff1d(np.arange(512), pool)
    assert values[pool].min() >= values[rest].max()  # easy first: the farthest from the boundary
    assert namespace["accuracy"] > 0.9
    list(sampler)
    with pytest.warns(UserWarning, match=r"Call sampler\.set_epoch\(epoch\)"):
        list(sampler)  # the same epoch again


def test_readme_python_costly_example_runs():
    from easyfirst.models import MODELS

    before = set(MODELS.names())
    namespace: dict = {}
    try:
        exec(compile(_example("python-costly"), "docs", "exec"), namespace)
    finally:
        for name in set(MODELS.names()) - before:
            MODELS.unregister(name)  # the example's custom:make_net
    cvloss, depth, x = namespace["cvloss"], namespace["depth"], namespace["x"]
    assert cvloss.num_samples == depth.num_samples == 300 and not cvloss.higher_is_easier
    assert np.isfinite(cvloss.values).all() and cvloss.values.min() >= 0
    assert cvloss.meta["model"].startswith("custom:make_net") and cvloss.meta["epochs"] == 5
    near = np.argsort((x[:, 0] + 0.5 * x[:, 1]).abs().numpy())
    assert cvloss.values[near[:50]].mean() > cvloss.values[near[-50:]].mean()  # boundary: hard
    assert depth.meta["num_layers"] == 2 and depth.meta["ensemble_size"] == 2
    assert depth.values.min() >= 0 and depth.values.max() <= 2
    assert "user's factory make_net" in depth.meta["model_source"]
    np.testing.assert_array_equal(namespace["sampler"].ordering, cvloss.easy_to_hard())


def test_readme_python_fusion_example_runs(tmp_path, monkeypatch):
    import json
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the example's run folders
    namespace: dict = {}
    exec(compile(_example("python-fusion"), "docs", "exec"), namespace)
    fused, runs = namespace["fused"], namespace["runs"]
    assert fused["members"] == ["curriculum", "anti", "none"]
    preds = [np.load(r / "predictions.npz") for r in runs]
    y = preds[0]["test_targets"]
    assert len(y) == 100
    total = sum(p["test_probs"] for p in preds)
    assert fused["accuracy"] == (total.argmax(1) == y).mean()  # the sum's argmax
    for run, p, acc in zip(runs, preds, fused["member_accuracies"], strict=True):
        assert acc == (p["test_probs"].argmax(1) == y).mean()
        assert acc == json.loads((run / "metrics.json").read_text())["test_accuracy"]
    assert min(fused["member_accuracies"]) > 0.8 and fused["accuracy"] > 0.9  # learned


def test_readme_commands_match_ci():
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci in README.read_text(), ".ci/run must run the README's test command verbatim"
