"""The memory a shot made again starts from: what it had, as the user's memory edits leave it.

A redo or revision starts each shot from the memory recorded when it was made, so a take can be
reproduced. The user's edits since then are part of the story's state and win: a dropped entry is
left out, a replaced one gives way to its replacement, a pinned entry the shot may see (a reference,
or a keyframe of a shot before it) and a reference image the user added join it.
"""

from __future__ import annotations

from director.story import Story
from memory.bank import MemoryBank


def edited_memory(bank: MemoryBank, story: Story, shot_id: str, recorded: list[str]) -> list[str]:
    """`recorded` (the shot's memory when it was made) with the user's edits applied, references first."""
    order = {shot.id: index for index, shot in enumerate(story.shots)}
    here = order[shot_id]
    memory = bank.usable(recorded)
    for entry_id in bank.active_ids:
        entry = bank.entries[entry_id]
        if entry_id in memory or entry.dropped:
            continue
        if entry.kind == "reference":
            memory.insert(sum(1 for e in memory if bank.entries[e].kind == "reference"), entry_id)
        elif entry.pinned and order.get(entry.shot_id, here) < here:
            memory.append(entry_id)
    return memory
