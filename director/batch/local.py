"""The local executor: N worker processes on this machine, each holding its models, pulling
stories from one queue.

Workers are started with `spawn` (no fork of a process that may hold CUDA or threads); with GPUs,
worker i sees only its own (`CUDA_VISIBLE_DEVICES`, `gpus_per_worker` each), else all run on CPU.
Only the driver writes the manifest: workers send events and one record per story. A story that
raises is a failed record and the worker takes the next; a worker process that dies marks its
story failed and is replaced while stories remain. Ctrl-C: every worker stops its story (the
shots it finished are kept on disk) and reports it interrupted.
"""

from __future__ import annotations

import os
import queue as queue_module
import signal
from collections.abc import Callable
from typing import Any, NoReturn

from director.batch.jobs import Job
from director.batch.worker import GeneratorWrapper, StoryMaker, StoryRunner

Handle = Callable[[dict[str, Any]], None]


def gpu_count() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # no torch, no driver: CPU
        return 0


def _on_sigint(signum, frame):  # the first Ctrl-C stops the story; later ones are ignored while it stops
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def _worker_main(index: int, out: str, make: StoryMaker, wrap: GeneratorWrapper | None, tasks, events) -> None:
    signal.signal(signal.SIGINT, _on_sigint)
    runner = StoryRunner(out, make, wrap)
    try:
        while True:
            job = tasks.get()
            if job is None:
                break
            events.put(("started", index, job.id, runner.where))
            try:
                record = runner.run(job, emit=lambda event: events.put(("event", index, event)))
            except KeyboardInterrupt:
                from director.batch.worker import story_facts

                events.put(("done", index, job.id, {"status": "interrupted", "error": "interrupted; finished shots are kept", "worker": runner.where, **story_facts(runner.out / job.id)}))
                _leave(events, ("exit", index, runner.info()))
            events.put(("done", index, job.id, record))
    except KeyboardInterrupt:  # idle when it came
        pass
    events.put(("exit", index, runner.info()))


def _leave(events, last: tuple) -> NoReturn:
    """Send the last message and exit now: a shot still generating in a node's thread would hold
    the process until it is done (minutes on a GPU), and it is made again when the batch resumes."""
    events.put(last)
    events.close()
    events.join_thread()  # the messages are in the pipe
    os._exit(0)


class LocalExecutor:
    name = "local"

    def __init__(self, out: str, make: StoryMaker, workers: int | None = None, gpus_per_worker: int = 1, wrap_generator: GeneratorWrapper | None = None):
        self.out = out
        self.gpus = gpu_count()
        self.gpus_per_worker = gpus_per_worker
        self.workers = workers or (max(1, self.gpus // gpus_per_worker) if self.gpus else 1)
        self.wrap_generator = wrap_generator
        self.make = make
        self.infos: list[dict[str, Any]] = []

    def describe(self) -> str:
        where = f"{self.gpus_per_worker} GPU{'s' if self.gpus_per_worker > 1 else ''} each of {self.gpus}" if self.gpus else "CPU"
        return f"local: {self.workers} worker process{'es' if self.workers > 1 else ''} ({where})"

    def _devices(self, index: int) -> str | None:
        if not self.gpus:
            return None
        return ",".join(str((index * self.gpus_per_worker + k) % self.gpus) for k in range(self.gpus_per_worker))

    def run(self, jobs: list[Job], handle: Handle) -> bool:
        """Run `jobs`; `handle` receives `started`, story events and `done` records. Returns False
        when interrupted."""
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        tasks, events = context.Queue(), context.Queue()
        for job in jobs:
            tasks.put(job)
        count = min(self.workers, len(jobs))
        processes: dict[int, Any] = {}
        running: dict[int, str] = {}
        remaining = {job.id for job in jobs}

        def start(index: int) -> None:
            saved = os.environ.get("CUDA_VISIBLE_DEVICES")
            devices = self._devices(index)
            if devices is not None:
                os.environ["CUDA_VISIBLE_DEVICES"] = devices
            try:
                process = context.Process(target=_worker_main, args=(index, self.out, self.make, self.wrap_generator, tasks, events), name=f"storymem-worker-{index}", daemon=True)
                process.start()
            finally:
                if devices is not None:
                    if saved is None:
                        os.environ.pop("CUDA_VISIBLE_DEVICES", None)
                    else:
                        os.environ["CUDA_VISIBLE_DEVICES"] = saved
            processes[index] = process

        def receive(message: tuple) -> None:
            kind, index = message[0], message[1]
            if kind == "started":
                running[index] = message[2]
                handle({"story": message[2], "started": True, "worker": message[3]})
            elif kind == "event":
                if not message[2].get("started"):
                    handle(message[2])
            elif kind == "done":
                running.pop(index, None)
                remaining.discard(message[2])
                handle({"story": message[2], "done": message[3]})
            elif kind == "exit":
                self.infos.append(message[2])

        for index in range(count):
            start(index)
        next_index = count
        try:
            while remaining:
                try:
                    receive(events.get(timeout=0.5))
                    continue
                except queue_module.Empty:
                    pass
                for index, process in list(processes.items()):
                    if process.is_alive():
                        continue
                    processes.pop(index)
                    story = running.pop(index, None)
                    if story is not None:  # died in a story (a crash, an OOM kill): that story fails, the rest go on
                        remaining.discard(story)
                        handle({"story": story, "done": {"status": "failed", "error": f"worker process died (exit code {process.exitcode})"}})
                    if remaining and len(processes) < count:
                        start(next_index)
                        next_index += 1
                if not processes and remaining:
                    for story in sorted(remaining):
                        handle({"story": story, "done": {"status": "failed", "error": "no worker left to run it"}})
                    remaining.clear()
            for _ in processes:
                tasks.put(None)
            self._drain(processes, events, receive, timeout=30)
            return True
        except KeyboardInterrupt:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                for process in processes.values():
                    if process.is_alive():
                        try:
                            os.kill(process.pid, signal.SIGINT)
                        except ProcessLookupError:
                            pass
                self._drain(processes, events, receive, timeout=60)
            finally:
                signal.signal(signal.SIGINT, signal.default_int_handler)
            for story in running.values():
                handle({"story": story, "done": {"status": "interrupted", "error": "interrupted; finished shots are kept"}})
            return False

    @staticmethod
    def _drain(processes: dict[int, Any], events, receive, timeout: float) -> None:
        """Take the workers' last messages until they have all exited (at most `timeout` s)."""
        import time

        deadline = time.monotonic() + timeout
        while any(p.is_alive() for p in processes.values()) and time.monotonic() < deadline:
            try:
                receive(events.get(timeout=0.2))
            except queue_module.Empty:
                pass
        while True:
            try:
                receive(events.get_nowait())
            except (queue_module.Empty, OSError, ValueError):
                break
        for process in processes.values():
            process.join(timeout=max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.terminate()
                process.join(5)
