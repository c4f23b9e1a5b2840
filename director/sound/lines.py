"""Spoken lines: synthesised, measured, and placed so that each is heard inside its shot.

The timing rule, per line, in order: it fits the room left in its shot; else the LLM shortens it
(one round, when an LLM is configured); else it carries on over the next shot when that shot
continues this one (no cut between them); else it is cut at a word boundary, said again, and the
console says so. A line never plays over a hard cut. Synthesised lines are kept by content in
the story folder's cache, so a revision hears the unchanged lines byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from director.sound.audio import RATE, read_wav, write_wav
from director.sound.mix import loudness
from director.sound.voices import SpeechEngine
from director.story import NARRATOR, Story, Voice

log = logging.getLogger(__name__)

LEAD, GAP, TAIL = 0.2, 0.25, 0.15  # seconds: before a shot's first line, between lines, before the shot's end
LINE_LUFS = -18.0
PARTS = ("all", "narration", "dialogue", "music")

Shortener = Callable[[str, str, float, float], "str | None"]


@dataclass
class Spoken:
    """A line as it is heard: where, for how long, and what the timing rule did to it."""

    shot_id: str
    index: int
    speaker: str
    planned: str
    text: str
    start: float
    audio: np.ndarray = field(repr=False)
    status: str = "said"  # said | shortened | moved | cut | dropped

    @property
    def end(self) -> float:
        return self.start + len(self.audio) / RATE

    def record(self) -> dict:
        return {"shot": self.shot_id, "index": self.index, "speaker": self.speaker, "text": self.text, "planned": self.planned,
                "start": round(self.start, 4), "end": round(self.end, 4), "seconds": round(len(self.audio) / RATE, 4), "status": self.status}


def heard(part: str, speaker: str) -> bool:
    """Whether `--sound part` includes a line by `speaker`."""
    if part in ("all", "music"):
        return part == "all"
    return (speaker == NARRATOR) == (part == "narration")


class Voicebox:
    """An engine with the script's voices and a content-keyed cache of levelled lines."""

    def __init__(self, engine: SpeechEngine, voices: list[Voice], cache: Path) -> None:
        self.engine, self.cache = engine, cache
        self.voices = {v.speaker: v for v in voices}

    def _path(self, speaker: str, text: str) -> Path:
        voice = self.voices[speaker].model_dump(exclude={"speaker"})
        key = hashlib.sha256(json.dumps([self.engine.name, voice, " ".join(text.split())], sort_keys=True).encode()).hexdigest()[:24]
        return self.cache / f"{key}.wav"

    def say(self, lines: list[tuple[str, str]]) -> list[np.ndarray]:
        """Audio for each (speaker, text): from the cache, else synthesised in one batch per voice."""
        missing: dict[str, list[str]] = {}
        for speaker, text in lines:
            if not self._path(speaker, text).is_file():
                missing.setdefault(speaker, [])
                if text not in missing[speaker]:
                    missing[speaker].append(text)
        for speaker, texts in missing.items():
            for text, audio in zip(texts, self.engine.speak(texts, self.voices[speaker])):
                write_wav(self._path(speaker, text), _levelled(_trimmed(audio)))
        return [read_wav(self._path(speaker, text)) for speaker, text in lines]


def _trimmed(audio: np.ndarray, floor: float = 0.003) -> np.ndarray:
    """Without the engine's leading and trailing silence, so a line's length is its speech."""
    loud = np.flatnonzero(np.abs(audio) > floor)
    if not len(loud):
        return audio[:0]
    pad = int(0.02 * RATE)
    return audio[max(0, loud[0] - pad): loud[-1] + pad]


def _levelled(audio: np.ndarray) -> np.ndarray:
    """Every line at the same loudness, so voices and engines sit alike in the mix."""
    measured = loudness(audio)
    if not np.isfinite(measured):
        rms = float(np.sqrt(np.mean(audio**2))) if len(audio) else 0.0
        measured = 20 * np.log10(rms) - 0.7 if rms > 0 else None
    if measured is None:
        return audio
    return np.clip(audio * np.float32(10 ** ((LINE_LUFS - measured) / 20)), -1.0, 1.0)


def seconds(audio: np.ndarray) -> float:
    return len(audio) / RATE


