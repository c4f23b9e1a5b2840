"""The offline instruction reader: what people type about a finished film, as typed `Edit`s.

An instruction is split into clauses at ";", new lines, "then", and at "and" or commas where the
next words start a new request ("make shot 2 at night and shot 4 in the rain" is two edits; the
second borrows the first one's verb). Each clause is read by what it asks (add, remove, transition,
regenerate, new prompt, move, look, condition) with its references resolved by `refs.Resolver`, so word
order does not matter ("shot 3 but at sunrise" = "at sunrise for shot 3"). A clause it cannot read
is one line naming the closest form it does read.
"""

from __future__ import annotations

import re

from director.revision.edits import Edit, RevisionError
from director.revision.refs import Ref, Resolver
from director.story import Story

FORMS = {
    "condition": '"make shot 3 at night" or "make it rain in scene 2"',
    "prompt": '"change shot 2 to: NEW PROMPT"',
    "regenerate": '"regenerate shot 4" or "redo the last shot"',
    "transition": '"cut between shots 2 and 3" or "continue shot 2 into 3"',
    "remove": '"remove shot 5" or "remove the last shot"',
    "add": '"add a shot after 3: WHAT HAPPENS" or "add a shot at the end: WHAT HAPPENS"',
    "move": '"move shot 5 before shot 4", "swap shots 2 and 3" or "move shot 3 to the end of its scene"',
    "look": '"give the fox red fur" or "make the fox red"',
    "sound": '"shot 3: Mara says \'wait for me\'", "the narrator says: ...", "no music in scene 2", "give Ivan a deeper voice"',
}
EXAMPLES = '"make shot 3 at night", "change shot 2 to: ...", "regenerate shot 4", "remove the last shot", "add a shot after 3: ...", "swap shots 2 and 3", "give Mara a red scarf", "shot 3: Mara says \'wait for me\'", "no music in scene 2"'

# Sound-only requests (director.sound.edits applies them): read whole, before any other form, since
# a spoken line's words are the user's own ("the narrator says: the fox and the keeper ...").
_SCENE = r"(?:scene\s+(\d+)|the\s+(first|last)\s+scene)"
_SOUND = [
    ("voice", re.compile(r"^give\s+(.+?)\s+an?\s+(deeper|lower|higher|faster|quicker|slower)\s+voice$")),
    ("line", re.compile(r"^(?:in\s+)?shot\s+(\d+)\s*[:,]?\s*(.+?)\s+says?\s*[:,]?\s*(.+)$")),
    ("narration", re.compile(r"^(?:the\s+)?narrator\s+says?\s*[:,]?\s*(.+)$")),
    ("music", re.compile(rf"^(no|sadder|happier|louder|quieter|softer|calm|tender|nostalgic|happy|energetic)\s+music\s+(?:in|for|under|from)\s+{_SCENE}$")),
]

_FILLER = re.compile(r"^(?:please|also|now|and|then|so|ok(?:ay)?|finally|next|can you|could you|would you|(?:can|could)(?= (?:shots?|scenes?|the|it)\b)|i want(?: you)? to|i'd like(?: you)? to|let's|lets)\b[\s,]*")
_VERBS = {
    "add": r"add|insert|append|put in|slip in|(?:end|finish|close|open|start|begin)(?:\s+the\s+(?:film|story|movie))?\s+with",
    "remove": r"remove|delete|drop|cut out|get rid of|lose|take out|leave out|skip",
    "regenerate": r"regenerate|re-generate|redo|re-do|reroll|re-roll|retake|re-take|reshoot|re-shoot|rerender|re-render|try",
    "transition": r"continue|join|hard cut|cut",
    "prompt": r"change|rewrite|replace|swap",
    "look": r"give|dress|paint|colou?r",
    "condition": r"make|set|put|turn|render|have|let|shoot|film",
}
_VERB = re.compile(r"^(?:" + "|".join(f"(?P<{kind}>{words})" for kind, words in _VERBS.items()) + r")\b")
_AGAIN = re.compile(r"\b(?:again|another (?:take|go|try|seed)|a new (?:seed|take)|new seed|once more)\b")

