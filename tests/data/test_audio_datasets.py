"""Audio dataset loaders on tiny layouts written to tmp_path, the real FSDD, and synthkws."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from wav_files import write_wav  # noqa: E402  (tests/data helper)

from easyfirst.audio import cache as cache_module
from easyfirst.audio.io import AudioError, load_audio
from easyfirst.data import load_dataset
from easyfirst.data.base import DatasetBundle
from easyfirst.data.dcase2020 import recording_location
from easyfirst.data.speechcommands import KEYWORDS
from easyfirst.data.synthkws import coloured_noise, mix_at_snr, sample_snr

torch.set_num_threads(1)


def _wav(path: Path, seconds: float = 0.2, sr: int = 16000, seed: int = 0) -> None:
    write_wav(path, seconds, sr, seed)


def _csv(path: Path, rows: list[tuple[str, str]], sep: str = ",", header: str = "file,label"
         ) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *(f"{f}{sep}{y}" for f, y in rows)]) + "\n")


def _check_bundle(ds: DatasetBundle, frames: int = 101) -> None:
    for split in (ds.train, ds.dev, ds.test):
        if split is None:
            continue
        assert isinstance(split.inputs, np.memmap) and split.inputs.dtype == np.float32
        assert split.inputs.shape[1:] == (1, 64, frames)
        assert np.isfinite(split.inputs).all()
        assert split.ids == sorted(split.ids)
    assert {"source", "sample_rate", "features", "duration"} <= set(ds.info)


# ---------------------------------------------------------------- folder (autrainer CSVs)

FOLDER = {
    "train": [("audio/dog_1.wav", "dog"), ("audio/cat_1.wav", "cat"), ("audio/dog_2.wav", "dog"),
              ("audio/cat_2.wav", "cat")],
    "dev": [("audio/dog_3.wav", "dog"), ("audio/cat_3.wav", "cat")],
    "test": [("audio/cat_4.wav", "cat"), ("audio/dog_4.wav", "dog")],
}


def _folder(root: Path, order: int = 1) -> Path:
    items = [it for rows in FOLDER.values() for it in rows][::order]
    for k, (f, _) in enumerate(items):  # creation order (and so mtimes, inode order) varies
        _wav(root / f, seed=sorted(items).index(items[k]))
    for split, rows in FOLDER.items():
        _csv(root / f"{split}.csv", rows[::order])
    return root


def test_folder_layout(tmp_path: Path) -> None:
    ds = load_dataset("folder", root=_folder(tmp_path / "d"), duration=0.5,
                      cache_dir=tmp_path / "c", progress=False)
    _check_bundle(ds, frames=51)
    assert ds.class_names == ["cat", "dog"] and ds.info["sample_rate"] == 16000
    assert ds.train.ids == ["audio/cat_1.wav", "audio/cat_2.wav", "audio/dog_1.wav",
                            "audio/dog_2.wav"]
    assert ds.train.targets.tolist() == [0, 0, 1, 1]
    assert ds.dev is not None and ds.test is not None and len(ds.dev) == len(ds.test) == 2


def test_folder_duration_defaults_to_longest_and_optional_splits(tmp_path: Path) -> None:
    root = tmp_path / "d"
    _wav(root / "a.wav", 0.3)
    _wav(root / "b.wav", 0.72, sr=8000)  # resampled to 16 kHz at caching
    _csv(root / "train.csv", [("a.wav", "1"), ("b.wav", "10")])
    ds = load_dataset("folder", root=root, cache_dir=tmp_path / "c", progress=False)
    assert ds.info["duration"] == 0.72 and ds.input_shape == (1, 64, 73)
    assert ds.dev is None and ds.test is None and ds.class_names == ["1", "10"]


def test_folder_ids_independent_of_creation_order(tmp_path: Path) -> None:
    a = load_dataset("folder", root=_folder(tmp_path / "a", 1), duration=0.5,
                     cache_dir=tmp_path / "c", progress=False)
    b = load_dataset("folder", root=_folder(tmp_path / "b", -1), duration=0.5,
                     cache_dir=tmp_path / "c", progress=False)
    for sa, sb in [(a.train, b.train), (a.dev, b.dev), (a.test, b.test)]:
        assert sa is not None and sb is not None
        assert sa.ids == sb.ids and torch.equal(sa.targets, sb.targets)
        np.testing.assert_array_equal(sa.inputs, sb.inputs)
    assert a.fingerprint == b.fingerprint


def test_folder_cache_is_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _folder(tmp_path / "d")
    reads: list[str] = []

    def counting(path: Path, *, sample_rate: int) -> np.ndarray:
        reads.append(Path(path).name)
        return load_audio(path, sample_rate=sample_rate)

    monkeypatch.setattr(cache_module, "load_audio", counting)
    kw = {"root": root, "duration": 0.5, "cache_dir": tmp_path / "c", "progress": False}
    first = load_dataset("folder", **kw)
    assert len(reads) == 8
    second = load_dataset("folder", **kw)
    assert len(reads) == 8  # nothing recomputed
    np.testing.assert_array_equal(first.train.inputs, second.train.inputs)
    os.utime(root / "audio/dog_3.wav", ns=(1, 1))  # a changed source invalidates its split only
    load_dataset("folder", **kw)
    assert sorted(reads[8:]) == ["cat_3.wav", "dog_3.wav"]


def test_folder_unknown_label(tmp_path: Path) -> None:
    root = _folder(tmp_path / "d")
    _wav(root / "audio/bird.wav")
    _csv(root / "dev.csv", [*FOLDER["dev"], ("audio/bird.wav", "bird")])
    with pytest.raises(ValueError, match=r"dev\.csv: file 'audio/bird\.wav' has label 'bird', "
                                         r"which is not among the training labels \(cat, dog\)"):
        load_dataset("folder", root=root, cache_dir=tmp_path / "c", progress=False)


def test_folder_missing_file(tmp_path: Path) -> None:
    root = _folder(tmp_path / "d")
    _csv(root / "test.csv", [*FOLDER["test"], ("audio/gone.wav", "dog")])
    with pytest.raises(FileNotFoundError, match=r"test\.csv line 4: audio file 'audio/gone\.wav' "
                                                r"not found under"):
        load_dataset("folder", root=root, cache_dir=tmp_path / "c", progress=False)


@pytest.mark.parametrize(("content", "reason"), [
    (b"", "the file is empty"), (b"not a wav " * 30, r"it is a text file \(300 bytes\)")])
def test_folder_bad_audio_names_the_file(tmp_path: Path, content: bytes, reason: str) -> None:
    root = _folder(tmp_path / "d")
    (root / "audio/cat_3.wav").write_bytes(content)
    with pytest.raises(AudioError, match=rf"cannot read '.*audio/cat_3\.wav': {reason}"):
        load_dataset("folder", root=root, duration=0.5, cache_dir=tmp_path / "c", progress=False)


def test_folder_layout_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="has no train.csv; expected a folder with"):
        load_dataset("folder", root=tmp_path)
    root = _folder(tmp_path / "d")
    _csv(root / "train.csv", [("audio/dog_1.wav", "dog")], header="path,class")
    with pytest.raises(ValueError, match="expected a header with columns 'file,label'"):
        load_dataset("folder", root=root)
    _csv(root / "train.csv", [*FOLDER["train"], FOLDER["test"][0]])
    with pytest.raises(ValueError, match="'audio/cat_4.wav' is in both the train and the test"):
        load_dataset("folder", root=root)


# ---------------------------------------------------------------- FSDD naming


def _fsdd(root: Path, speakers: tuple[str, ...] = ("jackson", "theo", "lucas")) -> Path:
    for s, speaker in enumerate(speakers):
        for digit in (3, 7):
            for index in (0, 4, 5, 9, 10, 12):
                _wav(root / f"{digit}_{speaker}_{index}.wav", 0.15, sr=8000, seed=s + digit)
    (root / "README.md").write_text("not audio")  # ignored
    return root


def test_fsdd_official_split(tmp_path: Path) -> None:
    ds = load_dataset("fsdd", root=_fsdd(tmp_path / "r"), cache_dir=tmp_path / "c",
                      progress=False)
    _check_bundle(ds)
    assert ds.name == "fsdd" and ds.class_names == [str(d) for d in range(10)]
    assert ds.test is not None and ds.dev is not None
    index = lambda ids: {int(i.split("_")[2][:-4]) for i in ids}  # noqa: E731
    assert index(ds.test.ids) == {0, 4} and index(ds.dev.ids) == {5, 9}
    assert index(ds.train.ids) == {10, 12} and len(ds.train) == 12
    assert set(ds.train.targets.tolist()) == {3, 7} and ds.info["sample_rate"] == 8000


def test_fsdd_speaker_split(tmp_path: Path) -> None:
    ds = load_dataset("fsdd", root=_fsdd(tmp_path / "r"), split="speaker",
                      cache_dir=tmp_path / "c", progress=False)
    assert ds.test is not None and ds.dev is not None and ds.name == "fsdd:speaker"
    speaker = lambda ids: {i.split("_")[1] for i in ids}  # noqa: E731
    assert speaker(ds.test.ids) == {"theo"} and speaker(ds.dev.ids) == {"lucas"}
    assert speaker(ds.train.ids) == {"jackson"}
    with pytest.raises(ValueError, match="lacks lucas, theo"):
        load_dataset("fsdd", root=_fsdd(tmp_path / "s", ("george",)), split="speaker")
    with pytest.raises(ValueError, match="Unknown FSDD split 'x'. Available: official, speaker"):
        load_dataset("fsdd", root=tmp_path, split="x")


def test_fsdd_bad_name_and_default_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _fsdd(tmp_path / "r")
    _wav(root / "seven_jackson_1.wav", sr=8000)
    with pytest.raises(ValueError, match=r"'.*seven_jackson_1\.wav' does not follow"):
        load_dataset("fsdd", root=root)
    monkeypatch.delenv("EASYFIRST_FSDD", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="pass --root"):
        load_dataset("fsdd")
    monkeypatch.setenv("EASYFIRST_FSDD", str(_fsdd(tmp_path / "env")))
    ds = load_dataset("fsdd", cache_dir=tmp_path / "c", progress=False)
    assert ds.info["source"] == str(tmp_path / "env")


def test_real_fsdd(fsdd_root: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    cache = tmp_path_factory.mktemp("fsdd-cache")
    ds = load_dataset("fsdd", root=fsdd_root, cache_dir=cache, progress=False)
    assert ds.test is not None and ds.dev is not None
    assert (len(ds.train), len(ds.dev), len(ds.test)) == (2400, 300, 300)
    assert ds.input_shape == (1, 64, 101) and ds.test.ids[0] == "0_george_0.wav"
    assert np.bincount(ds.train.targets.numpy()).tolist() == [240] * 10
    assert np.isfinite(ds.train.inputs[::100]).all()


# ---------------------------------------------------------------- Speech Commands v0.02

UNKNOWN_WORDS = ("bed", "cat")


def _speechcommands(root: Path) -> Path:
    dev: list[str] = []
    test: list[str] = []
    for w, word in enumerate((*KEYWORDS, *UNKNOWN_WORDS)):
        for k in range(3):
            rel = f"{word}/{w:02x}{k}_nohash_0.wav"
            _wav(root / rel, 0.1 + 0.05 * k, seed=w)
            if k:
                (dev if k == 1 else test).append(rel)
    (root / "validation_list.txt").write_text("\n".join(dev) + "\n")
    (root / "testing_list.txt").write_text("\n".join(test) + "\n")
    for s, name in enumerate(("white_noise.wav", "pink_noise.wav")):
        _wav(root / "_background_noise_" / name, 12.0, seed=100 + s)
    (root / "LICENSE").write_text("cc-by")
    return root


def test_speechcommands_35(tmp_path: Path) -> None:
    ds = load_dataset("speechcommands", root=_speechcommands(tmp_path / "sc"), task="35",
                      cache_dir=tmp_path / "c", progress=False)
    _check_bundle(ds)
    assert ds.name == "speechcommands:35" and ds.class_names == sorted((*KEYWORDS, *UNKNOWN_WORDS))
    assert ds.dev is not None and ds.test is not None
    assert (len(ds.train), len(ds.dev), len(ds.test)) == (12, 12, 12)
    assert all(i.split("/")[1][2] == "2" for i in ds.test.ids)
    assert ds.class_names[int(ds.train.targets[0])] == ds.train.ids[0].split("/")[0]


def test_speechcommands_12(tmp_path: Path) -> None:
    ds = load_dataset("speechcommands", root=_speechcommands(tmp_path / "sc"), task="12",
                      cache_dir=tmp_path / "c", progress=False)
    _check_bundle(ds)
    assert ds.class_names == [*KEYWORDS, "_unknown_", "_silence_"]
    assert ds.dev is not None and ds.test is not None
    for split, region in [(ds.train, (0.0, 0.8)), (ds.dev, (0.8, 0.9)), (ds.test, (0.9, 1.0))]:
        names = [ds.class_names[t] for t in split.targets.tolist()]
        assert names.count("_unknown_") == 2 and names.count("_silence_") == 1  # 10 kw / 10
        (sil,) = [i for i, n in zip(split.ids, names, strict=True) if n == "_silence_"]
        start = int(sil.split("@")[1])
        assert sil.startswith("_background_noise_/") and region[0] * 192000 <= start
        assert start + 16000 <= region[1] * 192000
    bed = ds.train.ids.index("bed/0a0_nohash_0.wav")
    assert ds.class_names[int(ds.train.targets[bed])] == "_unknown_"
    again = load_dataset("speechcommands", root=tmp_path / "sc", task="12",
                         cache_dir=tmp_path / "c", progress=False)
    assert again.train.ids == ds.train.ids


def test_speechcommands_errors(tmp_path: Path) -> None:
    root = _speechcommands(tmp_path / "sc")
    (root / "testing_list.txt").write_text("stop/missing.wav\n")
    with pytest.raises(FileNotFoundError, match=r"testing_list\.txt line 1: audio file "
                                                r"'stop/missing\.wav' not found"):
        load_dataset("speechcommands", root=root)
    (root / "testing_list.txt").unlink()
    with pytest.raises(FileNotFoundError, match="No testing_list.txt in .*v0.02 layout"):
        load_dataset("speechcommands", root=root)
    (root / "testing_list.txt").write_text("")
    (root / "validation_list.txt").write_text("")
    for p in (root / "stop").iterdir():
        p.unlink()
    (root / "stop").rmdir()
    with pytest.raises(FileNotFoundError, match="missing: stop"):
        load_dataset("speechcommands", root=root, task="12")
    with pytest.raises(ValueError, match="Unknown speechcommands task '20'. Available: 35, 12"):
        load_dataset("speechcommands", root=root, task="20")


# ---------------------------------------------------------------- DCASE 2020 Task 1A


def _dcase(root: Path) -> Path:
    train: list[tuple[str, str]] = []
    evaluate: list[tuple[str, str]] = []
    for s, scene in enumerate(("airport", "park", "street_traffic")):
        for city in ("lisbon", "vienna"):
            for loc in range(3):
                for seg in range(2):
                    rel = f"audio/{scene}-{city}-{100 * s + loc}-{seg * 10}-a.wav"
                    _wav(root / rel, 0.3, sr=44100, seed=s)
                    (evaluate if city == "vienna" and loc == 2 else train).append((rel, scene))
    header = "filename\tscene_label"
    _csv(root / "evaluation_setup/fold1_train.csv", train, sep="\t", header=header)
    _csv(root / "evaluation_setup/fold1_evaluate.csv", evaluate, sep="\t", header=header)
    return root


def test_dcase2020(tmp_path: Path) -> None:
    ds = load_dataset("dcase2020", root=_dcase(tmp_path / "d"), duration=0.5,
                      cache_dir=tmp_path / "c", progress=False)
    _check_bundle(ds, frames=51)
    assert ds.class_names == ["airport", "park", "street_traffic"]
    assert ds.info["sample_rate"] == 32000 and ds.dev is not None and ds.test is not None
    assert (len(ds.train), len(ds.dev), len(ds.test)) == (24, 6, 6)
    train_locs = {recording_location(i) for i in ds.train.ids}
    dev_locs = {recording_location(i) for i in ds.dev.ids}
    assert not train_locs & dev_locs  # no recording location leaks into dev
    assert sorted(ds.class_names[t] for t in ds.dev.targets.tolist()) == sorted(
        ds.class_names * 2)  # one location (2 segments) per scene


def test_dcase2020_errors(tmp_path: Path) -> None:
    root = _dcase(tmp_path / "d")
    setup = root / "evaluation_setup"
    _csv(setup / "fold1_evaluate.csv", [("audio/park-lisbon-100-0-a.wav", "beach")], sep="\t",
         header="filename\tscene_label")
    with pytest.raises(ValueError, match=r"fold1_evaluate\.csv: file 'audio/park-lisbon-100-0-a"
                                         r"\.wav' has label 'beach'"):
        load_dataset("dcase2020", root=root)
    _wav(root / "audio/oddname.wav", sr=44100)
    _csv(setup / "fold1_train.csv", [("audio/oddname.wav", "park")], sep="\t",
         header="filename\tscene_label")
    _csv(setup / "fold1_evaluate.csv", [], sep="\t", header="filename\tscene_label")
    with pytest.raises(ValueError, match="'audio/oddname.wav' does not follow SCENE-CITY"):
        load_dataset("dcase2020", root=root)
    (setup / "fold1_train.csv").unlink()
    with pytest.raises(FileNotFoundError, match="No evaluation_setup/fold1_train.csv in"):
        load_dataset("dcase2020", root=root)


# ---------------------------------------------------------------- synthkws (embedded)


@pytest.fixture(scope="module")
def synthkws(tmp_path_factory: pytest.TempPathFactory) -> DatasetBundle:
    return load_dataset("synthkws", cache_dir=tmp_path_factory.mktemp("skw"), progress=False)


def test_synthkws_loads_offline(synthkws: DatasetBundle) -> None:
    ds = synthkws
    _check_bundle(ds)
    assert ds.name == "synthkws" and len(ds.class_names) == 10
    assert ds.dev is not None and ds.test is not None
    assert (len(ds.train), len(ds.dev), len(ds.test)) == (1280, 320, 320)
    assert np.bincount(ds.train.targets.numpy()).tolist() == [128] * 10
    voices = [set(s.meta["voice"]) for s in (ds.train, ds.dev, ds.test)]
    assert not (voices[0] & voices[1] or voices[0] & voices[2] or voices[1] & voices[2])


def test_synthkws_meta_has_snr_per_sample(synthkws: DatasetBundle) -> None:
    for split in (synthkws.train, synthkws.dev, synthkws.test):
        assert split is not None
        snr = split.meta["snr_db"]
        assert snr.shape == (len(split),) and snr.dtype == np.float32
        assert snr.min() >= -10 and snr.max() <= 30 and snr.std() > 5
        assert snr[3] == np.float32(sample_snr(split.ids[3], seed=0, snr_db=(-10.0, 30.0)))
        assert split.subset([1, 2]).meta["snr_db"].tolist() == snr[[1, 2]].tolist()


def test_synthkws_noise_is_seeded_and_at_the_snr(tmp_path: Path) -> None:
    rng = lambda: np.random.default_rng(7)  # noqa: E731
    noise = coloured_noise(16000, rng())
    np.testing.assert_array_equal(noise, coloured_noise(16000, rng()))
    assert abs(np.sqrt(np.mean(noise**2)) - 1) < 1e-9
    speech = np.zeros(16000, np.float32)
    speech[4000:8000] = np.sin(np.arange(4000) * 0.3)
    mixed = mix_at_snr(speech, noise, 6.0)
    snr = 10 * np.log10(np.mean(speech[4000:8000] ** 2) / np.mean((mixed - speech) ** 2))
    assert snr == pytest.approx(6.0, abs=0.01)
    assert sample_snr("a", seed=0, snr_db=(-5, 20)) != sample_snr("a", seed=1, snr_db=(-5, 20))