def place_lines(story: Story, spans: list[tuple[float, float]], voicebox: Voicebox, part: str = "all",
                shorten: Shortener | None = None) -> list[Spoken]:
    """Every heard line of the story, timed inside its shot by the timing rule (module docstring)."""
    wanted = [(shot, k, line) for shot in story.shots for k, line in enumerate(shot.lines) if heard(part, line.speaker)]
    audios = dict(zip([(shot.id, k) for shot, k, _ in wanted], voicebox.say([(line.speaker, line.text) for _, _, line in wanted])))
    placed: list[Spoken] = []
    cursor = 0.0
    for i, shot in enumerate(story.shots):
        start, end = spans[i]
        continued = i + 1 < len(story.shots) and story.shots[i + 1].transition == "continue"
        cursor = max(cursor, start + LEAD)
        for k, line in enumerate(shot.lines):
            if not heard(part, line.speaker):
                continue
            spoken = Spoken(shot.id, k, line.speaker, line.text, line.text, cursor, audios[(shot.id, k)])
            room = end - TAIL - cursor
            if seconds(spoken.audio) > room and shorten is not None and room > 0.5:
                shorter = shorten(line.speaker, line.text, seconds(spoken.audio), room)
                if shorter and shorter.strip() and shorter.strip() != line.text:
                    spoken.text, spoken.status = shorter.strip(), "shortened"
                    spoken.audio = voicebox.say([(line.speaker, spoken.text)])[0]
            if seconds(spoken.audio) > room:
                if continued and seconds(spoken.audio) <= spans[i + 1][1] - TAIL - cursor:
                    spoken.status = "moved"
                    log.warning("shot %s: %s's line runs on over shot %s, which continues it", shot.id, line.speaker, story.shots[i + 1].id)
                else:
                    _cut(spoken, room, voicebox)
            if spoken.status != "dropped":
                placed.append(spoken)
                cursor = spoken.end + GAP
    return placed


def _cut(spoken: Spoken, room: float, voicebox: Voicebox) -> None:
    """Cut `spoken` at a word boundary until it fits `room`, saying it again each time; no word fits:
    dropped. Either way the console says so."""
    words = spoken.text.split()
    keep = len(words)
    while keep > 0 and seconds(spoken.audio) > room:
        keep = min(keep - 1, int(keep * max(room, 0.0) / max(seconds(spoken.audio), 1e-6)))
        if keep <= 0:
            break
        spoken.text = " ".join(words[:keep]).rstrip(",;:-")
        spoken.audio = voicebox.say([(spoken.speaker, spoken.text)])[0]
    if keep <= 0:
        spoken.status, spoken.text, spoken.audio = "dropped", "", spoken.audio[:0]
        log.warning("shot %s: %s's line does not fit its shot (%.1f s free) and was dropped: %r", spoken.shot_id, spoken.speaker, max(room, 0.0), spoken.planned[:80])
        return
    spoken.status = "cut"
    log.warning("shot %s: %s's line was cut to fit its shot (%.1f s free) at %r; dropped: %r",
                spoken.shot_id, spoken.speaker, room, " ".join(words[keep - 3: keep]) if keep > 3 else spoken.text, " ".join(words[keep:])[:80])


class ShortLine(BaseModel):
    text: str = Field(min_length=1, max_length=400, description="The line, shorter, as it will be spoken.")


def llm_shortener(client: Any) -> Shortener:
    """The LLM's one repair round for a line too long for its shot (`client`: a StructuredLLM)."""
    from director.llm import LLMError
    from prompts.schema import render

    def shorten(speaker: str, text: str, said: float, room: float) -> str | None:
        words = max(1, int(len(text.split()) * room / said * 0.9))
        messages = [{"role": "user", "content": render("shorten_line.md", speaker=speaker, text=text, said=f"{said:.1f}", room=f"{room:.1f}", words=words)}]
        try:
            return client.generate(ShortLine, messages).text
        except LLMError as error:
            log.warning("the LLM could not shorten a line (%s); it is cut instead", error)
            return None

    return shorten


def configured_shortener(llm_model: str | None, llm_base_url: str | None, planner: str) -> Shortener | None:
    """`llm_shortener` on the configured LLM, or None when the planner is offline or none is set."""
    if planner == "offline":
        return None
    from director.llm import LLMClient, LLMSettings

    settings = LLMSettings.resolve(llm_model, llm_base_url)
    return llm_shortener(LLMClient(settings)) if settings is not None else None


def subtitles(placed: list[Spoken]) -> str:
    """SubRip text: a cue per heard line, at the time it is really spoken."""
    return srt_text([(s.start, s.end, s.text) for s in placed])


def srt_text(cues: list[tuple[float, float, str]]) -> str:
    """SubRip text for (start s, end s, text) cues, numbered from 1."""
    return "\n".join(f"{n}\n{_srt_time(start)} --> {_srt_time(end)}\n{text}\n" for n, (start, end, text) in enumerate(cues, start=1))


def _srt_time(seconds: float) -> str:
    millis = int(round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{millis:03d}"
