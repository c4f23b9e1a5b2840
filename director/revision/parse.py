"""From an instruction to typed edits: by the configured LLM, or by the offline grammar below.

The offline grammar understands the forms the README lists ("make shot 3 at night", "change shot
2 to ...", "regenerate shot 4", "cut between shots 2 and 3", "continue shot 2 into 3", "remove shot
5", "add a shot after 3: ...", "give Mara a red scarf"); several can be joined with ";".
"""

from __future__ import annotations

import re

from director.revision.edits import Edit, EditList, RevisionError
from director.story import Story
from prompts.schema import render

_NUMBERS = r"(\d+(?:\s*(?:,|and|&|-|to)\s*\d+)*)"
_SCENE = r"(?:scene\s+(\d+)|the\s+(first|last)\s+scene)"
_FORMS: list[tuple[str, re.Pattern]] = [
    # sound only (director.sound.edits): before "give ..." (a look) and the shot forms
    ("voice", re.compile(r"^give\s+(.+?)\s+an?\s+(deeper|lower|higher|faster|quicker|slower)\s+voice$")),
    ("line", re.compile(r"^(?:in\s+)?shot\s+(\d+)\s*[:,]?\s*(.+?)\s+says?\s*[:,]?\s*(.+)$")),
    ("narration", re.compile(r"^(?:the\s+)?narrator\s+says?\s*[:,]?\s*(.+)$")),
    ("music", re.compile(rf"^(no|sadder|happier|louder|quieter|softer|calm|tender|nostalgic|happy|energetic)\s+music\s+(?:in|for|under|from)\s+{_SCENE}$")),
    ("condition_scene", re.compile(r"^(?:make|set|put|turn|render)\s+scene\s+(\d+)\s+(.+)$")),
    ("condition", re.compile(rf"^(?:make|set|put|turn|render)\s+shots?\s+{_NUMBERS}\s+(.+)$")),
    ("prompt", re.compile(r"^(?:change|rewrite|replace|make)\s+shot\s+(\d+)\s+(?:to|into|with|so that|say|:)\s*:?\s*(.+)$")),
    ("regenerate", re.compile(rf"^(?:regenerate|redo|reroll|re-roll|retake|re-shoot|reshoot|try again)\s+(?:shots?\s+)?{_NUMBERS}$")),
    ("cut", re.compile(r"^(?:hard\s+)?cut\s+between\s+shots?\s+(\d+)\s+and\s+(\d+)$")),
    ("continue", re.compile(r"^continue\s+shot\s+(\d+)\s+(?:into|in|to)\s+(?:shot\s+)?(\d+)$")),
    ("remove", re.compile(rf"^(?:remove|delete|drop|cut out)\s+shots?\s+{_NUMBERS}$")),
    ("add", re.compile(r"^(?:add|insert)\s+(?:a\s+|one\s+)?(?:new\s+)?shot\s+after\s+(?:shot\s+)?(\d+)\s*[:,-]?\s*(.+)$")),
    ("look", re.compile(r"^give\s+(.+)$")),
]
EXAMPLES = '"make shot 3 at night", "change shot 2 to ...", "regenerate shot 4", "remove shot 5", "add a shot after 3: ...", "give Mara a red scarf", "shot 3: Mara says \'wait for me\'", "no music in scene 2"'


def _numbers(text: str) -> list[int]:
    numbers: list[int] = []
    for part in re.split(r"\s*(?:,|and|&)\s*", text.strip()):
        bounds = re.split(r"\s*(?:-|to)\s*", part)
        if len(bounds) == 2:
            numbers.extend(range(int(bounds[0]), int(bounds[1]) + 1))
        elif part:
            numbers.append(int(part))
    return numbers


def parse_offline(instruction: str, story: Story) -> list[Edit]:
    """Typed edits for an instruction in one of the forms above; a clear error otherwise."""
    clauses = [c.strip() for c in re.split(r"[;\n]|\bthen\b", instruction) if c.strip().rstrip(".!").strip()]
    if not clauses:
        raise RevisionError("the instruction is empty: say what to change, e.g. " + EXAMPLES)
    return [_clause(clause, story) for clause in clauses]


