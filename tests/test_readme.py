"""The README's examples (own training loop, the paper's quick start) run as written."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def _example(name: str = "own-loop") -> str:
    text = README.read_text()
    m = re.search(rf"<!-- example: {name} -->\s*```python\n(.*?)```", text, re.S)
    assert m, f"README.md lost its {name} example block"
    return m.group(1)


def test_readme_own_loop_example_runs():
    namespace: dict = {}
    exec(compile(_example(), "README.md", "exec"), namespace)
    scores = namespace["scores"]
    assert scores.num_samples == 512
    assert 0.0 <= scores.values.min() <= scores.values.max() <= 1.0
    # the separable task is learned: most samples end up easy
    assert scores.values.mean() > 0.5


def test_readme_quickstart_example_runs():
    namespace: dict = {}
    exec(compile(_example("quickstart"), "README.md", "exec"), namespace)
    scores, rankings = namespace["scores"], namespace["rankings"]
    assert scores.shape == (512,) and 0.0 <= scores.min() <= scores.max() <= 1.0
    np.testing.assert_array_equal(rankings["curriculum"], np.argsort(-scores, kind="stable"))
    np.testing.assert_array_equal(rankings["anti"], np.argsort(scores, kind="stable"))
    y = namespace["y"].numpy()
    assert (namespace["fused"].argmax(1) == y).mean() > 0.9  # the separable task is learned


def test_readme_commands_match_ci():
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci in README.read_text(), ".ci/run must run the README's test command verbatim"
