"""Multi-label data: the multi-hot contract, `folder` with `labels`, `audioset`, `kwsmix`."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from wav_files import write_wav  # noqa: E402  (tests/data helper)

from easyfirst.data import load_dataset
from easyfirst.data.audioset import Segment, clip_stems, in_dev
from easyfirst.data.base import ArraySplit, DatasetBundle
from easyfirst.data.kwsmix import mix_words, spoken_power
from easyfirst.data.synthkws import SYNTHKWS_DIR

torch.set_num_threads(1)


def _wav(path: Path, seconds: float = 0.3, sr: int = 16000, seed: int = 0) -> None:
    write_wav(path, seconds, sr, seed)


def _split(n: int = 4, c: int = 3) -> ArraySplit:
    y = np.zeros((n, c), dtype=bool)
    y[np.arange(n), np.arange(n) % c] = True
    y[0, c - 1] = True
    return ArraySplit(torch.randn(n, 1, 2, 2), y, [f"s{i}" for i in range(n)],
                      meta={"m": np.arange(n)})


# ---------------------------------------------------------------- the contract


def test_multi_hot_targets_are_float32_rows() -> None:
    s = _split()
    assert s.multi_label and s.targets.dtype == torch.float32 and s.targets.shape == (4, 3)
    assert s.targets[0].tolist() == [1.0, 0.0, 1.0]
    x, y = s[0]
    assert isinstance(y, torch.Tensor) and y.tolist() == [1.0, 0.0, 1.0] and x.shape == (1, 2, 2)
    xb, yb = s.batch(torch.tensor([2, 0]))
    assert xb.shape == (2, 1, 2, 2) and yb.shape == (2, 3) and yb[1].tolist() == [1, 0, 1]
    sub = s.subset([3, 0])
    assert sub.multi_label and sub.ids == ["s3", "s0"] and sub.targets.tolist() == [
        [1, 0, 0], [1, 0, 1]] and sub.meta["m"].tolist() == [3, 0]
    for form in (s.targets.numpy().astype(np.int8), s.targets.to(torch.int64), s.targets.double()):
        same = ArraySplit(s.inputs, form, s.ids)
        assert same.targets.dtype == torch.float32
        assert same.ids_targets_hash() == s.ids_targets_hash()
    single = ArraySplit(torch.zeros(3, 2), [2, 0, 1], ["a", "b", "c"])
    assert not single.multi_label and single[0][1] == 2 and isinstance(single[0][1], int)
    assert single.targets.dtype == torch.long and single.subset([2]).targets.tolist() == [1]


@pytest.mark.parametrize(("targets", "match"), [
    (np.array([[0, 2], [1, 0]]), r"got shape \(2, 2\), dtype int64, value 2 in row 0"),
    (np.array([[0.5, 1.0], [1.0, 0.0]]), r"value 0.5 in row 0"),
    (np.array([[np.nan, 1.0], [1.0, 0.0]]), r"value nan in row 0"),
    (np.zeros((2, 2, 1)), r"got shape \(2, 2, 1\)"),
    (np.zeros((3, 2)), r"N=2; got shape \(3, 2\)"),
    (np.array([["a", "b"], ["c", "d"]]), r"dtype <U1"),
])
def test_bad_targets_are_refused_in_one_line(targets: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match) as err:
        ArraySplit(torch.zeros(2, 1), targets, ["a", "b"])
    msg = str(err.value)
    assert "\n" not in msg and "Expected targets of shape (N,) class ids or (N, C) multi-hot" in msg
    assert "Check the dataset loader" in msg
    with pytest.raises(ValueError, match="Expected inputs, targets and ids of equal length"):
        ArraySplit(torch.zeros(2, 1), [0, 1, 1], ["a", "b"])


def test_fingerprints() -> None:
    assert load_dataset("digits").fingerprint == "b9d5d2bb8c288dc0"  # unchanged by multi-label
    single = ArraySplit(torch.zeros(3, 2), [2, 0, 1], ["a", "b", "c"])
    h = hashlib.sha256(b"x" + json.dumps(["a", "b", "c"]).encode())
    h.update(np.array([2, 0, 1], dtype="<i8").tobytes())
    assert single.ids_targets_hash("x") == h.hexdigest()[:16]  # the released recipe
    s = _split()
    flipped = s.targets.clone()
    flipped[1, 2] = 1.0
    assert ArraySplit(s.inputs, flipped, s.ids).ids_targets_hash() != s.ids_targets_hash()
    narrow = ArraySplit(s.inputs, s.targets[:, :2], s.ids)
    assert narrow.ids_targets_hash() != s.ids_targets_hash()
    one_hot = ArraySplit(single.inputs, np.eye(3)[[2, 0, 1]], single.ids)
    assert one_hot.ids_targets_hash("x") != single.ids_targets_hash("x")


def test_bundle_checks_the_multi_hot_width_and_form() -> None:
    s = _split()
    b = DatasetBundle("t", s, s.subset([0, 1]), None, ["a", "b", "c"])
    assert b.multi_label and b.num_classes == 3
    with pytest.raises(ValueError, match=r"expected train multi-hot targets with one column per "
                                         r"class \(2\), got 3 columns"):
        DatasetBundle("t", s, None, None, ["a", "b"])
    single = ArraySplit(torch.zeros(2, 1, 2, 2), [0, 1], ["x", "y"])
    with pytest.raises(ValueError, match=r"dev targets are \(N,\) class ids but train's are "
                                         r"\(N, C\) multi-hot"):
        DatasetBundle("t", s, single, None, ["a", "b", "c"])
    assert not DatasetBundle("t", single, None, None, ["a", "b"]).multi_label
    b.info = {"source": "/here", "missing": {"x": 1}}
    assert b.fingerprint == DatasetBundle("t", s, None, None, ["a", "b", "c"]).fingerprint


# ---------------------------------------------------------------- folder with a labels column


def _labels_folder(root: Path, rows: dict[str, list[tuple[str, str]]]) -> Path:
    for k, f in enumerate(sorted({f for r in rows.values() for f, _ in r})):
        _wav(root / f, seed=k)
    for split, r in rows.items():
        (root / f"{split}.csv").write_text(
            "\n".join(["file,labels", *(f'{f},"{y}"' for f, y in r)]) + "\n")
    return root


ML_ROWS = {
    "train": [("audio/a.wav", "dog; bark"), ("audio/b.wav", "cat"), ("audio/c.wav", " cat ;meow;"),
              ("audio/d.wav", "dog")],
    "dev": [("audio/e.wav", "dog;bark")],
    "test": [("audio/f.wav", "meow")],
}


def test_folder_labels_column_is_multi_label(tmp_path: Path) -> None:
    ds = load_dataset("folder", root=_labels_folder(tmp_path / "d", ML_ROWS), duration=0.5,
                      cache_dir=tmp_path / "c", progress=False)
    assert ds.multi_label and ds.class_names == ["bark", "cat", "dog", "meow"]
    assert ds.train.ids == ["audio/a.wav", "audio/b.wav", "audio/c.wav", "audio/d.wav"]
    assert ds.train.targets.tolist() == [[1, 0, 1, 0], [0, 1, 0, 0], [0, 1, 0, 1], [0, 0, 1, 0]]
    assert ds.train.targets.dtype == torch.float32 and ds.train.inputs.shape == (4, 1, 64, 51)
    assert ds.dev is not None and ds.dev.targets.tolist() == [[1, 0, 1, 0]]
    assert ds.test is not None and ds.test.targets.tolist() == [[0, 0, 0, 1]]
    assert ds.info["layout"] == "train/dev/test.csv (file,labels)"
    numeric = {"train": [("audio/a.wav", "10;2"), ("audio/b.wav", "1")]}
    ds = load_dataset("folder", root=_labels_folder(tmp_path / "n", numeric), duration=0.5,
                      cache_dir=tmp_path / "c", progress=False)
    assert ds.class_names == ["1", "2", "10"] and ds.train.targets.tolist() == [[0, 1, 1],
                                                                                [1, 0, 0]]


def test_folder_labels_errors(tmp_path: Path) -> None:
    kw = {"cache_dir": tmp_path / "c", "progress": False}
    bad_dev = {**ML_ROWS, "dev": [("audio/e.wav", "dog;bird")]}
    with pytest.raises(ValueError, match=r"dev\.csv: file 'audio/e\.wav' has label 'bird', which "
                                         r"is not among the training labels \(bark, cat, dog, "
                                         r"meow\)"):
        load_dataset("folder", root=_labels_folder(tmp_path / "a", bad_dev), **kw)
    empty = {"train": [("audio/a.wav", "dog"), ("audio/b.wav", " ; ")]}
    with pytest.raises(ValueError, match=r"^train\.csv line 3: no label; give one or more, "
                                         r"';'-separated, or remove the row\.$"):
        load_dataset("folder", root=_labels_folder(tmp_path / "b", empty), **kw)
    root = _labels_folder(tmp_path / "m", ML_ROWS)
    (root / "dev.csv").write_text("file,label\naudio/e.wav,dog\n")
    with pytest.raises(ValueError, match=r"dev\.csv: expected a header with columns "
                                         r"'file,labels'"):
        load_dataset("folder", root=root, **kw)


# ---------------------------------------------------------------- audioset layout

CLASSES = ('index,mid,display_name\n0,/m/09x0r,"Speech"\n1,/m/05zppz,"Male speech, man '
           'speaking"\n2,/m/0jbk,"Animal"\n3,/m/04rlf,"Music"\n4,/m/0k4j,"Car"\n')
HEAD = ("# Segments csv created Sun Mar  5 10:54:31 2017\n"
        "# num_ytids=8, num_segs=8, num_unique_labels=5, num_positive_labels=11\n"
        "# YTID, start_seconds, end_seconds, positive_labels\n")
TRAIN = [  # YTID, start, end, labels, clip file under audio/ (None: not downloaded)
    ("--PJHxphWEs", "30.000", "40.000", "/m/09x0r,/m/05zppz", "Y--PJHxphWEs.wav"),
    ("--ZhevVpy1s", "50.000", "60.000", "/m/04rlf", "--ZhevVpy1s.flac"),
    ("--aE2O5G5WE", "0.000", "10.000", "/m/0jbk,/m/04rlf", "sub/dir/--aE2O5G5WE_0.000_10.000.wav"),
    ("--aO5cdqSAg", "30.000", "40.000", "/m/0k4j", "--aO5cdqSAg_30_40.wav"),
    ("-0BIyqJj9ZU", "200.000", "210.000", "/m/09x0r", "sub/Y-0BIyqJj9ZU_200.ogg"),
    ("--cB2ZVjpnA", "30.000", "40.000", "/m/0jbk", None),
    ("--ekDLDTUXA", "10.000", "20.000", "/m/0k4j,/m/04rlf", "empty.wav"),  # 0 bytes: missing
    ("-1nilez17Dg", "30.000", "40.000", "/m/05zppz", None),
]
EVAL = [
    ("--4gqARaEJE", "0.000", "10.000", "/m/0jbk,/m/0k4j,/m/04rlf", "eval/--4gqARaEJE.wav"),
    ("--BfvyPmVMo", "20.000", "30.000", "/m/09x0r", "eval/Y--BfvyPmVMo_20.000_30.000.wav"),
    ("--U7joUcTCo", "0.000", "10.000", "/m/04rlf", None),
]


def _row(seg: tuple[str, ...]) -> str:
    return f'{seg[0]}, {seg[1]}, {seg[2]}, "{seg[3]}"'


def _audioset(root: Path, train: list = TRAIN, evals: list = EVAL) -> Path:
    root.mkdir(parents=True)
    (root / "class_labels_indices.csv").write_text(CLASSES)
    for name, segs in (("balanced_train_segments.csv", train), ("eval_segments.csv", evals)):
        (root / name).write_text(HEAD + "".join(_row(s) + "\n" for s in segs))
    for k, seg in enumerate(train + evals):
        if seg[4] == "empty.wav":
            (root / "audio" / "Y--ekDLDTUXA_10_20.wav").write_bytes(b"")
        elif seg[4] is not None:
            _wav(root / "audio" / seg[4], seconds=1.0, sr=(16000, 22050)[k % 2], seed=k)
    _wav(root / "audio" / "not_listed.wav", seconds=0.2)
    (root / "audio" / "notes.txt").write_text("ignored")
    return root


def test_audioset_layout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _audioset(tmp_path / "as")
    ds = load_dataset("audioset", root=root, duration=1.0, dev_fraction=0.0,
                      cache_dir=tmp_path / "c", progress=True)
    assert ds.name == "audioset:dev_fraction=0" and ds.multi_label and ds.dev is None
    assert ds.class_names == ["Speech", "Male speech, man speaking", "Animal", "Music", "Car"]
    assert ds.train.ids == sorted(s[0] for s in TRAIN[:5]) and ds.train.inputs.shape == (
        5, 1, 64, 101)
    rows = dict(zip(ds.train.ids, ds.train.targets.tolist(), strict=True))
    assert rows["--PJHxphWEs"] == [1, 1, 0, 0, 0] and rows["--aE2O5G5WE"] == [0, 0, 1, 1, 0]
    assert rows["-0BIyqJj9ZU"] == [1, 0, 0, 0, 0]
    assert ds.test is not None and ds.test.ids == ["--4gqARaEJE", "--BfvyPmVMo"]
    assert ds.test.targets.tolist() == [[0, 0, 1, 1, 1], [1, 0, 0, 0, 0]]
    miss = ds.info["missing"]
    train_file = miss["balanced_train_segments.csv"]["file"]
    assert miss["balanced_train_segments.csv"] == {"count": 3, "listed": 8, "file": train_file}
    assert miss["eval_segments.csv"]["count"] == 1 and miss["eval_segments.csv"]["listed"] == 3
    assert Path(train_file).parent == tmp_path / "c"
    lines = Path(train_file).read_text().splitlines()
    assert lines[0].startswith("# segments listed in balanced_train_segments.csv whose clip is "
                               "not under") and lines[1].startswith("# YTID")
    assert lines[2:] == [_row(s) for s in TRAIN if s[0] in {"--cB2ZVjpnA", "--ekDLDTUXA",
                                                             "-1nilez17Dg"}]
    err = capsys.readouterr().err
    assert (f"audioset: found 5 of 8 clips listed in balanced_train_segments.csv; 3 missing, "
            f"listed in {train_file}") in err
    assert "audioset: found 2 of 3 clips listed in eval_segments.csv; 1 missing" in err
    again = load_dataset("audioset", root=root, duration=1.0, dev_fraction=0.0,
                         cache_dir=tmp_path / "c2", progress=False)
    assert again.fingerprint == ds.fingerprint  # the report's path is not part of it


def test_audioset_dev_is_a_hash_of_the_ytid(tmp_path: Path) -> None:
    ds = load_dataset("audioset", root=_audioset(tmp_path / "as"), duration=1.0,
                      dev_fraction=0.5, test=None, cache_dir=tmp_path / "c", progress=False)
    found = {s[0] for s in TRAIN[:5]}
    dev = sorted(y for y in found if in_dev(y, 0.5))
    assert dev and len(dev) < 5, "pick YTIDs that split"
    assert ds.dev is not None and ds.dev.ids == dev and ds.test is None
    assert ds.train.ids == sorted(found - set(dev))
    assert ds.name == "audioset:test=None,dev_fraction=0.5"
    assert list(ds.info["missing"]) == ["balanced_train_segments.csv"]


def test_audioset_refusals(tmp_path: Path) -> None:
    kw = {"duration": 1.0, "cache_dir": tmp_path / "c", "progress": False}
    root = _audioset(tmp_path / "a", evals=[(*s[:4], None) for s in EVAL])
    with pytest.raises(FileNotFoundError, match=r"^audioset: none of the 3 clips listed in "
                                                r"eval_segments\.csv is under '.*audio' \(") as e:
        load_dataset("audioset", root=root, **kw)
    assert "\n" not in str(e.value) and "pass clips=PATH" in str(e.value)
    root = _audioset(tmp_path / "b")
    _wav(root / "audio" / "x" / "--ZhevVpy1s.wav", seconds=0.2)
    with pytest.raises(ValueError, match=r"balanced_train_segments\.csv line 5: segment "
                                         r"--ZhevVpy1s matches 2 files"):
        load_dataset("audioset", root=root, **kw)
    root = _audioset(tmp_path / "u", train=[(*TRAIN[0][:3], "/m/09x0r,/m/nope", None)])
    with pytest.raises(ValueError, match=r"line 4: label '/m/nope' of segment --PJHxphWEs is not "
                                         r"in class_labels_indices\.csv"):
        load_dataset("audioset", root=root, **kw)
    with pytest.raises(FileNotFoundError, match="'.*nothing', which does not exist.*"
                       "easyfirst datasets audioset"):
        load_dataset("audioset", root=tmp_path / "nothing", **kw)
    (tmp_path / "nothing").mkdir()
    with pytest.raises(FileNotFoundError, match="No class_labels_indices.csv"):
        load_dataset("audioset", root=tmp_path / "nothing", **kw)


def test_audioset_clip_names() -> None:
    stems = clip_stems(Segment("abc", "30.000", "40.000", ("/m/x",), 4))
    for name in ("abc", "Yabc", "abc_30", "abc_30.000", "abc_30_40", "abc_30.000_40.000",
                 "Yabc_30.000_40.000", "Yabc_30", "abc_30.0_40.0"):
        assert name in stems
    assert stems[0] == "abc" and len(stems) == len(set(stems))
    assert "abc_30.5" in clip_stems(Segment("abc", "30.5", "40.5", ("/m/x",), 4))


# ---------------------------------------------------------------- kwsmix


def _tiny_synthkws(root: Path, per_word: int = 2) -> Path:
    with open(SYNTHKWS_DIR / "metadata.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    keep, count = [], {}
    for r in rows:
        key = (r["split"], r["label"])
        if count.get(key, 0) < per_word:
            count[key] = count.get(key, 0) + 1
            keep.append(r)
            (root / r["file"]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(SYNTHKWS_DIR / r["file"], root / r["file"])
    with open(root / "metadata.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(keep)
    return root


def test_kwsmix_loads_with_known_difficulty(tmp_path: Path) -> None:
    root = _tiny_synthkws(tmp_path / "skw")
    ds = load_dataset("kwsmix", root=root, cache_dir=tmp_path / "c", progress=False)
    assert ds.name == "kwsmix" and ds.multi_label and len(ds.class_names) == 10
    for split in (ds.train, ds.dev, ds.test):
        assert split is not None and len(split) == 20 and split.inputs.shape == (20, 1, 64, 151)
        assert np.isfinite(split.inputs).all() and split.ids == sorted(split.ids)
        m = split.meta
        assert set(m) >= {"snr_a_db", "snr_b_db", "weaker_snr_db", "num_words"}
        assert all(len(v) == 20 and np.issubdtype(np.asarray(v).dtype, np.number)
                   for v in m.values())
        y = split.targets.numpy()
        assert (y.sum(1) == m["num_words"]).all() and set(m["num_words"]) <= {1, 2}
        pair = m["num_words"] == 2
        assert (y[np.arange(20), m["word_a"]] == 1).all()
        assert (y[pair][np.arange(pair.sum()), m["word_b"][pair]] == 1).all()
        assert (m["word_a"][pair] != m["word_b"][pair]).all() and (m["word_b"][~pair] == -1).all()
        assert np.isnan(m["snr_b_db"][~pair]).all() and np.isfinite(m["snr_b_db"][pair]).all()
        weaker = np.where(pair, np.minimum(m["snr_a_db"], m["snr_b_db"]), m["snr_a_db"])
        np.testing.assert_array_equal(m["weaker_snr_db"], weaker)
        assert m["snr_a_db"].min() >= -5 and m["snr_a_db"].max() <= 25
        assert ((m["offset_s"][pair] >= 0.2) & (m["offset_s"][pair] <= 0.5)).all()
        assert all(("+" in i) == p for i, p in zip(split.ids, pair, strict=True))
    assert set(ds.train.meta["num_words"]) == {1, 2}  # about 20 % single-word samples
    fresh = load_dataset("kwsmix", root=root, cache_dir=tmp_path / "c2", progress=False)
    assert fresh.fingerprint == ds.fingerprint
    np.testing.assert_array_equal(fresh.train.inputs, ds.train.inputs)  # built twice, equal
    other = load_dataset("kwsmix", root=root, seed=1, single_fraction=0.0,
                         cache_dir=tmp_path / "c", progress=False)
    assert other.name == "kwsmix:seed=1,snr=-5..25,single=0" and other.fingerprint != ds.fingerprint
    assert (other.train.meta["num_words"] == 2).all()


def test_kwsmix_mixes_each_word_at_its_snr() -> None:
    rng = np.random.default_rng(0)
    a, b = np.zeros(1000, np.float32), np.zeros(1000, np.float32)
    a[100:400] = rng.standard_normal(300)
    b[200:500] = 3 * rng.standard_normal(300)
    noise = (0.05 * rng.standard_normal(1500)).astype(np.float32)
    p_noise = np.mean(noise.astype(np.float64) ** 2)
    only_a = mix_words([(a, 0, 10.0)], noise) - noise
    only_b = mix_words([(b, 300, -3.0)], noise) - noise
    assert np.mean(only_a[100:400].astype(np.float64) ** 2) / p_noise == pytest.approx(10.0, 1e-4)
    assert np.mean(only_b[500:800].astype(np.float64) ** 2) / p_noise == pytest.approx(
        10 ** -0.3, 1e-4)
    assert np.abs(only_b[:500]).max() < 1e-6 and np.abs(only_b[800:]).max() < 1e-6
    both = mix_words([(a, 0, 10.0), (b, 300, -3.0)], noise)
    np.testing.assert_allclose(both, noise + only_a + only_b, atol=1e-6)
    assert spoken_power(a) == pytest.approx(np.mean(a[100:400].astype(np.float64) ** 2))