# A condition in the user's words, or a bare word for one, made into the phrase a prompt takes.
_CONDITIONS = [
    (r"rain|rainy|raining|rains|downpour|drizzle", "in the rain"), (r"snow|snowy|snowing|snows", "in the snow"),
    (r"fog|foggy|mist|misty", "in thick fog"), (r"storm|stormy|thunderstorm", "in a storm"), (r"sunny|sunshine", "in bright sunshine"),
    (r"wind|windy", "in strong wind"), (r"cloudy|overcast", "under an overcast sky"),
    (r"night|nighttime|night-time|midnight|moonlight|moonlit", "at night"), (r"sunrise", "at sunrise"), (r"dawn|daybreak", "at dawn"),
    (r"sunset", "at sunset"), (r"dusk|twilight", "at dusk"), (r"morning", "in the morning"), (r"evening", "in the evening"),
    (r"noon|midday", "at midday"), (r"day|daytime|daylight", "in daylight"), (r"golden hour", "at golden hour"),
    (r"winter|wintry", "in winter"), (r"summer", "in summer"), (r"autumn|fall", "in autumn"), (r"spring", "in spring"),
]


def condition_phrase(text: str) -> str | None:
    """The condition `text` asks for ("rainy" -> "in the rain", "at sunrise" as written); None when
    it names no time, weather or season."""
    text = text.strip().strip(" .!?,")
    bare = re.sub(r"^(?:i\s+(?:want|would like)\s+|i'd like\s+)?(?:it\s+|there\s+)?(?:should\s+|must\s+|to\s+|will\s+)?(?:be\s+|happen\s+|take place\s+|look\s+|feel\s+|become\s+)?(?:more\s+|a\s+bit\s+)?", "", text.lower()).strip(" .!?,")
    if not bare:
        return None
    keys = [phrase for words, phrase in _CONDITIONS if re.search(rf"\b(?:{words})\b", bare)]
    if not keys:
        return None
    if re.match(r"^(?:at|in|on|during|by|under|through|before|after|amid|with)\b", bare):
        return text[len(text) - len(bare):] if text.lower().endswith(bare) else bare
    for words, phrase in _CONDITIONS:  # "rainy", "a night shot", "the winter version"
        if re.fullmatch(rf"(?:a\s+|an\s+|the\s+)?(?:{words})(?:\s+(?:shot|scene|time|version|setting|one))?", bare):
            return phrase
    return None


def read_instruction(instruction: str, story: Story) -> list[Edit]:
    """Typed edits for an instruction in everyday words; RevisionError (one line) otherwise."""
    if not instruction.strip().strip(".!;,"):
        raise RevisionError("the instruction is empty: say what to change, e.g. " + EXAMPLES)
    edits: list[Edit] = []
    kept: list[str] = []
    for part in re.split(r"\s*(?:;|\n)\s*", instruction.strip()):
        sound = _sound(_without_fillers(part), story)
        edits.extend([sound] if sound is not None else [])
        kept.extend([] if sound is not None else [part])
    resolver = Resolver(story)
    pending: list[Ref] = []  # "make shot 2 and shot 4 at night": refs waiting for what to do
    verb = ""
    for clause in _clauses("; ".join(kept), resolver) if kept else []:
        clause = _without_fillers(clause)
        if not clause.strip(" .!?,"):
            continue
        match = _VERB.match(clause.lower())
        if match is None and verb and _starts_with_ref(clause.lower(), resolver):  # "... and shot 4 in the rain"
            clause = f"{verb} {clause}"
            match = _VERB.match(clause.lower())
        verb = match[0] if match else verb
        new, pending = _clause(clause, clause.lower(), resolver, pending)
        edits.extend(new)
    if not edits and not pending:
        raise RevisionError("the instruction is empty: say what to change, e.g. " + EXAMPLES)
    if pending:
        raise RevisionError(f"say what to do with {instruction.strip()!r}; the closest form I understand: {FORMS['condition']}")
    return edits


