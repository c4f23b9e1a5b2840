"""Batch storytelling: many independent stories, on worker processes or a Ray cluster.

`run_batch(FILE, OUT, make=...)` (called as `director.api.run_batch(FILE, OUT)`) reads loglines, a
folder of scripts or JSONL jobs (`director.batch.jobs`), runs each story in `OUT/<id>/` through the
`make` it is given (`director.api.make_story`) on a worker that keeps its models
loaded (`director.batch.local`, `director.batch.ray_executor`), and records what each did in
`OUT/batch.json` (`director.batch.manifest`). Rerunning the same call skips finished stories,
resumes unfinished ones at their first unfinished shot and retries failed ones.
"""

from director.batch.jobs import BatchInputError, Job, read_jobs
from director.batch.run import BatchResult, run_batch

__all__ = ["BatchInputError", "BatchResult", "Job", "read_jobs", "run_batch"]
