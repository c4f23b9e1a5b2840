"""Mixing: the bed ducked under speech, loudness normalised (ITU-R BS.1770), true peak limited,
and muxed into the film with the video stream copied, never re-encoded.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pyloudnorm
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import resample_poly

from director.folder.files import atomic_path
from director.sound.audio import RATE, ffmpeg, seconds_to_samples

TARGET_LUFS = -16.0
PEAK_CEILING = -1.5  # dBTP: under the required -1 with room for the AAC encoder's overshoot
DUCK_DB = 12.0
RAMP = 0.15  # seconds the bed takes to duck and to come back


def duck(bed: np.ndarray, intervals: list[tuple[float, float]], depth_db: float = DUCK_DB) -> np.ndarray:
    """The bed lowered by `depth_db` over every speech interval (fully from its first to its last
    sample), ramping down before and back up after."""
    speech = np.zeros(len(bed), dtype=np.float32)
    ramp = seconds_to_samples(RAMP)
    for start, end in intervals:
        speech[max(0, seconds_to_samples(start) - ramp): seconds_to_samples(end) + ramp] = 1.0
    smooth = np.minimum(1.0, uniform_filter1d(speech, size=2 * ramp + 1) * 2.0) if ramp else speech
    smooth = np.maximum(smooth, _dilated(speech, intervals))
    gain = 1.0 - smooth * (1.0 - 10 ** (-depth_db / 20))
    return (bed * gain).astype(np.float32)


def _dilated(speech: np.ndarray, intervals: list[tuple[float, float]]) -> np.ndarray:
    """1 inside each speech interval itself, so the full depth holds for the whole line."""
    inside = np.zeros_like(speech)
    for start, end in intervals:
        inside[seconds_to_samples(start): seconds_to_samples(end)] = 1.0
    return inside


def true_peak(samples: np.ndarray) -> float:
    """True peak in dBTP: the sample peak of a 4x oversampled signal (BS.1770-4 Annex 2)."""
    if not len(samples):
        return -np.inf
    peak = float(np.max(np.abs(resample_poly(samples, 4, 1))))
    return 20 * np.log10(peak) if peak > 0 else -np.inf


def loudness(samples: np.ndarray) -> float:
    """Integrated loudness in LUFS (BS.1770 K-weighting and gating, by pyloudnorm)."""
    if len(samples) < int(0.4 * RATE) or not np.any(samples):
        return -np.inf
    return float(pyloudnorm.Meter(RATE).integrated_loudness(samples.astype(np.float64)))


def _limit(samples: np.ndarray, ceiling_db: float) -> np.ndarray:
    """A look-ahead limiter: the gain each oversampled peak needs, held over 5 ms and smoothed, so
    no true peak passes the ceiling and the gain never jumps."""
    ceiling = 10 ** (ceiling_db / 20)
    over = np.abs(resample_poly(samples, 4, 1)).reshape(-1, 4).max(axis=1)[: len(samples)]
    needed = np.minimum(1.0, ceiling / np.maximum(over, 1e-9))
    window = seconds_to_samples(0.005)
    gain = uniform_filter1d(minimum_filter1d(needed, size=2 * window + 1), size=window + 1)
    return (samples * np.minimum(gain, needed)).astype(np.float32)


def normalise(mix: np.ndarray, target: float = TARGET_LUFS, ceiling_db: float = PEAK_CEILING) -> tuple[np.ndarray, float]:
    """The mix at `target` LUFS with true peaks under `ceiling_db`; returns it and the gain (dB)
    applied before limiting. A silent mix stays silent."""
    measured = loudness(mix)
    if not np.isfinite(measured):
        return mix, 0.0
    gain_db = 0.0
    for _ in range(4):  # limiting lowers loudness a little; a few rounds settle both
        step = target - loudness(mix)
        gain_db += step
        mix = _limit(mix * np.float32(10 ** (step / 20)), ceiling_db)
        if abs(target - loudness(mix)) < 0.2:
            break
    return mix, gain_db


def mux(video: Path, audio: Path, out: Path) -> None:
    """`out`: the video stream of `video` as it is, with `audio` as AAC (argument list, no shell)."""
    command = [ffmpeg(), "-v", "error", "-nostdin", "-y", "-i", str(video), "-i", str(audio), "-map", "0:v:0", "-map", "1:a:0",
               "-c:v", "copy", "-c:a", "aac", "-b:a", "160k", "-ar", str(RATE), "-ac", "1"]
    with atomic_path(out) as temp:
        result = subprocess.run([*command, str(temp)], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"ffmpeg could not mux the soundtrack: {(result.stderr.strip().splitlines() or ['no message'])[-1]}")


def ducking_depth(music: np.ndarray, intervals: list[tuple[float, float]], window: float = 1.5) -> list[float | None]:
    """Per speech interval, how much lower the bed is inside it than in the `window` seconds beside
    it (beyond the ramps), in dB; None where there is no music beside it to compare with."""
    depths: list[float | None] = []
    ramp, width = seconds_to_samples(RAMP), seconds_to_samples(window)
    speech = _dilated(np.zeros(len(music), dtype=np.float32), intervals) > 0
    for start, end in intervals:
        a, b = min(seconds_to_samples(start), len(music)), min(seconds_to_samples(end), len(music))
        beside = np.r_[max(0, a - ramp - width): max(0, a - ramp), min(len(music), b + ramp): min(len(music), b + ramp + width)]
        beside = beside[~speech[beside]] if len(beside) else beside
        inside = music[a:b]
        outside = music[beside] if len(beside) else music[:0]
        rms_in, rms_out = _rms(inside), _rms(outside)
        depths.append(None if rms_out < 1e-4 or len(outside) < seconds_to_samples(0.3) else 20 * np.log10(rms_out / max(rms_in, 1e-9)))
    return depths


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if len(samples) else 0.0
