"""What `storymem serve` (the OpenAI Videos API) and `storymem mcp` (Model Context Protocol) share: a
root of story folders, the studio's one-job queue, the models they offer, and how a request's model,
length and size become `RunSettings`.

Both are thin frontends: stories are made, revised and read through `director.api`; names and paths
from the network are checked by the studio's `Root` (one folder under the root, nothing else), and
the token and loopback rules are the studio's too.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from director import api
from director.folder.workspace import Workspace
from director.frontends.studio import Job, Queue, Root, StudioError, resumable
from director.settings import RunSettings

#: The clock of every backend (Wan's 16 fps): a shot lasts `frames / FPS` seconds.
FPS = 16
#: Jobs that may wait behind the running one; one more is refused (HTTP 409) rather than queued for hours.
MAX_WAITING = 16

#: The models both frontends offer, and the settings each one stands for (over the server's own).
MODELS: dict[str, dict[str, Any]] = {
    "storymem-preview": {"backend": "preview"},
    "storymem-tiny": {"backend": "tiny"},
    "storymem-wan": {"backend": "wan", "speed": "quality"},
    "storymem-wan-fast": {"backend": "wan", "speed": "fast"},
}

EventHandler = Callable[[dict[str, Any]], None]
Finished = Callable[["api.StoryResult | None", "Exception | None"], None]


class Busy(StudioError):
    """The story (or the queue) has work waiting: try again later (HTTP 409), the request itself is fine."""


@dataclass
class Work(Job):
    """A queued generating call, with the shots it finished so far (for progress notifications)."""

    shots: list[dict[str, Any]] = field(default_factory=list)  # shot_done events, each with `made`: (made, to make) then
    result: api.StoryResult | None = None


class Service:
    """Stories under one root, made one at a time, with the server's settings as every story's defaults."""

    def __init__(self, root: str | Path, defaults: RunSettings | None = None):
        self.root = Root(root)
        self.root.path.mkdir(parents=True, exist_ok=True)
        self.queue = Queue()
        self.defaults = defaults or RunSettings()

    # --- requests into settings ------------------------------------------------------------------

    def settings(self, model: str | None = None, shots: int | None = None, size: str | None = None) -> RunSettings:
        """The server's settings with a request's model, shot count and size over them."""
        given = self.defaults.model_dump(exclude_unset=True)
        if model is not None:
            if model not in MODELS:
                raise StudioError(f"unknown model {model!r}; choose one of: {', '.join(MODELS)}")
            given.update(MODELS[model])
        if shots is not None:
            given["shots"] = shots
        if size is not None:
            given["size"] = size
        try:
            return RunSettings(**given)
        except ValidationError as error:
            problem = error.errors()[0]
            raise StudioError(f"{problem['loc'][0]}: {problem['msg'].removeprefix('Value error, ')} (got {problem.get('input')!r})") from None

    def shot_seconds(self, settings: RunSettings | None = None) -> float:
        """How long one generated shot lasts."""
        return ((settings or self.defaults).frames or 81) / FPS

    def shots_for(self, seconds: Any, settings: RunSettings | None = None, least: int = 2) -> int:
        """The shot count that fills `seconds` (at least 2 for a story: it has a cut)."""
        try:
            value = float(seconds)
        except (TypeError, ValueError):
            raise StudioError(f"seconds must be a number, got {seconds!r}") from None
        if not math.isfinite(value) or value <= 0:
            raise StudioError(f"seconds must be more than 0, got {seconds!r}")
        return max(least, round(value / self.shot_seconds(settings)))

    # --- the queue -------------------------------------------------------------------------------

    def submit(self, story: str, what: str, call: Callable[[EventHandler], api.StoryResult], finished: Finished | None = None) -> Work:
        """Queue `call(on_event)` for the story; `finished(result, error)` runs in the worker when it ends."""
        waiting = sum(1 for job in self.queue.jobs if job.state == "queued")
        if waiting >= MAX_WAITING:
            raise Busy(f"{waiting} jobs are already waiting; try again when one has finished")
        self.check_free(story)
        work = Work(story, what, run=lambda note: "")

        def run(note: EventHandler) -> str:
            def on_event(event: dict[str, Any]) -> None:
                note(event)
                if "shot_done" in event:  # with what the folder says now: (shots made, shots to make)
                    work.shots.append({**event, "made": self.progress(story)})

            try:
                work.result = call(on_event)
            except Exception as error:
                if finished is not None:
                    finished(None, error)
                raise
            if finished is not None:
                finished(work.result, None)
            generated = work.result.generated
            return f"version {work.result.version}: {generated} shot{'s' if generated != 1 else ''} made"

        work.run = run
        self.queue.submit(work)
        return work

    def check_free(self, story: str) -> None:
        """Refuse (409) when the story has work queued or running here, or a version being made by another process."""
        job = self.queue.of(story)
        if job is not None and job.state in ("queued", "running"):
            raise Busy(f"{story} has work queued or running; wait for it to finish")
        folder = self.root.story(story)
        if folder.is_dir() and Workspace(folder).draft() is not None and not resumable(folder, None):
            raise Busy(f"{story} is being made right now by another process; wait for it to finish")

    def stop(self, why: str, status: int) -> None:
        """End the process now when work is queued or running (finished shots are kept, the same request
        resumes it): waiting would hold the GPU for nobody, and Python's exit breaks the job's threads."""
        active = [job.what for job in self.queue.jobs if job.state in ("queued", "running")]
        if active:
            print(f"storymem: {why} with work not finished ({'; '.join(active)}); finished shots are kept and the same request resumes it", file=sys.stderr, flush=True)
            os._exit(status)

    def job(self, story: str) -> Work | None:
        return self.queue.of(story)

    # --- what a story folder says ----------------------------------------------------------------

    def progress(self, story: str) -> tuple[int, int] | None:
        """(shots made, shots to make) of the version being made, or None when none is: shots a
        revision keeps from its parent count in neither."""
        workspace = Workspace(self.root.story(story))
        draft = workspace.draft() if workspace.versions_dir.is_dir() else None
        if draft is None:
            return None
        parent = workspace.version(draft.parent).shots if draft.parent else {}
        ids = [shot["id"] for shot in draft.script["shots"]]
        kept = sum(1 for i in ids if i in draft.shots and parent.get(i) == draft.shots[i])
        made = sum(1 for i in ids if i in draft.shots) - kept
        return made, len(ids) - kept

    def film_of(self, story: str, version: int) -> Path:
        """The film of one version of the story (kept byte for byte while later versions are made)."""
        workspace = Workspace(self.root.existing(story))
        return workspace.film_of(workspace.version(version))
