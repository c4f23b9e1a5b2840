"""`run_batch`: many stories, unattended, on local worker processes or a Ray cluster.

The driver reads the FILE into jobs, checks everything that can be checked before a worker starts
(the FILE's form, Ray and its address, the checkpoint database), decides from `batch.json` what
is left to do, and hands the rest to an executor. Only the driver writes the manifest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from director.batch.changes import recorded_difference, refusal
from director.batch.jobs import BatchInputError, Job, read_jobs
from director.batch.manifest import Manifest
from director.batch.worker import GeneratorWrapper, StoryMaker
from director.folder.workspace import Workspace
from director.settings import RunSettings

EventHandler = Callable[[dict[str, Any]], None]


@dataclass
class BatchResult:
    manifest: Path
    stories: list[dict[str, Any]]  # the manifest's records, in FILE order
    skipped: list[str] = field(default_factory=list)  # finished before this run
    refused: dict[str, str] = field(default_factory=dict)  # story -> why it was not remade (made with other settings)
    interrupted: bool = False
    executor: str = ""
    workers: list[dict[str, Any]] = field(default_factory=list)  # per worker: pid, generators loaded, stories

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.stories if r["status"] != "done"]


def default_out(file: str | Path) -> Path:
    from director.story import slugify

    path = Path(file)
    return Path("runs") / ("batch-" + slugify(path.stem if path.is_file() else path.name or "stories"))


def run_batch(
    file: str | Path,
    out: str | Path | None = None,
    *,
    make: StoryMaker,
    settings: RunSettings | None = None,
    workers: int | None = None,
    ray: str | None = None,
    gpus_per_worker: int = 1,
    retry_failed: bool = True,
    force: bool = False,
    on_event: EventHandler | None = None,
    wrap_generator: GeneratorWrapper | None = None,
    ray_actor_options: dict[str, Any] | None = None,
) -> BatchResult:
    """Make every story of `file` into `out/<id>/`; rerunning resumes (see `director.batch`).

    `make` is the entry point each worker calls per story (`director.api.make_story`).
    `settings` are every story's defaults (a job line may override any of them). `workers` worker
    processes (default: one per GPU, else 1), or with `ray` ("auto" or an address) as many Ray
    actors, each asking for `gpus_per_worker` GPUs (or `ray_actor_options`, e.g. a custom
    resource). `wrap_generator(generator, job)` wraps each story's generator (tests, benchmarks;
    it must pickle). Problems with the FILE, Ray or the checkpoint database raise
    `BatchInputError` before anything is written."""
    from director.folder.checkpoints import CheckpointDBError, check_checkpoint_db
    from director.run.checks import check_out_folder

    defaults = settings or RunSettings()
    emit = on_event or (lambda event: None)
    if workers is not None and workers < 1:
        raise BatchInputError(f"--workers must be at least 1, got {workers}")
    if gpus_per_worker < 1:
        raise BatchInputError(f"--gpus-per-worker must be at least 1, got {gpus_per_worker}")
    jobs = read_jobs(file, defaults)
    out = Path(out) if out is not None else default_out(file)
    if out.exists() and not out.is_dir():
        raise BatchInputError(f"--out {out} is a file; name a folder for the batch")
    try:
        check_out_folder(out)
        for url in sorted({job.settings.get("checkpoint_db") for job in jobs if job.settings} - {None}):
            check_checkpoint_db(url)
    except (CheckpointDBError, ValueError) as error:
        raise BatchInputError(str(error)) from None
    manifest = Manifest.open(out, file)
    todo, skipped, refused = _plan(jobs, manifest, out, retry_failed, force)
    # longest first (stable): the pool hands stories out in this order, so the batch does not end
    # waiting on one long story started last (benchmarks/cluster_sim.py models this policy)
    todo.sort(key=lambda job: -(job.shots or 0))
    if ray is not None:
        from director.batch.ray_executor import RayExecutor

        executor = RayExecutor(str(out.resolve()), make, ray, workers, gpus_per_worker, wrap_generator, ray_actor_options) if todo else None
    else:
        from director.batch.local import LocalExecutor

        executor = LocalExecutor(str(out.resolve()), make, workers, gpus_per_worker, wrap_generator) if todo else None
    manifest.data.update(executor=executor.describe() if executor else manifest.data.get("executor"), settings=defaults.model_dump(mode="json", exclude={"checkpoint_db"}))
    manifest.save()
    emit({"batch": "start", "stories": len(jobs), "to_run": [job.id for job in todo], "skipped": skipped, "refused": refused, "executor": executor.describe() if executor else "nothing to run", "out": str(out)})

    started: dict[str, float] = {}

    def handle(event: dict[str, Any]) -> None:
        story = event.get("story")
        if story not in manifest.stories:
            return
        if event.get("started"):
            started[story] = time.time()
            record = manifest.stories[story]
            manifest.update(story, status="running", worker=event.get("worker"), runs=record.get("runs", 0) + 1, error=None)
        elif "done" in event:
            done = dict(event["done"])
            spent = time.time() - started.pop(story, time.time())
            record = manifest.stories[story]
            fields = {k: done[k] for k in ("status", "error", "worker", "film", "shots", "shots_planned", "attempts", "scores") if k in done}
            if "shots" not in done:  # the worker could not say (it died): read the folder
                from director.batch.worker import story_facts

                fields.update(story_facts(out / story))
            fields["minutes"] = round(record.get("minutes", 0.0) + spent / 60, 4)
            event = {**event, "done": manifest.update(story, **fields)}
        emit(event)

    completed = True
    if executor is not None:
        completed = executor.run(todo, handle)
        if not completed:  # whatever never reported back was running
            for job in todo:
                if manifest.stories[job.id]["status"] == "running":
                    manifest.update(job.id, status="interrupted", error="interrupted; finished shots are kept")
    manifest.save()
    ids = [job.id for job in jobs]
    result = BatchResult(manifest.path, manifest.ordered(ids), skipped, refused, not completed, executor.describe() if executor else "", list(getattr(executor, "infos", [])))
    emit({"batch": "end", "interrupted": not completed})
    return result


def _plan(jobs: list[Job], manifest: Manifest, out: Path, retry_failed: bool, force: bool = False) -> tuple[list[Job], list[str], dict[str, str]]:
    """The jobs to run now; bad jobs are marked failed with their reason, finished ones skipped,
    finished ones made with other settings refused by name (remade with `force`)."""
    todo, skipped, refused = [], [], {}
    for job in jobs:
        record = manifest.record(job)
        if job.error is not None:
            record.update(status="failed", error=job.error)
            continue
        workspace = Workspace(out / job.id)
        finished = workspace.versions_dir.is_dir() and workspace.current() is not None and workspace.draft() is None
        difference = recorded_difference(job, out / job.id)
        job.force = force and bool(difference)
        if difference and not force:  # as `make` refuses: named, left as it is
            refused[job.id] = refusal(job.id, difference)
            skipped.append(job.id)
        elif record["status"] == "done" and finished and not job.force:
            skipped.append(job.id)
        elif record["status"] == "failed" and not retry_failed:
            skipped.append(job.id)
        else:
            record.update(status="pending")
            todo.append(job)
    return todo, skipped, refused
