"""Import/export of aucurriculum score files, against real aucurriculum 0.1.1 output."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest

import easyfirst.scores.aucurriculum
from easyfirst.scores import Scores, ScoresFileError
from easyfirst.scores.aucurriculum import read_aucurriculum, write_aucurriculum

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
    path = CUR / "CELoss" / "CELoss.csv"
    with pytest.raises(ScoresFileError, match=r"It looks like an aucurriculum score file: "
                       r"convert it with easyfirst\.scores\.aucurriculum\.read_aucurriculum\(path, "
                       r"dataset_fingerprint=") as info:
        Scores.load(path)
    name = re.search(r"easyfirst\.scores\.aucurriculum\.(\w+)\(", str(info.value)).group(1)
    importer = getattr(easyfirst.scores.aucurriculum, name)  # the hint names a real function
    # ... and following it gives a file the loader accepts for that dataset
    converted = importer(path, dataset_fingerprint="fp").save(tmp_path / "CELoss.csv")
    back = Scores.load(converted, expect_fingerprint="fp", expect_num_samples=600)
    np.testing.assert_array_equal(back.values, _column(path, "mean"))


def _edit_cell(src, dst, line, column, value):
    rows = src.read_text().splitlines()
    cells = rows[line - 1].split(",")
    cells[rows[0].split(",").index(column)] = value
    rows[line - 1] = ",".join(cells)
    dst.write_text("\n".join(rows) + "\n")


@pytest.mark.parametrize(
    ("line", "column", "value", "message"),
    [
        (3, "mean", "nan", r"line 3: column 'mean' is 'nan', not a finite number \(1 of 600 "
         r"rows are not\); expected a number per sample\. Re-export"),
        (2, "mean", "", r"line 2: column 'mean' is '', not a finite number"),
        (5, "mean", "inf", r"line 5: column 'mean' is 'inf'"),
        (4, "ranks", "nan", r"line 4: column 'ranks' is 'nan'"),
        (2, "encoded", "x", r"line 2: column 'encoded' is 'x'"),
    ],
)
def test_import_refuses_bad_cells(tmp_path, line, column, value, message):
    bad = tmp_path / "CELoss.csv"
    _edit_cell(CUR / "CELoss" / "CELoss.csv", bad, line, column, value)
    with pytest.raises(ScoresFileError, match=message):
        read_aucurriculum(bad)


def test_import_refuses_binary_and_zero_counts(tmp_path):
    p = tmp_path / "scores.csv"
    p.write_bytes(bytes(range(256)))
    with pytest.raises(ScoresFileError, match=r"scores\.csv' is not a text CSV \(byte 0x80 at "
                       r"offset 128 is not UTF-8\); expected an aucurriculum score CSV"):
        read_aucurriculum(p)
    p.write_text("sum,count\n1,2\n1,0\n")
    with pytest.raises(ScoresFileError, match=r"line 3: column 'count' is 0; expected a "
                       "positive count"):
        read_aucurriculum(p, higher_is_easier=True)
    with pytest.raises(ScoresFileError, match="is a folder, not a file"):
        read_aucurriculum(tmp_path)