def _clause(clause: str, story: Story) -> Edit:
    """One clause; prompts keep their punctuation, every other form ignores a final full stop."""
    for form in ("prompt", "add", "line", "narration"):  # these keep the user's punctuation
        edit = _match(clause, story, only=form)
        if edit is not None:
            return edit
    edit = _match(clause.rstrip(".!").strip(), story)
    if edit is None:
        raise RevisionError(f"could not tell which shot you mean in {clause.rstrip('.!')!r}; try {EXAMPLES}")
    return edit


def _match(clause: str, story: Story, only: str | None = None) -> Edit | None:
    lower = re.sub(r"^(?:please|now|and|also)\s+", "", clause.lower()).strip()
    original = clause[len(clause) - len(lower):] if clause.lower().endswith(lower) else clause
    for form, pattern in _FORMS:
        if only is not None and form != only:
            continue
        match = pattern.match(lower)
        if not match:
            continue
        if form == "voice":
            return Edit(action="voice", character=_original(original, match, 1), text=match[2])
        if form == "line":
            return Edit(action="line", shots=[int(match[1])], character=_original(original, match, 2), text=_original(original, match, 3))
        if form == "narration":
            return Edit(action="line", shots=[1], character="narrator", text=_original(original, match, 1))
        if form == "music":
            scene = int(match[2]) if match[2] else (story.scenes[0].number if match[3] == "first" else story.scenes[-1].number)
            return Edit(action="music", scene=scene, text="none" if match[1] == "no" else match[1])
        if form == "condition_scene":
            return Edit(action="condition", scene=int(match[1]), text=_original(original, match, 2))
        if form == "condition":
            return Edit(action="condition", shots=_numbers(match[1]), text=_original(original, match, 2))
        if form == "prompt":
            return Edit(action="prompt", shots=[int(match[1])], text=_original(original, match, 2))
        if form == "regenerate":
            return Edit(action="regenerate", shots=_numbers(match[1]))
        if form in ("cut", "continue"):
            first, second = int(match[1]), int(match[2])
            if second != first + 1:
                raise RevisionError(f"shots {first} and {second} are not next to each other")
            return Edit(action="transition", shots=[second], transition=form)
        if form == "remove":
            return Edit(action="remove", shots=_numbers(match[1]))
        if form == "add":
            return Edit(action="add", shots=[int(match[1])], text=_original(original, match, 2))
        if form == "look":
            rest = _original(original, match, 1)
            for character in sorted(story.characters, key=lambda c: -len(c.name)):
                for name in (character.name, character.name.removeprefix("the ")):
                    if rest.lower().startswith(name.lower() + " "):
                        return Edit(action="look", character=character.name, text=rest[len(name):].strip())
            names = ", ".join(c.name for c in story.characters) or "none"
            raise RevisionError(f"could not tell which character you mean in {clause!r}; characters are: {names}")
    return None


def _original(text: str, match: re.Match, group: int) -> str:
    """A matched group in the user's own capitalisation."""
    return text[match.start(group):match.end(group)].strip()


def parse_with_llm(client, instruction: str, story: Story) -> list[Edit]:
    """Typed edits from an OpenAI-compatible model with structured output (`director.planning.llm`)."""
    if not instruction.strip():
        raise RevisionError("the instruction is empty: say what to change, e.g. " + EXAMPLES)
    shots = "\n".join(
        f"{number}. [scene {shot.scene}, {shot.transition}] {shot.prompt}" for number, shot in enumerate(story.shots, start=1)
    )
    characters = "\n".join(f"- {c.name}: {c.description}" for c in story.characters) or "- (none)"
    messages = [
        {"role": "system", "content": render("director.md")},
        {"role": "user", "content": render("revise.md", title=story.title, characters=characters, shots=shots, instruction=instruction.strip())},
    ]
    return client.generate(EditList, messages).edits
