"""Hugging Face audio datasets on a local path: save_to_disk folders and audiofolders, built
in tmp from short clips, read by ``load_dataset("hf")`` and ``easyfirst score``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from wav_files import write_wav  # noqa: E402  (tests/data helper)

from easyfirst.cli.main import main
from easyfirst.data import load_dataset

QUIET = {"progress": False}
WORDS = ["dog", "cat", "bird"]  # the ClassLabel's order, not sorted


@pytest.fixture(scope="module")
def hf_datasets():
    return pytest.importorskip("datasets", reason="needs the extra: pip install 'easyfirst[hf]'")


def _clips(folder: Path, n: int, seed: int = 0) -> list[Path]:
    paths = [folder / f"{i}.wav" for i in range(n)]
    for i, p in enumerate(paths):
        write_wav(p, seconds=0.1 + 0.02 * (i % 3), seed=seed + i)
    return paths


def _dataset(hf, paths: list[Path], labels: list, *, names: list[str] | None = None,
             decode: bool = False):
    """A Dataset with embedded clips in an Audio column, built without torchcodec (which
    ``decode=True``, the hub's default, needs to read it through ``datasets``)."""
    label = hf.ClassLabel(names=names) if names else hf.Value("string")
    cells = [{"bytes": p.read_bytes(), "path": p.name} for p in paths]
    raw = hf.Features({"audio": {"bytes": hf.Value("binary"), "path": hf.Value("string")},
                       "label": label})
    ds = hf.Dataset.from_dict({"audio": cells, "label": labels}, features=raw)
    return ds.cast_column("audio", hf.Audio(decode=decode))


@pytest.fixture(scope="module")
def saved_dict(hf_datasets, tmp_path_factory) -> Path:
    """DatasetDict train/validation/test, ClassLabel labels; test's paths repeat."""
    tmp = tmp_path_factory.mktemp("hf")
    train = _dataset(hf_datasets, _clips(tmp / "a", 6), [0, 1, 2, 0, 1, 2], names=WORDS,
                     decode=True)
    dev = _dataset(hf_datasets, _clips(tmp / "b", 3, 10), [2, 1, 0], names=WORDS)
    test = _dataset(hf_datasets, _clips(tmp / "c", 2, 20) * 2, [0, 1, 1, 0], names=WORDS)
    hf_datasets.DatasetDict({"train": train, "validation": dev, "test": test}).save_to_disk(
        tmp / "saved")
    return tmp / "saved"


def test_save_to_disk_dict_gives_splits_ids_and_classlabel_names(saved_dict):
    b = load_dataset("hf", root=saved_dict, **QUIET)
    assert b.class_names == WORDS and b.info["splits"] == {
        "train": "train", "dev": "validation", "test": "test"}
    assert b.train.ids == [f"{i}.wav" for i in range(6)]  # the audio paths, unique
    assert b.test is not None and b.test.ids == [f"row:{i}" for i in range(4)]  # repeated paths
    assert b.train.targets.tolist() == [0, 1, 2, 0, 1, 2]
    assert b.dev is not None and b.dev.targets.tolist() == [2, 1, 0]
    assert b.input_shape[:2] == (1, 64) and np.isfinite(np.asarray(b.train.inputs)).all()
    assert 0.14 <= b.info["duration"] <= 0.15  # the longest clip, up to 10 ms
    again = load_dataset("hf", root=saved_dict, dev_split="", test_split="", **QUIET)
    assert again.dev is None and again.test is None
    assert again.train.ids == b.train.ids
    np.testing.assert_array_equal(np.asarray(again.train.inputs), np.asarray(b.train.inputs))


def test_save_to_disk_dataset_of_file_paths_and_string_labels(hf_datasets, tmp_path):
    paths = _clips(tmp_path / "clips", 4)
    ds = hf_datasets.Dataset.from_dict({"file": [str(p) for p in paths],
                                        "label": ["10", "9", "10", "9"]})
    ds.save_to_disk(tmp_path / "saved")
    _one_line(ValueError, "an audio column '.an Audio feature.' .* got columns file, label",
              root=tmp_path / "saved")
    b = load_dataset("hf", root=tmp_path / "saved", audio_column="file", **QUIET)
    assert b.class_names == ["9", "10"] and b.dev is None and b.test is None
    assert b.train.ids == [str(p) for p in paths] and b.train.targets.tolist() == [1, 0, 1, 0]


def test_audiofolder_layouts(tmp_path):
    for split, n in (("train", 3), ("test", 2)):
        for k, word in enumerate(("dog", "cat")):
            _clips(tmp_path / "af" / split / word, n, seed=10 * k)
    b = load_dataset("hf", root=tmp_path / "af", **QUIET)
    assert b.class_names == ["cat", "dog"] and b.info["layout"] == "audiofolder"
    assert b.train.ids[:2] == ["train/cat/0.wav", "train/cat/1.wav"] and len(b.train) == 6
    assert b.dev is None and b.test is not None and b.test.targets.tolist() == [0, 0, 1, 1]
    flat = tmp_path / "flat"  # no split folders: all train; labels from metadata.jsonl
    _clips(flat, 4)
    (flat / "metadata.jsonl").write_text("".join(
        json.dumps({"file_name": f"{i}.wav", "word": ["up", "down"][i % 2]}) + "\n"
        for i in range(4)))
    b = load_dataset("hf", root=flat, label_column="word", **QUIET)
    assert b.train.ids == [f"{i}.wav" for i in range(4)] and b.class_names == ["down", "up"]
    _one_line(ValueError, "column 'genre' in split 'train' .* got columns file_name, word",
              root=flat, label_column="genre")


def test_score_command_reads_an_hf_folder(saved_dict, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["score", "--dataset", "hf", "--root", str(saved_dict), "--dataset-opt",
                 "label_column=label", "--dataset-opt", "train_split=train", "--epochs", "1",
                 "--device", "cpu", "--no-progress", "--out", str(out)]) == 0
    samples = np.load(out / "samples.npz")
    assert samples["train.ids"].tolist() == [f"{i}.wav" for i in range(6)]
    assert (out / "scores" / "cumacc.csv").is_file()


def _one_line(exc_type, match: str, **options) -> str:
    with pytest.raises(exc_type, match=match) as err:
        load_dataset("hf", **QUIET, **options)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_errors_are_one_line(saved_dict, tmp_path, capsys):
    _one_line(FileNotFoundError, "which does not exist", root=tmp_path / "nope")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no audio here")
    _one_line(FileNotFoundError, "or an audiofolder .* got neither", root=tmp_path / "notes")
    _one_line(ValueError, "column 'genre' in split 'train' .* got columns audio, label",
              root=saved_dict, label_column="genre")
    _one_line(ValueError, "dev split 'nope' .* got splits train, validation, test",
              root=saved_dict, dev_split="nope")
    _clips(tmp_path / "af" / "dog", 2)
    _one_line(ValueError, "column 'word' .* got columns audio, label", root=tmp_path / "af",
              label_column="word")
    assert main(["score", "--dataset", "hf", "--root", str(tmp_path / "nope"), "--device",
                 "cpu", "--out", str(tmp_path / "run")]) == 2
    assert "which does not exist" in capsys.readouterr().err


def test_save_to_disk_without_datasets_names_the_install_command(saved_dict, monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)
    message = _one_line(ImportError, "expected the 'datasets' package", root=saved_dict)
    assert message.endswith("Install it: pip install 'easyfirst[hf]'")


def test_report_clips_of_hf_samples_are_their_audio(saved_dict, tmp_path):
    """The report plays a training sample's own audio: from the arrow rows (embedded bytes)
    or from the file (audiofolder)."""
    from easyfirst.audio.io import load_audio
    from easyfirst.data.clips import has_clips, read_clip

    assert has_clips("hf")
    b = load_dataset("hf", root=saved_dict, **QUIET)
    rate = b.info["sample_rate"]
    for k in (0, 4):
        want = load_audio(saved_dict.parent / "a" / f"{k}.wav", sample_rate=rate)
        np.testing.assert_allclose(read_clip("hf", b.info, b.train.ids[k]), want, atol=1e-6)
    _clips(tmp_path / "af" / "train" / "dog", 2)
    f = load_dataset("hf", root=tmp_path / "af", **QUIET)
    want = load_audio(tmp_path / "af" / "train" / "dog" / "1.wav", sample_rate=rate)
    np.testing.assert_allclose(read_clip("hf", f.info, "train/dog/1.wav"), want, atol=1e-6)
