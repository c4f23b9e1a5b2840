"""What words in an instruction point at: shots, scenes and characters of one story.

"the second shot", "the last scene", "the opening", "shots 2 to 4", "the next one", "the cat",
"the baker", "Mara": each found span is resolved against the story (film numbers from 1), so the
clause reader can take the rest of the clause as what to do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from director.revision.edits import RevisionError
from director.revision.looks import head_noun
from director.story import Story

WORD_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
                "eleven": 11, "twelve": 12}
ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9,
            "tenth": 10, "eleventh": 11, "twelfth": 12}
_NUM = r"(?:\d+|" + "|".join(WORD_NUMBERS) + r")"
_ORD = r"(?:\d+(?:st|nd|rd|th)|" + "|".join(ORDINALS) + r")"
_LIST = rf"{_NUM}(?:\s*(?:,\s*(?:and\s+)?|\s+and\s+|\s*&\s*|\s*-\s*|\s+to\s+|\s+through\s+){_NUM})*"
_LAST = r"(?:last|final|closing)"
_PENULTIMATE = r"(?:penultimate|second[- ]to[- ]last|second[- ]last|last but one)"


@dataclass
class Ref:
    """A span of the clause and what it points at."""

    start: int
    end: int
    kind: str  # "shots", "scene", "character"
    shots: list[int] = field(default_factory=list)
    scenes: list[int] = field(default_factory=list)
    character: str | None = None


def number(word: str) -> int:
    word = word.lower()
    if word.isdigit():
        return int(word)
    if word in WORD_NUMBERS:
        return WORD_NUMBERS[word]
    if word in ORDINALS:
        return ORDINALS[word]
    return int(re.sub(r"(st|nd|rd|th)$", "", word))


def numbers(text: str) -> list[int]:
    """'2, 3 and 5' -> [2, 3, 5]; '2-4' and '2 to 4' -> [2, 3, 4]."""
    found: list[int] = []
    for part in re.split(r"\s*(?:,\s*(?:and\s+)?|\s+and\s+|&)\s*", text.strip()):
        bounds = re.split(r"\s*(?:-|\bto\b|\bthrough\b)\s*", part)
        if len(bounds) == 2:
            found.extend(range(number(bounds[0]), number(bounds[1]) + 1))
        elif part:
            found.append(number(part))
    return found


class Resolver:
    """Finds references in a lowercase clause; `last_shots` and `last_scene` make "the next one" work."""

    def __init__(self, story: Story) -> None:
        self.story = story
        self.total = len(story.shots)
        self.scenes = [s.number for s in story.scenes]
        self.last_shots: list[int] = []
        self.last_scene: int | None = None

    # --- shots and scenes --------------------------------------------------------------------

    def _scene_ordinal(self, word: str) -> int:
        if re.fullmatch(_LAST, word) or word == "ending":
            return self.scenes[-1]
        if re.fullmatch(_PENULTIMATE, word):
            return self.scenes[-2] if len(self.scenes) > 1 else 0
        if word == "opening":
            return self.scenes[0]
        if word in ("next", "following"):
            return (self.last_scene or (self._scene_of_last_shot() or 0)) + 1
        if word == "previous":
            return (self.last_scene or (self._scene_of_last_shot() or 0)) - 1
        position = number(word)
        return self.scenes[position - 1] if 1 <= position <= len(self.scenes) else position

    def _scene_of_last_shot(self) -> int | None:
        if self.last_shots and 1 <= self.last_shots[-1] <= self.total:
            return self.story.shots[self.last_shots[-1] - 1].scene
        return None

    def _shot_ordinal(self, word: str, within: list[int] | None = None) -> int:
        """A film number from an ordinal word, counted within `within` (film numbers) when given."""
        pool = within if within is not None else list(range(1, self.total + 1))
        if re.fullmatch(_LAST, word) or word in ("ending", "end"):
            return pool[-1]
        if re.fullmatch(_PENULTIMATE, word):
            return pool[-2] if len(pool) > 1 else 0
        if word in ("opening", "beginning", "start"):
            return pool[0]
        position = number(word)
        if within is None:
            return position
        if not 1 <= position <= len(pool):
            raise RevisionError(f"scene has no shot {position}; it has {len(pool)}")
        return pool[position - 1]

    def scene_shots(self, scene: int) -> list[int]:
        if scene not in self.scenes:
            raise RevisionError(f"there is no scene {scene}; scenes are 1-{len(self.scenes)}")
        return [n for n, s in enumerate(self.story.shots, start=1) if s.scene == scene]

    def find(self, text: str, probe: bool = False) -> list[Ref]:
        """Every shot, scene and character reference in `text` (lowercase), leftmost first, not overlapping.
        A `probe` (is there a reference at all?) takes "the next one" without a shot before it as shot 0."""
        refs: list[Ref] = []
        taken: list[tuple[int, int]] = []

        def add(ref: Ref) -> None:
            if not any(ref.start < end and start < ref.end for start, end in taken):
                refs.append(ref)
                taken.append((ref.start, ref.end))

        scene_word = rf"(?:scene\s+(?P<sn>{_NUM})|the\s+(?P<so>{_ORD}|{_LAST}|{_PENULTIMATE}|opening|next|following|previous)\s+scene)"
        # "the second shot of scene 2", "the last shot in the first scene"
        for m in re.finditer(rf"\bthe\s+(?P<o>{_ORD}|{_LAST}|{_PENULTIMATE}|opening)\s+shot\s+(?:of|in)\s+{scene_word}", text):
            scene = number(m["sn"]) if m["sn"] else self._scene_ordinal(m["so"])
            add(Ref(m.start(), m.end(), "shots", shots=[self._shot_ordinal(m["o"], self.scene_shots(scene))]))
        for m in re.finditer(rf"\b(?:every|each|all(?:\s+the)?)\s+shots?\s+(?:of|in)\s+{scene_word}", text):
            scene = number(m["sn"]) if m["sn"] else self._scene_ordinal(m["so"])
            add(Ref(m.start(), m.end(), "scene", scenes=[scene]))
        for m in re.finditer(rf"\bshots?\s+(?:#|no\.?\s*|number\s+)?(?P<n>{_LIST})\b", text):
            add(Ref(m.start(), m.end(), "shots", shots=numbers(m["n"])))
        for m in re.finditer(rf"\bthe\s+(?P<o>{_ORD})\s+(?:and|&)\s+(?P<p>{_ORD})\s+shots\b", text):
            add(Ref(m.start(), m.end(), "shots", shots=[number(m["o"]), number(m["p"])]))
        for m in re.finditer(rf"\bthe\s+(?P<w>first|{_LAST})\s+(?P<n>{_NUM})\s+shots\b", text):
            count = number(m["n"])
            span = list(range(1, count + 1)) if m["w"] == "first" else list(range(self.total - count + 1, self.total + 1))
            add(Ref(m.start(), m.end(), "shots", shots=span))
        for m in re.finditer(rf"\bthe\s+(?P<o>{_ORD}|{_LAST}|{_PENULTIMATE}|opening)\s+(?:one|shot)\b", text):
            add(Ref(m.start(), m.end(), "shots", shots=[self._shot_ordinal(m["o"])]))
        for m in re.finditer(r"\bthe\s+(?P<o>opening|ending|end|beginning|start)\b", text):
            add(Ref(m.start(), m.end(), "shots", shots=[self._shot_ordinal(m["o"])]))
        for m in re.finditer(r"\b(?:the\s+)?(?P<w>next|following|previous)\s+(?:one|shot)\b|\bthe\s+one\s+(?P<r>after|before)(?:\s+(?:it|that))?\b", text):
            if not self.last_shots and not probe:
                raise RevisionError(f"{m[0]!r} needs a shot named before it, e.g. 'make shot 2 at night, then the next one in the rain'")
            step = 1 if (m["w"] in ("next", "following") or m["r"] == "after") else -1
            add(Ref(m.start(), m.end(), "shots", shots=[(self.last_shots or [0])[-1] + step]))
        for m in re.finditer(r"\b(?:the\s+same\s+(?:one|shot)|that\s+(?:one|shot))\b", text):
            if self.last_shots:
                add(Ref(m.start(), m.end(), "shots", shots=list(self.last_shots)))
        for m in re.finditer(rf"\bscenes?\s+(?P<n>{_LIST})\b", text):
            add(Ref(m.start(), m.end(), "scene", scenes=numbers(m["n"])))
        for m in re.finditer(rf"\bthe\s+(?P<o>{_ORD}|{_LAST}|{_PENULTIMATE}|opening|next|following|previous)\s+scene\b", text):
            add(Ref(m.start(), m.end(), "scene", scenes=[self._scene_ordinal(m["o"])]))
        for m in re.finditer(r"\b(?:every|each|all(?:\s+the)?)\s+shots?\b|\bthe\s+whole\s+(?:film|story|thing|movie)\b|\beverything\b|\beverywhere\b|\bthroughout\b", text):
            add(Ref(m.start(), m.end(), "shots", shots=list(range(1, self.total + 1))))
        for name, pattern in self._character_patterns():
            for m in re.finditer(pattern, text):
                add(Ref(m.start(), m.end(), "character", character=name))
        refs.sort(key=lambda r: r.start)
        return refs

    # --- characters --------------------------------------------------------------------------

    def _character_patterns(self) -> list[tuple[str, str]]:
        """Each character by name (with or without "the"), and by the head noun of its description
        ("the fox" for "a stray fox with black fur"), longest first so "the old man" beats "the man"."""
        patterns: list[tuple[str, str, int]] = []
        heads: dict[str, list[str]] = {}
        for character in self.story.characters:
            name = character.name.lower()
            bare = name.removeprefix("the ").strip()
            patterns.append((character.name, rf"\b(?:the\s+)?{re.escape(bare)}\b", len(bare)))
            head = head_noun(character.description)
            if head and head != bare:
                heads.setdefault(head, []).append(character.name)
        for head, names in heads.items():
            if len(names) == 1 and not any(re.search(rf"\b{re.escape(head)}\b", c.name.lower()) for c in self.story.characters if c.name != names[0]):
                patterns.append((names[0], rf"\bthe\s+{re.escape(head)}\b", len(head)))
        return [(name, pattern) for name, pattern, _ in sorted(patterns, key=lambda p: -p[2])]
