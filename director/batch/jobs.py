"""A batch FILE read into jobs: one per story, each with its id, source and settings.

Three forms:
- a folder of scripts: every `*.json` in it (storymem's format or StoryMem/ST-Bench's), sorted by name;
- JSONL (`.jsonl`, or a file whose first line is a JSON object): one job per line,
  `{"id": "...", "logline": "..." | "script": "path", "settings": {...}}`; a setting may also be
  given at the top level (`{"logline": "...", "shots": 4}`); script paths are relative to the file;
- text: one logline per line (blank lines and lines starting with `#` are skipped).

A job that cannot run (a line that is not JSON, a missing script, an unknown setting) comes back
with its `error` set and its line number, so the batch marks that story failed and runs the others.
A FILE that is none of these forms raises `BatchInputError` (one line) before anything starts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from director.settings import RunSettings, describe_settings_error
from director.story import slugify

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
JOB_KEYS = ("id", "logline", "script", "settings")


class BatchInputError(ValueError):
    """A batch FILE, option or service that cannot be used; one readable line."""


@dataclass
class Job:
    """One story of a batch."""

    id: str
    line: int | None  # line of the FILE (JSONL and text), None for a folder of scripts
    logline: str | None = None
    script: str | None = None  # absolute path
    overrides: dict[str, Any] = field(default_factory=dict)  # this story's settings over the batch's
    settings: dict[str, Any] | None = None  # the full, validated settings (JSON), None when `error`
    shots: int | None = None  # shots it will have: the script's, else the settings' (for scheduling)
    error: str | None = None
    force: bool = False  # remake a folder made with other settings (batch --force)

    @property
    def where(self) -> str:
        return f"line {self.line}" if self.line is not None else (Path(self.script).name if self.script else self.id)

    def source(self) -> dict[str, Any]:
        return {"logline": self.logline} if self.logline is not None else {"script": self.script}


def read_jobs(file: str | Path, defaults: RunSettings) -> list[Job]:
    """Every story in `file`, with settings checked; raises `BatchInputError` for a FILE that is
    none of the forms."""
    path = Path(file)
    if path.is_dir():
        jobs = _folder_jobs(path)
    elif path.is_file():
        text = _read_text(path)
        first = next((line.strip() for line in text.splitlines() if line.strip()), "")
        if path.suffix.lower() == ".json":
            raise BatchInputError(f"{path} is one script, not a batch: use `storymem make --script {path}`, or give the folder that holds it")
        if path.suffix.lower() == ".jsonl" or first.startswith("{"):
            jobs = _jsonl_jobs(path, text)
        else:
            jobs = _logline_jobs(text)
    else:
        raise BatchInputError(f"{path} does not exist: give a file of loglines, a JSONL file of jobs, or a folder of scripts")
    if not jobs:
        raise BatchInputError(f"{path} holds no stories: give a file of loglines, a JSONL file of jobs, or a folder of .json scripts")
    _assign_ids(jobs)
    for job in jobs:
        if job.error is None:
            _check(job, defaults)
    return jobs


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise BatchInputError(f"{path} cannot be read ({error.strerror or type(error).__name__})") from None
    if b"\x00" in data[:4096]:
        raise BatchInputError(f"{path} is a binary file, not loglines, JSONL jobs or a folder of scripts")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BatchInputError(f"{path} is not UTF-8 text: give loglines, JSONL jobs or a folder of scripts") from None


def _folder_jobs(folder: Path) -> list[Job]:
    scripts = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".json" and p.is_file())
    return [Job(id="", line=None, script=str(p.resolve())) for p in scripts]


def _logline_jobs(text: str) -> list[Job]:
    return [Job(id="", line=number, logline=line.strip()) for number, line in enumerate(text.splitlines(), start=1) if line.strip() and not line.lstrip().startswith("#")]


def _jsonl_jobs(path: Path, text: str) -> list[Job]:
    jobs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        job = Job(id="", line=number)
        jobs.append(job)
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            job.error = f"line {number}: not JSON ({error.msg} at column {error.colno})"
            continue
        if not isinstance(data, dict):
            job.error = f"line {number}: a job is a JSON object, got {type(data).__name__}"
            continue
        job.id = str(data["id"]) if data.get("id") is not None else ""
        logline, script = data.get("logline"), data.get("script")
        settings = data.get("settings", {})
        if not isinstance(settings, dict):
            job.error = f"line {number}: settings must be an object of options, got {type(settings).__name__}"
            continue
        job.overrides = {**{k: v for k, v in data.items() if k not in JOB_KEYS}, **settings}
        if (logline is None) == (script is None):
            job.error = f"line {number}: give a logline or a script (one of them)"
        elif script is not None:
            job.script = str((path.parent / str(script)).resolve())
        else:
            job.logline = str(logline)
    return jobs


def _assign_ids(jobs: list[Job]) -> None:
    """Given ids are checked; the others are slugs of the logline or script name, made unique in
    file order (so a rerun of the same FILE finds the same folders)."""
    taken: set[str] = set()
    for job in jobs:
        if job.id:
            if not ID_PATTERN.match(job.id):
                job.error = job.error or f"{job.where}: id {job.id!r} must be letters, digits, '.', '_' or '-' (up to 80)"
                job.id = f"line-{job.line}"
            elif job.id in taken:
                job.error = job.error or f"{job.where}: id {job.id!r} is used by an earlier story"
                job.id = f"{job.id}-line-{job.line}"
            taken.add(job.id)
    for job in jobs:
        if job.id:
            continue
        if job.logline is not None:
            base = _short_slug(job.logline)
        elif job.script is not None:
            base = _short_slug(Path(job.script).name.removesuffix(".json").removesuffix(".storymem"))
        else:
            base = f"line-{job.line}"
        candidate, n = base, 2
        while candidate in taken:
            candidate, n = f"{base}-{n}", n + 1
        job.id = candidate
        taken.add(candidate)


def _short_slug(text: str, length: int = 40) -> str:
    slug = slugify(text, max_length=200)
    return slug if len(slug) <= length else (slug[: length + 1].rsplit("-", 1)[0] or slug[:length])


def _check(job: Job, defaults: RunSettings) -> None:
    """Settings validated and the source checked, so a bad story fails before any worker takes it."""
    from director.planning.base import check_logline
    from director.story import load_script

    try:
        settings = RunSettings.model_validate({**defaults.model_dump(mode="json"), **job.overrides})
    except ValidationError as error:
        job.error = f"{job.where}: {describe_settings_error(error)}"
        return
    job.settings = settings.model_dump(mode="json")
    try:
        if job.logline is not None:
            job.logline = check_logline(job.logline)
            job.shots = settings.shots
        else:
            job.shots = len(load_script(job.script).shots)
    except ValueError as error:
        job.error = f"{job.where}: {' '.join(str(error).split())}"
