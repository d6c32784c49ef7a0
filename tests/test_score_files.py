"""Score files in both formats (CSV and .npz): round trips, old files, the shared checks."""

from __future__ import annotations

import errno
import json
import os

import numpy as np
import pytest

from easyfirst.scores import Scores, ScoresFileError
from easyfirst.scores.checks import is_permutation
from easyfirst.scores.csv_rows import CHUNK, parse_rows
from easyfirst.scores.files import write_score_file
from easyfirst.scores.float_text import float_texts, int_texts, joined

FORMATS = ["csv", "npz"]


def _scores(values=(0.5, 1.0, 0.5, 0.0, 0.5), **meta) -> Scores:
    return Scores(np.array(values, dtype=float), higher_is_easier=True,
                  meta={"scorer": "cumacc", "dataset_fingerprint": "fp", **meta})


def _old_csv(path, s: Scores) -> None:
    """A file as ``Scores.save`` wrote it before the vectorised writer."""
    r = s.ranks() if not np.isnan(s.values).any() else None
    rows = "".join(f"{i},{v!r},{'' if r is None else r[i]}\n"
                   for i, v in enumerate(s.values.tolist()))
    path.write_text("# " + json.dumps(s.header(), sort_keys=True) + "\nindex,score,rank\n" + rows)


def _ranks_in_file(path) -> np.ndarray | None:
    if path.suffix == ".npz":
        with np.load(path) as z:
            return z["rank"] if z["rank"].size else None
    cells = [line.split(",")[2] for line in path.read_text().splitlines()[2:]]
    return None if not any(cells) else np.array(cells, dtype=np.int64)


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_is_exact(tmp_path, fmt):
    rng = np.random.default_rng(0)
    values = np.r_[rng.random(40) / 3, 1e-300, -0.0, 1e22, 0.5, 0.5, 0.1 + 0.2]
    s = Scores(values, higher_is_easier=False, meta={
        "scorer": "celoss", "seeds": [0, 1], "dataset_fingerprint": "abc",
        "params": {"source": "eval"}, "tie_break": "dataset-order", "tie_seed": 3})
    path = s.save(tmp_path / f"s.{fmt}")
    back = Scores.load(path, expect_fingerprint="abc", expect_num_samples=values.size)
    assert back.values.tobytes() == s.values.tobytes()  # bit for bit, -0.0 included
    assert back.higher_is_easier is False
    assert back.meta == {k: v for k, v in s.header().items()
                         if k not in ("format", "version", "N", "direction")}
    assert back.meta["seeds"] == [0, 1] and back.meta["params"] == {"source": "eval"}
    assert (_ranks_in_file(path) == s.ranks()).all() and (back.ranks() == s.ranks()).all()


