"""The one way to run the director, from the command line, a notebook, a batch worker or a studio.

```python
from director.api import RunSettings, make_story, redo_shots, undo

result = make_story("runs/keeper", logline="A lighthouse keeper befriends a fox.", settings=RunSettings(backend="preview", shots=4))
print(result.film, result.version)            # runs/keeper/story.mp4 1
again = redo_shots("runs/keeper", [2])        # version 2: shot 2 regenerated with a new seed
undo("runs/keeper")                            # version 1 again, byte for byte
```
Every function validates its input before it writes anything; a problem the user can fix raises `UsageError` (or
another of `USER_ERRORS`, one line) and leaves the folder as it was. Each call checks the settings, loads the
components, opens the story folder, runs, returns what it shows."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from director.batch.jobs import BatchInputError
from director.batch.run import run_batch as _run_batch
from director.errors import UsageError
from director.film import training
from director.folder.checkpoints import CheckpointDBError, open_checkpointer
from director.folder.cleanup import FirstWrites, explain_failure
from director.folder.story_folder import StoryFolder, StoryResult, restore_memory, source_of
from director.folder.versions import Version
from director.folder.workspace import FolderError
from director.graph import run_director
from director.planning.base import Planner, PlanError
from director.revision import change
from director.revision.impact import ImpactPlan, Policy
from director.run import checks
from director.run.console import warnings_once_per_folder
from director.run.context import Components, SettingsError, follow_parallel_story, load_components, open_bank, render_of, run_notes, run_record
from director.run.memory_edit import MEMORY_ACTIONS, edit_memory
from director.settings import RunSettings
from director.story import ScriptError, Story
from generator.backends import BackendError

__all__ = ["RunSettings", "StoryResult", "UsageError", "USER_ERRORS", "make_story", "redo_shots", "resume", "check_finished", "undo", "checkout", "history", "current_version", "edit_memory",
           "MEMORY_ACTIONS", "plan_revision", "revise_story", "current_script", "run_batch", "evaluate", "prepare_training_data", "train_lora"]

EventHandler = Callable[[dict[str, Any]], None]
#: Errors a user can fix: every front end prints them as one line (exit status 2 on the command line).
USER_ERRORS = (UsageError, PlanError, ScriptError, BackendError, SettingsError, checks.CheckError, FolderError, CheckpointDBError, BatchInputError)


def make_story(out: str | Path | None = None, *, logline: str | None = None, script: str | Path | Story | None = None, settings: RunSettings | None = None,
               on_event: EventHandler | None = None, force: bool = False, planner: Planner | None = None, components: Components | None = None,
               review: bool = False) -> StoryResult | None:
    """Make a story from a logline or a script into `out` (default `runs/<slug>`), or resume the
    one `out` holds when neither is given. With `review`, stop once the script is planned (the next
    call films `script.json` as the user left it). A folder holding a different story is refused
    unless `force` (which removes only what storymem wrote). `on_event` receives progress: `{"note":
    text}` and the graph's events. `planner` and `components` replace the ones the settings name.
    Under `parallel`, ranks > 0 of the torchrun launch serve rank 0's shots and return None."""
    settings = settings or RunSettings()
    if settings.parallel and int(os.environ.get("RANK", "0")) > 0:
        follow_parallel_story(settings)
        return None
    emit = on_event or (lambda event: None)
    story, logline, out = checks.check_story_request(logline, script, out, settings)
    folder = StoryFolder(out)
    opening = folder.open(source_of(logline, story, settings), force)
    settings, logline = opening.settings_for(settings), opening.source.get("logline") if opening.resumed else logline
    plans = planner is None and components is None and story is None and not folder.script_path.is_file()
    settings, planner_note = checks.check_llm_endpoint(settings) if plans else (settings, None)  # a plan will be asked of it
    with warnings_once_per_folder(folder.load_run().get("warnings", {})) as warned:
        components = components or load_components(settings, folder, planner)  # slow and fallible: before any write
    checks.check_plannable(logline, components.planner)
    for note in run_notes(components, planner_note, scripted=story is not None):
        emit({"note": note})
    folder.check_render(render_of(components.generator), opening)
    first, story_id, adopted = folder.begin(opening, run_record(components, settings, warned))
    if adopted:
        emit({"note": f"{folder.root} was made before versions: adopted as version 1"})
    components.bank = open_bank(folder)
    if folder.draft() is None and folder.current() is not None:
        emit({"note": f"already complete: version {folder.current().number}, nothing to do"})
        return folder.result(generated=0)
    resumed = folder.draft() is not None  # asked before this call starts a version
    folder.start_first_version(story, logline, components.planner if review else None, settings, story_id)
    if review:
        emit({"note": f"planned {len(folder.draft().script['shots'])} shots, nothing generated: read or edit {folder.script_path}, then run make --out {folder.root}"})
        return folder.result(generated=0)
    if folder.take_reviewed_script():
        emit({"note": f"filming the script as you edited it ({len(folder.draft().script['shots'])} shots)"})
    inputs = {"logline": logline or "", "shots_wanted": settings.shots, "seed": settings.seed, "references": [str(Path(p).resolve()) for p in settings.reference]}
    return _run(folder, components, settings, story_id, inputs, emit, resumed=resumed, first=first)


