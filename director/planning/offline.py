"""The offline planner: a `Story` from a logline with no model at all.

`director.planning.reading` reads the logline (characters with their attributes, pronouns and
relations; places; times and weather; actions in order). This module keeps all of it: every being
becomes a character ("two sisters" become two), every place a scene setting, every time or weather
phrase a scene condition, and the logline's own actions become the beats, spread over a beginning,
a turn and an end. Invented looks agree with the pronoun and stay fixed per character. It is
deterministic (same logline and seed, same script) so a plan can be checked without any service.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import re
from dataclasses import dataclass

from director.planning.base import DEFAULT_SHOTS, check_logline, check_shot_count
from director.planning.language import check_english
from director.planning.reading import Being, Clause, Reading, agree, base_verb, read, singular
from director.planning.words import (
    ANIMAL_LOOKS,
    COLOURS,
    COVERING_LOOKS,
    COVERINGS,
    CAMERAS,
    DAY_ARC,
    FEMALE,
    FEMALE_LOOKS,
    MACHINE_LOOKS,
    MACHINES,
    MECHANICAL,
    MODALS,
    MALE,
    MALE_LOOKS,
    NEUTRAL_LOOKS,
    OPENING_CAMERA,
    PLACES,
    POSSESSIVES,
    SEASON_PHRASES,
    STYLES,
    SUBORDINATORS,
    DETERMINERS,
    EXTRA_DETAILS,
    THING_LOOKS,
    VIEWS,
    WEATHER_PHRASES,
    YOUNG,
    OLD,
    AGED_LOOK,
    ADULT_LOOK,
    light_for,
)
from director.story import Character, Line, MusicCue, Scene, Shot, Story

__all__ = ["OfflinePlanner", "read_logline"]


def read_logline(logline: str) -> Reading:
    """What the offline planner reads in a logline (see `director.planning.reading`)."""
    return read(check_logline(logline))


# --- Characters --------------------------------------------------------------------------------


@dataclass
class _Cast:
    character: Character
    being: int  # index into reading.beings
    pronoun: str


def _article(text: str) -> str:
    return "an" if text[:1].lower() in "aeiou" else "a"


def _look(being: Being, pronoun: str, rng: random.Random, used: set[str]) -> str:
    """A look no other character of the story has (a told-apart detail once a list runs out)."""
    words = [singular(w) for w in being.phrase.lower().split()]
    if being.kind == "machine" or any(w in MACHINES or w in MECHANICAL for w in words):  # "a mechanical bird" is a machine
        pool = MACHINE_LOOKS
    elif being.kind == "animal":
        covering = next((c for c, kinds in COVERINGS.items() if singular(being.head.lower()) in kinds), None)
        pool = COVERING_LOOKS[covering] if covering else ANIMAL_LOOKS
        if any(re.fullmatch(COLOURS, w) for w in words):  # "a golden fish": no look that gives it another colour
            pool = [look for look in pool if not re.search(rf"\b(?:{COLOURS})\b", look)]
    elif being.kind == "thing":
        pool = THING_LOOKS
    else:
        pool = {"she": FEMALE_LOOKS + NEUTRAL_LOOKS, "he": MALE_LOOKS + NEUTRAL_LOOKS}.get(pronoun, NEUTRAL_LOOKS)
        if set(words) & YOUNG:
            pool = [look for look in pool if not re.search(ADULT_LOOK, look)]
        elif set(words) & OLD:
            pool = [look for look in pool if re.search(AGED_LOOK, look)] or pool
    fresh = [look for look in pool if look not in used]
    look = rng.choice(fresh) if fresh else next(f"{look} and {detail}" for detail in EXTRA_DETAILS for look in pool if f"{look} and {detail}" not in used)
    used.add(look)
    return look


def _gender_word(being: Being, pronoun: str) -> str:
    """'a woman' for a person the logline calls "her" when the noun does not say so already."""
    words = set(being.phrase.lower().split())
    if being.kind != "person" or any(w.endswith(g) for w in words for g in FEMALE | MALE if len(g) >= 3 or w == g):
        return ""  # "sister", "schoolboy", "policewoman" say it already
    return {"she": "a woman ", "he": "a man "}.get(pronoun, "")


_FAMILY = {"sister", "brother", "sibling", "twin", "cousin", "daughter", "son"}
_ORDINALS = {True: ["elder", "younger", "youngest", "fourth"], False: ["first", "second", "third", "fourth"]}


def _characters(reading: Reading, rng: random.Random) -> list[_Cast]:
    cast: list[_Cast] = []
    used: set[str] = set()
    looks: set[str] = set()
    short = {}
    for index, being in enumerate(reading.beings):
        words = being.phrase.split()
        singular_phrase = " ".join([*words[:-1], singular(words[-1])]) if being.count > 1 and not being.proper_name else being.phrase
        owner = reading.beings[being.owner] if being.owner is not None else None
        for n in range(max(1, being.count)):
            pronoun = being.pronoun if being.count == 1 else _split_pronoun(being)
            gender = _gender_word(being, pronoun)
            if being.proper_name:  # the name is the character's; the description says what they are
                name = being.proper_name
                what = being.apposition or ("" if gender else "person" if being.kind == "person" else being.head)
                lead = f"{_article(what)} {what}" if what else ""
            else:
                head = singular(being.head) if being.count > 1 else being.head.lower()
                if being.count > 1:
                    ordinal = _ORDINALS[head in _FAMILY][n]
                    name = f"the {ordinal} {head}"
                    lead = f"the {ordinal} of {_number_word(being.count)} {being.phrase.lower()}"
                else:
                    name = f"the {head}"
                    if name in used:
                        name = f"the {' '.join(words[-2:]).lower()}"
                    lead = f"{_article(singular_phrase)} {singular_phrase.lower()}"
                    if owner is not None:
                        possessor = short[being.owner] if owner.proper_name else f"the {short[being.owner].removeprefix('the ')}"
                        lead = f"{possessor}'s {singular_phrase.lower()}"
            if name in used:  # two beings of one kind the logline does not tell apart: never "the fox 2"
                name = next(f"the {w} {head}" for w in ("other", "second", "third", "fourth", "fifth", "sixth") if f"the {w} {head}" not in used)
            used.add(name)
            look = _look(being, pronoun, rng, looks)
            description = f"{lead}, {gender}{look}" if gender and lead else f"{gender or lead + ' '}{look}"
            cast.append(_Cast(Character(name=name, description=description), index, pronoun))
            short.setdefault(index, name.removeprefix("the ") if not being.proper_name else name)
            if owner is not None and not being.proper_name:
                short[index] = name
        short[index] = short.get(index, being.phrase)
    return cast


def _split_pronoun(being: Being) -> str:
    head = singular(being.head)
    return "she" if head in FEMALE else "he" if head in MALE else "they"


def _number_word(count: int) -> str:
    return {2: "two", 3: "three", 4: "four"}.get(count, str(count))


# --- Places, times and weather --------------------------------------------------------------------


def _normalise_place(text: str) -> str:
    """'their floating market town' -> 'the floating market town' (a setting has no owner)."""
    words = text.split()
    if words and words[0].lower() in POSSESSIVES:
        words[0] = "the"
        if words[1:2] == ["own"]:  # "her own childhood" -> "the childhood", not "the own childhood"
            del words[1]
    elif words and words[0][0].islower() and words[0].lower() not in ("a", "an", "the") and not words[0][0].isupper():
        words.insert(0, _article(words[0]))
    return " ".join(words)


def _places(reading: Reading, logline: str) -> list[str]:
    places: list[str] = []
    for place in reading.places:
        if places and re.search(rf"{re.escape(places[-1])} (in|on|at|of) {re.escape(place)}", logline, re.IGNORECASE):
            places[-1] = re.search(rf"{re.escape(places[-1])} (in|on|at|of) {re.escape(place)}", logline, re.IGNORECASE).group(0)
        else:
            places.append(place)
    if not places:  # "a lighthouse keeper" lives at a lighthouse
        for being in reading.beings:
            found = next((w for w in being.phrase.lower().split()[:-1] if w in PLACES), None)
            if found:
                places.append(f"{_article(found)} {found}")
                break
    return [_normalise_place(p) for p in places] or ["an open landscape under a wide sky"]


def _late_weather(reading: Reading) -> set[str]:
    """Weather that arrives with a subordinate clause ("before a monsoon hits") belongs to the later scenes."""
    from director.planning.words import WEATHER

    late = set()
    for clause in reading.clauses:
        if clause.opener in SUBORDINATORS:
            for word in clause.subject_text.lower().split():
                if word in WEATHER:
                    late.add(WEATHER[word])
    return late


# --- Beats ---------------------------------------------------------------------------------------


@dataclass
class _Beat:
    who: list[int]  # cast positions
    subject: str
    verb: str
    rest: str
    plural: bool

    @property
    def text(self) -> str:
        return " ".join(part for part in (self.subject, self.verb, self.rest) if part)


def _subject_names(clause: Clause, cast: list[_Cast]) -> tuple[list[int], str]:
    who = [i for i, c in enumerate(cast) if c.being in clause.subject]
    if not who:
        words = clause.subject_text.split()
        if words and words[0].lower() in ("a", "an"):
            words[0] = "the"
        elif words and words[0].lower() in DETERMINERS:
            words[0] = words[0].lower()  # "at last, the moon ...", not "The moon"
        return [], " ".join(words)
    return who, _and([cast[i].character.name for i in who])


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _rename(text: str, reading: Reading, cast: list[_Cast]) -> tuple[str, list[int]]:
    """The logline's words with each being's phrase replaced by its character name; who is named."""
    named: list[int] = []
    for index, being in enumerate(reading.beings):
        members = [i for i, c in enumerate(cast) if c.being == index]
        pattern = rf"\b(?:(?:a|an|the|her|his|their|its|two|three|four)\s+)?{re.escape(being.phrase)}\b"
        if being.proper_name:
            pattern = rf"\b{re.escape(being.proper_name)}\b"
        if re.search(pattern, text, re.IGNORECASE):
            text = re.sub(pattern, _and([cast[i].character.name for i in members]), text, count=1, flags=re.IGNORECASE)
            named += members
    return text, named


def _beats(reading: Reading, cast: list[_Cast]) -> list[_Beat]:
    beats = []
    for index, clause in enumerate(reading.clauses):
        who, subject = _subject_names(clause, cast)
        plural = clause.plural or len(who) > 1
        verb = agree(clause.verb, plural) if clause.kind == "goal" else clause.verb
        goal = reading.clauses[index + 1] if index + 1 < len(reading.clauses) else None
        said = clause.rest
        if goal is not None and goal.kind == "goal":  # "learns" + "to paint ...", "builds a raft" + "to cross ...": one beat says both
            said = " ".join(part for part in (said.strip(), f"to {goal.verb}", goal.rest.strip()) if part)
        rest, named = _rename(said, reading, cast)
        beats.append(_Beat(who + [i for i in named if i not in who], subject, verb, rest, plural))
    if not beats:
        name = cast[0].character.name if cast else "the place"
        beats.append(_Beat([0] if cast else [], name, "waits", "", False))
    return beats


def _main_verb(beat: _Beat) -> tuple[str, str] | None:
    """The beat's own verb and the rest after it ("must save the show" -> save, "the show"); None
    for "be" or "have" ("is caught in a storm"), which no "manages to" can carry."""
    verb, rest = beat.verb, beat.rest
    if verb.lower() in MODALS and rest:
        verb, _, rest = rest.partition(" ")
    return None if base_verb(verb) in ("be", "have") else (base_verb(verb), rest)


def _finally(beat: _Beat) -> _Beat:
    """The end: the last action carried through, with the logline's own verb."""
    own = _main_verb(beat)
    if own is None:
        return _Beat(beat.who, f"at last, {beat.subject}", beat.verb, beat.rest, beat.plural)
    return _Beat(beat.who, f"at last, {beat.subject}", f"{agree('manage', beat.plural)} to {own[0]}", own[1], beat.plural)


