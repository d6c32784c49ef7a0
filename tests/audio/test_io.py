"""Reading audio: mono float32, resampling once, one-line errors naming the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from easyfirst.audio.io import AudioError, audio_info, load_audio, resample

torch.set_num_threads(1)


def _sine(seconds: float, sr: int, freq: float = 440.0) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_load_mono_float32(tmp_path: Path) -> None:
    x = _sine(0.25, 16000)
    sf.write(tmp_path / "a.wav", x, 16000, subtype="PCM_16")
    y = load_audio(tmp_path / "a.wav", sample_rate=16000)
    assert y.dtype == np.float32 and y.shape == (4000,)
    np.testing.assert_allclose(y, x, atol=1e-4)


def test_stereo_is_averaged(tmp_path: Path) -> None:
    left, right = _sine(0.1, 8000), np.zeros(800, np.float32)
    sf.write(tmp_path / "s.flac", np.stack([left, right], axis=1), 8000)
    np.testing.assert_allclose(load_audio(tmp_path / "s.flac", sample_rate=8000), left / 2,
                               atol=1e-4)


@pytest.mark.parametrize(("orig", "new"), [(8000, 16000), (44100, 32000), (22050, 16000)])
def test_resampled_to_the_requested_rate(tmp_path: Path, orig: int, new: int) -> None:
    sf.write(tmp_path / "r.wav", _sine(0.5, orig), orig, subtype="FLOAT")
    y = load_audio(tmp_path / "r.wav", sample_rate=new)
    assert y.shape == (round(0.5 * new),)
    middle = slice(len(y) // 4, 3 * len(y) // 4)  # away from the filter's edge transients
    np.testing.assert_allclose(y[middle], _sine(0.5, new)[middle], atol=2e-3)
    assert audio_info(tmp_path / "r.wav") == (round(0.5 * orig), orig)


def test_resample_identity_and_bad_rate() -> None:
    x = np.ones(10, np.float32)
    assert resample(x, 8000, 8000) is x
    with pytest.raises(ValueError, match="positive sample rates"):
        resample(x, 0, 8000)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match=r"cannot read '.*nope\.wav': no such file"):
        load_audio(tmp_path / "nope.wav", sample_rate=16000)
    with pytest.raises(FileNotFoundError):  # also catchable as the builtin
        audio_info(tmp_path / "nope.wav")


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "e.wav").write_bytes(b"")
    with pytest.raises(AudioError, match=r"cannot read '.*e\.wav': the file is empty"):
        load_audio(tmp_path / "e.wav", sample_rate=16000)


def test_zero_samples(tmp_path: Path) -> None:
    sf.write(tmp_path / "z.wav", np.zeros(0), 16000)
    for read in (lambda p: load_audio(p, sample_rate=16000), audio_info):
        with pytest.raises(AudioError, match=r"'.*z\.wav': it contains 0 samples; expected"):
            read(tmp_path / "z.wav")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("corrupt.wav", b"RIFF\x00\x00\x00\x00WAVEfmt "),  # truncated header
        ("text.wav", b"this is not audio at all " * 20),
        ("clip.m4a", b"\x00\x00\x00\x20ftypM4A " + bytes(200)),  # format soundfile lacks
    ],
)
def test_corrupt_or_unsupported(tmp_path: Path, name: str, content: bytes) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(AudioError, match=rf"cannot read '.*{name}': .*re-export or remove it$"):
        load_audio(tmp_path / name, sample_rate=16000)
    with pytest.raises(ValueError, match=name):  # AudioError is a ValueError
        audio_info(tmp_path / name)


def test_unreadable_file_says_permission_denied(tmp_path: Path, monkeypatch) -> None:
    """Not libsndfile's "System error": the reason, in our words (root reads anything, so
    the access check is what the test turns off)."""
    (tmp_path / "locked.wav").write_bytes(b"RIFF" + bytes(60))
    monkeypatch.setattr("easyfirst.audio.io.os.access", lambda path, mode: False)
    with pytest.raises(AudioError, match=r"cannot read '.*locked\.wav': permission denied; "):
        load_audio(tmp_path / "locked.wav", sample_rate=16000)


def test_error_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "x.wav").write_bytes(b"garbage" * 50)
    with pytest.raises(AudioError) as info:
        load_audio(tmp_path / "x.wav", sample_rate=8000)
    assert "\n" not in str(info.value)
