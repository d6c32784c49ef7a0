"""A scorer registered in a test file appears in the listing, the common tests and the CLI."""

from __future__ import annotations

import numpy as np

from easyfirst.cli.main import main
from easyfirst.scores import Scores
from easyfirst.scoring import SCORERS


def test_toy_scorer_is_listed(capsys) -> None:
    assert main(["scorers"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("toy "))
    assert "higher=easier" in line and "a test's scorer" in line


def test_toy_scorer_is_in_the_common_tests() -> None:
    import test_scorers_common as common  # rootdir-relative, as pytest imports it

    marks = [m for m in common.test_scorer_contract.pytestmark if m.name == "parametrize"]
    assert "toy" in marks[0].args[1] and "toy" in SCORERS


def test_easyfirst_score_runs_the_toy_scorer(tmp_path, capsys) -> None:
    out = tmp_path / "toy"
    assert main(["score", "--dataset", "digits", "--model", "mlp", "--epochs", "2",
                 "--scorer", "toy,cumacc", "--seeds", "0", "--device", "cpu", "--no-progress",
                 "--out", str(out)]) == 0
    assert "toy (higher_is_easier" in capsys.readouterr().out
    toy, cum = (Scores.load(out / "scores" / f"{n}.csv") for n in ("toy", "cumacc"))
    np.testing.assert_allclose(toy.values, cum.values * 2 - 2)  # correct - seen, 2 epochs