def _sound(part: str, story: Story) -> Edit | None:
    """A line, a scene's music or a voice, when `part` asks for one (else None)."""
    text = part.strip()
    lower = text.lower()
    for form, pattern in _SOUND:
        match = pattern.match(lower if form in ("line", "narration") else lower.rstrip(".!"))
        if match is None:
            continue
        def said(group: int, match: re.Match = match) -> str:  # the user's own capitalisation
            return text[match.start(group):match.end(group)].strip()

        if form == "voice":
            return Edit(action="voice", character=said(1), text=match[2])
        if form == "line":
            return Edit(action="line", shots=[int(match[1])], character=said(2), text=said(3))
        if form == "narration":
            return Edit(action="line", shots=[1], character="narrator", text=said(1))
        scene = int(match[2]) if match[2] else (story.scenes[0].number if match[3] == "first" else story.scenes[-1].number)
        return Edit(action="music", scene=scene, text="none" if match[1] == "no" else match[1])
    return None


def _clauses(instruction: str, resolver: Resolver) -> list[str]:
    """The instruction cut into requests; a piece that starts no new request stays with the one before."""
    clauses: list[str] = []
    for part in re.split(r"\s*(?:;|\n|\.\s+(?=[A-Za-z]))\s*", instruction.strip()):
        pieces = re.split(r"(\s*,?\s+(?:and\s+)?then\s+|\s*,\s*(?:and\s+)?|\s+and\s+|\s+also\s+)", part)
        current = pieces[0]
        for separator, piece in zip(pieces[1::2], pieces[2::2]):
            if _starts_request(piece, current, resolver):
                clauses.append(current)
                current = piece
            else:
                current += separator + piece
        clauses.append(current)
    return [c.strip() for c in clauses if c.strip().rstrip(".!").strip()]


def _starts_request(piece: str, before: str, resolver: Resolver) -> bool:
    lower = _FILLER.sub("", piece.strip().lower())
    if _SWAP.match(_FILLER.sub("", before.strip().lower())) and not re.search(r"\b(?:and|with)\b", before.lower()):
        return False  # "swap shot 2 and shot 3": the pair is one request
    if _VERB.match(lower) and not lower.startswith(("show", "shows")):
        return True
    free_text = ":" in before or re.match(rf"^(?:{_VERBS['add']}|{_VERBS['prompt']})\b", _FILLER.sub("", before.strip().lower()))
    if free_text:  # an added shot's or a new prompt's own words: only a numbered shot or scene starts a request
        return bool(re.match(r"^(?:shots?|scenes?)\s+\d", lower))
    return _starts_with_ref(lower, resolver)


def _starts_with_ref(lower: str, resolver: Resolver) -> bool:
    lower = _FILLER.sub("", lower)
    try:
        refs = resolver.find(lower, probe=True)
    except RevisionError:
        return False
    return bool(refs) and refs[0].start == 0


def _without_fillers(clause: str) -> str:
    """The clause without the words that open a request but say nothing ("and then please ...")."""
    clause = clause.strip()
    while (cut := len(clause) - len(_FILLER.sub("", clause.lower()))) > 0:
        clause = clause[cut:]
    return clause