@pytest.mark.parametrize("fmt", FORMATS)
def test_nan_scores_round_trip_without_ranks(tmp_path, fmt):
    s = Scores(np.array([1.0, np.nan, 0.0, np.nan]), higher_is_easier=True)
    path = s.save(tmp_path / f"n.{fmt}")
    back = Scores.load(path, allow_nan=True)
    np.testing.assert_array_equal(back.values, s.values)
    assert _ranks_in_file(path) is None
    with pytest.raises(ScoresFileError, match=r"2 of 4 scores are NaN \(first: index 1\)"):
        Scores.load(path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_of_200k_samples(tmp_path, fmt):
    rng = np.random.default_rng(1)
    n = 200_000  # more than one chunk of rows
    assert n > CHUNK
    s = Scores(rng.integers(0, 31, n) / 30, higher_is_easier=True, meta={"tie_seed": 5})
    path = s.save(tmp_path / f"big.{fmt}")
    back = Scores.load(path, expect_num_samples=n)
    assert back.values.tobytes() == s.values.tobytes()
    assert (_ranks_in_file(path) == s.ranks()).all()


def test_csv_is_what_the_old_writer_wrote_and_old_files_load(tmp_path):
    rng = np.random.default_rng(2)
    for values in (rng.random(CHUNK + 7), [0.5, np.nan, 7.0, -0.0, 1e-5]):
        s = Scores(np.asarray(values), higher_is_easier=True, meta={"dataset_fingerprint": "fp"})
        _old_csv(tmp_path / "old.csv", s)
        assert s.save(tmp_path / "new.csv").read_bytes() == (tmp_path / "old.csv").read_bytes()
    s = _scores()
    _old_csv(tmp_path / "old.csv", s)
    back = Scores.load(tmp_path / "old.csv", expect_fingerprint="fp")
    np.testing.assert_array_equal(back.values, s.values)


@pytest.mark.parametrize(
    "edit",
    [
        lambda t: t.replace("\n", "\r\n"),  # CRLF line ends
        lambda t: t.rstrip("\n"),  # no final newline
        lambda t: "\n".join([*t.splitlines()[:2], *t.splitlines()[:1:-1]]) + "\n",  # rows reversed
        lambda t: t.replace("\n1,1.0,", '\n"1","1.0",'),  # quoted cells
        lambda t: t.replace("\n2,0.5,", "\n 2, 0.5 ,"),  # spaces, as int() and float() take them
    ],
)
def test_unusual_but_valid_csv_files_load(tmp_path, edit):
    path = _scores().save(tmp_path / "s.csv")
    path.write_text(edit(path.read_text()), newline="")
    np.testing.assert_array_equal(Scores.load(path).values, _scores().values)


def _header(s: Scores, **changes) -> dict:
    return {**s.header(), **changes}


BAD_FILES = [  # (header changes, values, ranks, load keywords, message)
    ({"N": None}, None, None, {}, r"expected the header's N to be the number of samples \(>= 1\)"
     r"; got None\. The header was edited"),
    ({"N": "5"}, None, None, {}, r"expected the header's N .* got '5'"),
    ({"N": True}, None, None, {}, r"expected the header's N .* got True"),
    ({"N": 6}, None, None, {}, r"header says N=6 but the file has 5 (rows|scores); the file is "
     r"truncated or edited\. Rewrite it\."),
    ({"version": "x"}, None, None, {}, r"expected an integer header version \(1\); got 'x'\."),
    ({"version": 2}, None, None, {}, r"file version 2 is newer than supported \(1\); upgrade"),
    ({"format": None}, None, None, {}, r"expected format 'easyfirst.scores'; got None"),
    ({"direction": "up"}, None, None, {}, r"expected direction higher_is_easier or "
     r"lower_is_easier; got 'up'"),
    ({}, None, None, {"expect_num_samples": 7}, r"has scores for 5 samples but the dataset's "
     r"training split has 7\. Score this dataset first"),
    ({}, None, None, {"expect_fingerprint": "other"}, r"was computed on dataset fingerprint fp, "
     r"not on this dataset \(other\)"),
    ({"dataset_fingerprint": None}, None, None, {"expect_fingerprint": "abc"}, r"records no "
     r"dataset fingerprint; expected abc\. Import it with read_aucurriculum"),
    ({}, [0.5, np.inf, 0.5, 0.0, 0.5], None, {}, r"1 of 5 scores are infinite \(first: index "
     r"1\); expected finite scores\. Rescore \(a diverged run"),
    ({}, [0.5, np.inf, 0.5, 0.0, 0.5], None, {"allow_nan": True}, r"1 of 5 scores are infinite"),
    ({}, [0.5, -np.inf, np.nan, 0.0, np.nan], None, {}, r"3 of 5 scores are NaN or infinite"),
    ({}, [0.5, 1.0, np.nan, 0.0, np.nan], None, {}, r"2 of 5 scores are NaN \(first: index 2\);"
     r" expected finite scores\. Rescore with every sample"),
    ({}, None, [0, 0, 1, 2, 3], {}, r"expected the ranks to be empty or a permutation of 0\.\.4 "
     r"\(each sample's easy-to-hard position\); got 1 of 5 empty, out of range or repeated\. "
     r"The file was edited; rewrite it"),
    ({}, None, [0, 1, 2, 3, 5], {}, r"got 1 of 5 empty, out of range or repeated"),
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("changes", "values", "ranks", "kw", "message"), BAD_FILES)
def test_both_formats_refuse_the_same_bad_files(tmp_path, fmt, changes, values, ranks, kw,
                                                message):
    s = _scores()
    path = tmp_path / f"s.{fmt}"
    write_score_file(path, _header(s, **changes), s.values if values is None else
                     np.array(values), None if ranks is None else np.array(ranks))
    with pytest.raises(ScoresFileError, match=message) as info:
        Scores.load(path, **kw)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize("fmt", FORMATS)
def test_missing_files_and_folders(tmp_path, fmt):
    with pytest.raises(ScoresFileError, match=r"s\.(csv|npz)' does not exist; check the path"):
        Scores.load(tmp_path / f"s.{fmt}")
    (tmp_path / f"d.{fmt}").mkdir()
    with pytest.raises(ScoresFileError, match=r"is a folder, not a file; check the path"):
        Scores.load(tmp_path / f"d.{fmt}")


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_failed_write_keeps_the_existing_file(tmp_path, monkeypatch, fmt):
    path = _scores().save(tmp_path / f"s.{fmt}")
    before = path.read_bytes()
    monkeypatch.setattr("os.fsync", lambda fd: (_ for _ in ()).throw(
        OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))))
    with pytest.raises(OSError, match=r"disk full while writing .* \(the previous file, if any, "
                       r"is unchanged\)"):
        Scores(np.zeros(5), higher_is_easier=True).save(path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("\n3,0.0,", "\n3,0.0,x"), r"line 6: expected 3 cells like "
         r"'index,score,rank'; got \['3', '0.0', 'x4'\]\.$"),
        (lambda t: t.replace("\n1,1.0,0", "\n1,1.0,"), r"expected the ranks to be empty or a "
         r"permutation of 0\.\.4 .* got 1 of 5 empty"),
        (lambda t: t.replace("\n4,0.5,", "\n9,0.5,"),
         r"line 7: index 9 or rank \d+ is out of range \[0, 5\)"),
        (lambda t: t.replace("index,score,rank", "index,score"), r"expected the columns "
         r"index,score,rank\[,id,label\] on line 2; got 'index,score'\. Rename the columns"),
        (lambda t: t.replace("\n0,0.5,", "\n0,0.5\x00,"),
         r"line 3: expected 3 cells like 'index,score,rank'"),
        (lambda t: t + "\n", r"header says N=5 but the file has 6 rows"),
    ],
)
def test_csv_row_errors_name_the_line(tmp_path, edit, message):
    path = _scores().save(tmp_path / "s.csv")
    path.write_text(edit(path.read_text()), newline="")
    with pytest.raises(ScoresFileError, match=message):
        Scores.load(path)