def redo_shots(out: str | Path, shots: Sequence[int | str], *, seeds: Sequence[int] | None = None, note: str | None = None, settings: RunSettings | None = None,
               on_event: EventHandler | None = None, components: Components | None = None) -> StoryResult:
    """A new version in which `shots` (film numbers from 1, or shot ids) are generated again, each
    from the memory it had and with a new seed (or `seeds`); every other shot keeps its take.
    Rerunning after a kill finishes the same version."""
    folder = StoryFolder.existing(out)
    plan, key = change.plan_redo(folder, shots, seeds, note)
    return _revise(folder, plan, key, settings, on_event, components)


def plan_revision(out: str | Path, instruction: str, *, policy: Policy | None = None, settings: RunSettings | None = None, on_event: EventHandler | None = None) -> ImpactPlan:
    """What `instruction` would change in the current film, and what it would cost; generates nothing.
    The instruction is read by the configured LLM (structured output), else by the offline grammar."""
    return change.plan_instruction(StoryFolder.existing(out), instruction, policy, settings, on_event)


def revise_story(out: str | Path, instruction: str, *, policy: Policy | None = None, plan: ImpactPlan | None = None, settings: RunSettings | None = None,
                 on_event: EventHandler | None = None, components: Components | None = None) -> StoryResult:
    """Apply a change in words ("make shot 3 at night") as a new version: the changed shots, and under
    `cascade` the shots that depend on them, are made again; every other shot keeps its take. Pass
    the `plan` from `plan_revision` to apply exactly what the user confirmed (nothing is read again).
    Rerunning the same change after a kill finishes the revision."""
    folder = StoryFolder.existing(out)
    plan = plan or change.plan_instruction(folder, instruction, policy, settings, on_event)
    return _revise(folder, plan, change.change_of(plan.edits, plan.policy), settings, on_event, components)


def resume(out: str | Path, *, on_event: EventHandler | None = None, components: Components | None = None) -> StoryResult:
    """Finish the version being made, whatever started it (a first `make`, a redo, a revision), with
    the settings the folder was made with; nothing is read or planned again."""
    folder = StoryFolder.existing(out)
    draft = folder.draft()
    if draft is None:
        raise UsageError(f"{folder.root} has no version being made")
    if draft.parent is None:
        return make_story(out, on_event=on_event, components=components)
    return _revise(folder, None, None, None, on_event, components)


def undo(out: str | Path) -> StoryResult:
    """Make the version the current one was made from current again (nothing is regenerated)."""
    folder = StoryFolder.existing(out)
    folder.require_finished()
    current = folder.current()
    if current.parent is None:
        raise UsageError(f"{Path(out).resolve()} has only one version: nothing to undo")
    return checkout(out, current.parent)


def checkout(out: str | Path, version: int | str) -> StoryResult:
    """Make any finished version current: its film, script and shots come back byte for byte."""
    from director.film.report import write_report

    folder = StoryFolder.existing(out)
    target = folder.checkout(version)
    restore_memory(open_bank(folder), target, with_edits=True)
    write_report(folder, Story.model_validate(target.script))
    return folder.result(generated=0)


def check_finished(out: str | Path) -> None:
    """Refuse (UsageError, one line) a folder whose film is not finished yet, before anything is written."""
    StoryFolder.existing(out).require_finished()


def history(out: str | Path) -> list[Version]:
    """Every version of the story, oldest first."""
    return StoryFolder.existing(out).versions()


def current_script(out: str | Path) -> Story:
    """The script of the version the folder shows (shot numbers as the film has them)."""
    folder = StoryFolder.existing(out)
    return Story.model_validate((folder.current() or folder.draft()).script)


