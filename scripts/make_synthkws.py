"""Generate the embedded ``synthkws`` keyword set with espeak-ng (deterministic).

Every choice (which voice variants form a speaker, each clip's speed, pitch and position in
its 1 s window) comes from SHA-256 of fixed strings, never from an RNG, so the same
espeak-ng, scipy and libsndfile versions give the same files byte for byte.

Pipeline per clip: ``espeak-ng -v VOICE -s SPEED -p PITCH --stdout WORD`` (22,050 Hz, 16-bit)
-> trim silence below -60 dB of the peak at both ends -> resample to 16 kHz (polyphase
Kaiser-windowed sinc, ``scipy.signal.resample_poly``) -> peak-normalise to 0.9 -> place at a
hashed offset in a 1 s window of zeros -> quantise to 8 bits -> FLAC (``PCM_S8``).
8 bits keep the set under 10 MB; the loader mixes in noise at -10..30 dB SNR, far above the
~40 dB quantisation floor.

Usage:
    python scripts/make_synthkws.py [--out src/easyfirst/data/synthkws]

Requires ``espeak-ng`` on PATH (Debian/Ubuntu: ``apt-get install -y espeak-ng``).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
# English accents first, then other-language voices reading the English word by their own rules.
BASE_VOICES = (
    "en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029",
    "en-us-nyc", "de", "fr", "es", "it", "nl", "sv", "pl", "hi",
)
VARIANTS = ("", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4")
SPEAKERS_PER_VOICE = 6  # hashed rank 0 -> test, 1 -> dev, 2..5 -> train
RENDITIONS = 2  # each speaker says each word twice, at different speed/pitch/offset
SPEED_WPM = (130, 220)
PITCH = (20, 80)
SAMPLE_RATE = 16_000
ESPEAK_RATE = 22_050
NUM_SAMPLES = SAMPLE_RATE  # 1 s
SPLIT_OF_RANK = {0: "test", 1: "dev"}


def _h(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def speakers() -> list[tuple[str, str]]:
    """(voice string, split) for every speaker: 6 hashed variants per base voice."""
    out = []
    for base in BASE_VOICES:
        ranked = [v for _, v in sorted((_h(f"speaker|{base}+{v}"), v) for v in VARIANTS)]
        for rank, variant in enumerate(ranked[:SPEAKERS_PER_VOICE]):
            voice = f"{base}+{variant}" if variant else base
            out.append((voice, SPLIT_OF_RANK.get(rank, "train")))
    return out


def synthesize(voice: str, word: str, speed: int, pitch: int) -> np.ndarray:
    """One word as float64 samples at 22,050 Hz."""
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", word],
        capture_output=True, check=True,
    ).stdout
    x, sr = sf.read(io.BytesIO(wav), dtype="float64")
    if sr != ESPEAK_RATE or x.ndim != 1 or len(x) == 0:
        raise RuntimeError(f"espeak-ng gave {sr} Hz, shape {x.shape} for {voice!r} {word!r}")
    return x


def render(x: np.ndarray, offset_hash: int) -> tuple[np.ndarray, bool]:
    """Trim, resample, normalise and place ``x`` in 1 s; returns (int16 samples, cropped)."""
    loud = np.flatnonzero(np.abs(x) > 1e-3 * np.abs(x).max())
    x = x[loud[0] : loud[-1] + 1]
    y = resample_poly(x, SAMPLE_RATE // 50, ESPEAK_RATE // 50)  # 320/441
    y = 0.9 * y / np.abs(y).max()
    cropped = len(y) > NUM_SAMPLES
    y = y[:NUM_SAMPLES]
    out = np.zeros(NUM_SAMPLES)
    start = offset_hash % (NUM_SAMPLES - len(y) + 1)
    out[start : start + len(y)] = y
    q = np.clip(np.round(out * 128), -128, 127).astype(np.int16)
    return q * 256, cropped  # 8 significant bits; written as PCM_S8 exactly


def espeak_version() -> str:
    text = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout
    version = text.split("  Data at:")[0].strip()
    if shutil.which("dpkg-query"):  # the exact build, where Debian packaging is available
        deb = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "espeak-ng"],
                             capture_output=True, text=True).stdout.strip()
        version += f" (Debian package espeak-ng {deb})" if deb else ""
    return version


def library_versions() -> str:
    import scipy

    return (f"numpy {np.__version__}, scipy {scipy.__version__}, soundfile {sf.__version__}, "
            f"libsndfile {sf.__libsndfile_version__}")


def main(argv: list[str] | None = None) -> None:
    default_out = Path(__file__).resolve().parents[1] / "src/easyfirst/data/synthkws"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=default_out)
    args = parser.parse_args(argv)
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng not found; install it (apt-get install -y espeak-ng) and rerun.")
    out: Path = args.out
    for word in WORDS:  # regenerate clips from scratch; keep README/metadata rewrites atomic
        if (out / word).is_dir():
            shutil.rmtree(out / word)
    rows, digest, num_cropped = [], hashlib.sha256(), 0
    for voice, split in speakers():
        for word in WORDS:
            for rep in range(RENDITIONS):
                key = f"{voice}|{word}|{rep}"
                speed = SPEED_WPM[0] + _h("speed|" + key) % (SPEED_WPM[1] - SPEED_WPM[0] + 1)
                pitch = PITCH[0] + _h("pitch|" + key) % (PITCH[1] - PITCH[0] + 1)
                samples, cropped = render(synthesize(voice, word, speed, pitch), _h("at|" + key))
                num_cropped += cropped
                rel = f"{word}/{voice.replace('+', '_')}_{rep}.flac"
                (out / word).mkdir(parents=True, exist_ok=True)
                sf.write(out / rel, samples, SAMPLE_RATE, format="FLAC", subtype="PCM_S8")
                rows.append((rel, word, voice, speed, pitch, split))
    rows.sort()
    for rel, *_ in rows:
        digest.update(rel.encode())
        digest.update(sf.read(out / rel, dtype="int16")[0].astype("<i2").tobytes())
    with open(out / "metadata.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["file", "label", "voice", "speed", "pitch", "split"])
        w.writerows(rows)
    total = sum(p.stat().st_size for p in out.rglob("*.flac"))
    counts = {s: sum(r[5] == s for r in rows) for s in ("train", "dev", "test")}
    write_readme(out, len(rows), total, counts, digest.hexdigest(), num_cropped)
    print(f"{len(rows)} clips, {total / 1e6:.2f} MB of FLAC, splits {counts}, "
          f"{num_cropped} cropped to 1 s, digest {digest.hexdigest()}")


def write_readme(
    out: Path, n: int, total: int, counts: dict[str, int], digest: str, num_cropped: int
) -> None:
    n_speakers = len(BASE_VOICES) * SPEAKERS_PER_VOICE
    text = f"""# synthkws: synthetic keyword spotting clips (embedded default dataset)

