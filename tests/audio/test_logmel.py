"""Log-Mel against torchaudio / librosa / autrainer reference values (tests/fixtures)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from easyfirst.audio import (
    LOGMEL_PRESETS,
    LogMel,
    log_mel_spectrogram,
    mel_filterbank,
    spectrogram_power,
)

torch.set_num_threads(1)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "logmel_reference.npz"
CLIPS = ["chirp", "noise", "fsdd"]
FB_KW = {"n_freqs": 257, "sample_rate": 16000, "n_mels": 64, "f_min": 50.0, "f_max": 8000.0}
# torchaudio's MelSpectrogram settings for sets (a) and (b): float32 filterbank.
TA_KW = {"log": False, "filterbank_dtype": torch.float32}


@pytest.fixture(scope="module")
def ref() -> dict[str, torch.Tensor]:
    z = np.load(FIXTURE)
    return {k: torch.from_numpy(z[k]) for k in z.files if k != "params_json"}


def _assert_power_close(out: torch.Tensor, expected: torch.Tensor) -> None:
    atol = 1e-5 * expected.abs().max().item()
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=atol)


def _assert_power_float32(out: torch.Tensor, expected: torch.Tensor) -> None:
    """torchaudio's float32 power to float32 rounding. Bit for bit on the CPU that made the
    fixture; other CPUs' FFT kernels round differently (a 2026-12 Xeon: |diff| <= 3e-7 of the
    peak, in 77-98% of the bins), so the bound is a few ulp of the peak, not zero."""
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6 * expected.abs().max().item())


def _assert_db_close(out: torch.Tensor, expected: torch.Tensor) -> None:
    torch.testing.assert_close(out, expected, rtol=0, atol=0.2)
    m = expected > -60.0
    torch.testing.assert_close(out[m], expected[m], rtol=0, atol=2e-3)


# ---- filterbanks ------------------------------------------------------------------------


def test_filterbank_htk_bit_exact(ref: dict[str, torch.Tensor]) -> None:
    fb = mel_filterbank(**FB_KW, mel_scale="htk", norm=None)
    assert fb.dtype == torch.float32
    assert torch.equal(fb, ref["fb_a_htk"])


def test_filterbank_slaney_bit_exact(ref: dict[str, torch.Tensor]) -> None:
    fb = mel_filterbank(**FB_KW, mel_scale="slaney", norm="slaney")
    assert torch.equal(fb, ref["fb_b_slaney"])


def test_filterbank_librosa(ref: dict[str, torch.Tensor]) -> None:
    fb = mel_filterbank(**FB_KW, mel_scale="slaney", norm="slaney", dtype=torch.float64)
    expected = ref["fb_c_librosa"]
    assert fb.dtype == torch.float64
    fb32 = fb.float()
    torch.testing.assert_close(fb32, expected, rtol=0, atol=1e-5 * expected.abs().max().item())
    assert (fb32 - expected).abs().max().item() < 1e-8


# ---- spectrograms -----------------------------------------------------------------------


@pytest.mark.parametrize("clip", CLIPS)
def test_htk_mel_power_float32(ref: dict[str, torch.Tensor], clip: str) -> None:
    out = log_mel_spectrogram(ref[f"wav__{clip}"], mel_scale="htk", norm=None, **TA_KW)
    _assert_power_float32(out, ref[f"a_mel_htk__{clip}"])


@pytest.mark.parametrize("clip", CLIPS)
def test_slaney_mel_power_float32(ref: dict[str, torch.Tensor], clip: str) -> None:
    out = log_mel_spectrogram(ref[f"wav__{clip}"], **TA_KW)
    _assert_power_float32(out, ref[f"b_mel_slaney__{clip}"])


@pytest.mark.parametrize("clip", CLIPS)
@pytest.mark.parametrize("scale", ["htk", "slaney"])
def test_mel_power_float64(ref: dict[str, torch.Tensor], clip: str, scale: str) -> None:
    key = f"a_mel_htk__{clip}" if scale == "htk" else f"b_mel_slaney__{clip}"
    norm = None if scale == "htk" else "slaney"
    out = log_mel_spectrogram(ref[f"wav__{clip}"].double(), mel_scale=scale, norm=norm, log=False)
    assert out.dtype == torch.float64
    _assert_power_close(out.float(), ref[key])


@pytest.mark.parametrize("clip", CLIPS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_panns_db(ref: dict[str, torch.Tensor], clip: str, dtype: torch.dtype) -> None:
    wav = ref[f"wav__{clip}"].unsqueeze(0).to(dtype)  # (1, T), as autrainer passes it
    out = log_mel_spectrogram(wav, **LOGMEL_PRESETS["panns16k"])  # (1, 64, L)
    _assert_db_close(out.transpose(-1, -2).float(), ref[f"c_logmel_pann__{clip}"])


def test_default_is_panns16k(ref: dict[str, torch.Tensor]) -> None:
    wav = ref["wav__fsdd"]
    assert torch.equal(
        log_mel_spectrogram(wav), log_mel_spectrogram(wav, **LOGMEL_PRESETS["panns16k"])
    )


def test_frames_and_shapes(ref: dict[str, torch.Tensor]) -> None:
    for clip, frames in zip(CLIPS, [101, 70, 54], strict=True):
        assert log_mel_spectrogram(ref[f"wav__{clip}"]).shape == (64, frames)
    assert spectrogram_power(torch.zeros(2, 3, 1600), n_fft=512, hop_length=160).shape == (
        2,
        3,
        257,
        11,
    )


def test_batched_equals_per_clip(ref: dict[str, torch.Tensor]) -> None:
    wav = ref["wav__chirp"][:11111]
    batch = torch.stack([wav, ref["wav__noise"], wav * 0.1]).view(3, 1, -1)  # (3, 1, T)
    out = log_mel_spectrogram(batch)
    assert out.shape == (3, 1, 64, 70)
    for i in range(3):
        torch.testing.assert_close(out[i, 0], log_mel_spectrogram(batch[i, 0]), rtol=0, atol=1e-4)


def test_module_equals_functional(ref: dict[str, torch.Tensor]) -> None:
    wav = torch.stack([ref["wav__chirp"][:8602], ref["wav__fsdd"]])
    module = LogMel.from_preset("panns16k")
    assert torch.equal(module(wav), log_mel_spectrogram(wav, **LOGMEL_PRESETS["panns16k"]))
    assert module.state_dict() == {}  # buffers are non-persistent
    # .double() casts the float32 buffers, so far below the peak (window sidelobes) the
    # module and the functional (float64 window and filterbank) differ a little.
    out64 = module.double()(wav.double())
    ref64 = log_mel_spectrogram(wav.double(), **LOGMEL_PRESETS["panns16k"])
    assert out64.dtype == torch.float64
    torch.testing.assert_close(out64, ref64, rtol=0, atol=0.2)
    m = ref64 > -60.0
    torch.testing.assert_close(out64[m], ref64[m], rtol=0, atol=2e-3)


@pytest.mark.parametrize("name", sorted(LOGMEL_PRESETS))
def test_presets(name: str) -> None:
    sr = LOGMEL_PRESETS[name]["sample_rate"]
    module = LogMel.from_preset(name)
    out = module(torch.randn(2, sr // 2, generator=torch.Generator().manual_seed(0)))
    assert out.shape == (2, 64, 1 + (sr // 2) // LOGMEL_PRESETS[name]["hop_length"])
    assert torch.isfinite(out).all()


def test_log_false_top_db_and_ref() -> None:
    wav = torch.randn(2, 4000, generator=torch.Generator().manual_seed(1))
    power = log_mel_spectrogram(wav, log=False)
    db = log_mel_spectrogram(wav)
    torch.testing.assert_close(db, 10 * torch.log10(power.clamp_min(1e-10)))
    shifted = log_mel_spectrogram(wav, ref=10.0)
    torch.testing.assert_close(shifted, db - 10.0)
    clipped = log_mel_spectrogram(wav, top_db=20.0)
    floor = db.amax(dim=(-2, -1), keepdim=True) - 20.0
    torch.testing.assert_close(clipped, torch.maximum(db, floor))
    assert (clipped.amin(dim=(-2, -1)) >= floor.squeeze() - 1e-5).all()


def test_half_input_returns_half() -> None:
    out = log_mel_spectrogram(torch.randn(1, 1600).half())
    assert out.dtype == torch.float16 and torch.isfinite(out).all()


# ---- errors -----------------------------------------------------------------------------


def test_errors() -> None:
    wav = torch.zeros(1600)
    with pytest.raises(ValueError, match="f_max must be <= sample_rate / 2 = 8000"):
        log_mel_spectrogram(wav, f_max=9000.0)
    with pytest.raises(ValueError, match="n_mels must be >= 1, got 0"):
        log_mel_spectrogram(wav, n_mels=0)
    with pytest.raises(ValueError, match=r"Unknown mel_scale 'mel'\. Available: 'htk', 'slaney'"):
        mel_filterbank(**FB_KW, mel_scale="mel")
    with pytest.raises(ValueError, match=r"Unknown norm 'area'\. Available: None, 'slaney'"):
        log_mel_spectrogram(wav, norm="area")
    with pytest.raises(ValueError, match="Unknown log-Mel preset 'panns44k'. Available: panns16k"):
        LogMel.from_preset("panns44k")
    with pytest.raises(ValueError, match="T > 0 samples, got shape"):
        log_mel_spectrogram(torch.zeros(2, 0))
    with pytest.raises(ValueError, match="Reflect padding needs more than"):
        LogMel()(torch.zeros(3, 100))
    with pytest.raises(TypeError, match="floating-point waveform"):
        log_mel_spectrogram(torch.zeros(1600, dtype=torch.int16))
    with pytest.raises(ValueError, match="f_min < f_max"):
        mel_filterbank(**{**FB_KW, "f_min": 9000.0, "f_max": 8000.0})
    with pytest.raises(ValueError, match="amin must be > 0"):
        LogMel(amin=0.0)


def test_cpu_chunking_matches_single_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    from easyfirst.audio import logmel

    wav = torch.randn(5, 2, 3200, generator=torch.Generator().manual_seed(2))
    monkeypatch.setattr(logmel, "_CPU_CHUNK_BYTES", 1)  # one clip per chunk
    chunked = log_mel_spectrogram(wav)
    monkeypatch.setattr(logmel, "_CPU_CHUNK_BYTES", 1 << 40)  # one chunk
    single = log_mel_spectrogram(wav)
    assert chunked.shape == (5, 2, 64, 21)
    torch.testing.assert_close(chunked, single, rtol=0, atol=1e-4)
