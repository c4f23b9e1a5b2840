"""The memory bank: entries on disk, the sink + window policy, per-shot snapshots, user edits.

Layout of a bank folder:
  bank.json        entries by id (inactive ones too), the active ids, snapshots, config
  <id>.png         each entry's image, written once
  <id>.npy         each entry's embedding, when it has one
Entries are never deleted from disk: snapshots of earlier shots refer to them, and a shot can
be redone exactly from its snapshot. Ids are never reused, even after a crash between writing an
image and saving bank.json. Every write goes to a temporary file in the same folder first and is
then moved into place with os.replace, so a crash never leaves a half-written file.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image
from pydantic import BaseModel, Field

from memory.select import Keyframe
from memory.vision import ImageEmbedder

__all__ = ["Keyframe", "MemoryBank", "MemoryEntry", "EventCallback"]

EventCallback = Callable[[dict[str, Any]], None]
BANK_FILE = "bank.json"
_ID = re.compile(r"^m(\d+)$")


class MemoryEntry(BaseModel):
    id: str = Field(description='"m0001", never reused.')
    image: str = Field(description='File name inside the bank folder, e.g. "m0001.png".')
    kind: Literal["reference", "keyframe"]
    shot_id: str | None = Field(default=None, description="Source shot (None for reference images).")
    frame_index: int | None = None
    score: float | None = Field(default=None, description="Quality score of the frame.")
    scorer: str | None = Field(default=None, description="Model that produced `score`.")
    embedder: str | None = Field(default=None, description="Model that produced the embedding.")
    pinned: bool = False
    characters: list[str] = Field(default_factory=list)
    replaces: str | None = Field(default=None, description="Id of the entry this one replaced, if any.")
    replaced_by: str | None = Field(default=None, description="Id of the entry the user put in its place: that one conditions shots instead.")
    dropped: bool = Field(default=False, description="The user took it out of memory: it conditions no shot made afterwards.")


def _atomic_write(path: Path, write: Callable[[Any], None], mode: str = "wb") -> None:
    """Write through a temporary file in the same folder, then rename over `path`."""
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def _as_rgb(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"expected an HxWx3 image, got shape {array.shape}")
    if array.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {array.dtype}")
    return np.ascontiguousarray(array[..., :3])


class MemoryBank:
    """Keyframes and reference images that condition the next shot.

    Policy: at most `capacity` active entries. The `sink` earliest active entries stay for good
    (long-range identity); pinned entries are never evicted and count against capacity; the rest
    of the room goes to the most recent entries. Reference images come before every keyframe.
    Call `save()` after changes; edits are also reported to `on_event` as they happen.
    """

    def __init__(
        self,
        folder: Path,
        capacity: int = 10,
        sink: int = 3,
        *,
        on_event: EventCallback | None = None,
    ) -> None:
        if capacity < 1 or not 0 <= sink <= capacity:
            raise ValueError(f"need capacity >= 1 and 0 <= sink <= capacity, got {capacity}, {sink}")
        self.folder = Path(folder)
        self.capacity = capacity
        self.sink = sink
        self.on_event = on_event
        self.entries: dict[str, MemoryEntry] = {}
        self.active_ids: list[str] = []
        self.snapshots: dict[str, list[str]] = {}
        self._next_id = 1
        self._images: dict[str, np.ndarray] = {}

    # --- persistence ---------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        folder: Path,
        capacity: int = 10,
        sink: int = 3,
        *,
        on_event: EventCallback | None = None,
    ) -> MemoryBank:
        """The bank saved in `folder`, or an empty one when there is no bank.json yet.

        The saved capacity and sink win over the arguments, so a story keeps its policy.
        """
        folder = Path(folder)
        path = folder / BANK_FILE
        if not path.is_file():
            bank = cls(folder, capacity, sink, on_event=on_event)
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
            config = data.get("config", {})
            bank = cls(folder, config.get("capacity", capacity), config.get("sink", sink), on_event=on_event)
            bank.entries = {k: MemoryEntry.model_validate(v) for k, v in data["entries"].items()}
            bank.active_ids = list(data["active"])
            bank.snapshots = {k: list(v) for k, v in data.get("snapshots", {}).items()}
            bank._next_id = int(data.get("next_id", 1))
        bank._next_id = max(bank._next_id, bank._highest_id_on_disk() + 1)
        return bank

    def save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        data = {
            "version": 1,
            "config": {"capacity": self.capacity, "sink": self.sink},
            "next_id": self._next_id,
            "entries": {k: v.model_dump(mode="json") for k, v in self.entries.items()},
            "active": self.active_ids,
            "snapshots": self.snapshots,
        }
        text = json.dumps(data, indent=2, ensure_ascii=False)
        _atomic_write(self.folder / BANK_FILE, lambda h: h.write(text), mode="w")

    def _highest_id_on_disk(self) -> int:
        numbers = [int(m.group(1)) for k in self.entries if (m := _ID.match(k))]
        if self.folder.is_dir():
            for path in self.folder.iterdir():
                match = _ID.match(path.stem)
                if match:
                    numbers.append(int(match.group(1)))
        return max(numbers, default=0)

    # --- reading -------------------------------------------------------------------------

    def active(self) -> list[MemoryEntry]:
        """Entries that condition the next shot, oldest first (the conditioning order)."""
        return [self.entries[i] for i in self.active_ids]

    def entry(self, entry_id: str) -> MemoryEntry:
        try:
            return self.entries[entry_id]
        except KeyError:
            raise KeyError(f"no memory entry {entry_id!r}") from None

    def image(self, entry_id: str) -> np.ndarray:
        """The entry's image, uint8 HxWx3."""
        if entry_id not in self._images:
            with Image.open(self.folder / self.entry(entry_id).image) as pil:
                self._images[entry_id] = np.asarray(pil.convert("RGB"))
        return self._images[entry_id]

    def embedding(self, entry_id: str) -> np.ndarray | None:
        self.entry(entry_id)
        path = self.folder / f"{entry_id}.npy"
        return np.load(path) if path.is_file() else None

    def embeddings(self, entry_ids: Sequence[str], embedder: ImageEmbedder) -> np.ndarray:
        """(N, D) embeddings of `entry_ids` by `embedder`: stored ones where that model made them,
        the rest computed once and stored (embeddings from another model are not comparable)."""
        rows: dict[str, np.ndarray] = {}
        missing = []
        for entry_id in entry_ids:
            vector = self.embedding(entry_id) if self.entry(entry_id).embedder == embedder.name else None
            if vector is None:
                missing.append(entry_id)
            else:
                rows[entry_id] = vector
        if missing:
            for entry_id, vector in zip(missing, embedder.embed_images([self.image(i) for i in missing])):
                self.set_embedding(entry_id, vector, embedder.name)
                rows[entry_id] = np.asarray(vector, dtype=np.float32)
        if not entry_ids:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([rows[i] for i in entry_ids]).astype(np.float32)

    def snapshot(self, shot_id: str) -> list[MemoryEntry]:
        """The entries that conditioned `shot_id`, in conditioning order."""
        if shot_id not in self.snapshots:
            raise KeyError(f"no memory snapshot for shot {shot_id!r}")
        return [self.entries[i] for i in self.snapshots[shot_id]]

    # --- policy --------------------------------------------------------------------------

    def _new_id(self) -> str:
        entry_id = f"m{self._next_id:04d}"
        self._next_id += 1
        return entry_id

    def _store(self, entry_id: str, image: np.ndarray, embedding: np.ndarray | None) -> str:
        """Write the image (and embedding) atomically; returns the image's file name."""
        self.folder.mkdir(parents=True, exist_ok=True)
        rgb = _as_rgb(image)
        name = f"{entry_id}.png"
        _atomic_write(self.folder / name, lambda h: Image.fromarray(rgb).save(h, format="PNG"))
        self._images[entry_id] = rgb
        if embedding is not None:
            self._store_embedding(entry_id, embedding)
        return name

    def _store_embedding(self, entry_id: str, embedding: np.ndarray) -> None:
        vector = np.asarray(embedding, dtype=np.float32).reshape(-1)
        _atomic_write(self.folder / f"{entry_id}.npy", lambda h: np.save(h, vector))

    def _enforce_capacity(self) -> list[str]:
        """Evict the oldest unpinned entries outside the sink until the bank fits; returns their ids."""
        evicted = []
        while len(self.active_ids) > self.capacity:
            candidates = [i for i in self.active_ids[self.sink :] if not self.entries[i].pinned]
            if not candidates:
                break
            self.active_ids.remove(candidates[0])
            evicted.append(candidates[0])
        return evicted

    def _emit(self, event: str, **fields: Any) -> None:
        if self.on_event is not None:
            self.on_event({"event": f"memory.{event}", **fields, "active": list(self.active_ids)})

    # --- updates -------------------------------------------------------------------------

    def add_keyframes(self, shot_id: str, keyframes: list[Keyframe]) -> list[MemoryEntry]:
        """Append a shot's keyframes as the most recent entries, then apply the capacity policy."""
        added = []
        for keyframe in keyframes:
            entry_id = self._new_id()
            entry = MemoryEntry(
                id=entry_id,
                image=self._store(entry_id, keyframe.image, keyframe.embedding),
                kind="keyframe",
                shot_id=shot_id,
                frame_index=keyframe.frame_index,
                score=None if keyframe.score is None else float(keyframe.score),
                scorer=keyframe.scorer,
                embedder=keyframe.embedder if keyframe.embedding is not None else None,
            )
            self.entries[entry_id] = entry
            self.active_ids.append(entry_id)
            added.append(entry)
        evicted = self._enforce_capacity()
        if added:
            self._emit("add_keyframes", shot_id=shot_id, added=[e.id for e in added], evicted=evicted)
        return added

    def add_reference(
        self,
        image: np.ndarray,
        characters: Iterable[str] = (),
        embedding: np.ndarray | None = None,
        embedder: str | None = None,
    ) -> MemoryEntry:
        """A user's reference image; it goes after earlier references and before every keyframe."""
        entry_id = self._new_id()
        entry = MemoryEntry(
            id=entry_id,
            image=self._store(entry_id, image, embedding),
            kind="reference",
            embedder=embedder if embedding is not None else None,
            characters=list(characters),
        )
        self.entries[entry_id] = entry
        position = sum(1 for i in self.active_ids if self.entries[i].kind == "reference")
        self.active_ids.insert(position, entry_id)
        evicted = self._enforce_capacity()
        self._emit("add_reference", entry_id=entry_id, characters=entry.characters, evicted=evicted)
        return entry

    def set_embedding(self, entry_id: str, embedding: np.ndarray, embedder: str) -> MemoryEntry:
        """Attach (or refresh) an entry's embedding, e.g. for a reference added without one."""
        entry = self.entry(entry_id)
        self._store_embedding(entry_id, embedding)
        entry.embedder = embedder
        return entry

    def record_snapshot(self, shot_id: str, entry_ids: Iterable[str] | None = None) -> list[str]:
        """Remember which entries condition `shot_id`: the active ones now, or `entry_ids` when the
        shot kept an attempt made before a later memory edit."""
        ids = list(self.active_ids if entry_ids is None else entry_ids)
        unknown = [i for i in ids if i not in self.entries]
        if unknown:
            raise KeyError(f"unknown memory entries {unknown}")
        self.snapshots[shot_id] = ids
        return list(ids)

    def usable(self, entry_ids: Iterable[str]) -> list[str]:
        """`entry_ids` as the user's edits leave them: a replaced entry gives way to its replacement,
        a dropped one is left out (a recorded memory redone after `memory drop` never sees it)."""
        ids = []
        for entry_id in entry_ids:
            seen = {entry_id}
            while self.entry(entry_id).replaced_by is not None and self.entry(entry_id).replaced_by not in seen:
                entry_id = self.entry(entry_id).replaced_by
                seen.add(entry_id)
            if not self.entries[entry_id].dropped and entry_id not in ids:
                ids.append(entry_id)
        return ids

    def edit_state(self) -> dict[str, dict[str, Any]]:
        """Each entry's user-editable fields (pin, characters, drop, replacement), to record with a version."""
        return {k: e.model_dump(include={"pinned", "characters", "dropped", "replaced_by"}) for k, e in self.entries.items()}

    def apply_edit_state(self, state: dict[str, dict[str, Any]]) -> None:
        """Put back the fields `edit_state` recorded (undo and checkout restore the edits a version was made with)."""
        for entry_id, fields in state.items():
            if entry_id in self.entries:
                self.entries[entry_id] = self.entries[entry_id].model_copy(update=fields)

    def set_active(self, entry_ids: Iterable[str]) -> list[str]:
        """Make `entry_ids` (as the user's edits leave them) the active memory, in that order, then
        apply the capacity policy."""
        ids = list(dict.fromkeys(entry_ids))
        unknown = [i for i in ids if i not in self.entries]
        if unknown:
            raise KeyError(f"unknown memory entries {unknown}")
        self.active_ids = self.usable(ids)
        evicted = self._enforce_capacity()
        self._emit("set_active", evicted=evicted)
        return list(self.active_ids)

    def restore(self, shot_id: str) -> None:
        """Make the bank exactly what conditioned `shot_id`, to redo it; later entries stay on disk."""
        if shot_id not in self.snapshots:
            raise KeyError(f"no memory snapshot for shot {shot_id!r}")
        self.active_ids = self.usable(self.snapshots[shot_id])
        self._emit("restore", shot_id=shot_id)

    # --- edits ---------------------------------------------------------------------------

    def pin(self, entry_id: str) -> MemoryEntry:
        """Keep an entry whatever the window does. It must be active; pinning does not re-add."""
        entry = self._active_entry(entry_id)
        entry.pinned = True
        self._emit("pin", entry_id=entry_id)
        return entry

    def unpin(self, entry_id: str) -> MemoryEntry:
        entry = self.entry(entry_id)
        entry.pinned = False
        evicted = self._enforce_capacity()
        self._emit("unpin", entry_id=entry_id, evicted=evicted)
        return entry

    def drop(self, entry_id: str, *, for_good: bool = False) -> MemoryEntry:
        """Take an entry out of the active memory; its files stay for the snapshots. `for_good` (the
        user's drop) keeps it out of every shot made afterwards, redone ones included."""
        entry = self._active_entry(entry_id)
        self.active_ids.remove(entry_id)
        entry.pinned = False
        entry.dropped = entry.dropped or for_good
        self._emit("drop", entry_id=entry_id)
        return entry

    def replace(
        self,
        entry_id: str,
        image: np.ndarray,
        *,
        embedding: np.ndarray | None = None,
        embedder: str | None = None,
        score: float | None = None,
        scorer: str | None = None,
        characters: Iterable[str] | None = None,
    ) -> MemoryEntry:
        """A new entry with a new image takes the old one's place; the old one stays on disk.

        The new entry keeps the old one's kind, shot, pin and characters unless given; it gets a
        new id, so snapshots that used the old image still say so.
        """
        old = self._active_entry(entry_id)
        new_id = self._new_id()
        entry = MemoryEntry(
            id=new_id,
            image=self._store(new_id, image, embedding),
            kind=old.kind,
            shot_id=old.shot_id,
            score=score,
            scorer=scorer if score is not None else None,
            embedder=embedder if embedding is not None else None,
            pinned=old.pinned,
            characters=list(old.characters if characters is None else characters),
            replaces=entry_id,
        )
        self.entries[new_id] = entry
        old.replaced_by = new_id
        self.active_ids[self.active_ids.index(entry_id)] = new_id
        self._emit("replace", entry_id=entry_id, new_entry_id=new_id)
        return entry

    def tag(self, entry_id: str, characters: Iterable[str]) -> MemoryEntry:
        """Say which characters an entry shows (consistency is scored per character)."""
        entry = self.entry(entry_id)
        entry.characters = list(dict.fromkeys(characters))
        self._emit("tag", entry_id=entry_id, characters=entry.characters)
        return entry

    def _active_entry(self, entry_id: str) -> MemoryEntry:
        entry = self.entry(entry_id)
        if entry_id not in self.active_ids:
            raise ValueError(f"memory entry {entry_id} is not active")
        return entry
