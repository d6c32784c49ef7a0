"""Import/export of aucurriculum score files, against real aucurriculum 0.1.1 output."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from easyfirst.aucurriculum import read_aucurriculum, write_aucurriculum
from easyfirst.scores import Scores, ScoresFileError

CUR = Path(__file__).parent / "fixtures" / "aucurriculum_scores" / "curriculum"


def _column(path, name):
    with open(path, newline="") as fh:
        return np.array([float(r[name]) for r in csv.DictReader(fh)])


@pytest.mark.parametrize(
    ("rel", "scorer", "higher"),
    [
        ("CumulativeAccuracy/CumulativeAccuracy.csv", "cumacc", True),
        ("CELoss/CELoss.csv", "celoss", False),
    ],
)
def test_import_reproduces_aucurriculum_ranks(rel, scorer, higher):
    path = CUR / rel
    s = read_aucurriculum(path)
    assert s.scorer == scorer and s.higher_is_easier is higher and s.num_samples == 600
    np.testing.assert_allclose(s.ranks() / 599, _column(path, "ranks"), rtol=0, atol=1e-15)
    np.testing.assert_array_equal(s.values, _column(path, "mean"))


def test_import_per_run_files_match_final_file():
    run = next((CUR / "CumulativeAccuracy").glob("*/scores.csv"))
    per_run = read_aucurriculum(run, scorer="CumulativeAccuracy")
    final = read_aucurriculum(CUR / "CumulativeAccuracy" / "CumulativeAccuracy.csv")
    np.testing.assert_array_equal(per_run.values, final.values)
    assert final.summary()["largest_tie"] == 392  # the tie the fixture exercises


def test_export_roundtrip(tmp_path):
    final = read_aucurriculum(CUR / "CELoss" / "CELoss.csv")
    targets = [int(t) for t in final.meta["targets"]]
    names = [f"class_{i}" for i in range(10)]
    out = write_aucurriculum(final, tmp_path / "CELoss.csv", targets=targets, class_names=names)
    back = read_aucurriculum(out, scorer="CELoss")
    np.testing.assert_array_equal(back.values, final.values)
    np.testing.assert_allclose(
        _column(out, "ranks"), _column(CUR / "CELoss" / "CELoss.csv", "ranks"), atol=1e-15
    )


def test_export_keeps_our_tie_rule(tmp_path):
    s = Scores(np.array([1.0, 1.0, 0.0, 1.0]), higher_is_easier=True, meta={"tie_seed": 3})
    out = write_aucurriculum(s, tmp_path / "x.csv", targets=[0, 1, 0, 1], class_names=["a", "b"])
    back = read_aucurriculum(out, scorer="CumulativeAccuracy")  # aucurriculum: row order ties
    np.testing.assert_allclose(_column(out, "ranks") * 3, s.ranks())
    assert back.higher_is_easier


def test_import_errors(tmp_path):
    with pytest.raises(ScoresFileError, match="does not exist"):
        read_aucurriculum(tmp_path / "none.csv")
    p = tmp_path / "weird.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(ScoresFileError, match="expected a 'mean', 'scores' or 'sum'\\+'count'"):
        read_aucurriculum(p)
    p.write_text("index,scores\n0,1.0\n1,2.0\n")
    with pytest.raises(ScoresFileError, match="cannot tell whether higher scores are easier"):
        read_aucurriculum(p)


def test_our_loader_points_to_importer(tmp_path):
    with pytest.raises(ScoresFileError, match="use Scores.from_aucurriculum|aucurriculum"):
        Scores.load(CUR / "CELoss" / "CELoss.csv")
