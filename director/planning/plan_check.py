"""Checks on a plan written by a language model, before it is used.

A model can return JSON that validates and still be no plan of the user's story: small models echo
the schema's field descriptions or the prompt's instructions back as content, use the title as every
scene's setting, write "1," as a scene's purpose, or drop the logline's characters and places. These
checks find that. What the logline holds comes from the offline planner's reading of it
(`director.planning.reading`): its characters (a name, or a head noun such as "keeper") and places.

Each check returns `Problem`s (which check, and what is wrong in words the model can act on); the
LLM planner sends them back for a repair and, if they persist, stops with `PlanCheckError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from director.planning.base import PlanError
from director.planning.language import english_reading
from director.planning.llm_schema import CharacterSpec, SceneSpec, ShotSpec, StoryBible
from director.planning.reading import Reading, can_be, singular
from director.planning.words import DETERMINERS, POSSESSIVES, PREPOSITIONS
from director.story import Character, Scene, Shot, Story

ECHO_RUN = 6  # this many consecutive words shared with an instruction make an echo
_TEMPLATES = ("director.md", "json_format.md", "plan_story.md", "plan_scenes.md", "plan_shots.md", "refine_shot.md")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


class PlanCheckError(PlanError):
    """An LLM's plan that still failed a plan check after repair; the message names the check and the model."""

    def __init__(self, message: str, check: str) -> None:
        super().__init__(message)
        self.check = check


@dataclass(frozen=True)
class Problem:
    check: str  # echo | placeholder | setting-is-title | character-missing | place-missing | shot-names-nothing
    detail: str

    def __str__(self) -> str:
        return f"{self.check}: {self.detail}"


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


@lru_cache(maxsize=1)
def _instructions() -> tuple[list[list[str]], set[tuple[str, ...]], str]:
    """The instruction texts the model sees: field descriptions and the prompt templates (placeholders cut out)."""
    texts: list[str] = []
    for model in (Story, Scene, Shot, Character, StoryBible, SceneSpec, ShotSpec, CharacterSpec):
        texts += [field.description for field in model.model_fields.values() if field.description]
    folder = resources.files("prompts")
    for name in _TEMPLATES:
        texts += re.split(r"\$\w+", folder.joinpath(name).read_text(encoding="utf-8"))
    pieces = [_words(t) for t in texts if _words(t)]
    runs = {tuple(p[i : i + ECHO_RUN]) for p in pieces for i in range(len(p) - ECHO_RUN + 1)}
    return pieces, runs, " | ".join(" ".join(p) for p in pieces)


def echoed(text: str) -> str:
    """The instruction words `text` repeats ("" when none): a run of ECHO_RUN words, or all of a short text."""
    words = _words(text)
    pieces, runs, joined = _instructions()
    for i in range(len(words) - ECHO_RUN + 1):
        if tuple(words[i : i + ECHO_RUN]) in runs:
            return " ".join(words[i : i + ECHO_RUN])
    if 2 <= len(words) < ECHO_RUN and f" {' '.join(words)} " in f" {joined.replace('|', ' ')} ":
        return " ".join(words)
    return ""


def _placeholder(text: str) -> bool:
    """No word at all ("1,", "-", "") where content belongs."""
    return not any(ch.isalpha() for ch in text)


def _lemmas(text: str) -> set[str]:
    return {w for word in _words(text) for w in (word, singular(word))}


def _has(key: str, text: str, lemmas: set[str] | None = None) -> bool:
    """Does `text` say `key` (a name of several words, or one word in any inflection)?"""
    if " " in key:
        return re.search(rf"\b{re.escape(key.lower())}\b", text.lower()) is not None
    lemmas = _lemmas(text) if lemmas is None else lemmas
    return key.lower() in lemmas or singular(key.lower()) in lemmas


def character_keys(reading: Reading) -> list[tuple[str, str]]:
    """(the logline's words for each character, the word a plan must use): ("old clockmaker", "clockmaker")."""
    keys = []
    for being in reading.beings:
        keys.append((being.phrase, being.proper_name or singular(being.head)))
    return keys


