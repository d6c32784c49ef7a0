"""Scores: tie rules, file round trip, validation errors, atomic writes, summaries."""

from __future__ import annotations

import errno
import json
import os

import numpy as np
import pytest

from easyfirst.scores import Scores, ScoresFileError, distinct_values
from easyfirst.scores.files import write_score_file


def _scores(**meta) -> Scores:
    return Scores(
        np.array([0.5, 1.0, 0.5, 0.0, 0.5]),
        higher_is_easier=True,
        meta={"scorer": "cumacc", "dataset_fingerprint": "fp", **meta},
    )


def test_dataset_order_tie_rule_is_the_seed_rule():
    s = _scores(tie_break="dataset-order")
    assert s.easy_to_hard().tolist() == [1, 0, 2, 4, 3]
    assert s.hard_to_easy().tolist() == [3, 4, 2, 0, 1]
    # equals np.argsort(-scores) with a stable sort, as the seed document does
    assert s.easy_to_hard().tolist() == np.argsort(-s.values, kind="stable").tolist()


def test_random_tie_rule_is_seeded_and_only_reorders_ties():
    orders = {tuple(_scores(tie_seed=k).easy_to_hard()) for k in range(20)}
    assert len(orders) > 1  # ties are permuted
    for o in orders:
        assert o[0] == 1 and o[-1] == 3 and set(o[1:4]) == {0, 2, 4}
    assert (_scores(tie_seed=7).easy_to_hard() == _scores(tie_seed=7).easy_to_hard()).all()


def test_lower_is_easier_direction():
    s = Scores(np.array([3.0, 1.0, 2.0]), higher_is_easier=False)
    assert s.easy_to_hard().tolist() == [1, 2, 0]
    assert s.ranks().tolist() == [2, 0, 1]


def test_nan_scores_refuse_to_order():
    s = Scores(np.array([1.0, np.nan]), higher_is_easier=True)
    with pytest.raises(ValueError, match="1 of 2 scores are NaN"):
        s.easy_to_hard()


def test_unknown_tie_rule():
    with pytest.raises(ValueError, match="Unknown tie rule 'first'. Available: evidence, random, "
                       "dataset-order"):
        _scores(tie_break="first")


def test_file_roundtrip_is_exact(tmp_path):
    rng = np.random.default_rng(0)
    s = Scores(
        rng.random(50) / 3,
        higher_is_easier=False,
        meta={
            "scorer": "celoss",
            "seeds": [0, 1],
            "dataset_fingerprint": "abc",
            "params": {"source": "eval"},
        },
    )
    path = s.save(tmp_path / "s.csv")
    back = Scores.load(path, expect_fingerprint="abc", expect_num_samples=50)
    np.testing.assert_array_equal(back.values, s.values)
    assert back.higher_is_easier is False and back.meta["seeds"] == [0, 1]
    assert (back.ranks() == s.ranks()).all()
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# {") and lines[1] == "index,score,rank"


def test_summary_reports_ties():
    summ = _scores(tie_break="dataset-order").summary(ids=list("abcde"))
    assert summ["num_unique"] == 3 and summ["largest_tie"] == 3
    assert summ["easiest"][0] == "b" and summ["hardest"][0] == "d"


def test_summary_numbers_have_no_float_noise_but_scores_keep_every_bit():
    noisy = np.array([0.1 + 0.2, 0.58000000000011, 0.58000000000011, 1 / 3])
    s = Scores(noisy.copy(), higher_is_easier=True)
    summ = s.summary()
    assert summ["max"] == 0.58 and summ["min"] == 0.3 and summ["largest_tie_value"] == 0.58
    assert summ["mean"] == float(f"{noisy.mean():.6g}") and summ["mean"] != noisy.mean()
    assert all(len(repr(x)) <= 9 for x in (summ["std"], *summ["quantiles"].values()))
    assert s.values.tobytes() == noisy.tobytes()  # the scores themselves are untouched


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda t: t.replace('"N": 5', '"N": 6'), "header says N=6 but the file has 5 rows"),
        (lambda t: "\n".join(t.splitlines()[:-1]) + "\n", "header says N=5 but the file has 4"),
        (lambda t: t.replace('"easyfirst.scores"', '"other"'), "expected format"),
        (lambda t: t.replace("\n0,0.5,", "\n0,abc,"),
         "line 3: expected 3 cells like 'index,score,rank'"),
        (lambda t: t.replace("\n4,0.5,", "\n0,0.5,"),
         "index 0 or rank .* is out of range .* or the index is repeated"),
        (lambda t: t.split("\n", 1)[1], "expected a first line"),
    ],
)
def test_load_validates(tmp_path, mutate, message):
    path = _scores().save(tmp_path / "s.csv")
    path.write_text(mutate(path.read_text()))
    with pytest.raises(ScoresFileError, match=message):
        Scores.load(path)


