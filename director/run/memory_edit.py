"""Showing and editing a story's memory bank by hand; every edit is logged in events.jsonl."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from director.errors import UsageError
from director.folder.workspace import Workspace
from director.run.context import open_bank
from memory.bank import MemoryBank
from memory.tags import story_tags

MEMORY_ACTIONS = ("list", "pin", "unpin", "drop", "tag", "add", "replace")


def edit_memory(out: str | Path, action: str = "list", target: str | None = None, values: Sequence[str] = (), characters: Sequence[str] = ()) -> MemoryBank:
    """Show or edit the memory bank that conditions the next shots; edits are logged in events.jsonl.

    `pin`, `unpin`, `drop`: an entry id; `tag`: an entry id and character names; `add`: an image
    file (tagged with `characters`); `replace`: an entry id and an image file."""
    workspace = Workspace(Path(out))
    if not (workspace.memory_dir / "bank.json").is_file():
        raise UsageError(f"{out} has no memory bank (make a story there first)")
    if action not in MEMORY_ACTIONS:
        raise UsageError(f"unknown memory action {action!r}; choose one of: {', '.join(MEMORY_ACTIONS)}")
    bank = open_bank(workspace, source="user")
    if action == "list":
        return bank

    def image(path: str | None) -> np.ndarray:
        if path is None or not Path(path).is_file():
            raise UsageError(f"image not found: {path}")
        try:
            with Image.open(path) as picture:
                return np.asarray(picture.convert("RGB"))
        except (UnidentifiedImageError, OSError) as error:
            raise UsageError(f"{path} is not an image this tool can read ({type(error).__name__})") from None

    if target is None:
        raise UsageError(f"memory {action} needs {'an image file' if action == 'add' else 'an entry id'}")
    if action != "add" and target not in bank.entries:
        raise UsageError(f"no memory entry {target!r} in {out}")
    if action == "tag" and not values:
        raise UsageError("memory tag needs the names of the characters the entry shows")
    if action in ("tag", "add") and (values if action == "tag" else characters):
        try:  # a tag must name a character of the story, or it conditions nothing
            tags = story_tags(values if action == "tag" else characters, {c.name: c.description for c in workspace.load_script().characters})
        except ValueError as error:
            raise UsageError(str(error)) from None
        values, characters = (tags, characters) if action == "tag" else (values, tags)
    try:
        if action == "add":
            bank.add_reference(image(target), characters=characters)
        elif action == "replace":
            bank.replace(target, image(values[0] if values else None))
        elif action == "tag":
            bank.tag(target, values)
        elif action == "drop":
            bank.drop(target, for_good=True)  # no later shot sees it, redone ones included
        else:
            getattr(bank, action)(target)
    except (KeyError, ValueError) as error:
        raise UsageError(str(error).strip("'\"")) from None
    bank.save()
    return bank