def _npz(path, **arrays) -> None:
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _npy(path, array) -> None:
    with open(path, "wb") as fh:
        np.save(fh, array)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: _scores().save(p.with_suffix(".csv")).rename(p), r"is not a readable \.npz "
         r"score file: expected one written by Scores\.save\(PATH\.npz\); got a text file"),
        (lambda p: _npy(p, np.zeros(3)), r"not a readable \.npz score file: "
         r".*; got a NumPy \.npy array"),
        (lambda p: p.write_bytes(b"PK\x03\x04 truncated"), r"not a readable \.npz score file"),
        (lambda p: _npz(p, values=np.zeros(5)), r"expected the arrays header, rank, values "
         r"\(header a JSON string\); got values\. Rewrite the file"),
        (lambda p: _npz(p, header=np.array(b"{}"), rank=np.zeros(0), values=np.zeros(5)),
         r"expected the arrays header, rank, values \(header a JSON string\)"),
        (lambda p: _npz(p, header=np.array(json.dumps(_scores().header())), rank=np.zeros(0),
                        values=np.zeros(5, dtype=np.int64)), r"expected array 'values' of shape "
         r"\(N,\) and kind float; got int64 \(5,\)"),
        (lambda p: _npz(p, header=np.array(json.dumps(_scores().header())),
                        rank=np.zeros(5), values=np.zeros(5)), r"expected array 'rank' of shape "
         r"\(N,\) and kind integer; got float64 \(5,\)"),
        (lambda p: _npz(p, header=np.array(json.dumps(_scores().header())),
                        rank=np.arange(4), values=np.zeros(5)), r"header says N=5 but the file "
         r"has 4 ranks"),
        (lambda p: _npz(p, header=np.array("{"), rank=np.arange(5), values=np.zeros(5)),
         r"expected the JSON header Scores\.save writes; got one that breaks off at column"),
    ],
)
def test_npz_container_errors(tmp_path, make, message):
    path = tmp_path / "s.npz"
    make(path)
    with pytest.raises(ScoresFileError, match=message) as info:
        Scores.load(path)
    assert "\n" not in str(info.value)