{n} one-second clips of {len(WORDS)} English keywords
({", ".join(WORDS)}) spoken by {n_speakers} synthetic speakers,
generated by `scripts/make_synthkws.py` with espeak-ng. The `synthkws` dataset loader
mixes synthetic noise into them at load time (see `easyfirst/data/synthkws.py`), so each
sample has a known signal-to-noise ratio.

- generator: `scripts/make_synthkws.py`, deterministic (no RNG: every choice is a SHA-256 of
  fixed strings)
- synthesiser: {espeak_version()}
- libraries: {library_versions()}
- format: FLAC, mono, 16,000 Hz, 8-bit (`PCM_S8`), exactly 1 s (16,000 samples)
- files: {n} (`WORD/VOICE_VARIANT_REP.flac`), {total:,} bytes of FLAC
- speakers: {n_speakers}, i.e. {SPEAKERS_PER_VOICE} voice variants (of default, m1-m7, f1-f4)
  per base voice, chosen by hash
- base voices: {", ".join(BASE_VOICES)};
  non-English voices read the English word by their own spelling rules (strong accents,
  some words barely recognisable: hard samples)
- prosody: speed {SPEED_WPM[0]}-{SPEED_WPM[1]} wpm, pitch {PITCH[0]}-{PITCH[1]}, and the
  word's offset in its 1 s window, hashed per clip; {RENDITIONS} renditions per speaker and word
- split, by speaker: per base voice, the variant of hashed rank 0 is test, rank 1 dev, ranks
  2-5 train (train {counts["train"]}, dev {counts["dev"]}, test {counts["test"]} clips); every
  accent is in every split, no speaker (voice+variant) in two
- cropped: {num_cropped} clips were longer than 1 s after trimming and were cut at 1 s
- digest: `{digest}`
  (SHA-256 over the sorted file names and decoded int16 samples)

`metadata.csv` has one row per clip: `file,label,voice,speed,pitch,split`.

## Processing

espeak-ng output (22,050 Hz, 16-bit) is trimmed of silence below -60 dB of its peak at both
ends, resampled to 16 kHz with `scipy.signal.resample_poly` (polyphase, Kaiser-windowed sinc),
peak-normalised to 0.9, placed at a hashed offset inside 1 s of zeros and quantised to 8 bits.
The 8-bit quantisation floor (about 40 dB below the speech) lies far under the noise that the
loader adds (-10 to 30 dB SNR).

## Licence and provenance

The audio is machine output of espeak-ng's formant synthesiser with its bundled voice data
(no recorded speech, no MBROLA voices). espeak-ng is GPL-3.0-or-later; the GPL does not cover
a program's output, so the clips are distributed with this project under its licence
(Apache-2.0). No person's voice is contained in them.

## Regenerating

    apt-get install -y espeak-ng
    python scripts/make_synthkws.py          # rewrites the clips, metadata.csv and this README

Check the digest above; a different espeak-ng, scipy or libsndfile version may change it.
"""
    (out / "README.md").write_text(text)


if __name__ == "__main__":
    main()
