"""A batch rerun whose settings differ from what a finished story was made with.

`make` refuses such a folder in one line (or remakes it with --force); a batch must not skip it
as "already done" without a word. Each story whose recorded source (logline or script, shots,
seed, references) differs from its job is reported by name with the difference, and is remade
only with --force.
"""

from __future__ import annotations

from pathlib import Path

from director.batch.jobs import Job
from director.folder.story_folder import describe_difference, source_of
from director.folder.workspace import Workspace
from director.settings import RunSettings
from director.story import load_script


def recorded_difference(job: Job, folder: Path) -> str:
    """How the job differs from what its folder was made from, in words; "" when it does not (or
    there is no record yet)."""
    made = Workspace(folder).load_run().get("source")
    if not made or job.settings is None:
        return ""
    settings = RunSettings.model_validate(job.settings)
    asked = source_of(" ".join(job.logline.split()) if job.logline is not None else None, load_script(job.script) if job.script else None, settings)
    return "" if made == asked else describe_difference(made, asked)


def refusal(story: str, difference: str) -> str:
    return f"{story} was made with other settings ({difference}): not remade; --force remakes it"