def test_npz_with_pickled_objects_is_refused_without_unpickling(tmp_path):
    path = tmp_path / "s.npz"
    _npz(path, header=np.array({"format": "easyfirst.scores"}, dtype=object),
         rank=np.arange(5), values=np.zeros(5))
    with pytest.raises(ScoresFileError, match=r"not a readable \.npz score file: .*; got a damaged "
                       r"or truncated zip archive, or one holding Python objects"):
        Scores.load(path)


def test_parse_rows_reads_only_plain_rows():
    assert parse_rows(b"0,0.5,1\n1,nan,\n")[2].tolist() == [1, -1]
    for body in (b"", b"0,1\n", b"0,1,2", b"0,,1\n", b",1,2\n", b"0,1,2,3\n", b"0,x,1\n",
                 b"0,1,1.5\n", b"0," + b"1" * 50 + b",1\n", b'"0",1,2\n', b"0,1,2\n\n"):
        assert parse_rows(body) is None, body


def _texts(rows: np.ndarray) -> list[bytes]:
    """The texts of ``float_texts``/``int_texts`` rows, zero bytes dropped."""
    newline = np.full((rows.shape[0], 1), ord("\n"), dtype=np.uint8)
    return joined(np.hstack([rows, newline])).split(b"\n")[:-1]


def test_score_cells_are_repr_and_str():
    """The vectorised cells are what ``repr`` and ``str`` write, byte for byte: the values
    worked out in numpy, and those handed back to ``repr`` (other magnitudes, zeros, NaN,
    powers of two)."""
    rng = np.random.default_rng(3)
    n = 50_000
    powers, twos = 10.0 ** np.arange(-10, 20), 2.0 ** np.arange(-30, 60)
    mantissas = rng.integers(0, 2**52, n) | (rng.integers(1003, 1073, n) << 52)
    values = np.concatenate([
        rng.random(n), rng.integers(0, 31, n) / 30, -rng.random(n) * 10 ** rng.uniform(-8, 17, n),
        rng.integers(0, 10**6, n) / 10.0 ** rng.integers(0, 8, n), mantissas.view(np.float64),
        np.nextafter(rng.random(n), 0), rng.integers(0, 200, n) / rng.integers(1, 60, n),
        powers, np.nextafter(powers, 0), np.nextafter(powers, np.inf), twos,
        np.nextafter(twos, 0), [0.0, -0.0, np.nan, np.inf, -np.inf, 5e-324, 1e-6, 0.0001,
                                1.7976931348623157e308, 0.1, 0.3, 1 / 3, 999999999999999.9,
                                1e15 - 0.5, 9.9999999999999995e-07, 0.00009999999999999999]])
    assert _texts(float_texts(values)) == [repr(v).encode() for v in values.tolist()]
    ints = np.concatenate([np.arange(20_000), rng.integers(0, 2**62, 1000), [10**8, 10**18]])
    assert _texts(int_texts(ints)) == [str(i).encode() for i in ints.tolist()]


def test_ids_with_zero_bytes_are_written_as_they_are(tmp_path):
    s = _scores()
    ids, labels = ["a\0b", "c", "d", "e", "f"], ["x", "y\0", "z", "w", "v"]
    rows = s.save(tmp_path / "z.csv", ids=ids, labels=labels).read_text().splitlines()[2:]
    ranks = s.ranks()
    assert rows == [f"{i},{v!r},{ranks[i]},{ids[i]},{labels[i]}"
                    for i, v in enumerate(s.values.tolist())]


def test_parse_rows_reads_whole_numbers_as_int_does():
    wide = np.random.default_rng(4).integers(0, 10**18, 300)
    pairs = zip(wide.tolist(), wide[::-1].tolist(), strict=True)
    body = b"".join(b"%d,0.5,%d\n" % (a, b) for a, b in pairs)
    index, _, rank = parse_rows(body)
    assert (index == wide).all() and (rank == wide[::-1]).all()
    assert parse_rows(b"007,0.5,00\n")[0].tolist() == [7]
    for cell in (b"1a", b"-1", b"+1", b"1 ", b"/", b":", b"0x1", b"1" * 19):
        assert parse_rows(b"0,0.5," + cell + b"\n") is None, cell
        assert parse_rows(cell + b",0.5,0\n") is None, cell


