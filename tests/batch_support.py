"""Generator wrappers for batch tests: picklable, so worker processes and Ray actors can take them."""

from __future__ import annotations

import os
from pathlib import Path

from director.batch.worker import WrappedGenerator


class FailStories:
    """The generator raises for the stories named (the others are untouched)."""

    def __init__(self, *ids: str):
        self.ids = set(ids)

    def __call__(self, generator, job):
        if job.id not in self.ids:
            return generator

        def fail(inner, request):
            raise RuntimeError(f"simulated generator failure at shot {request.shot_id}")

        return WrappedGenerator(generator, fail)


class DieOnce:
    """The worker process dies (os._exit) when it reaches `shot` of `story`, the first time only."""

    def __init__(self, story: str, shot: str, marker: str):
        self.story, self.shot, self.marker = story, shot, marker

    def __call__(self, generator, job):
        if job.id != self.story:
            return generator

        def die(inner, request):
            if request.shot_id == self.shot and not Path(self.marker).exists():
                Path(self.marker).write_text(str(os.getpid()))
                os._exit(17)
            return inner.generate(request)

        return WrappedGenerator(generator, die)