def _begins(beat: _Beat) -> _Beat:
    """The beginning: the first action's subject starting on it."""
    own = _main_verb(beat)
    if own is None:
        return _Beat(beat.who, f"at first, {beat.subject}", beat.verb, beat.rest, beat.plural)
    return _Beat(beat.who, beat.subject, f"{agree('set', beat.plural)} out to {own[0]}", own[1], beat.plural)


def _arc(reading: Reading, cast: list[_Cast], count: int) -> list[_Beat]:
    """`count` scene beats: the logline's actions in order, opened and closed from its own verbs."""
    beats = _beats(reading, cast)
    if len(beats) >= count:
        picks = [round(i * (len(beats) - 1) / (count - 1)) for i in range(count)]
        return [beats[p] for p in picks]
    arc = list(beats)
    if len(arc) < count:
        arc.append(_finally(beats[-1]))
    if len(arc) < count:
        arc.insert(0, _begins(beats[0]))
    while len(arc) < count:
        arc.insert(-1, beats[len(arc) % len(beats)])
    return arc


# --- Laying out scenes and shots -----------------------------------------------------------------


def _scene_sizes(shots: int) -> list[int]:
    count = min(4, max(2, round(shots / 3)))
    base, extra = divmod(shots, count)
    return [base + (1 if i < extra else 0) for i in range(count)]