def test_load_refuses_foreign_dataset(tmp_path):
    path = _scores().save(tmp_path / "s.csv")
    with pytest.raises(ScoresFileError, match="computed on dataset fingerprint fp, not on this"):
        Scores.load(path, expect_fingerprint="other")
    with pytest.raises(ScoresFileError, match="scores for 5 samples but .* has 7"):
        Scores.load(path, expect_num_samples=7)


def test_failed_write_keeps_existing_file(tmp_path, monkeypatch):
    path = _scores().save(tmp_path / "s.csv")
    before = path.read_text()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(OSError, match="disk full"):
        Scores(np.zeros(5), higher_is_easier=True).save(path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["s.csv"]  # no temp file left behind


def _edit_header(path, **changes):
    header, rest = path.read_text().split("\n", 1)
    path.write_text("# " + json.dumps({**json.loads(header[2:]), **changes}) + "\n" + rest)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"N": None}, r"expected the header's N to be the number of samples \(>= 1\); got None"),
        ({"N": "5"}, r"expected the header's N .* got '5'"),
        ({"version": "x"}, r"expected an integer header version \(1\); got 'x'\. The header"),
        ({"version": 2}, r"file version 2 is newer than supported \(1\); upgrade easyfirst"),
        ({"format": None}, r"expected format 'easyfirst.scores'; got None"),
    ],
)
def test_load_validates_the_header(tmp_path, changes, message):
    path = _scores().save(tmp_path / "s.csv")
    _edit_header(path, **changes)
    with pytest.raises(ScoresFileError, match=message):
        Scores.load(path)


def test_load_refuses_a_binary_file(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes(b"# {\x80\x81\n" * 3)
    with pytest.raises(ScoresFileError, match=r"s\.csv' is not a text score file \(byte 0x80 "
                       r"at offset 3 is not UTF-8\); expected a CSV written by easyfirst"):
        Scores.load(path)
    with pytest.raises(ScoresFileError, match=r"is a folder, not a file"):
        Scores.load(tmp_path)


def _write(path, values):
    """A score file as a writer other than Scores.save may leave it (with inf)."""
    s = Scores(np.array(values), higher_is_easier=True)
    return write_score_file(path, s.header(), s.values, None)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([0.5, np.inf, 0.5, 0.0, 0.5], r"1 of 5 scores are infinite \(first: index 1\); "
         r"expected finite scores\. Rescore \(a diverged run"),
        ([0.5, -np.inf, np.nan, 0.0, np.nan], r"3 of 5 scores are NaN or infinite"),
        ([0.5, 1.0, np.nan, 0.0, np.nan], r"2 of 5 scores are NaN \(first: index 2\); expected "
         r"finite scores\. Rescore with every sample"),
    ],
)
def test_load_refuses_non_finite_scores(tmp_path, values, message):
    path = _write(tmp_path / "s.csv", values)
    with pytest.raises(ScoresFileError, match=message):
        Scores.load(path)


def test_allow_nan_reads_unscored_samples_but_never_inf(tmp_path):
    nan = Scores(np.array([1.0, np.nan, 0.0]), higher_is_easier=True).save(tmp_path / "n.csv")
    back = Scores.load(nan, allow_nan=True)
    np.testing.assert_array_equal(back.values, [1.0, np.nan, 0.0])
    inf = _write(tmp_path / "i.csv", [1.0, np.inf, 0.0])
    with pytest.raises(ScoresFileError, match="1 of 3 scores are infinite"):
        Scores.load(inf, allow_nan=True)
    with pytest.raises(ValueError, match=r"Expected finite scores \(or NaN for samples never "
                       r"scored\) to save to '.*i2\.csv'; got 1 infinite \(first: index 1\)"):
        Scores(np.array([1.0, np.inf, 0.0]), higher_is_easier=True).save(tmp_path / "i2.csv")
    assert not (tmp_path / "i2.csv").exists()


def test_load_says_when_the_file_has_no_fingerprint(tmp_path):
    path = Scores(np.ones(3), higher_is_easier=True).save(tmp_path / "s.csv")
    with pytest.raises(ScoresFileError, match=r"records no dataset fingerprint; expected abc\. "
                       r"Import it with read_aucurriculum\(path, dataset_fingerprint=\.\.\.\)"):
        Scores.load(path, expect_fingerprint="abc")


