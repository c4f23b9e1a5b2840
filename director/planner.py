"""Planners turn a logline into a `Story`.

The offline planner needs no model: it reads the logline with small word lists, invents fixed
visual descriptions, and lays out scenes and shots by rules. It is deterministic (same logline
and seed, same script) so a plan can be checked end to end without any service. The LLM planner
lives in `director.llm_planner` and is chosen by `make_planner`.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from typing import Protocol

from director.story import Character, Scene, Shot, Story

MAX_LOGLINE = 2000
DEFAULT_SHOTS = 8
PLANNERS = ("auto", "openai", "offline")


class PlanError(ValueError):
    """Bad planning input; the message is one readable line."""


class Planner(Protocol):
    name: str

    def plan(self, logline: str, shots: int, seed: int) -> Story: ...


def check_logline(logline: str) -> str:
    text = " ".join(logline.split())
    if not text:
        raise PlanError("the logline is empty: describe the story in one line, e.g. \"a lighthouse keeper befriends a fox\"")
    if len(text) > MAX_LOGLINE:
        raise PlanError(f"the logline has {len(text)} characters; keep it under {MAX_LOGLINE}")
    return text


def check_shot_count(shots: int) -> int:
    if not 2 <= shots <= 60:
        raise PlanError(f"--shots must be between 2 and 60, got {shots}")
    return shots


# --- Reading the logline ----------------------------------------------------------------------

_CREATURES = set(
    """keeper fox astronaut granddaughter grandson grandmother grandfather violinist child girl boy woman man
    drone toucan baker bakers robot cat dog knight princess prince king queen witch wizard dragon detective
    fisherman fishermen farmer sailor pilot soldier doctor nurse teacher student painter artist musician
    singer dancer monk nun priest thief pirate explorer scientist inventor chef waiter writer poet owl bird
    wolf bear deer rabbit horse mouse whale dolphin octopus turtle elephant lion tiger monkey ghost alien
    boxer runner climber diver hunter guard mother father sister brother son daughter friend stranger
    orphan widow soldier courier mechanic librarian gardener shepherd miner clown magician puppeteer
    mermaid giant fairy elf dwarf goblin android cyborg crow raven fox cub puppy kitten heron bee""".split()
)
_PLACES = set(
    """lighthouse island rooftop roof village town city forest rainforest jungle desert mountain mountains
    valley river lake sea ocean beach harbour harbor port station train ship boat library bakery kitchen
    cafe bar market street alley garden park field farm castle palace temple church school hospital
    laboratory lab factory workshop studio theatre theater apartment house home cabin tent cave canyon
    bridge tower space spaceship planet moon mars orbit subway tunnel museum arena stadium lisbon vienna
    paris tokyo london rome venice berlin shore coast cliff meadow swamp glacier tundra""".split()
)
_WEATHER = {
    "storm": "howling wind and driving snow" ,
    "snow": "falling snow",
    "winter": "frost and pale winter light",
    "rain": "steady rain",
    "fog": "drifting fog",
    "summer": "warm summer haze",
    "autumn": "falling autumn leaves",
    "spring": "fresh spring light",
    "night": "deep night",
}
_DETERMINERS = {"a", "an", "the", "two", "three", "her", "his", "their", "its", "my", "our", "some"}
_STOP = {
    "in", "on", "at", "during", "from", "to", "with", "for", "of", "by", "into", "through", "after", "before",
    "and", "who", "that", "while", "when", "but", "or", "as", "is", "are", "was", "must", "can", "will", "gets",
}


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
        if words[i].lower() not in _DETERMINERS:
            i += 1
            continue
        plural = words[i].lower() in {"two", "three", "some"}
        j = i + 1
        body: list[str] = []
        while j < len(words) and len(body) < 4:
            word = words[j].lower()
            if word in _STOP or word in _DETERMINERS or word.endswith("ly"):
                break
            looks_like_verb = body and word.endswith("s") and not word.endswith("ss") and not plural and word not in _CREATURES
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
        if head in _PLACES or head in _WEATHER:
            continue
        if index == 0 or head in _CREATURES:
            if phrase.lower() not in (c.lower() for c in characters):
                characters.append(phrase)
    if not characters:
        characters = ["the wanderer"]
    lower = logline.lower()
    place = next((p for p, head in phrases if head in _PLACES), "")
    if not place:
        place = next((w for w in re.findall(r"[a-z]+", lower) if w in _PLACES), "a quiet coastal town")
    weather = [w for w in _WEATHER if re.search(rf"\b{w}", lower)]
    return _Reading(characters=characters[:3], place=place, weather=weather)


# --- Inventing the look -------------------------------------------------------------------------

_PERSON_LOOKS = [
    "with a grey beard and a navy wool coat",
    "with short black hair, round glasses and a mustard scarf",
    "with curly red hair and a green raincoat",
    "with a shaved head and a weathered leather jacket",
    "with long silver hair tied back and a white linen shirt",
    "with freckles, a yellow knitted hat and a brown corduroy jacket",
]
_ANIMAL_LOOKS = [
    "with a torn left ear and rust-red fur",
    "with a white blaze on its chest and bright amber eyes",
    "with sleek black fur and a crooked tail",
    "with a speckled grey coat and a blue collar",
]
_MACHINE_LOOKS = ["with a scuffed white shell and one blue status light", "with copper panels and a cracked round lens"]
_ANIMALS = set(
    "fox toucan cat dog owl bird wolf bear deer rabbit horse mouse whale dolphin octopus turtle elephant lion tiger "
    "monkey crow raven cub puppy kitten heron bee dragon".split()
)
_MACHINES = {"drone", "robot", "android", "cyborg", "spaceship"}
_STYLES = [
    "cinematic, natural light, soft film grain, 35mm",
    "painterly animated film look, warm palette, gentle depth of field",
    "cinematic, muted colours, overcast soft light, anamorphic lens",
]


def _describe(phrase: str, rng: random.Random) -> tuple[str, str]:
    """(short name, fixed visual description) for a character phrase."""
    head = phrase.split()[-1].lower()
    name = f"the {' '.join(phrase.split()[-2:]).lower()}" if len(phrase.split()) > 1 else f"the {head}"
    if head in _ANIMALS:
        look = rng.choice(_ANIMAL_LOOKS)
    elif head in _MACHINES:
        look = rng.choice(_MACHINE_LOOKS)
    else:
        look = rng.choice(_PERSON_LOOKS)
    article = "an" if phrase[0].lower() in "aeiou" else "a"
    return name, f"{article} {phrase.lower()} {look}"


# --- Laying out scenes and shots ---------------------------------------------------------------

_ARCS = [
    ("establish the world and the hero", "{hero} arrives and takes in the place"),
    ("the meeting", "{hero} notices {other} for the first time and hesitates"),
    ("the bond grows", "{hero} and {other} share a quiet moment side by side"),
    ("the turn and the resolution", "{hero} and {other} face the moment that changes everything"),
]
_TIMES = {2: ["dusk", "morning"], 3: ["dusk", "night", "morning"], 4: ["day", "dusk", "night", "morning"]}
_CAMERAS = [
    ("wide establishing shot", "slow push-in"),
    ("medium shot", "steady camera"),
    ("close-up", "shallow depth of field"),
    ("over-the-shoulder shot", "gentle handheld"),
    ("low angle shot", "slow tilt up"),
    ("tracking shot", "camera follows the movement"),
]
_LIGHT = {
    "dawn": "pale pink dawn light",
    "morning": "clear bright morning light",
    "day": "soft daylight",
    "dusk": "amber dusk light and long shadows",
    "evening": "warm lamp light against a blue evening",
    "night": "cold blue moonlight and warm practical lights",
}


def _with_article(place: str) -> str:
    if place.split()[0].lower() in _DETERMINERS or place[0].isupper():
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
        style = rng.choice(_STYLES)
        weather = ", ".join(_WEATHER[w] for w in reading.weather[:2])
        sizes = _scene_sizes(shots)
        times = _TIMES[len(sizes)]
        if "night" in reading.weather:
            times = ["night"] * len(sizes)
        arcs = _ARCS if len(sizes) == 4 else [_ARCS[0], *_ARCS[4 - len(sizes) + 1 :]]

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
                    what = f"{people} {_agree(_BEATS[(k - 1 if continues else k) % len(_BEATS)], len(who) > 1)}"
                camera_type, movement = _CAMERAS[0] if k == 0 else _CAMERAS[(k + s_index) % len(_CAMERAS)]
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
            f"{camera_type.capitalize()} of {scene.setting}, {_LIGHT.get(scene.time_of_day, 'soft light')}. "
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


# Verb phrases with {s}/{es} where the verb agrees with one subject or several.
_BEATS = [
    "pause{s} and look{s} around",
    "turn{s}, eyes widening in surprise",
    "reach{es} out slowly",
    "move{s} on with new purpose",
    "stop{s} and listen{s} to the wind",
]


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


def make_planner(name: str, llm_model: str | None = None, llm_base_url: str | None = None) -> tuple[Planner, str]:
    """The planner for a `--planner` name, and a sentence saying which one runs and why."""
    if name not in PLANNERS:
        raise PlanError(f"unknown planner {name!r}; choose one of: {', '.join(PLANNERS)}")
    if name == "offline":
        return OfflinePlanner(), "planner: offline (rule-based, deterministic)"
    from director.llm import LLMClient, LLMSettings
    from director.llm_planner import LLMPlanner

    settings = LLMSettings.resolve(llm_model, llm_base_url)
    if settings is None:
        if name == "openai":
            raise PlanError("--planner openai needs an endpoint: set OPENAI_API_KEY or OPENAI_BASE_URL, or pass --llm-base-url")
        return OfflinePlanner(), "planner: offline (no LLM endpoint configured; set OPENAI_API_KEY or --llm-base-url to use one)"
    return LLMPlanner(LLMClient(settings)), f"planner: openai-compatible LLM {settings.model} at {settings.base_url or 'the OpenAI API'}"
