"""`batch.json`: what each story of a batch did, written by the driver after every change.

Per story: `status` (pending, running, done, failed, interrupted), `attempts` (takes made for the
kept shots), `shots` (kept) and `shots_planned`, `minutes` (this batch's time on it, all runs),
mean `scores` of the kept takes, `error` (one line, with the FILE's line number for a bad job),
the worker that ran it last and the film's path. Rerunning the same command reads it back.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from director.batch.jobs import Job
from director.folder.files import atomic_write_json

STATUSES = ("pending", "running", "done", "failed", "interrupted")


class Manifest:
    def __init__(self, path: Path, data: dict[str, Any]):
        self.path = path
        self.data = data
        self.stories: dict[str, dict[str, Any]] = {record["id"]: record for record in data.get("stories", [])}

    @classmethod
    def open(cls, out: Path, file: str | Path) -> Manifest:
        import json

        path = out / "batch.json"
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = {}
        else:
            data = {}
        data.setdefault("created", time.time())
        data["file"] = str(Path(file).resolve())
        return cls(path, data)

    def record(self, job: Job) -> dict[str, Any]:
        record = self.stories.setdefault(job.id, {"id": job.id, "status": "pending", "attempts": 0, "shots": 0, "minutes": 0.0, "scores": {}, "error": None, "runs": 0})
        record.update(line=job.line, source=job.source(), settings=job.overrides, folder=job.id)
        return record

    def update(self, story: str, **fields: Any) -> dict[str, Any]:
        record = self.stories[story]
        record.update(fields)
        self.save()
        return record

    def ordered(self, ids: list[str]) -> list[dict[str, Any]]:
        return [self.stories[i] for i in ids if i in self.stories]

    def save(self) -> None:
        self.data["updated"] = time.time()
        self.data["stories"] = list(self.stories.values())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.path, self.data)
