"""The film's soundtrack, made after its pictures: lines, bed, mix, stems, subtitles, mux.

`prepare_sound` checks and loads what the settings ask for (engine, music library) before any
generation; `add_sound` runs once the silent film is assembled and writes, beside it in the
version's folder, `audio/voice.wav`, `audio/music.wav`, `audio/mix.wav`, `audio/lines/*.wav` and
`audio/lines.json`, then muxes the mix into `story.mp4` (video stream copied) and writes the
spoken lines as `story.srt`. Everything lives in the version, so undo restores it byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from director.folder.files import atomic_write_bytes, atomic_write_json
from director.folder.versions import Version
from director.folder.workspace import Workspace
from director.sound.audio import RATE, seconds_to_samples, write_wav
from director.sound.lines import Shortener, Voicebox, configured_shortener, place_lines, subtitles
from director.sound.mix import duck, ducking_depth, loudness, mux, normalise, true_peak
from director.sound.music import Library, music_bed, read_library
from director.sound.voices import SpeechEngine, cast_voices, load_engine
from director.story import Story

CACHE = "audio-cache"  # the story folder's synthesised lines, by content


@dataclass
class SoundPlan:
    """What the settings ask of the soundtrack, loaded and checked."""

    part: str
    engine: SpeechEngine | None
    library: Library
    shorten: Shortener | None = None
    notes: list[str] = field(default_factory=list)


def prepare_sound(settings: Any) -> SoundPlan | None:
    """The soundtrack's engine and music for these RunSettings; None with `--no-sound`. A bad
    `--music-dir` or a missing named engine raises SoundError here, before anything is generated."""
    if settings.no_sound:
        return None
    notes = []
    library: Library = {}
    if settings.sound in ("all", "music"):
        library, note = read_library(settings.music_dir)
        notes.append(note)
    engine = None
    if settings.sound != "music":
        engine, note = load_engine(settings.voice, settings.llm_base_url)
        notes.append(note)
    shorten = configured_shortener(settings.llm_model, settings.llm_base_url, settings.planner) if engine is not None else None
    return SoundPlan(settings.sound, engine, library, shorten, notes)


def shot_spans(frame_counts: list[int], fps: int) -> list[tuple[float, float]]:
    """Each shot's start and end in the film, in seconds, from its frame count."""
    edges = np.concatenate([[0], np.cumsum(frame_counts)]) / fps
    return [(float(a), float(b)) for a, b in zip(edges[:-1], edges[1:])]


def audio_dir(workspace: Workspace, version: Version) -> Path:
    return workspace.film_of(version).parent / "audio"


def add_sound(workspace: Workspace, version: Version, story: Story, fps: int, plan: SoundPlan) -> dict[str, Any]:
    """Make the soundtrack of a version whose silent film is assembled; the story gets its voices
    (the caller keeps them in the script). Returns the summary written as `audio/lines.json`."""
    counts = [workspace.load_take(shot.id, version.shots[shot.id].take).frames for shot in story.shots]
    spans = shot_spans(counts, fps)
    total = seconds_to_samples(sum(counts) / fps)
    story.voices = cast_voices(story)
    placed = []
    if plan.engine is not None:
        voicebox = Voicebox(plan.engine, story.voices, workspace.root / CACHE)
        placed = place_lines(story, spans, voicebox, plan.part, plan.shorten)
    voice = np.zeros(total, dtype=np.float32)
    for spoken in placed:
        start = seconds_to_samples(spoken.start)
        piece = spoken.audio[: max(0, total - start)]
        voice[start: start + len(piece)] += piece
    scene_spans = [(min(spans[i][0] for i, s in enumerate(story.shots) if s.scene == scene.number),
                    max(spans[i][1] for i, s in enumerate(story.shots) if s.scene == scene.number)) for scene in story.scenes
                   if any(s.scene == scene.number for s in story.shots)]
    scenes = [scene for scene in story.scenes if any(s.scene == scene.number for s in story.shots)]
    bed, chosen = music_bed(story.model_copy(update={"scenes": scenes}), scene_spans, plan.library, total) if plan.library else (np.zeros(total, np.float32), [])
    intervals = [(s.start, s.end) for s in placed]
    music = duck(bed, intervals)
    mix, gain_db = normalise(voice + music)

    folder = audio_dir(workspace, version)
    for spoken in placed:
        write_wav(folder / "lines" / f"{spoken.shot_id}_{spoken.index + 1:02d}.wav", spoken.audio)
    write_wav(folder / "voice.wav", voice)
    write_wav(folder / "music.wav", music)
    write_wav(folder / "mix.wav", mix)
    depths = [d for d in ducking_depth(music, intervals) if d is not None]
    summary = {
        "lines": [s.record() for s in placed],
        "music": chosen,
        "engine": plan.engine.name if plan.engine is not None else None,
        "part": plan.part,
        "loudness": round(float(loudness(mix)), 2) if np.any(mix) else None,
        "true_peak": round(float(true_peak(mix)), 2) if np.any(mix) else None,
        "ducking_db": round(float(min(depths)), 2) if depths else None,
        "seconds": round(total / RATE, 4),
    }
    atomic_write_json(folder / "lines.json", summary)
    mux(workspace.film_of(version), folder / "mix.wav", workspace.film_of(version))
    atomic_write_bytes(workspace.subtitles_of(version), subtitles(placed).encode())
    workspace.log("sound", version=version.number, lines=len(placed), loudness=summary["loudness"], true_peak=summary["true_peak"],
                  ducking_db=summary["ducking_db"], cut=sum(s.status == "cut" for s in placed), moved=sum(s.status == "moved" for s in placed))
    return summary
