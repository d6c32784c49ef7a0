"""Feature cache: fingerprinted, reused, resumable after an interruption, never half-trusted."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from easyfirst.audio.cache import (
    FeatureSpec,
    build_feature_cache,
    cache_key,
    cached_audio_features,
    default_cache_dir,
    file_signature,
    fix_length,
)

torch.set_num_threads(1)

N = 7
SPEC = FeatureSpec.resolve("panns8k", duration=0.25)


class Clips:
    """``load(i)`` of deterministic noise clips of varying length; counts calls, can fail."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.calls: list[int] = []
        self.fail_at = fail_at

    def __call__(self, i: int) -> np.ndarray:
        if i == self.fail_at:
            raise KeyboardInterrupt(f"injected interruption at row {i}")
        self.calls.append(i)
        rng = np.random.default_rng(i)
        return rng.standard_normal(1000 + 300 * i).astype(np.float32) * 0.1


def _build(cache_dir: Path, load: Clips) -> np.memmap:
    return build_feature_cache(load, N, SPEC, sources=["clips-v1"], name="t", cache_dir=cache_dir,
                               chunk_size=2, progress=False)


def test_rows_match_direct_computation(tmp_path: Path) -> None:
    load = Clips()
    mm = _build(tmp_path, load)
    assert isinstance(mm, np.memmap) and mm.shape == (N, *SPEC.shape) == (N, 1, 64, 26)
    assert mm.dtype == np.float32 and not mm.flags.writeable
    expected = SPEC.compute(np.stack([fix_length(load(i), SPEC.num_samples) for i in range(N)]))
    np.testing.assert_array_equal(mm, expected)
    assert sorted(p.name.split("-", 1)[0] for p in tmp_path.glob("*.npy")) == ["t"]


def test_second_build_reuses(tmp_path: Path) -> None:
    first = Clips()
    a = _build(tmp_path, first)
    second = Clips()
    b = _build(tmp_path, second)
    assert first.calls == list(range(N)) and second.calls == []
    np.testing.assert_array_equal(a, b)


def test_resume_after_interruption_is_identical(tmp_path: Path) -> None:
    reference = _build(tmp_path / "ref", Clips())
    with pytest.raises(KeyboardInterrupt, match="row 5"):
        _build(tmp_path / "c", Clips(fail_at=5))
    assert not list((tmp_path / "c").glob("*.complete"))
    assert [p.name.endswith(".partial.npy") for p in (tmp_path / "c").glob("*.npy")] == [True]
    (mark,) = (tmp_path / "c").glob("*.progress")
    assert json.loads(mark.read_text())["rows_done"] == 4  # chunks [0,2) and [2,4) finished
    resumed = Clips()
    out = _build(tmp_path / "c", resumed)
    assert resumed.calls == [4, 5, 6]  # only the unfinished chunk onwards
    np.testing.assert_array_equal(out, reference)
    assert not list((tmp_path / "c").glob("*.partial.npy"))
    assert not list((tmp_path / "c").glob("*.progress"))


def test_unmarked_or_mismatched_cache_is_not_trusted(tmp_path: Path) -> None:
    reference = np.array(_build(tmp_path, Clips()))
    (marker,) = tmp_path.glob("*.complete")
    (final,) = tmp_path.glob("t-*.npy")
    marker.unlink()  # e.g. a crash between rename and marker, or a foreign file
    np.save(final, np.zeros((N, *SPEC.shape), np.float32))
    load = Clips()
    np.testing.assert_array_equal(_build(tmp_path, load), reference)
    assert load.calls == list(range(N))
    # A marker for another fingerprint does not vouch for the file either.
    np.save(final, np.zeros((N, *SPEC.shape), np.float32))
    marker.write_text(json.dumps({"key": "someone-else"}))
    np.testing.assert_array_equal(_build(tmp_path, Clips()), reference)


def test_corrupt_partial_starts_over(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        _build(tmp_path, Clips(fail_at=3))
    (partial,) = tmp_path.glob("*.partial.npy")
    partial.write_bytes(b"garbage")
    load = Clips()
    out = _build(tmp_path, load)
    assert load.calls == list(range(N))
    np.testing.assert_array_equal(out, _build(tmp_path / "ref", Clips()))


def test_key_depends_on_sources_and_params() -> None:
    other = FeatureSpec.resolve("panns8k", duration=0.5)
    keys = {cache_key(["a"], SPEC), cache_key(["b"], SPEC), cache_key(["a"], other)}
    assert len(keys) == 3 and cache_key(["a"], SPEC) == cache_key(["a"], SPEC)


def test_file_signature_tracks_size_and_mtime(tmp_path: Path) -> None:
    sf.write(tmp_path / "a.wav", np.zeros(800), 8000)
    before = file_signature([tmp_path / "a.wav"], tmp_path)
    assert before[0][0] == "a.wav"
    os.utime(tmp_path / "a.wav", ns=(1, 1))
    assert file_signature([tmp_path / "a.wav"], tmp_path) != before


def test_cached_audio_features_reads_files(tmp_path: Path) -> None:
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"{i}.wav")
        sf.write(paths[-1], 0.1 * np.sin(np.arange(1000 + 500 * i) * 0.1 * (i + 1)), 8000)
    mm = cached_audio_features(paths, SPEC, root=tmp_path, cache_dir=tmp_path / "c",
                               progress=False)
    assert mm.shape == (3, 1, 64, 26) and np.isfinite(mm).all()
    assert not np.array_equal(mm[0], mm[1])


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EASYFIRST_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path
    monkeypatch.delenv("EASYFIRST_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "easyfirst"


def test_fix_length() -> None:
    x = np.arange(5, dtype=np.float32)
    np.testing.assert_array_equal(fix_length(x, 3), [0, 1, 2])
    np.testing.assert_array_equal(fix_length(x, 7), [0, 1, 2, 3, 4, 0, 0])


def test_spec_errors() -> None:
    with pytest.raises(ValueError, match="Unknown features 'panns'. Available: panns16k"):
        FeatureSpec.resolve("panns", duration=1.0)
    with pytest.raises(ValueError, match="above the Nyquist frequency of sample_rate=8000"):
        FeatureSpec.resolve("panns16k", duration=1.0, sample_rate=8000)
    with pytest.raises(ValueError, match="duration > 0"):
        FeatureSpec.resolve("panns16k", duration=0)
    spec = FeatureSpec.resolve({"sample_rate": 8000, "n_fft": 256, "hop_length": 80,
                                "f_max": 4000.0, "n_mels": 32}, duration=1.0)
    assert spec.shape == (1, 32, 101) and spec.sample_rate == 8000