def _spread(items: list[str], count: int) -> list[str]:
    """Scene i of `count` takes items[i] spread evenly from the first to the last."""
    if count == 1 or len(items) == 1:
        return [items[0]] * count
    return [items[round(i * (len(items) - 1) / (count - 1))] for i in range(count)]


def _describe(text: str, cast: list[_Cast], who: list[int]) -> str:
    """Every character of the shot named with their full description at first mention."""
    for i in who:
        character = cast[i].character
        mention = re.search(rf"\b{re.escape(character.name)}\b", text, re.IGNORECASE)
        if mention:
            text = f"{text[: mention.end()]}, {character.description},{text[mention.end():]}"
        else:
            text = f"{text}. With {character.name}, {character.description}"
    return re.sub(r",\s*([.,])", r"\1", text).rstrip(",")


def _sentence(text: str) -> str:
    text = text.strip().rstrip(".")
    return f"{text[0].upper()}{text[1:]}." if text else ""


class OfflinePlanner:
    """Rule-based planner over a part-of-speech lexicon: same logline and seed give the same script."""

    name = "offline"

    def plan(self, logline: str, shots: int = DEFAULT_SHOTS, seed: int = 0) -> Story:
        logline = check_logline(logline)
        check_english(logline)  # another language would be misread into a garbled plan
        shots = check_shot_count(shots)
        digest = hashlib.sha256(f"{logline}|{seed}".encode()).digest()
        rng = random.Random(int.from_bytes(digest[:8], "big"))
        reading = read(logline)

        cast = _characters(reading, rng)
        characters = [c.character for c in cast]
        style = rng.choice(STYLES)
        sizes = _scene_sizes(shots)
        places = _spread(_places(reading, logline), len(sizes))
        times = _spread(reading.times, len(sizes)) if reading.times else DAY_ARC[len(sizes)]
        late = _late_weather(reading)
        conditions = [c for c in reading.conditions if c.split()[0].lower() in _TIME_PREPOSITIONS]
        arc = _arc(reading, cast, len(sizes))

        scenes, shot_list = [], []
        for s_index, size in enumerate(sizes):
            number = s_index + 1
            weather = [w for w in reading.weather if w not in late or s_index >= len(sizes) // 2]
            air = [WEATHER_PHRASES[w] for w in weather] + [SEASON_PHRASES[s] for s in reading.seasons[:1]]
            setting = ", ".join([places[s_index], *conditions, *air[:2]])
            beat = arc[s_index]
            part = "beginning" if s_index == 0 else "end" if s_index == len(sizes) - 1 else "turn"
            scene = Scene(number=number, setting=setting, time_of_day=times[s_index], purpose=f"{part}: {beat.text}", music=MusicCue(mood=_MOODS[part]))
            scenes.append(scene)
            everyone = beat.who or arc[0].who or list(range(min(1, len(cast))))
            for k in range(size):
                continues = k == 2
                if k == 0:
                    camera = OPENING_CAMERA
                    who, what = everyone, beat.text
                elif continues:
                    camera = CAMERAS[(1 + s_index) % len(CAMERAS)]
                    who, what = shot_list[-1][1], f"{shot_list[-1][2]}, the movement carrying on unbroken"
                else:
                    camera = CAMERAS[(k + s_index) % len(CAMERAS)]
                    focus = everyone[(k - 1) % len(everyone)] if everyone else None
                    who = everyone
                    if focus is not None and len(everyone) > 1 and camera[0] in ("close-up", "over-the-shoulder shot"):
                        what = f"{beat.text}, seen close on {cast[focus].character.name}"
                    else:
                        what = beat.text
                shot_list.append((number, who, what, camera, continues, scene))
        planned: list[Shot] = []
        seen: set[str] = set()
        for i, (number, who, what, camera, continues, scene) in enumerate(shot_list):
            k = sum(1 for x in shot_list[:i] if x[0] == number)
            shot = self._shot(number, k, scene, cast, who, what, camera, style, continues, seed + i)
            for angle in _angles():  # a shot that would repeat an earlier one is seen another way
                if shot.prompt not in seen:
                    break
                shot = self._shot(number, k, scene, cast, who, f"{what}, {angle}", camera, style, continues, seed + i)
            seen.add(shot.prompt)
            planned.append(shot)
        for shot in planned:  # the narrator tells each scene's beat, in the logline's words, over its opening shot
            if shot.id.endswith("_01"):
                shot.lines = [Line(text=_sentence(arc[shot.scene - 1].text))]
        return Story(
            title=_title(reading, cast, places[0]),
            logline=logline,
            overview=_overview(logline, characters, places),
            style=style,
            characters=characters,
            scenes=scenes,
            shots=planned,
        )

    @staticmethod
    def _shot(number, k, scene, cast, who, what, camera, style, continues, seed) -> Shot:
        if continues:
            reason = "the same action carries on in the same place"
        elif k == 0:
            reason = "a new scene opens on a new place or time"
        else:
            reason = "a new beat: the camera resets to a new angle"
        camera_type, movement = camera
        light = light_for(scene.time_of_day, scene.setting, "soft light")
        opening = _sentence(f"{camera_type} of {scene.setting}, {light}")
        prompt = f"{opening} {_sentence(_describe(what, cast, who))} Camera: {movement}. Style: {style}."
        return Shot(
            id=f"{number:02d}_{k + 1:02d}",
            scene=number,
            prompt=prompt,
            camera=f"{camera_type}, {movement}",
            transition="continue" if continues else "cut",
            reason=reason,
            characters=[cast[i].character.name for i in who],
            seed=seed,
        )


def _angles():
    """Ways to see a beat again: each view alone, then two together."""
    yield from VIEWS
    for a, b in zip(VIEWS, VIEWS[1:] + VIEWS[:1]):
        yield f"{a} and {b}"
    for n in itertools.count(2):
        yield f"{VIEWS[0]}, take {n}"


_MOODS = {"beginning": "calm", "turn": "energetic", "end": "tender"}


_TIME_PREPOSITIONS = {"during", "before", "after", "at", "on", "in", "until", "by", "through", "one", "every", "throughout"}


def _title(reading: Reading, cast: list[_Cast], place: str) -> str:
    names = [c.character.name for c in cast]
    if not names:
        return f"{place[0].upper()}{place[1:]}"
    first = names[0].removeprefix("the ").title()
    if len(names) > 1:
        second = names[1].removeprefix("the ").title()
        lead = "The " if names[0].startswith("the ") else ""
        return f"{lead}{first} and the {second}" if names[1].startswith("the ") else f"{lead}{first} and {second}"
    return f"The {first} of {place.split()[-1].title()}" if names[0].startswith("the ") else f"{first} of {place.split()[-1].title()}"


def _overview(logline: str, characters: list[Character], places: list[str]) -> str:
    cast = " ".join(f"{c.name[0].upper()}{c.name[1:]} is {c.description}." for c in characters)
    where = " and ".join(dict.fromkeys(places))
    return f"{logline.rstrip('.')}. Set in {where}. {cast}"
