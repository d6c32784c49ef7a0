"""A score file's header must agree with its rows, and hold only what can be stored."""

from __future__ import annotations

import json

import numpy as np
import pytest

from easyfirst.scores import Scores, ScoresFileError, save_unless_same


def _file(tmp_path, **changes):
    s = Scores(np.array([0.9, 0.1, 0.5, 0.5, 0.3]), higher_is_easier=True,
               meta={"scorer": "cumacc", "dataset_fingerprint": "fp"})
    path = s.save(tmp_path / "s.csv")
    header, rest = path.read_text().split("\n", 1)
    meta = {**json.loads(header[2:]), **changes}
    path.write_text("# " + json.dumps(meta) + "\n" + rest)
    return path


@pytest.mark.parametrize(("changes", "message"), [
    ({"direction": "lower_is_easier"}, r"they order the scores the other way; the header's "
     r"direction lower_is_easier was flipped\. Rewrite the file"),
    ({"tie_seed": "abc"}, r"expected tie_seed to be a whole number >= 0; got 'abc'\. The header "
     r"was edited"),
    ({"tie_seed": -5}, r"expected tie_seed to be a whole number >= 0; got -5"),
    ({"tie_seed": 1.5}, r"got 1\.5"),
    ({"tie_break": "alphabetical"}, r"expected tie_break among evidence, random, dataset-order; "
     r"got 'alphabetical'"),
])
def test_a_header_that_contradicts_its_rows_is_refused_naming_the_file(tmp_path, changes,
                                                                      message):
    path = _file(tmp_path, **changes)
    with pytest.raises(ScoresFileError, match=r"^'.*s\.csv': .*" + message):
        Scores.load(path)


def test_ranks_that_contradict_the_scores_are_refused(tmp_path):
    path = _file(tmp_path)
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace("0,0.9,0", "0,0.05,0")  # the easiest rank, now the hardest score
    path.write_text("".join(lines))
    with pytest.raises(ScoresFileError, match=r"s\.csv': expected ranks that order the scores "
                       r"easiest first; 1 ranks contradict the scores"):
        Scores.load(path)


def test_ties_in_any_order_and_unranked_files_still_load(tmp_path):
    path = _file(tmp_path, tie_seed=7)  # ties ordered by another seed: still consistent
    assert Scores.load(path).meta["tie_seed"] == 7
    nan = Scores(np.array([0.2, np.nan]), higher_is_easier=False).save(tmp_path / "n.csv")
    assert np.isnan(Scores.load(nan, allow_nan=True).values[1])


def test_scores_refuse_a_bad_tie_seed():
    with pytest.raises(ValueError, match=r"expected tie_seed to be a whole number >= 0; got -1"):
        Scores(np.ones(2), higher_is_easier=True, meta={"tie_seed": -1})


def test_save_unless_same_keeps_a_file_that_differs_only_in_cost(tmp_path):
    s = Scores(np.array([0.2, 0.4, 0.4]), higher_is_easier=True, meta={"cost": {"wall_s": 1.0}})
    path = s.save(tmp_path / "s.csv")
    before = path.read_bytes()
    again = Scores(s.values.copy(), higher_is_easier=True, meta={"cost": {"wall_s": 2.0}})
    kept = save_unless_same(again, path)
    assert path.read_bytes() == before and kept.meta["cost"] == {"wall_s": 1.0}
    other = Scores(np.array([0.2, 0.4, 0.5]), higher_is_easier=True, meta={"cost": {}})
    assert save_unless_same(other, path) is other and path.read_bytes() != before
