"""Generator wrappers the batch benchmarks give workers (they pickle: module-level classes)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from director.batch.worker import WrappedGenerator


class TimedGenerator:
    """Logs every generate call (story, shot, start, end, pid) to `log` (JSONL, one file per process)."""

    def __init__(self, log: str, sleep: dict[str, list[float]] | None = None):
        self.log, self.sleep = log, sleep

    def __call__(self, generator, job):
        costs = (self.sleep or {}).get(job.id)

        def timed(inner, request):
            started = time.time()
            if costs is not None:  # the modelled cost of this shot (all its attempts), scaled down
                index = int(request.shot_id.split("_")[0]) * 100 + int(request.shot_id.split("_")[1])
                time.sleep(costs[sorted_ids(costs, index)])
                result = inner.generate(request)
            else:
                result = inner.generate(request)
            ended = time.time()
            with open(f"{self.log}.{os.getpid()}", "a") as out:
                out.write(json.dumps({"story": job.id, "shot": request.shot_id, "start": started, "end": ended, "pid": os.getpid()}) + "\n")
            return result

        return WrappedGenerator(generator, timed)


def sorted_ids(costs, index):  # shot ids arrive in order; the n-th distinct one takes costs[n]
    seen = _SEEN.setdefault(id(costs), [])
    if index not in seen:
        seen.append(index)
    return min(seen.index(index), len(costs) - 1)


_SEEN: dict[int, list[int]] = {}


def read_log(log: str) -> list[dict]:
    rows = []
    for path in Path(log).parent.glob(Path(log).name + ".*"):
        rows += [json.loads(line) for line in path.read_text().splitlines()]
    return sorted(rows, key=lambda r: r["start"])
