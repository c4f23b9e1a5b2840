"""The music bed: a track per scene by mood, cut to the scene, crossfaded at scene changes.

Tracks come from the bundled `immich-memories-music` library (MIT; calm, energetic, happy,
nostalgic, tender) or from `--music-dir`, a folder of mood folders. A user's folder is checked
file by file before anything is generated: every file must be audio.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from director.sound.audio import RATE, decode, seconds_to_samples
from director.sound.voices import SoundError
from director.story import MusicCue, Story

log = logging.getLogger(__name__)

MOODS = ("calm", "tender", "nostalgic", "happy", "energetic")
AUDIO_SUFFIXES = {".opus", ".ogg", ".oga", ".mp3", ".wav", ".flac", ".m4a", ".aac"}
CROSSFADE = 1.5  # seconds of overlap between two scenes' tracks
FADE_IN, FADE_OUT = 0.5, 1.5
DEFAULT_CUE = MusicCue(mood="calm", intensity=0.5)

Library = dict[str, list[Path]]


def _is_audio(path: Path) -> bool:
    """By name and by the file's first bytes (Ogg, RIFF/WAVE, FLAC, MP3, MP4)."""
    if path.suffix.lower() not in AUDIO_SUFFIXES:
        return False
    with open(path, "rb") as f:
        head = f.read(12)
    return (head.startswith((b"OggS", b"fLaC", b"ID3")) or (head[:4] == b"RIFF" and head[8:12] == b"WAVE")
            or head[4:8] == b"ftyp" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0))


def read_library(folder: str | Path | None) -> tuple[Library, str]:
    """The tracks per mood and a sentence saying where they come from. A user's folder holding
    anything but audio, or no audio at all, is refused with one line (SoundError)."""
    if folder is None:
        try:
            import immich_memories_music
        except ImportError:
            log.warning("the bundled music library is not installed (pip install immich-memories-music); the film has no music")
            return {}, "music: none (library not installed)"
        root, note = immich_memories_music.tracks_dir(), "music: the bundled library (immich-memories-music, MIT)"
    else:
        root, note = Path(folder), f"music: {folder}"
        if not root.is_dir():
            raise SoundError(f"--music-dir {folder}: not a folder")
    library: Library = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        if not _is_audio(path):
            raise SoundError(f"--music-dir {folder}: {path.relative_to(root)} is not an audio file (Opus, Ogg, MP3, WAV, FLAC or M4A)")
        mood = path.parent.name.lower() if path.parent != root else "any"
        library.setdefault(mood if mood in MOODS else "any", []).append(path)
    if not library:
        raise SoundError(f"--music-dir {folder}: no audio files in it")
    return library, note


def pick_track(library: Library, mood: str, key: str) -> Path | None:
    """A track of `mood` (else of any mood, else of the nearest mood), the same for the same key."""
    order = sorted(MOODS, key=lambda m: abs(MOODS.index(m) - MOODS.index(mood)))
    for candidates in [library.get(mood), library.get("any")] + [library.get(m) for m in order]:
        if candidates:
            digest = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)
            return candidates[digest % len(candidates)]
    return None


def _fades(length: int, fade_in: int, fade_out: int) -> np.ndarray:
    """Equal-power fades at both ends."""
    envelope = np.ones(length, dtype=np.float32)
    if fade_in:
        envelope[:fade_in] = np.sin(np.linspace(0, np.pi / 2, fade_in, dtype=np.float32))
    if fade_out:
        envelope[length - fade_out:] *= np.cos(np.linspace(0, np.pi / 2, fade_out, dtype=np.float32))
    return envelope


def music_level(intensity: float) -> float:
    """The bed's loudness (LUFS) before ducking: -30 (0.0) to -22 (1.0), under speech at -18."""
    return -30.0 + 8.0 * intensity


def music_bed(story: Story, spans: list[tuple[float, float]], library: Library, total: int) -> tuple[np.ndarray, list[dict]]:
    """The bed for the whole film (`total` samples): per scene its cue's track from its start,
    long enough to overlap the next scene by `CROSSFADE`. Returns the bed and what each scene got."""
    import pyloudnorm  # here, not at the top: it loads scipy.signal (0.9 s), which every command's start would pay

    bed = np.zeros(total, dtype=np.float32)
    meter = pyloudnorm.Meter(RATE)
    chosen = []
    half = seconds_to_samples(CROSSFADE / 2)
    for index, (scene, (start, end)) in enumerate(zip(story.scenes, spans)):
        cue = scene.music or DEFAULT_CUE
        first, last = index == 0, index == len(spans) - 1
        begin = max(0, seconds_to_samples(start) - (0 if first else half))
        stop = min(total, seconds_to_samples(end) + (0 if last else half))
        track = None if cue.mood == "none" or cue.intensity <= 0 else pick_track(library, cue.mood, f"{story.title}|{scene.number}|{cue.mood}")
        chosen.append({"scene": scene.number, "mood": cue.mood, "intensity": cue.intensity, "track": track.name if track else None})
        if track is None or stop <= begin:
            continue
        segment = decode(track, (stop - begin) / RATE + 0.1)
        if len(segment) < stop - begin:  # a short track loops
            segment = np.tile(segment, (stop - begin) // max(1, len(segment)) + 1)
        segment = segment[: stop - begin]
        loudness = meter.integrated_loudness(segment) if len(segment) > RATE else -70.0
        if np.isfinite(loudness) and loudness > -70:
            segment = segment * np.float32(10 ** ((music_level(cue.intensity) - loudness) / 20))
        fade_in = seconds_to_samples(FADE_IN) if first else 2 * half
        fade_out = seconds_to_samples(FADE_OUT) if last else 2 * half
        bed[begin:stop] += segment * _fades(stop - begin, min(fade_in, stop - begin), min(fade_out, stop - begin))
    return bed, chosen