def _clause(clause: str, lower: str, resolver: Resolver, pending: list[Ref]) -> tuple[list[Edit], list[Ref]]:
    """One request as edits (and refs still waiting for an action)."""
    verb = _VERB.match(lower)
    kind = next((k for k, v in (verb.groupdict() if verb else {}).items() if v), None)
    if kind == "add":
        weather = re.match(r"^(?:add|put)\s+(?:some\s+|a\s+bit\s+of\s+)?(?P<what>[a-z -]+?)\s+(?:to|in|into|on)\s+(?P<where>.+)$", lower.rstrip(".!"))
        phrase = condition_phrase(weather["what"]) if weather and "shot" not in weather["what"] else None
        if phrase is not None:  # "add rain to shot 4": shot 4 in the rain, not a new shot
            asked = f"make {clause[weather.start('where'):weather.end('where')]} {phrase}"
            return _clause(asked, asked.lower(), resolver, pending)
        return [_add(clause, lower, resolver)], pending
    moves = _move(lower, resolver)
    if moves is not None:
        return moves, pending
    if kind == "transition" or re.search(r"\bcuts?\b|\bcontinu(?:e|es|ation)\b", lower):
        edit = _transition(lower, resolver)
        if edit is not None:
            return [edit], pending
    refs = resolver.find(lower.split(":", 1)[0])  # after a colon come the user's own words for a prompt
    shot_refs = [r for r in refs if r.kind == "shots"]
    scene_refs = [r for r in refs if r.kind == "scene"]
    characters = [r for r in refs if r.kind == "character"]
    if (kind == "remove" or lower.startswith("cut")) and characters and shot_refs and re.search(r"\b(?:from|out\s+of)\b", lower):
        raise RevisionError(f"a shot is not edited character by character; to take {characters[0].character} out of shot {shot_refs[0].shots[0]}, "
                            f"give it a new prompt: \"change shot {shot_refs[0].shots[0]} to: NEW PROMPT\"")
    if kind == "remove" or (kind == "transition" and lower.startswith("cut") and (shot_refs or scene_refs)):
        shots = _shots(shot_refs, scene_refs, resolver) or _pronoun(lower, resolver)
        if not shots:
            raise RevisionError(f"could not tell which shot you mean in {clause!r}; the closest form I understand: {FORMS['remove']}")
        return [Edit(action="remove", shots=shots)], pending
    if kind == "regenerate" or (_AGAIN.search(lower) and (shot_refs or scene_refs)):
        shots = _shots(shot_refs, scene_refs, resolver) or _pronoun(lower, resolver)
        if not shots:
            raise RevisionError(f"could not tell which shot you mean in {clause!r}; the closest form I understand: {FORMS['regenerate']}")
        return [Edit(action="regenerate", shots=shots)], pending
    masked = _mask(lower, refs)
    prompt = _prompt(clause, masked, shot_refs, resolver)
    if prompt is not None:
        return [prompt], pending
    if characters and not shot_refs and not scene_refs:
        return [_look(clause, masked, characters[0], resolver.story)], pending
    if characters and kind == "look":
        raise RevisionError(f"a look changes a character in every shot; for one shot say {FORMS['prompt']}")
    if kind == "look":
        names = ", ".join(c.name for c in resolver.story.characters) or "none"
        example = f'; the closest form I understand: "give {resolver.story.characters[0].name} red fur"' if resolver.story.characters else ""
        raise RevisionError(f"could not tell which character you mean in {clause!r}; characters are: {names}{example}")
    return _condition(clause, masked, kind, shot_refs, scene_refs, characters, resolver, pending)


def _shots(shot_refs: list[Ref], scene_refs: list[Ref], resolver: Resolver) -> list[int]:
    shots = [n for ref in shot_refs for n in ref.shots] + [n for ref in scene_refs for scene in ref.scenes for n in resolver.scene_shots(scene)]
    shots = list(dict.fromkeys(shots))
    if shots:
        resolver.last_shots = shots
    return shots


def _pronoun(lower: str, resolver: Resolver) -> list[int]:
    """"it", "them", "that one": the shots the clause before named ("make shot 2 at night, then redo it")."""
    return list(resolver.last_shots) if re.search(r"\b(?:it|them|that|those)\b", lower) else []


def _mask(lower: str, refs: list[Ref]) -> str:
    """`lower` with each reference replaced by a same-length placeholder (#S shots, #C scene, #P person)."""
    masked = lower
    for ref in refs:
        tag = {"shots": "#S", "scene": "#C", "character": "#P"}[ref.kind]
        masked = masked[: ref.start] + tag + "\0" * (ref.end - ref.start - 2) + masked[ref.end :]
    return masked


