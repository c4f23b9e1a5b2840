"""The offline planner: a `Story` from a logline with no model at all.

It reads the logline with small word lists, invents fixed
visual descriptions, and lays out scenes and shots by rules. It is deterministic (same logline
and seed, same script) so a plan can be checked end to end without any service. The LLM planner
lives in `director.planning.llm_planner`; `director.planning.planner.make_planner` chooses.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from director.planning.planner import DEFAULT_SHOTS, check_logline, check_shot_count
from director.planning.words import (
    ANIMAL_LOOKS,
    ANIMALS,
    ARCS,
    BEATS,
    CAMERAS,
    CREATURES,
    DETERMINERS,
    LIGHT,
    MACHINE_LOOKS,
    MACHINES,
    PERSON_LOOKS,
    PLACES,
    STOP,
    STYLES,
    TIMES,
    WEATHER,
)
from director.story import Character, Scene, Shot, Story

# --- Reading the logline ----------------------------------------------------------------------

@dataclass(frozen=True)
class _Reading:
    characters: list[str]  # noun phrases, protagonist first
    place: str
    weather: list[str]


def _noun_phrases(logline: str) -> list[tuple[str, str]]:
    """(phrase, head noun) for every determiner-led noun phrase, in order."""
    words = re.findall(r"[A-Za-z0-9'-]+", logline)
    phrases = []
    i = 0
    while i < len(words):
        if words[i].lower() not in DETERMINERS:
            i += 1
            continue
        plural = words[i].lower() in {"two", "three", "some"}
        j = i + 1
        body: list[str] = []
        while j < len(words) and len(body) < 4:
            word = words[j].lower()
            if word in STOP or word in DETERMINERS or word.endswith("ly"):
                break
            looks_like_verb = body and word.endswith("s") and not word.endswith("ss") and not plural and word not in CREATURES
            if looks_like_verb:
                break
            body.append(words[j])
            j += 1
        if body:
            phrases.append((" ".join(body), body[-1].lower()))
        i = max(j, i + 1)
    return phrases


def read_logline(logline: str) -> _Reading:
    phrases = _noun_phrases(logline)
    characters: list[str] = []
    for index, (phrase, head) in enumerate(phrases):
        if head in PLACES or head in WEATHER:
            continue
        if index == 0 or head in CREATURES:
            if phrase.lower() not in (c.lower() for c in characters):
                characters.append(phrase)
    if not characters:
        characters = ["the wanderer"]
    lower = logline.lower()
    place = next((p for p, head in phrases if head in PLACES), "")
    if not place:
        place = next((w for w in re.findall(r"[a-z]+", lower) if w in PLACES), "a quiet coastal town")
    weather = [w for w in WEATHER if re.search(rf"\b{w}", lower)]
    return _Reading(characters=characters[:3], place=place, weather=weather)


# --- Inventing the look -------------------------------------------------------------------------

def _describe(phrase: str, rng: random.Random) -> tuple[str, str]:
    """(short name, fixed visual description) for a character phrase."""
    head = phrase.split()[-1].lower()
    name = f"the {' '.join(phrase.split()[-2:]).lower()}" if len(phrase.split()) > 1 else f"the {head}"
    if head in ANIMALS:
        look = rng.choice(ANIMAL_LOOKS)
    elif head in MACHINES:
        look = rng.choice(MACHINE_LOOKS)
    else:
        look = rng.choice(PERSON_LOOKS)
    article = "an" if phrase[0].lower() in "aeiou" else "a"
    return name, f"{article} {phrase.lower()} {look}"


# --- Laying out scenes and shots ---------------------------------------------------------------

def _with_article(place: str) -> str:
    if place.split()[0].lower() in DETERMINERS or place[0].isupper():
        return place
    return f"{'an' if place[0] in 'aeiou' else 'a'} {place}"


def _scene_sizes(shots: int) -> list[int]:
    count = min(4, max(2, round(shots / 3)))
    base, extra = divmod(shots, count)
    return [base + (1 if i < extra else 0) for i in range(count)]


class OfflinePlanner:
    """Rule-based planner: no model, same logline and seed give the same script."""

    name = "offline"

    def plan(self, logline: str, shots: int = DEFAULT_SHOTS, seed: int = 0) -> Story:
        logline = check_logline(logline)
        shots = check_shot_count(shots)
        digest = hashlib.sha256(f"{logline}|{seed}".encode()).digest()
        rng = random.Random(int.from_bytes(digest[:8], "big"))
        reading = read_logline(logline)

        characters = [Character(name=n, description=d) for n, d in (_describe(p, rng) for p in reading.characters)]
        hero, others = characters[0], characters[1:]
        style = rng.choice(STYLES)
        weather = ", ".join(WEATHER[w] for w in reading.weather[:2])
        sizes = _scene_sizes(shots)
        times = TIMES[len(sizes)]
        if "night" in reading.weather:
            times = ["night"] * len(sizes)
        arcs = ARCS if len(sizes) == 4 else [ARCS[0], *ARCS[4 - len(sizes) + 1 :]]

        scenes, shot_list = [], []
        for s_index, size in enumerate(sizes):
            number = s_index + 1
            purpose, action = arcs[s_index]
            setting = _with_article(reading.place) + (f", {weather}" if weather else "")
            scene = Scene(number=number, setting=setting, time_of_day=times[s_index], purpose=purpose)
            scenes.append(scene)
            cast = [hero] + (others if s_index > 0 or not others else [])
            for k in range(size):
                # The third shot of a longer scene carries the second shot's action on, in place.
                continues = k == 2
                who = [hero] if k == 0 else cast
                people = " and ".join(c.description for c in who)
                if k == 0:
                    other = " and ".join(c.description for c in others) or "the place"
                    what = action.format(hero=hero.description, other=other)
                    who = [hero, *others] if "{other}" in action and others else [hero]
                else:
                    what = f"{people} {_agree(BEATS[(k - 1 if continues else k) % len(BEATS)], len(who) > 1)}"
                camera_type, movement = CAMERAS[0] if k == 0 else CAMERAS[(k + s_index) % len(CAMERAS)]
                shot_list.append(
                    self._shot(number, k, scene, who, what, camera_type, movement, style, continues, seed + len(shot_list))
                )
        return Story(
            title=_title(reading, rng),
            logline=logline,
            overview=_overview(logline, characters, reading),
            style=style,
            characters=characters,
            scenes=scenes,
            shots=shot_list,
        )

    @staticmethod
    def _shot(scene_number, k, scene, cast, what, camera_type, movement, style, continues, seed) -> Shot:
        if continues:
            what, reason = f"{what}, the movement carrying on unbroken", "the same action carries on in the same place"
        elif k == 0:
            reason = "a new scene opens on a new place or time"
        else:
            reason = "a new beat: the camera resets to a new angle"
        prompt = (
            f"{camera_type.capitalize()} of {scene.setting}, {LIGHT.get(scene.time_of_day, 'soft light')}. "
            f"{what[0].upper()}{what[1:]}. Camera: {movement}. Style: {style}."
        )
        return Shot(
            id=f"{scene_number:02d}_{k + 1:02d}",
            scene=scene_number,
            prompt=prompt,
            camera=f"{camera_type}, {movement}",
            transition="continue" if continues else "cut",
            reason=reason,
            characters=[c.name for c in cast],
            seed=seed,
        )


def _agree(phrase: str, plural: bool) -> str:
    return phrase.replace("{s}", "" if plural else "s").replace("{es}", "" if plural else "es")


def _title(reading: _Reading, rng: random.Random) -> str:
    hero = reading.characters[0].split()[-1].title()
    if len(reading.characters) > 1:
        return f"The {hero} and the {reading.characters[1].split()[-1].title()}"
    return f"The {hero} of the {reading.place.split()[-1].title()}"


def _overview(logline: str, characters: list[Character], reading: _Reading) -> str:
    cast = " ".join(f"{c.name[0].upper()}{c.name[1:]} is {c.description}." for c in characters)
    return f"{logline.rstrip('.')}. Set around {_with_article(reading.place)}. {cast}"


