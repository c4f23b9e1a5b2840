"""Mono float audio at one sample rate: reading, writing, resampling and decoding with ffmpeg.

Everything in `director.sound` works on float32 mono arrays at `RATE`; 48 kHz divides into whole
samples per frame at the film's 16 fps (3,000), so an audio track can match the video exactly.
"""

from __future__ import annotations

import io
import subprocess
from math import gcd
from pathlib import Path

import numpy as np
from scipy.io import wavfile

from director.folder.files import atomic_path

RATE = 48_000


def resample(samples: np.ndarray, rate: int, target: int = RATE) -> np.ndarray:
    """`samples` at `rate` as float32 at `target` (polyphase, no phase shift)."""
    from scipy.signal import resample_poly  # here, not at the top: scipy.signal takes 0.9 s, which every command's start would pay

    if rate == target:
        return samples.astype(np.float32)
    divisor = gcd(rate, target)
    return resample_poly(samples, target // divisor, rate // divisor).astype(np.float32)


def from_wav_bytes(data: bytes) -> np.ndarray:
    """A WAV file's first channel as float32 at `RATE`."""
    rate, samples = wavfile.read(io.BytesIO(data))
    return resample(_as_float(samples), rate)


def read_wav(path: Path) -> np.ndarray:
    return from_wav_bytes(Path(path).read_bytes())


def _as_float(samples: np.ndarray) -> np.ndarray:
    if samples.ndim > 1:
        samples = samples[:, 0]
    if samples.dtype == np.int16:
        return samples.astype(np.float32) / 32768.0
    if samples.dtype == np.int32:
        return samples.astype(np.float32) / 2**31
    if samples.dtype == np.uint8:
        return (samples.astype(np.float32) - 128.0) / 128.0
    return samples.astype(np.float32)


def write_wav(path: Path, samples: np.ndarray) -> None:
    """16-bit PCM at `RATE`, written atomically (a kill never leaves half a stem)."""
    pcm = np.clip(np.round(samples * 32767.0), -32768, 32767).astype(np.int16)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temp:
        wavfile.write(temp, RATE, pcm)


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def decode(path: Path, seconds: float | None = None) -> np.ndarray:
    """Any file ffmpeg reads (Opus, MP3, FLAC, WAV...) as float32 mono at `RATE`."""
    limit = ["-t", f"{seconds:.3f}"] if seconds is not None else []
    command = [ffmpeg(), "-v", "error", "-nostdin", "-i", str(path), *limit, "-vn", "-ac", "1", "-ar", str(RATE), "-f", "f32le", "-"]
    result = subprocess.run(command, capture_output=True, check=False)
    if result.returncode != 0:
        raise ValueError(f"{path.name}: ffmpeg could not decode it ({result.stderr.decode(errors='replace').strip().splitlines()[-1:] or ['no message']})")
    return np.frombuffer(result.stdout, dtype="<f4").astype(np.float32)


def seconds_to_samples(seconds: float) -> int:
    return int(round(seconds * RATE))
