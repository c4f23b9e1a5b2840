"""Typed edits of a finished story, and what applying them changes.

An instruction ("make shot 3 at night") becomes a list of `Edit`s, from the LLM (whose answer
schema these field descriptions are) or from the offline parser. `apply_edits` turns them into
the new script and says, per shot, what changed and why; shot numbers are the film's, from 1.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from director.planning.words import LIGHT, OVERCAST_LIGHT
from director.revision.looks import added_prompt, mentioned, restyle
from director.sound.edits import SOUND_ACTIONS, SoundEditError, apply_sound_edit
from director.story import Shot, Story, describe_validation_error

#: A regenerated shot's seed moves by this prime (per take already made, for `redo`), so a new take never repeats a seed.
RESEED_STEP = 1_000_003
TIMES = ("dawn", "morning", "day", "dusk", "evening", "night")
_TIME_WORDS = re.compile(r"\b(dawn|sunrise|morning|daylight|daytime|midday|noon|dusk|sunset|twilight|evening|night|midnight|moonlight|moonlit)\b", re.I)


class RevisionError(ValueError):
    """An instruction or edit that cannot apply to this story; one readable line."""


class Edit(BaseModel):
    """One change to the film."""

    action: Literal["condition", "prompt", "regenerate", "transition", "remove", "add", "move", "look", "line", "music", "voice"] = Field(
        description="condition: put shots in a time, weather or season (text: 'at night', 'in the rain'); "
        "prompt: replace a shot's prompt (text: the new prompt); regenerate: same prompt, new seed; "
        "transition: set how a shot joins the one before it (transition: cut or continue); "
        "remove: delete shots; add: insert a new shot after the given one (text: its prompt); "
        "move: put a shot elsewhere in its scene, keeping its take (shots: [the shot, the shot it will follow; 0: the very start]); "
        "look: change a character's appearance everywhere (character, text: 'a red scarf'). "
        "Sound only (no shot is generated again): line: a spoken line in a shot (shots: [N], character: the speaker "
        "or 'narrator', text: the words); music: a scene's music (scene, text: none, sadder, happier, louder, quieter "
        "or a mood: calm, tender, nostalgic, happy, energetic); voice: a speaker's voice (character, text: deeper, "
        "higher, faster or slower)."
    )
    shots: list[int] = Field(default_factory=list, description="Film shot numbers (1 = the first shot, the last shot is the number of shots) the edit is about; for add, the shot the new one follows (0: before the first shot); for move, [the shot, the shot it will follow]; for transition, the later shot of the pair.")
    scene: int | None = Field(default=None, description="A scene number: for condition, the whole scene; for music, the scene whose music changes; for add, the scene the new shot joins (default: the scene of the shot it follows).")
    text: str = Field(default="", description="The condition ('at night', 'in the rain'), new prompt, what the added shot shows, the new look ('red fur', 'a blue coat', 'red'), the words a line says, or the music change ('none', 'sadder'), in the user's words.")
    transition: Literal["cut", "continue"] | None = Field(default=None, description="For transition edits only.")
    character: str | None = Field(default=None, description="For look and voice edits: the character's name as the script writes it; for line edits the speaker ('narrator' for the narrator).")


class EditList(BaseModel):
    """The edits an instruction asks for, in order."""

    edits: list[Edit] = Field(min_length=1, description="At least one edit.")


@dataclass
class Applied:
    """The new script, and per shot id why it must be made again (changed) or is gone (removed)."""

    story: Story
    changed: dict[str, list[str]] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    looks: dict[str, str] = field(default_factory=dict)  # character -> the new look, for memory edits
    follows: dict[str, list[str]] = field(default_factory=dict)  # continuations remade because the shot before them is new, gone or moved
    moved: dict[str, list[str]] = field(default_factory=dict)  # shots that keep their take in a new place
    sound: list[str] = field(default_factory=list)  # sound-only changes, in words (director.sound.edits)


def apply_edits(story: Story, edits: list[Edit], reseed: Callable[[Shot], int] | None = None) -> Applied:
    """The script after `edits`, each shot number read against the film as it was. A regenerated
    shot gets `reseed(shot)` as its seed (default: one `RESEED_STEP` on)."""
    shots = list(story.shots)
    scenes = {s.number: s for s in story.scenes}
    characters = {c.name: c for c in story.characters}
    changed: dict[str, list[str]] = {}
    removed: list[str] = []
    looks: dict[str, str] = {}
    follows: dict[str, list[str]] = {}
    moved: dict[str, list[str]] = {}
    original = [s.id for s in story.shots]
    voices, sound = list(story.voices), []

    def shot_id(number: int) -> str:
        if not 1 <= number <= len(original):
            raise RevisionError(f"there is no shot {number}; shots are 1-{len(original)}")
        return original[number - 1]

    def update(sid: str, reason: str, **values) -> None:
        index = next(i for i, s in enumerate(shots) if s.id == sid)
        shots[index] = shots[index].model_copy(update=values)
        changed.setdefault(sid, []).append(reason)
        follows.pop(sid, None)

    def rejoin(index: int, why: str) -> None:
        """The continuation now at `index` lost the shot it continued: it continues the shot now
        before it (remade from that shot's last frame), or becomes a cut when that opens another scene."""
        shot = shots[index]
        if shot.transition != "continue" or shot.id in changed:
            return
        if index == 0 or shots[index - 1].scene != shot.scene:
            update(shot.id, why, transition="cut")
        else:
            follows[shot.id] = [f"{why}; it now continues the shot before it, so it is made again from that shot's last frame"]

    for edit in edits:
        if edit.action in SOUND_ACTIONS:  # words, music and voices: no shot changes
            try:
                sound.append(apply_sound_edit(edit, story, shots, scenes, voices, original))
            except (SoundEditError, ValidationError) as error:
                raise RevisionError(describe_validation_error(error) if isinstance(error, ValidationError) else str(error)) from None
            continue
        targets = [shot_id(n) for n in edit.shots] if edit.action not in ("add", "move") else []
        if edit.action == "condition":
            if edit.scene is not None:
                if edit.scene not in scenes:
                    raise RevisionError(f"there is no scene {edit.scene}; scenes are 1-{len(scenes)}")
                time = _time_in(edit.text)
                scene = scenes[edit.scene]
                scenes[edit.scene] = scene.model_copy(update={"time_of_day": time or scene.time_of_day, "setting": _with_condition(scene.setting, edit.text, time)})
                targets = [s.id for s in shots if s.scene == edit.scene]
            if not targets:
                raise RevisionError("could not tell which shot you mean")
            time = _time_in(edit.text)
            for sid in targets:
                shot = next(s for s in shots if s.id == sid)
                values = {"prompt": _with_condition(shot.prompt, edit.text, time)}
                if time:
                    values["time_of_day"] = time
                update(sid, f"condition: {edit.text.strip()}", **values)
        elif edit.action == "prompt":
            _need(targets, edit)
            if not edit.text.strip():
                raise RevisionError("a new prompt cannot be empty")
            for sid in targets:
                update(sid, "new prompt", prompt=edit.text.strip())
        elif edit.action == "regenerate":
            _need(targets, edit)
            for sid in targets:
                shot = next(s for s in shots if s.id == sid)
                update(sid, "new seed", seed=reseed(shot) if reseed else shot.seed + RESEED_STEP)
        elif edit.action == "transition":
            _need(targets, edit)
            for sid in targets:
                index = next(i for i, s in enumerate(shots) if s.id == sid)
                if edit.transition == "continue" and (index == 0 or shots[index - 1].scene != shots[index].scene):
                    raise RevisionError(f"shot {original.index(sid) + 1} opens a scene, so it can only cut")
                if shots[index].transition != edit.transition:
                    update(sid, f"transition: {edit.transition}", transition=edit.transition)
        elif edit.action == "remove":
            _need(targets, edit)
            for sid in targets:
                index = next(i for i, s in enumerate(shots) if s.id == sid)
                del shots[index]
                removed.append(sid)
                changed.pop(sid, None)
                follows.pop(sid, None)
                if index < len(shots):
                    rejoin(index, f"the shot it continued (old shot {original.index(sid) + 1}) was removed")
            if not shots:
                raise RevisionError("a film needs at least one shot")
        elif edit.action == "add":
            if len(edit.shots) != 1:
                raise RevisionError("say where the new shot goes: add a shot after N: WHAT HAPPENS (0 or 'at the start' for the opening)")
            if not edit.text.strip():
                raise RevisionError("the new shot needs a prompt: add a shot after N: WHAT HAPPENS")
            after = edit.shots[0]
            index = next(i for i, s in enumerate(shots) if s.id == shot_id(after)) + 1 if after else 0
            neighbour = shots[index - 1] if index else shots[0]
            scene = edit.scene if edit.scene is not None else neighbour.scene
            if scene not in scenes:
                raise RevisionError(f"there is no scene {scene}; scenes are 1-{len(scenes)}")
            named = mentioned(story.characters, edit.text)
            new = Shot(
                id=_new_id(neighbour.id if index else f"{scene:02d}_00", {s.id for s in shots} | set(original)),
                scene=scene,
                prompt=added_prompt(edit.text, scenes[scene], [characters[n] for n in named], story.style),
                camera=neighbour.camera,
                characters=named,
                seed=max(s.seed for s in shots) + 1,
            )
            shots.insert(index, new)
            where = f"after shot {after}" if after else "before shot 1"
            changed[new.id] = [f"new shot {where}"]
            if index + 1 < len(shots):
                rejoin(index + 1, f"a new shot comes before it ({where})")
        elif edit.action == "move":
            if len(edit.shots) != 2:
                raise RevisionError("say where the shot goes: move shot N after shot M (0: to the start)")
            number, after = edit.shots
            sid = shot_id(number)
            if after and shot_id(after) == sid:  # "move shot 2 before shot 3" is "after shot 2"
                raise RevisionError(f"shot {number} is already there")
            if sid not in (s.id for s in shots):
                raise RevisionError(f"shot {number} is removed by this instruction, so it cannot move")
            if after and shot_id(after) not in (s.id for s in shots):
                raise RevisionError(f"shot {after} is removed by this instruction, so nothing can follow it")
            index = next(i for i, s in enumerate(shots) if s.id == sid)
            shot = shots.pop(index)
            successor = shots[index].id if index < len(shots) else None
            target = next(i for i, s in enumerate(shots) if s.id == shot_id(after)) + 1 if after else 0
            if target == index:
                shots.insert(index, shot)
                raise RevisionError(f"shot {number} is already there")
            neighbours = ([shots[target - 1]] if target else []) + shots[target : target + 1]
            if not any(n.scene == shot.scene for n in neighbours):
                raise RevisionError(f"shot {number} belongs to scene {shot.scene}: a shot moves within its scene "
                                    "(for another scene, add a shot there and remove this one)")
            reasons = [f"moved (was shot {number}); it keeps its take"]
            if shot.transition == "continue":  # its opening followed the shot it leaves behind
                shot = shot.model_copy(update={"transition": "cut"})
                reasons.append(f"it now cuts in (it continued old shot {number - 1})")
            shots.insert(target, shot)
            moved[sid] = reasons
            follows.pop(sid, None)  # a moved shot cuts in: it follows nothing
            for later in (successor, shots[target + 1].id if target + 1 < len(shots) else None):
                if later is not None and later != sid:
                    rejoin(next(i for i, s in enumerate(shots) if s.id == later), f"the shot before it changed (old shot {number} moved)")
        elif edit.action == "look":
            name = _character(edit.character, characters)
            if not edit.text.strip():
                raise RevisionError(f"say what {name} should look like")
            old = characters[name].description
            look = edit.text.strip().rstrip(".")
            characters[name] = characters[name].model_copy(update={"description": restyle(old, look)})
            new_description = characters[name].description
            looks[name] = look
            for shot in list(shots):
                if name in shot.characters:
                    prompt = shot.prompt.replace(old, new_description) if old in shot.prompt else f"{shot.prompt.rstrip('.')}. {name[0].upper()}{name[1:]} is {new_description}."
                    update(shot.id, f"{name}'s look: {look}", prompt=prompt)
    used = {s.scene for s in shots}
    kept_scenes = [scenes[n] for n in sorted(scenes) if n in used]
    new_story = story.model_copy(update={"shots": shots, "scenes": kept_scenes, "characters": list(characters.values()), "voices": voices})
    return Applied(Story.model_validate(new_story.model_dump()), changed, removed, looks, follows, moved, sound)


def _need(targets: list[str], edit: Edit) -> None:
    if not targets:
        raise RevisionError(f"could not tell which shot you mean ({edit.action} needs a shot number)")


def _character(name: str | None, characters: dict) -> str:
    wanted = (name or "").strip().lower()
    for known in characters:
        if wanted and (wanted == known.lower() or wanted == known.lower().removeprefix("the ") or known.lower().endswith(" " + wanted)):
            return known
    listed = ", ".join(characters) or "none"
    raise RevisionError(f"no character named {name!r}; characters are: {listed}")


def _time_in(text: str) -> str | None:
    words = text.lower()
    for time, keys in (("night", ("night", "midnight", "moon")), ("dusk", ("dusk", "sunset", "twilight")), ("dawn", ("dawn", "sunrise")),
                       ("evening", ("evening",)), ("morning", ("morning",)), ("day", ("daytime", "daylight", "midday", "noon"))):
        if any(k in words for k in keys):
            return time
    return None


def _with_condition(text: str, condition: str, time: str | None) -> str:
    """`text` with the condition added; an earlier time of day in it gives way to the new one."""
    condition = condition.strip().rstrip(".")
    if time:
        for lights in (LIGHT, OVERCAST_LIGHT):  # the offline planner's light for a time of day, whole
            for phrase in lights.values():
                text = text.replace(phrase, lights.get(time, time))
        text = _TIME_WORDS.sub(time, text)
    if condition.lower() in text.lower():
        return text
    return f"{text.rstrip().rstrip('.')}, {condition}."


def _new_id(after: str, taken: set[str]) -> str:
    for suffix in "abcdefghijklmnopqrstuvwxyz":
        if f"{after}{suffix}" not in taken:
            return f"{after}{suffix}"
    raise RevisionError(f"too many shots added after {after}")
