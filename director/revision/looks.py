"""Words about how characters look and where a new shot is: a new look replaces the old value.

"give the fox red fur" on "a stray fox with sleek black fur" gives "a stray fox with sleek red fur",
not "... black fur, with red fur": a colour replaces a colour, a garment the garment of its kind
("a red raincoat" replaces "a grey coat"); only something the description has no word for is added.
"""

from __future__ import annotations

import re

from director.planning.words import COLOURS, light_for
from director.story import Character, Scene

_COLOUR = re.compile(rf"\b(?:(?:dark|light|bright|pale|deep)\s+)?(?:{COLOURS})(?:-(?:{COLOURS}))?\b", re.I)
KINDS = [  # things of one kind replace each other
    "coat|jacket|raincoat|cloak|parka|anorak|overcoat|mac|cape|poncho|trench coat|blazer",
    "shirt|sweater|jumper|blouse|t-shirt|tunic|hoodie|cardigan|vest|jersey",
    "dress|gown|robe|skirt|kimono|apron",
    "trousers|jeans|pants|shorts|leggings",
    "hat|cap|beanie|hood|helmet|bonnet|beret|crown|bandana",
    "scarf|shawl|tie|bow tie|necklace|collar|cravat",
    "boots|shoes|sandals|sneakers|slippers|clogs",
    "glasses|spectacles|sunglasses|goggles|monocle",
    "hair|beard|mustache|moustache",
    "fur|feathers|plumage|scales|mane|pelt",
    "eyes",
    "tail",
]
_STOP = {"with", "in", "and", "wearing", "a", "an", "the", "of", "who", "that", "his", "her", "its", "their", "on", "under"}


def head_noun(description: str) -> str | None:
    """The noun a description is about: "a stray fox with sleek black fur" -> "fox"."""
    phrase = re.split(r"\s+(?:with|in|wearing|who|that|whose|holding|carrying|and)\s+|[,;.(]", description.strip().lower(), maxsplit=1)[0]
    words = re.findall(r"[a-z][a-z'-]*", phrase)
    return words[-1] if words else None


def _kind(noun: str) -> str | None:
    return next((kind for kind in KINDS if re.fullmatch(kind, noun.lower())), None)


def restyle(description: str, look: str) -> str:
    """`description` with `look` in place of the value it replaces (see the module docstring)."""
    look = look.strip().rstrip(".")
    words = re.findall(r"[A-Za-z'-]+", look)
    colours = _COLOUR.findall(look)
    noun = words[-1] if words and not _COLOUR.fullmatch(words[-1]) else None
    if noun is None and colours:  # a colour alone replaces the first colour ("make the fox red")
        if _COLOUR.search(description):
            return _COLOUR.sub(colours[0], description, count=1)
        head = head_noun(description)
        if head:
            return re.sub(rf"\b{re.escape(head)}\b", f"{colours[0]} {head}", description, count=1)
        return f"{description.rstrip('.')}, {look}"
    kind = _kind(noun) if noun else None
    if noun is not None:
        same = rf"{re.escape(noun)}" if kind is None else kind
        # the phrase naming a thing of the same kind: its article and up to three describing words
        match = None
        for found in re.finditer(rf"\b(?P<noun>{same})\b", description, re.I):
            match = found
            break
        if match is not None:
            start = match.start()
            before = description[:start]
            describing = re.search(r"((?:\b[\w-]+\s+){0,3})$", before)
            kept = [w for w in describing[1].split()] if describing else []
            cut = len(kept)
            while cut and kept[cut - 1].lower() in _STOP - {"a", "an", "the", "his", "her", "its", "their"}:
                cut -= 1
            kept = kept[:cut] if cut < len(kept) else kept
            for i in range(len(kept) - 1, -1, -1):  # stop at a word that joins phrases
                if kept[i].lower() in _STOP - {"a", "an", "the", "his", "her", "its", "their"}:
                    kept = kept[i + 1 :]
                    break
            phrase_start = start - len(" ".join(kept)) - (1 if kept else 0)
            article = kept[0] if kept and kept[0].lower() in ("a", "an", "the", "his", "her", "its", "their") else None
            modifiers = [w for w in kept[1 if article else 0 :] if not _COLOUR.fullmatch(w)]
            same_noun = match["noun"].lower() == noun.lower()
            look_words = look.split()
            if look_words and look_words[0].lower() in ("a", "an", "the"):
                look_words = look_words[1:]
            if same_noun and colours and len(look_words) == len(colours[0].split()) + 1:  # "red fur": only the colour changes
                new = " ".join(([article] if article else []) + modifiers + [colours[0], match["noun"]])
            else:
                new = " ".join(([_article(look_words[0]) if article in ("a", "an") else article] if article else []) + look_words)
            return description[: max(phrase_start, 0)] + new + description[match.end() :]
    head = head_noun(description)
    if kind == KINDS[9] and colours and head:  # "red fur" on "a grey fox": the animal's colour is its fur's
        body = re.search(rf"(?P<colour>{_COLOUR.pattern})(?P<rest>(?:\s+[\w-]+)*?\s+{re.escape(head)})\b", description, re.I)
        if body is not None:
            return description[: body.start()] + colours[0] + body["rest"] + description[body.end() :]
    return f"{description.rstrip('.')}, with {look}"


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def mentioned(characters: list[Character], text: str) -> list[str]:
    """Names of the characters `text` mentions: by name (with or without "the"), or as "the" + the
    head noun of their description ("the fox"), in the order they appear."""
    found: list[tuple[int, str]] = []
    lower = text.lower()
    for character in characters:
        bare = character.name.lower().removeprefix("the ").strip()
        patterns = [rf"\b{re.escape(bare)}\b"]
        head = head_noun(character.description)
        if head and head != bare:
            patterns.append(rf"\bthe\s+{re.escape(head)}\b")
        hits = [m.start() for p in patterns for m in re.finditer(p, lower)]
        if hits:
            found.append((min(hits), character.name))
    return [name for _, name in sorted(found)]


def added_prompt(text: str, scene: Scene, characters: list[Character], style: str) -> str:
    """A new shot's prompt: what happens, each named character with their look, the scene's setting
    and light, and the film's style, so the new shot matches the shots around it."""
    prompt = text.strip().rstrip(".")
    for character in characters:
        if character.description.lower() in prompt.lower():
            continue
        bare = character.name.lower().removeprefix("the ").strip()
        head = head_noun(character.description)
        pattern = rf"\b(?:the\s+)?{re.escape(bare)}\b" + (rf"|\bthe\s+{re.escape(head)}\b" if head and head != bare else "")
        prompt = re.sub(pattern, lambda m: f"{m[0]}, {character.description},", prompt, count=1, flags=re.I)
    prompt = prompt[:1].upper() + prompt[1:]
    light = light_for(scene.time_of_day, scene.setting, scene.time_of_day)
    parts = [f"{prompt}, in {scene.setting}, {light}."]
    if style:
        parts.append(f"Style: {style}.")
    return " ".join(parts).replace(",,", ",")
