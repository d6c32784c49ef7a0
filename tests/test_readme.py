"""The README's own-training-loop example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _example() -> str:
    text = README.read_text()
    m = re.search(r"<!-- example: own-loop -->\s*```python\n(.*?)```", text, re.S)
    assert m, "README.md lost its own-loop example block"
    return m.group(1)


def test_readme_own_loop_example_runs():
    namespace: dict = {}
    exec(compile(_example(), "README.md", "exec"), namespace)
    scores = namespace["scores"]
    assert scores.num_samples == 512
    assert 0.0 <= scores.values.min() <= scores.values.max() <= 1.0
    # the separable task is learned: most samples end up easy
    assert scores.values.mean() > 0.5


def test_readme_commands_match_ci():
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci in README.read_text(), ".ci/run must run the README's test command verbatim"
