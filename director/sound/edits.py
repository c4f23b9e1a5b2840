"""Sound-only revisions: a line, a scene's music, a speaker's voice. They change the script's
words, cues and voices and never a shot's picture, so the impact plan generates nothing.

`apply_sound_edit` is called by `director.revision.edits.apply_edits` for the `line`, `music` and
`voice` edit kinds; it edits the script's parts in place and returns what it changed, in words.
"""

from __future__ import annotations

from typing import Any

from director.sound.music import MOODS
from director.sound.voices import cast_voices
from director.story import NARRATOR, Line, MusicCue, Scene, Shot, Story, Voice

SOUND_ACTIONS = ("line", "music", "voice")
#: From the most energetic mood to the saddest: "sadder" moves one step right, "happier" one left.
MOOD_SCALE = ("energetic", "happy", "calm", "tender", "nostalgic")
VOICE_CHANGES = {"deeper": ("pitch", 0.85), "lower": ("pitch", 0.85), "higher": ("pitch", 1.18), "faster": ("speed", 1.15),
                 "quicker": ("speed", 1.15), "slower": ("speed", 0.87)}


class SoundEditError(ValueError):
    """A sound edit that cannot apply to this story; one readable line."""


def apply_sound_edit(edit: Any, story: Story, shots: list[Shot], scenes: dict[int, Scene], voices: list[Voice], original: list[str]) -> str:
    """Apply one `line`, `music` or `voice` edit to the parts of the script being revised."""
    if edit.action == "line":
        return _line(edit, story, shots, original)
    if edit.action == "music":
        return _music(edit, scenes)
    return _voice(edit, story, voices)


def _speaker(name: str | None, story: Story) -> str:
    wanted = (name or NARRATOR).strip().lower().removeprefix("the ")
    if wanted == NARRATOR:
        return NARRATOR
    for character in story.characters:
        if wanted in (character.name.lower(), character.name.lower().removeprefix("the ")):
            return character.name
    names = ", ".join(c.name for c in story.characters) or "none"
    raise SoundEditError(f"no character named {name!r} to speak; characters are: {names}, or the narrator")


def _line(edit: Any, story: Story, shots: list[Shot], original: list[str]) -> str:
    number = edit.shots[0] if edit.shots else 1
    if not 1 <= number <= len(original):
        raise SoundEditError(f"there is no shot {number}; shots are 1-{len(original)}")
    text = edit.text.strip().strip("'\"“”‘’").strip()
    if not text:
        raise SoundEditError("say the words: shot N: NAME says '...'")
    speaker = _speaker(edit.character, story)
    index = next(i for i, s in enumerate(shots) if s.id == original[number - 1])
    line = Line(speaker=speaker, text=text)  # a line over 400 characters is refused here
    lines = [l for l in shots[index].lines if l.speaker != speaker] + [line]
    shots[index] = shots[index].model_copy(update={"lines": lines})
    return f"shot {number}: {speaker} says {text!r}"


def _music(edit: Any, scenes: dict[int, Scene]) -> str:
    if edit.scene not in scenes:
        raise SoundEditError(f"there is no scene {edit.scene}; scenes are 1-{max(scenes)}")
    scene = scenes[edit.scene]
    cue = scene.music or MusicCue(mood="calm")
    wanted = edit.text.strip().lower()
    if wanted in ("none", "no music", "silence"):
        cue = cue.model_copy(update={"mood": "none"})
    elif wanted in MOODS:
        cue = cue.model_copy(update={"mood": wanted, "intensity": cue.intensity or 0.5})
    elif wanted in ("sadder", "happier"):
        mood = "calm" if cue.mood == "none" else cue.mood
        step = 1 if wanted == "sadder" else -1
        mood = MOOD_SCALE[min(len(MOOD_SCALE) - 1, max(0, MOOD_SCALE.index(mood) + step))]
        cue = cue.model_copy(update={"mood": mood, "intensity": cue.intensity or 0.5})
    elif wanted in ("louder", "quieter", "softer"):
        cue = cue.model_copy(update={"intensity": min(1.0, cue.intensity + 0.25) if wanted == "louder" else max(0.1, cue.intensity - 0.25)})
    else:
        raise SoundEditError(f"cannot tell what music {edit.text!r} means; say none, sadder, happier, louder, quieter or a mood ({', '.join(MOODS)})")
    scenes[edit.scene] = scene.model_copy(update={"music": cue})
    return f"scene {edit.scene}: music {cue.mood}" + (f" at {cue.intensity:g}" if cue.mood != "none" else "")


def _voice(edit: Any, story: Story, voices: list[Voice]) -> str:
    speaker = _speaker(edit.character, story)
    wanted = edit.text.strip().lower()
    if wanted not in VOICE_CHANGES:
        raise SoundEditError(f"cannot tell how to change a voice by {edit.text!r}; say {', '.join(VOICE_CHANGES)}")
    if not any(v.speaker == speaker for v in voices):  # a speaker with no voice yet gets the one the film would give
        extra = Voice(speaker=speaker)
        cast = cast_voices(story.model_copy(update={"voices": voices}))
        voices.append(next((v for v in cast if v.speaker == speaker), extra))
    field, factor = VOICE_CHANGES[wanted]
    index = next(i for i, v in enumerate(voices) if v.speaker == speaker)
    value = min(2.0, max(0.5, round(getattr(voices[index], field) * factor, 3)))
    voices[index] = voices[index].model_copy(update={field: value})
    return f"{speaker}'s voice: {wanted} ({field} {value:g})"
