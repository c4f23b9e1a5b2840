"""Character tags on memory entries name the story's characters, spelled as the script spells them.

A tag that names no character conditions nothing (the director looks entries up by the shot's
character names), so an unknown or misspelt name is refused with the closest name instead. A
character may also be called by what its description says it is ("the lighthouse keeper" for
"the keeper", described as "a lighthouse keeper with ...").
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence


def _aliases(characters: Mapping[str, str]) -> dict[str, str]:
    """Lower-cased ways to call each character -> its name."""
    aliases = {}
    for name, description in characters.items():
        what = re.match(r"(?:an?|the)\s+([^,]+?)(?:,|\s+with\s|$)", description.strip(), re.IGNORECASE)
        if what:
            aliases.setdefault(f"the {what.group(1).lower()}", name)
    aliases.update({name.lower(): name for name in characters})
    return aliases


def story_tags(names: Sequence[str], characters: Mapping[str, str]) -> list[str]:
    """`names` as the script spells them (`characters`: name -> description); ValueError, in one
    line with "did you mean", for a name that is no character of the story."""
    aliases = _aliases(characters)
    tags = []
    for name in names:
        known = aliases.get(" ".join(name.split()).lower())
        if known is None:
            close = difflib.get_close_matches(name.lower(), list(aliases), n=1, cutoff=0.5)
            hint = f"did you mean {aliases[close[0]]!r}? " if close else ""
            listed = ", ".join(repr(c) for c in characters) or "none"
            raise ValueError(f"{name!r} is no character of this story; {hint}(its characters: {listed})")
        tags.append(known)
    return tags
