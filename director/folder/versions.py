"""The records of a versioned story folder: takes, and versions made of takes.

A *take* is one generated attempt at one shot, with its own files under `takes/<shot>/` and a
record of how it was made (prompt, seed, mode, the memory that conditioned it, scores, the
critic's decision). A *version* is a small manifest: the script, the take kept for each shot, the
memory entries that conditioned each shot and the bank after the last one, and where its film is.
Takes are written once and never change after their version keeps them, so moving the folder's
`current` pointer between versions restores a film byte for byte without generating anything.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, Field


class Take(BaseModel):
    """One attempt at one shot, as the director made and judged it."""

    shot_id: str
    number: int = Field(description="Take number within the shot's folder, never reused (t001, t002, ...).")
    attempt: int = Field(description="Attempt number within the run that made it (1 = first try).")
    prompt: str
    seed: int
    mode: str = Field(description="t2v, m2v, mi2v or mm2v.")
    memory: list[str] = Field(default_factory=list, description="Memory entries that conditioned it, in order.")
    frames: int = Field(description="Frames the take contributes to the film.")
    fps: int
    seconds: float = Field(description="Generation time.")
    backend: str
    generator: dict[str, Any] = Field(default_factory=dict, description="What the generator reported (model, steps, ...).")
    keyframes: list[int] = Field(default_factory=list, description="Frames memory proposed as keyframes.")
    scores: dict[str, Any] = Field(default_factory=dict)
    overall: float | None = None
    decision: dict[str, Any] | None = Field(default=None, description="The critic's decision on this take.")

    @property
    def name(self) -> str:
        return f"t{self.number:03d}"


class ShotEntry(BaseModel):
    """What a version keeps for one shot."""

    take: int = Field(description="Number of the kept take.")
    attempts: list[int] = Field(default_factory=list, description="Takes tried for this shot in this version, in order.")
    decision: str = Field(description="accept, or keep_best when attempts ran out.")
    memory: list[str] = Field(default_factory=list, description="Memory entries that conditioned the kept take.")
    keyframes: list[str] = Field(default_factory=list, description="Memory entries the kept take added.")


class Version(BaseModel):
    """One state of the film: script, a take per shot, memory per shot."""

    number: int
    parent: int | None = Field(default=None, description="The version this one was made from.")
    note: str = Field(description="Why it exists: the logline or script it was made from, or the change asked for.")
    thread: str = Field(description="LangGraph thread id of the run that makes it.")
    created: float = Field(default_factory=time.time)
    finished: float | None = None
    script: dict[str, Any]
    shots: dict[str, ShotEntry] = Field(default_factory=dict)
    bank: list[str] | None = Field(default=None, description="Active memory after the last shot.")
    film: dict[str, Any] | None = Field(default=None, description="Frames and shots of the assembled film.")
    memory_plan: dict[str, list[str]] = Field(
        default_factory=dict,
        description="For a revision: the memory each shot to make again starts from (its recorded memory, edited).",
    )
    plan: dict[str, Any] | None = Field(default=None, description="For a revision: the impact plan that was confirmed.")
    change: str | None = Field(default=None, description="For a revision: a fingerprint of its edits and policy; the same change asked again finishes this version.")
    bank_edits: dict[str, Any] | None = Field(
        default=None,
        description="The memory as the user's edits left it when this version was made: 'active' (the edited active entries a "
        "revision starts from) and 'entries' (each entry's pin, characters, drop and replacement); undo and checkout put them back.",
    )

    @property
    def name(self) -> str:
        return f"v{self.number:03d}"

    @property
    def done(self) -> bool:
        return self.finished is not None


def rebuilt_memory(version: Version, parent: Version, entry_ids: list[str], sources: dict[str, str | None]) -> list[str]:
    """`entry_ids` as they read after this revision: keyframes of a shot made again give way to that
    shot's new keyframes (once it has them), and keyframes of removed shots are dropped."""
    kept = {s["id"] for s in version.script["shots"]}
    memory: list[str] = []
    for entry_id in entry_ids:
        source = sources.get(entry_id)
        if source is not None and source not in kept:
            continue
        remade = source is not None and source in version.shots and version.shots[source] != parent.shots.get(source)
        for replacement in version.shots[source].keyframes if remade else [entry_id]:
            if replacement not in memory:
                memory.append(replacement)
    return memory