def _add(clause: str, lower: str, resolver: Resolver) -> Edit:
    total = len(resolver.story.shots)
    head_end = clause.index(":") if ":" in clause else len(clause)
    head = lower[:head_end]
    after: int | None = None
    scene: int | None = None
    position: tuple[int, int] | None = None
    ends = re.search(r"\b(?:at|to)\s+the\s+(?:very\s+)?(?:end|close)(?:\s+of\s+the\s+(?:film|story|movie))?\b(?!\s+of\b)|\bas\s+(?:the|a)\s+(?:last|final|closing)\s+shot\b|^(?:end|finish|close)(?:\s+the\s+(?:film|story|movie))?\s+with\b|\b(?:a|one)\s+(?:new\s+)?(?:final|closing|last)\s+shot\b", head)
    starts = re.search(r"\b(?:at|to)\s+the\s+(?:very\s+)?(?:start|beginning)(?:\s+of\s+the\s+(?:film|story|movie))?\b(?!\s+of\b)|\bas\s+(?:the|a)\s+(?:first|opening)\s+shot\b|^(?:open|start|begin)(?:\s+the\s+(?:film|story|movie))?\s+with\b|\b(?:a|an|one)\s+(?:new\s+)?(?:opening|first)\s+shot\b", head)
    if ends:
        after, scene, position = total, resolver.story.shots[-1].scene, ends.span()
    elif starts:
        after, scene, position = 0, resolver.story.shots[0].scene, starts.span()
    else:
        bare = re.search(r"\b(?P<where>after|before|following)\s+(?:shot\s+)?(?P<n>\d+)\b", head)
        refs = [r for r in resolver.find(head) if r.kind in ("shots", "scene")]
        if bare:
            n = int(bare["n"])
            after, position = (n if bare["where"] != "before" else n - 1), bare.span()
            scene = _scene_of(resolver, n)
        else:
            for ref in refs:
                word = re.search(r"\b(after|before|following|between|into|in|of|to)\s*$", head[: ref.start])
                if word is None:
                    continue
                shots = ref.shots or [n for s in ref.scenes for n in resolver.scene_shots(s)]
                if word[1] == "before":
                    after, scene = shots[0] - 1, _scene_of(resolver, shots[0])
                elif word[1] in ("into", "in", "of", "to") and ref.kind == "scene":  # at the end of scene 2
                    at_start = re.search(r"\b(?:start|beginning|opening)\s+of\s*$", head[: ref.start])
                    after, scene = (shots[0] - 1 if at_start else shots[-1]), ref.scenes[0]
                elif word[1] in ("after", "following", "between"):
                    after, scene = (min(shots) if word[1] == "between" else shots[-1]), _scene_of(resolver, shots[-1] if word[1] != "between" else min(shots))
                else:
                    continue
                position = (word.start(), ref.end)
                break
    if after is None:
        raise RevisionError(f"could not tell where the new shot goes in {clause!r}; the closest form I understand: {FORMS['add']}")
    if ":" in clause:
        text = clause[head_end + 1 :]
    else:
        text = clause[: position[0]] + " " + clause[position[1] :] if position is not None else clause
        text = re.sub(rf"^\s*(?:{_VERBS['add']})\b", "", text, flags=re.I)
    text = re.sub(r"^\s*(?:(?:a|an|one|another|new|extra|more|final|closing|last|opening|first)\s+)*shot\b", "", text.strip(), flags=re.I)
    text = re.sub(r"^\s*(?:[:,\-–]|of\b|where\b|in which\b|that shows\b|which shows\b|showing\b|with\b)\s*", "", text.strip(), flags=re.I).strip()
    if not text.strip(" .:"):
        raise RevisionError("the new shot needs a prompt: add a shot after N: WHAT HAPPENS")
    resolver.last_shots = [after + 1]
    default = _scene_of(resolver, after if after else 1)  # the scene of the shot it follows
    return Edit(action="add", shots=[after], scene=None if scene == default else scene, text=text)


def _scene_of(resolver: Resolver, number: int) -> int | None:
    shots = resolver.story.shots
    return shots[number - 1].scene if 1 <= number <= len(shots) else None


def _transition(lower: str, resolver: Resolver) -> Edit | None:
    """cut or continue between two neighbouring shots, named in any of the usual ways."""
    continued = re.search(r"^continue\s+shot\s+(\d+)\s+(?:into|in|to)\s+(?:shot\s+)?(\d+)$", lower)
    if continued:
        pair = [int(continued[1]), int(continued[2])]
    else:
        shots = [n for r in resolver.find(lower) if r.kind == "shots" for n in r.shots]
        if not shots:
            return None
        pair = shots if len(shots) >= 2 else [shots[0] - 1, shots[0]]
        if re.search(r"\bshots?\s+(\d+)\s+(?:should\s+)?continues?\s+(?:from\s+)?(?:shot\s+)?(\d+)\b", lower) or re.search(r"#?\bcontinu\w*\s+(?:of|from)\b", lower):
            pair = sorted(pair)
    style = "continue" if re.search(r"\bcontinu|\bjoin\b|\bflow", lower) else "cut"
    if style == "cut" and not re.search(r"\bcut\s+(?:between|to|into|before|at)\b|\b(?:a|hard)\s+cut\b|\bshould\s+cut\b|\bcuts\b", lower):
        return None  # "cut shot 3" removes it
    first, second = min(pair[:2]), max(pair[:2])
    if second != first + 1:
        raise RevisionError(f"shots {first} and {second} are not next to each other")
    resolver.last_shots = [second]
    return Edit(action="transition", shots=[second], transition=style)