def current_version(out: str | Path) -> int | None:
    """The number of the version the folder shows, or None while the first is being made."""
    current = StoryFolder.existing(out).current()
    return current.number if current else None


def run_batch(file: str | Path, out: str | Path | None = None, **options: Any):
    """Make every story of a batch FILE (loglines, a folder of scripts, or JSONL jobs) into
    `out/<id>/` on local worker processes or a Ray cluster, each through `make_story`, recording
    each in `out/batch.json`; rerunning resumes. Options and the result: `director.batch.run.run_batch`."""
    return _run_batch(file, out, make=make_story, **options)


def evaluate(folders: Sequence[str | Path], *, baseline: Sequence[str | Path] = (), json_out: str | Path | None = None, encoders: Any = None, **encoder_options: Any) -> dict[str, Any]:
    """ST-Bench's metrics and ours for story folders (storymem's, or mp4 files beside a script), per
    story and overall, beside `baseline` folders (paired in order); written to `json_out` too.
    Options and metrics: `director.film.evaluate`."""
    from director.film.evaluate import EvalError, evaluate as run

    try:
        return run(folders, baseline, encoders, json_out=json_out, **encoder_options)
    except EvalError as error:
        raise UsageError(str(error)) from None


def prepare_training_data(out: str | Path, videos: str | Path | None = None, *, synthetic: int | None = None, cache_model: str | None = None, **options: Any):
    """A LoRA training data set in `out`: a folder of `videos` or `synthetic` clip groups, with
    `cache_model` also its cache of latents. Options and the result: `director.film.training.prepare_data`."""
    return training.prepare_data(out, videos, synthetic=synthetic, cache_model=cache_model, **options)


def train_lora(data: str | Path, out: str | Path, **options: Any):
    """Train (or resume) an M2V LoRA on a data set into `out`, which `make --lora out` then loads.
    Options: `generator.train.config.TrainConfig`; returns a `generator.train.trainer.TrainSummary`."""
    return training.train(data, out, **options)


# --- helpers -------------------------------------------------------------------------------------


def _revise(folder: StoryFolder, plan: ImpactPlan | None, key: str | None, settings: RunSettings | None, on_event: EventHandler | None,
            components: Components | None) -> StoryResult:
    """Start the version `plan` describes (or finish the one making the same change; without a
    plan, the one being made) and make its shots."""
    emit = on_event or (lambda event: None)
    draft = change.pending(folder, plan, key) if plan is not None else folder.draft()
    settings = settings or folder.recorded_settings()
    components = components or load_components(settings, folder)
    for note in components.notes:
        emit({"note": note})
    components.bank = open_bank(folder)
    if draft is None:
        version = change.start(folder, plan, key, components.bank)
        emit({"note": f"version {version.number}: {len(plan.regenerate)} of {len(plan.script.shots)} shots to make; the others keep their takes"})
    inputs = {"logline": "", "shots_wanted": 0, "seed": 0, "references": []}
    return _run(folder, components, settings, None, inputs, emit, resumed=draft is not None)


def _run(folder: StoryFolder, components: Components, settings: RunSettings, story_id: str | None, inputs: dict[str, Any], emit: EventHandler, resumed: bool,
         first: FirstWrites | None = None) -> StoryResult:
    """Make the version's shots (checkpointed; a story from a logline starts its version in the
    graph's plan node, under `story_id`), then prune takes; returns what the folder shows."""
    draft = folder.draft()
    thread, shots = (draft.thread, len(draft.script["shots"])) if draft is not None else (story_id, settings.shots)
    kept_before = dict(draft.shots) if draft is not None else {}
    if resumed:
        emit({"note": f"resuming version {draft.number}: {len(kept_before)} of {shots} shots already kept"})
    try:
        with open_checkpointer(settings.checkpoint_db, folder.state_path) as checkpointer:
            run_director(components, thread, inputs, shots, on_event=emit, checkpointer=checkpointer)
    except BaseException as error:  # the message must say what is left: nothing, or where a rerun resumes
        explain_failure(error, folder, first)
        raise
    if settings.keep_takes is not None:
        for path in folder.prune_takes(settings.keep_takes):
            folder.log("prune", removed=str(path.relative_to(folder.root)))
    version = folder.current()
    parent = folder.version(version.parent).shots if version.parent else {}
    generated = sum(1 for shot_id, entry in version.shots.items() if entry not in (parent.get(shot_id), kept_before.get(shot_id)))
    return folder.result(generated=generated)