def test_full_disk_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    path = _scores().save(tmp_path / "s.csv")
    before = path.read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("os.fsync", full)
    with pytest.raises(OSError, match=r"disk full while writing '.*s\.csv' \(the previous "
                       r"file, if any, is unchanged\)") as info:
        Scores(np.zeros(5), higher_is_easier=True).save(path)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["s.csv"]


def _tie_rule(s: Scores) -> np.ndarray:
    """The tie rules as one sort: by key, then by index ("dataset-order") or by position in
    the seeded permutation ("random"), as ``easy_to_hard`` always ordered them."""
    n = s.num_samples
    perm = np.random.default_rng(int(s.meta["tie_seed"])).permutation(n)
    position = np.arange(n) if s.meta["tie_break"] == "dataset-order" else np.argsort(perm)
    return np.lexsort((position, -s.values if s.higher_is_easier else s.values))


@pytest.mark.parametrize("n", [1, 2, 7, 1000, 70_000])
def test_orders_follow_the_tie_rule_at_every_size(n):
    rng = np.random.default_rng(n)
    for values in (
        rng.random(n),  # no ties
        np.round(rng.random(n) * 5) / 5,  # a few values
        rng.integers(0, max(1, n // 2), n).astype(float),  # many tied values (> 2^16 at 70 k)
        np.where(rng.random(n) < 0.5, -0.0, 0.0),  # -0.0 ties 0.0
        np.zeros(n),
    ):
        for rule in ("random", "dataset-order"):
            for higher in (True, False):
                s = Scores(values, higher_is_easier=higher, meta={"tie_break": rule,
                                                                  "tie_seed": 3})
                order = s.easy_to_hard()
                assert order.dtype == np.int64
                np.testing.assert_array_equal(order, _tie_rule(s))


def test_distinct_values_match_np_unique():
    rng = np.random.default_rng(0)
    v = np.r_[np.round(rng.random(1000) * 7) / 7, np.nan, np.inf, 0.1 + 0.2, 0.3]
    uniq, counts = distinct_values(v)
    ref = np.unique(np.round(v[np.isfinite(v)], 12), return_counts=True)
    np.testing.assert_array_equal(uniq, ref[0])
    np.testing.assert_array_equal(counts, ref[1])
    assert [a.size for a in distinct_values(np.array([np.nan]))] == [0, 0]


def test_evidence_tie_rule_orders_ties_by_the_key_then_at_random():
    key = np.array([0.0, 0.0, -2.0, 0.0, 3.0])  # lower = easier
    s = _scores(tie_seed=1).with_tie_rule("evidence", key=key, evidence="aum")
    assert s.meta["tie_break"] == "evidence" and s.meta["tie_evidence"] == "aum"
    # 1.0 first; the 0.5s by key (2: -2, 0: 0, 4: 3); then 0.0. Values decide first.
    assert s.easy_to_hard().tolist() == [1, 2, 0, 4, 3]
    same_key = _scores(tie_seed=1).with_tie_rule("evidence", key=np.zeros(5))
    assert same_key.easy_to_hard().tolist() == _scores(tie_seed=1).easy_to_hard().tolist()
    assert Scores(np.array([1.0, 1.0]), higher_is_easier=False,
                  tie_key=np.array([1.0, 0.0])).meta["tie_break"] == "evidence"


def test_evidence_needs_a_key_and_a_file_keeps_its_order(tmp_path):
    with pytest.raises(ValueError, match="Expected scores that hold finer evidence"):
        _scores().with_tie_rule("evidence")
    with pytest.raises(ValueError, match="Expected a tie key of shape"):
        Scores(np.zeros(3), higher_is_easier=True, tie_key=np.zeros(2))
    s = _scores().with_tie_rule("evidence", key=np.array([5.0, 0.0, -1.0, 0.0, 2.0]))
    path = s.save(tmp_path / "s.csv")
    loaded = Scores.load(path)
    assert loaded.meta["tie_break"] == "evidence"
    assert loaded.easy_to_hard().tolist() == s.easy_to_hard().tolist() == [1, 2, 4, 0, 3]
    assert loaded.with_tie_rule("dataset-order").easy_to_hard().tolist() == [1, 0, 2, 4, 3]
    # a file without the rule has no key: evidence is refused, one line
    with pytest.raises(ValueError, match="ties are ordered random"):
        Scores.load(_scores().save(tmp_path / "r.csv")).with_tie_rule("evidence")