_MOVE = re.compile(r"^(?:move|put|place|play|show)\b")
_SWAP = re.compile(r"^(?:swap|switch|exchange|flip)\b")


def _move(lower: str, resolver: Resolver) -> list[Edit] | None:
    """A new order within a scene: "move shot 5 before shot 4", "swap shots 2 and 3", "move shot 3 to
    the end of its scene"; None when the clause asks something else ("put shot 3 in the rain")."""
    if not (_MOVE.match(lower) or _SWAP.match(lower)):
        return None
    edge = re.search(r"\b(?:to|at)\s+the\s+(?:very\s+)?(start|beginning|end)(?:\s+of\s+(?:(?:its|the|this)\s+scene|scene\s+(\d+)))?\s*[.!]?$", lower)
    head = lower[: edge.start()] if edge else lower
    refs = [r for r in resolver.find(head) if r.kind == "shots"]
    shots = [n for r in refs for n in r.shots]
    if _SWAP.match(lower):
        if len(shots) != 2 or edge:
            return None  # "swap shot 2 with: NEW PROMPT" is a new prompt
        first, second = sorted(shots)
        resolver.last_shots = [first, second]
        moves = [Edit(action="move", shots=[second, first - 1])]  # numbers are the film's as it was
        return moves + ([Edit(action="move", shots=[first, second - 1])] if second - first > 1 else [])
    if edge and len(shots) == 1:  # its own scene's start or end (another scene's is refused when the edit applies)
        scene = resolver.scene_shots(int(edge[2]) if edge[2] else resolver.story.shots[shots[0] - 1].scene)
        resolver.last_shots = shots
        return [Edit(action="move", shots=[shots[0], scene[0] - 1 if edge[1] != "end" else scene[-1]])]
    where = re.search(r"\b(before|after)\b", head)
    if where is None or len(refs) != 2 or len(refs[0].shots) != 1 or len(refs[1].shots) != 1 or not refs[0].end <= where.start() < refs[1].start:
        return None
    moving, other = refs[0].shots[0], refs[1].shots[0]
    resolver.last_shots = [moving]
    return [Edit(action="move", shots=[moving, other - 1 if where[1] == "before" else other])]


def _prompt(clause: str, masked: str, shot_refs: list[Ref], resolver: Resolver) -> Edit | None:
    """A new prompt for one shot: "change shot 2 to: ...", "shot 2 should show ...", "make the opening show ..."."""
    match = (
        re.match(r"^(?:change|rewrite|replace|swap|make|turn)\s+#S\0*\s*(?:to|into|with|for|as|so that it shows|so it shows|:)\s*:?\s*(?P<text>.+)$", masked)
        or re.match(r"^(?:make|have|let)\s+#S\0*\s+(?:show|depict|be about)\s+(?P<text>.+)$", masked)
        or re.match(r"^(?:in\s+)?#S\0*\s*(?:should|must|will|to|could)\s+(?:show|depict|be about)\s+(?P<text>.+)$", masked)
        or re.match(r"^(?:in\s+)?#S\0*\s*:\s*(?P<text>.+)$", masked)
    )
    if match is None or len(shot_refs) != 1:
        return None
    text = clause[match.start("text") :].strip()
    shots = _shots(shot_refs, [], resolver)
    condition = condition_phrase(text)
    if condition is not None:
        return Edit(action="condition", shots=shots, text=condition)
    if len(shots) != 1:
        raise RevisionError(f"a new prompt is for one shot; {FORMS['prompt']}")
    return Edit(action="prompt", shots=shots, text=text)