def place_keys(reading: Reading) -> list[tuple[str, list[str]]]:
    """(each place of the logline, the words any one of which names it): ("the rooftops of Prague", ["rooftops", "prague"])."""
    places = []
    for place in reading.places:
        words = [w for w in _WORD.findall(place) if w.lower() not in DETERMINERS and w.lower() not in POSSESSIVES]
        head, _, tail = " ".join(words).partition(" of ")
        keys = [head.split()[-1]] if head else []
        keys += [w for w in tail.split() if w[0].isupper() or can_be(w, "NOUN")][-1:]
        keys += [w for w in words if w[0].isupper() and w not in keys]
        if keys:
            places.append((place, keys))
    return places


# --- the checks, by part of the plan ----------------------------------------------------------------


def check_text(where: str, text: str) -> list[Problem]:
    if _placeholder(text):
        return [Problem("placeholder", f"{where} is {text.strip()!r}, not a description")]
    echo = echoed(text)
    if echo:
        return [Problem("echo", f"{where} repeats the instructions ({echo!r}) instead of describing the story")]
    return []


def check_cast(reading: Reading, characters: list[Character], title: str = "") -> list[Problem]:
    problems: list[Problem] = []
    if title:
        problems += check_text("the title", title)
    for c in characters:
        problems += check_text(f"character {c.name!r}'s description", c.description)
    cast = " ".join(f"{c.name} {c.description}" for c in characters)
    lemmas = _lemmas(cast)
    for phrase, key in character_keys(reading):
        if not _has(key, cast, lemmas):
            problems.append(Problem("character-missing", f"the logline's {phrase!r} is not among the characters (no character is a {key!r})"))
    return problems


def check_scenes(reading: Reading, scenes: list[Scene], title: str) -> list[Problem]:
    problems: list[Problem] = []
    for scene in scenes:
        where = f"scene {scene.number}"
        problems += check_text(f"{where}'s setting", scene.setting)
        if title and _words(scene.setting) == _words(title):
            problems.append(Problem("setting-is-title", f"{where}'s setting is the film's title {title!r}, not a place"))
        problems += check_text(f"{where}'s purpose", scene.purpose)
    text = " ".join(f"{s.setting} {s.purpose}" for s in scenes)
    problems += _places_missing(reading, text, "the scene settings")
    return problems


def check_shots(prompts: list[tuple[str, str]], scene: Scene, characters: list[Character]) -> list[Problem]:
    """(shot id, prompt) of one scene's shots: no echo, and each names a character or the scene's place."""
    problems: list[Problem] = []
    place_words = {w for w in _words(scene.setting) if len(w) > 2 and w not in PREPOSITIONS and w not in DETERMINERS and w not in _COMMON}
    place_words |= {singular(w) for w in place_words}
    for shot_id, prompt in prompts:
        where = f"shot {shot_id}'s prompt"
        problems += check_text(where, prompt)
        named = any(re.search(rf"\b{re.escape(c.name)}\b", prompt, re.IGNORECASE) for c in characters)
        if not named and not any(_same_stem(w, v) for w in _lemmas(prompt) for v in place_words):
            problems.append(Problem("shot-names-nothing", f"{where} names no character and not the place ({scene.setting})"))
    return problems


_COMMON = {"and", "the", "with", "its", "their", "her", "his", "very", "small", "big", "old", "new", "light", "day", "morning", "evening", "night", "dawn", "dusk"}


def _same_stem(a: str, b: str) -> bool:
    """'rocks' and 'rocky', 'island' and 'islands': equal, or one begins with the other (4 letters or more)."""
    short, long = sorted((a, b), key=len)
    return a == b or (len(short) >= 4 and long.startswith(short))


def _places_missing(reading: Reading, text: str, where: str) -> list[Problem]:
    lemmas = _lemmas(text)
    return [
        Problem("place-missing", f"the logline's place {place!r} is in none of {where}")
        for place, keys in place_keys(reading)
        if not any(_has(key, text, lemmas) for key in keys)
    ]


def check_plan(story: Story, logline: str | None = None, reading: Reading | None = None) -> list[Problem]:
    """Every problem of a whole plan (what the LLM planner checks step by step)."""
    reading = reading or english_reading(logline or story.logline)
    problems = check_cast(reading, story.characters, story.title)
    problems += [p for p in check_scenes(reading, story.scenes, story.title) if p.check != "place-missing"]
    everywhere = " ".join([*(s.setting for s in story.scenes), *(s.prompt for s in story.shots)])
    problems += _places_missing(reading, everywhere, "the settings or prompts")
    for scene in story.scenes:
        problems += check_shots([(s.id, s.prompt) for s in story.shots if s.scene == scene.number], scene, story.characters)
    return problems
