"""Max abs difference of easyfirst's log-Mel against the upstream reference fixture.

Sets: (a) torchaudio HTK mel power, (b) torchaudio Slaney mel power, (c) autrainer/PANNs
log-Mel in dB (the ``panns16k`` preset), and the three filterbanks. Run:
``python benchmarks/logmel_parity.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from easyfirst.audio import LOGMEL_PRESETS, log_mel_spectrogram, mel_filterbank

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "logmel_reference.npz"
CLIPS = ("chirp", "noise", "fsdd")


def _max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.double() - b.double()).abs().max().item()


def main() -> None:
    torch.set_num_threads(1)
    z = np.load(FIXTURE)
    ref = {k: torch.from_numpy(z[k]) for k in z.files if k != "params_json"}

    fb_kw = {"n_freqs": 257, "sample_rate": 16000, "n_mels": 64, "f_min": 50.0, "f_max": 8000.0}
    fbs = {
        "fb_a_htk (float32 build)": (mel_filterbank(**fb_kw), "fb_a_htk"),
        "fb_b_slaney (float32 build)": (
            mel_filterbank(**fb_kw, mel_scale="slaney", norm="slaney"),
            "fb_b_slaney",
        ),
        "fb_c_librosa (float64 build)": (
            mel_filterbank(**fb_kw, mel_scale="slaney", norm="slaney", dtype=torch.float64),
            "fb_c_librosa",
        ),
    }
    print("filterbanks: max abs diff")
    for name, (fb, key) in fbs.items():
        print(f"  {name:30s} {_max_abs(fb.float(), ref[key]):.3g}")

    print("\nset / dtype                      " + "".join(f"{c:>12s}" for c in CLIPS))
    for dtype in (torch.float32, torch.float64):
        tag = str(dtype).replace("torch.", "")
        rows: dict[str, list[str]] = {
            f"(a) htk mel power, {tag}": [],
            f"(b) slaney mel power, {tag}": [],
            f"(c) panns16k dB, {tag}": [],
            f"(c) panns16k dB >-60, {tag}": [],
        }
        values = list(rows.values())
        for clip in CLIPS:
            wav = ref[f"wav__{clip}"].to(dtype)
            fb_dtype = torch.float32 if dtype == torch.float32 else torch.float64
            a = log_mel_spectrogram(
                wav, mel_scale="htk", norm=None, log=False, filterbank_dtype=fb_dtype
            )
            b = log_mel_spectrogram(wav, log=False, filterbank_dtype=fb_dtype)
            c = log_mel_spectrogram(wav.unsqueeze(0), **LOGMEL_PRESETS["panns16k"])
            c = c.transpose(-1, -2)  # ours (1, M, L) -> reference layout (1, L, M)
            c_ref = ref[f"c_logmel_pann__{clip}"]
            m = c_ref > -60.0
            values[0].append(f"{_max_abs(a, ref[f'a_mel_htk__{clip}']):12.3g}")
            values[1].append(f"{_max_abs(b, ref[f'b_mel_slaney__{clip}']):12.3g}")
            values[2].append(f"{_max_abs(c, c_ref):12.3g}")
            values[3].append(f"{_max_abs(c[m], c_ref[m]):12.3g}")
        for name, cells in rows.items():
            print(f"{name:33s}" + "".join(cells))
    print("\npresets panns8k, panns32k: no reference outputs in the fixture (shape-tested only)")


if __name__ == "__main__":
    main()