_LOOK_FORMS = [
    r"^(?:give|dress|put)\s+#P\0*\s+(?:in\s+)?(?P<look>.+)$",
    r"^(?:make|have|let)\s+#P\0*\s+(?:wear|have|get)\s+(?P<look>.+)$",
    r"^(?:make|paint|turn|colou?r|change)\s+#P\0*'s\s+(?P<noun>[a-z-]+)\s+(?:to\s+|into\s+)?(?P<colour>.+)$",
    r"^#P\0*'s\s+(?P<noun>[a-z-]+)\s+(?:should|must|could|will)\s+(?:be|look|turn)\s+(?P<colour>.+)$",
    r"^#P\0*'s\s+(?P<noun>[a-z-]+)\s+(?:is|becomes|turns)\s+(?P<colour>.+)$",
    r"^(?:make|paint|turn|colou?r|change)\s+#P\0*\s+(?:to\s+|into\s+)?(?P<look>.+)$",
    r"^#P\0*\s+(?:should|must|could|will)\s+(?:be|look|have|wear|get)\s+(?P<look>.+)$",
    r"^#P\0*\s+(?:is|has|wears|looks|gets)\s+(?P<look>.+)$",
]


def _look(clause: str, masked: str, character: Ref, story: Story) -> Edit:
    for form in _LOOK_FORMS:
        match = re.match(form, masked)
        if match is None:
            continue
        if "look" in match.groupdict():
            look = clause[match.start("look") :]
        else:
            look = f"{clause[match.start('colour'):].strip()} {clause[match.start('noun'):match.end('noun')]}"
        look = re.sub(r"^(?:be\s+|look\s+|more\s+)", "", look.strip(), flags=re.I).strip(" .!")
        if look:
            return Edit(action="look", character=character.character, text=look)
    raise RevisionError(f"could not tell what should change about {character.character} in {clause!r}; the closest form I understand: {FORMS['look']}")


def _condition(clause: str, masked: str, kind: str | None, shot_refs: list[Ref], scene_refs: list[Ref], characters: list[Ref], resolver: Resolver, pending: list[Ref]) -> tuple[list[Edit], list[Ref]]:
    """A time, weather or season on shots or scenes, the references anywhere in the clause."""
    if characters and (shot_refs or scene_refs):
        raise RevisionError(f"a look changes a character in every shot; for one shot say {FORMS['prompt']}")
    rest = re.sub(r"(?:\b(?:for|in|on|during|of|to|at|throughout)\s+)?(?:the\s+)?#[SC]\0*", " ", masked)
    rest = re.sub(rf"^\s*(?:{_VERBS['condition']})\b", " ", rest.strip())
    rest = re.sub(r"^\s*(?:but|only|just|so that|so|and|,|:)\b\s*", " ", rest.strip())
    rest = re.sub(r"\s*\b(?:but|and|please|instead|too|as well)\s*$", "", rest.strip()).strip(" ,.:")
    refs = pending + shot_refs + scene_refs
    if not refs:
        raise RevisionError(f"could not tell which shot you mean in {clause!r}; the closest form I understand: {_closest(clause, kind)}")
    if not rest:
        return [], refs  # "make shot 2 and shot 4 at night": waits for the next clause's condition
    start = masked.find(rest)
    words = clause[start : start + len(rest)] if start >= 0 else rest
    phrase = condition_phrase(words)
    if phrase is None:
        if kind != "condition":
            raise RevisionError(f"could not read {clause!r}; the closest form I understand: {_closest(clause, kind)}")
        phrase = words  # "make shot 3 X": X as written
    edits = []
    shots = _shots([r for r in refs if r.kind == "shots"], [], resolver)
    if shots:
        edits.append(Edit(action="condition", shots=shots, text=phrase))
    for ref in (r for r in refs if r.kind == "scene"):
        for scene in ref.scenes:
            resolver.scene_shots(scene)  # checked
            resolver.last_scene = scene
            edits.append(Edit(action="condition", scene=scene, text=phrase))
    return edits, []


def _closest(clause: str, kind: str | None) -> str:
    lower = clause.lower()
    for form, words in (("look", r"\b(?:colou?r|fur|hair|coat|hat|scarf|wear|red|blue|green|yellow|black|white)\b"), ("remove", r"\b(?:remove|delete|cut|drop)\b"), ("add", r"\b(?:add|new shot|insert)\b"),
                        ("move", r"\b(?:move|swap|switch|reorder|order)\b")):
        if re.search(words, lower):
            return FORMS[form]
    return FORMS.get(kind or "condition", FORMS["condition"])
