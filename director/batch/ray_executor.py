"""The Ray executor: a pool of Ray actors, each a `StoryRunner` holding its loaded models.

Scheduling is Ray's: stories go to a `ray.util.ActorPool`, longest first (the driver's order), and
each goes to the next idle actor: greedy list scheduling, longest processing time first, the policy
`benchmarks/cluster_sim.py` models.
Each actor asks for `gpus_per_worker` GPUs (or, on a cluster without GPUs, one CPU, or the
resources the caller gives), so Ray places one actor per GPU by default.

Story folders live on storage every node sees (a shared filesystem mounted at the same path, as
`--out`): an actor writes its story's folder itself, so the memory bank, takes and checkpoints
travel with the folder rather than through the driver. Actors are restarted by Ray when they die
(`max_restarts`) and their story call is retried (`max_task_retries`): the new actor process
loads its models and resumes the story at its first unfinished shot, the finished ones untouched.
Progress events come back through a `ray.util.queue.Queue`.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Any

from director.batch.jobs import BatchInputError, Job
from director.batch.worker import GeneratorWrapper, StoryMaker, StoryRunner

Handle = Callable[[dict[str, Any]], None]
RESTARTS = 3


def import_ray():
    try:
        import ray
    except ImportError:
        raise BatchInputError("--ray needs Ray, which is not installed: pip install 'storymem[ray]'") from None
    return ray


def check_address(address: str) -> None:
    """Something must answer at HOST:PORT before Ray is asked to connect (Ray itself waits long)."""
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise BatchInputError(f"--ray takes auto or HOST:PORT (or ray://HOST:PORT), got {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=3).close()
    except OSError as error:
        raise BatchInputError(f"--ray {address}: no Ray cluster answers there ({error.strerror or type(error).__name__})") from None


def connect(address: str) -> bool:
    """Join (or start) a Ray cluster; returns True when this call started Ray in this process (so
    it shuts it down after the batch). `auto`: the Ray already initialised in this process, else
    the cluster RAY_ADDRESS or a local `ray start` names, else a new local one."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    options = {"log_to_driver": False, "logging_level": logging.WARNING, "configure_logging": False}
    if address != "auto":
        check_address(address)
        ray.init(address=address, **options)
        return True
    try:
        ray.init(address="auto", **options)
    except ConnectionError:  # none running: a local cluster of this machine, on loopback only
        ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", **options)
    return True


class StoryActor:
    """A Ray actor around a `StoryRunner` (applied with `ray.remote` at run time: Ray is optional)."""

    def __init__(self, out: str, make: StoryMaker, wrap: GeneratorWrapper | None, events):
        self.runner = StoryRunner(out, make, wrap)
        self.events = events

    def run(self, job: Job) -> dict[str, Any]:
        record = self.runner.run(job, emit=self._emit)
        return {**record, "id": job.id, **self.runner.info()}

    def info(self) -> dict[str, Any]:
        return self.runner.info()

    def _emit(self, event: dict[str, Any]) -> None:
        try:
            self.events.put_nowait(event)
        except Exception:  # progress is best effort; the record is what counts
            pass


class RayExecutor:
    name = "ray"

    def __init__(self, out: str, make: StoryMaker, address: str, workers: int | None = None, gpus_per_worker: int = 1, wrap_generator: GeneratorWrapper | None = None, actor_options: dict[str, Any] | None = None):
        self.out, self.address = out, address
        self.gpus_per_worker = gpus_per_worker
        self.wrap_generator = wrap_generator
        self.make = make
        self.started_ray = connect(address)  # fails (one line) before anything is written
        ray = import_ray()
        resources = ray.cluster_resources()
        self.gpus = int(resources.get("GPU", 0))
        if actor_options is not None:
            self.actor_options = dict(actor_options)
        elif self.gpus:
            self.actor_options = {"num_gpus": gpus_per_worker}
        else:
            self.actor_options = {"num_cpus": 1}
        self.workers = workers or (max(1, self.gpus // gpus_per_worker) if self.gpus else max(1, int(resources.get("CPU", 1))))
        self.infos: list[dict[str, Any]] = []
        self.deaths: dict[str, int] = {}

    def describe(self) -> str:
        where = f"{self.gpus_per_worker} GPU{'s' if self.gpus_per_worker > 1 else ''} each" if "num_gpus" in self.actor_options else ", ".join(f"{k}={v}" for k, v in self.actor_options.items())
        return f"ray: {self.workers} actor{'s' if self.workers > 1 else ''} ({where})"

    def run(self, jobs: list[Job], handle: Handle) -> bool:
        ray = import_ray()
        from ray.exceptions import RayActorError
        from ray.util import ActorPool
        from ray.util.queue import Empty, Queue

        events = Queue(actor_options={"num_cpus": 0})
        remote = ray.remote(StoryActor).options(max_restarts=RESTARTS, max_task_retries=RESTARTS, max_concurrency=1, **self.actor_options)
        actors = [remote.remote(self.out, self.make, self.wrap_generator, events) for _ in range(min(self.workers, len(jobs)))]
        pool = ActorPool(actors)
        on_actor: dict[str, Job] = {}
        finished: set[str] = set()

        def submit(actor, job: Job):
            on_actor[actor._actor_id.hex()] = job
            return actor.run.remote(job)

        def drain() -> None:
            while True:
                try:
                    event = events.get_nowait()
                except Empty:
                    return
                handle(event)

        for job in jobs:
            pool.submit(submit, job)
        try:
            while pool.has_next():
                drain()
                try:
                    record = pool.get_next_unordered(timeout=0.25)
                except TimeoutError:
                    continue
                except RayActorError as error:  # restarts used up: this story fails, a new actor takes the others
                    job = on_actor.pop(getattr(error, "actor_id", None) or "", None)
                    drain()
                    if job is not None:
                        handle({"story": job.id, "done": {"status": "failed", "error": f"worker died {RESTARTS + 1} times; finished shots are kept"}})
                    if job is not None:
                        finished.add(job.id)
                    actors.append(remote.remote(self.out, self.make, self.wrap_generator, events))
                    pool.push(actors[-1])
                    continue
                drain()
                self.infos.append({k: record[k] for k in ("worker", "pid", "generators_loaded", "stories") if k in record})
                finished.add(record["id"])
                handle({"story": record["id"], "done": record})
            return True
        except KeyboardInterrupt:
            for job in on_actor.values():
                if job.id in finished:
                    continue
                handle({"story": job.id, "done": {"status": "interrupted", "error": "interrupted; finished shots are kept"}})
            return False
        finally:
            for actor in actors:
                try:
                    ray.kill(actor)
                except Exception:
                    pass
            try:
                ray.kill(events.actor)
            except Exception:
                pass
            if self.started_ray:
                ray.shutdown()