def test_is_permutation():
    assert is_permutation(np.array([2, 0, 1]), 3) and is_permutation(np.arange(0), 0)
    for a, n in (([0, 0, 1], 3), ([0, 1, 3], 3), ([-1, 0, 1], 3), ([0, 1], 3)):
        assert not is_permutation(np.array(a), n)


def test_an_npz_named_csv_says_so(tmp_path):
    path = _scores().save(tmp_path / "s.npz").rename(tmp_path / "s.csv")
    with pytest.raises(ScoresFileError, match=r"s\.csv' is not a text score file .* Check the "
                       r"path \(it looks like an \.npz score file: name it \*\.npz\)\.$"):
        Scores.load(path)


def _sample_cells(path) -> list[list[str]]:
    import csv

    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))[1:]  # the column names, then the rows


def test_csv_carries_id_and_label_columns(tmp_path):
    s = _scores()
    ids = ["a.wav", "dir/b,c.wav", 'say "hi".wav', "multi\nline.wav", "ünï.wav"]
    labels = ["dog", "cat;dog", "bird", "dog", "cat"]
    path = s.save(tmp_path / "s.csv", ids=ids, labels=labels)
    rows = _sample_cells(path)
    assert rows[0] == ["index", "score", "rank", "id", "label"]
    assert [r[3] for r in rows[1:]] == ids and [r[4] for r in rows[1:]] == labels
    assert [float(r[1]) for r in rows[1:]] == s.values.tolist()
    back = Scores.load(path, expect_num_samples=5)  # the quoted cells: read row by row
    assert back.values.tobytes() == s.values.tobytes() and (back.ranks() == s.ranks()).all()


def test_plain_id_and_label_columns_take_the_fast_path(tmp_path):
    s = Scores(np.random.default_rng(1).random(CHUNK + 7), higher_is_easier=False)
    ids = [f"clip_{i}.wav" for i in range(s.num_samples)]
    path = s.save(tmp_path / "big.csv", ids=ids, labels=["yes"] * s.num_samples)
    body = path.read_bytes().split(b"\n", 2)[2]
    index, values, ranks = parse_rows(body, 5)
    assert (index == np.arange(s.num_samples)).all() and (ranks == s.ranks()).all()
    assert values.tobytes() == s.values.tobytes()
    assert Scores.load(path).values.tobytes() == s.values.tobytes()
    first = f"0,{float(s.values[0])!r},{s.ranks()[0]},clip_0.wav,yes"
    assert path.read_text().splitlines()[2] == first


def test_files_without_id_and_label_still_load(tmp_path):
    s = _scores()
    _old_csv(tmp_path / "old.csv", s)
    assert Scores.load(tmp_path / "old.csv").values.tolist() == s.values.tolist()
    plain = s.save(tmp_path / "plain.csv")
    assert plain.read_text().splitlines()[1] == "index,score,rank"


def test_id_and_label_must_come_together_and_match_n(tmp_path):
    with pytest.raises(ValueError, match="Expected both ids and labels .* got only ids"):
        _scores().save(tmp_path / "s.csv", ids=list("abcde"))
    with pytest.raises(ValueError, match=r"one id and one label per score \(5\); got 4 ids"):
        _scores().save(tmp_path / "s.csv", ids=list("abcd"), labels=list("abcd"))
    assert not (tmp_path / "s.csv").exists()


def test_a_table_of_ones_own_is_told_how_to_import_it(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("file,difficulty\na.wav,0.5\n")
    with pytest.raises(ScoresFileError, match=r"expected a first line '# \{json header\}' then the "
                       r"columns index,score,rank\[,id,label\]; got 'file,difficulty'\. A table "
                       r"of your own .* save it from Python, easyfirst\.Scores\(values, "
                       r"higher_is_easier=True\)\.save\('mine\.csv'\)"):
        Scores.load(path)
    Scores(np.array([0.5, 0.25]), higher_is_easier=True).save(path)  # the fix the message gives
    fixed = Scores.load(path)
    assert fixed.values.tolist() == [0.5, 0.25] and fixed.easy_to_hard().tolist() == [0, 1]
