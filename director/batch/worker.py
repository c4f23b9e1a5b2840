"""One batch worker: a process (or Ray actor) that holds its models and makes whole stories.

The worker makes a story through the entry point it is given (`director.api.make_story`, which
`director.api.run_batch` passes down) into `<out>/<id>`, so a story resumes
wherever its folder is seen: finished stories say so and generate nothing, unfinished ones
continue at their first unfinished shot. The generator and vision models are loaded by
`load_components`, whose loaders cache per process: a worker loads each model once, whatever the
number of stories it makes. What a story did comes back as a plain dict (the manifest's record); a missing-model warning
comes back as an event, for the driver to say once.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from statistics import mean
from typing import Any

from director.batch.jobs import BatchInputError, Job
from director.folder.workspace import Workspace
from director.run.context import load_components
from director.settings import RunSettings

#: `(generator, job) -> generator`: wraps a worker's generator for one story (tests, benchmarks).
GeneratorWrapper = Callable[[Any, Job], Any]
#: `director.api.make_story`: what a worker calls for each story (passed down, so batch never imports the API).
StoryMaker = Callable[..., Any]
EventSink = Callable[[dict[str, Any]], None]


class WrappedGenerator:
    """A worker's generator with `generate` replaced by `generate(inner, request)`; every other
    attribute is the inner one's. What a `GeneratorWrapper` returns (it pickles when `generate` does)."""

    def __init__(self, inner: Any, generate: Callable[[Any, Any], Any]):
        self._inner, self._generate = inner, generate

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def generate(self, request: Any) -> Any:
        return self._generate(self._inner, request)


def one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    user = isinstance(error, ValueError) and type(error).__module__.startswith(("director", "generator", "memory", "pydantic"))
    line = text if user or isinstance(error, BatchInputError) else f"{type(error).__name__}: {text}"
    return line if len(line) <= 300 else line[:297] + "..."


class _Forward(logging.Handler):
    """Hands each model warning to `sink` as a `{"warning": text}` event."""

    def __init__(self, sink: EventSink):
        super().__init__(logging.WARNING)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink({"warning": record.getMessage()})


@contextmanager
def warnings_to(sink: EventSink) -> Iterator[None]:
    """While open, a missing-model warning (memory.vision's, once per process) goes to `sink`
    instead of this worker's stderr: the batch's driver says each one once for the whole batch,
    rather than every worker saying it again."""
    from director.run.console import VISION_LOGGER

    logger = logging.getLogger(VISION_LOGGER)
    handler, propagate = _Forward(sink), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


class StoryRunner:
    """Makes stories in this process; `loaded` counts the distinct generator objects it used (1
    when the model was loaded once)."""

    def __init__(self, out: str, make: StoryMaker, wrap_generator: GeneratorWrapper | None = None):
        self.out = Path(out)
        self.make = make
        self.wrap_generator = wrap_generator
        self.generators: set[int] = set()
        self.stories = 0
        self.where = f"{socket.gethostname()}:{os.getpid()}"

    def info(self) -> dict[str, Any]:
        return {"worker": self.where, "pid": os.getpid(), "generators_loaded": len(self.generators), "stories": self.stories}

    def run(self, job: Job, emit: EventSink) -> dict[str, Any]:
        """Make (or resume) one story; never raises for the story's own failures."""
        started = time.time()
        folder = self.out / job.id
        self.stories += 1
        emit({"story": job.id, "started": True, "worker": self.where})

        def forward(event: dict[str, Any]) -> None:
            if "shot_done" in event:
                emit({"story": job.id, "shot_done": event["shot_done"], "index": event["index"], "total": event["total"]})
            elif "note" in event:
                emit({"story": job.id, "note": event["note"]})

        record: dict[str, Any] = {"worker": self.where, "status": "failed"}
        try:
            settings = RunSettings.model_validate(job.settings)
            with warnings_to(lambda event: emit({"story": job.id, **event})):
                components = load_components(settings, Workspace(folder))
            self.generators.add(id(components.generator))
            if self.wrap_generator is not None:
                components.generator = self.wrap_generator(components.generator, job)
            result = self.make(folder, logline=job.logline, script=job.script, settings=settings, on_event=forward, components=components, force=job.force)
            record.update(status="done", film=str(result.film), version=result.version, generated=result.generated, error=None)
        except KeyboardInterrupt:
            record.update(status="interrupted", error="interrupted; finished shots are kept")
            raise
        except Exception as error:  # the story failed; the worker goes on with the next
            record.update(status="failed", error=one_line(error))
        finally:
            record.update(story_facts(folder))
            record["seconds"] = round(time.time() - started, 3)
            record["generators_loaded"] = len(self.generators)
        return record


def story_facts(folder: Path) -> dict[str, Any]:
    """Shots kept, attempts made and mean scores of a story folder's current (or draft) version."""
    workspace = Workspace(folder)
    facts: dict[str, Any] = {"shots": 0, "shots_planned": None, "attempts": 0, "scores": {}}
    try:
        version = workspace.draft() or workspace.current()
    except (OSError, ValueError):
        return facts
    if version is None:
        return facts
    facts["shots_planned"] = len(version.script.get("shots", []))
    facts["shots"] = len(version.shots)
    facts["attempts"] = sum(len(entry.attempts) or 1 for entry in version.shots.values())
    columns: dict[str, list[float]] = {}
    for shot_id, entry in version.shots.items():
        try:
            take = workspace.load_take(shot_id, entry.take)
        except (OSError, ValueError):
            continue
        for key, value in {**take.scores, "overall": take.overall}.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                columns.setdefault(key, []).append(float(value))
    facts["scores"] = {key: round(mean(values), 4) for key, values in columns.items()}
    return facts
