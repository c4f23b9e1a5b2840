"""A change to a finished film, from words or shot numbers to the draft version that makes it.

Read once, plan once: an instruction becomes `Edit`s (the configured LLM, else the offline
grammar), the edits an `ImpactPlan`; a change of policy re-plans those same edits (no LLM call).
`redo` is a regenerate `Edit` with fresh seeds. `start` turns a confirmed plan into the draft
version, whose `change` (a fingerprint of its edits and policy, not the words used) is what a
rerun must ask for to finish it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from director.errors import UsageError
from director.folder.story_folder import StoryFolder, restore_memory
from director.folder.versions import Version
from director.llm import LLMClient, LLMError, LLMSettings
from director.revision.edits import RESEED_STEP, Edit, RevisionError, apply_edits
from director.revision.impact import ImpactPlan, Policy, plan_impact
from director.revision.memory import edited_memory
from director.revision.parse import EXAMPLES, parse_offline, parse_with_llm
from director.settings import RunSettings
from director.story import Story
from memory.bank import MemoryBank

EventHandler = Callable[[dict[str, Any]], None]


def plan_instruction(folder: StoryFolder, instruction: str, policy: Policy | None, settings: RunSettings | None, on_event: EventHandler | None = None) -> ImpactPlan:
    """What `instruction` would change in the film the change starts from, and what it would cost."""
    if policy not in (None, "only", "cascade"):
        raise UsageError(f"unknown policy {policy!r}; choose only or cascade")
    if not instruction or not instruction.strip():
        raise UsageError("the instruction is empty: say what to change, e.g. " + EXAMPLES)
    base = folder.base()
    story = Story.model_validate(base.script)
    edits = _understand(instruction, story, settings or folder.recorded_settings(), on_event or (lambda event: None))
    try:
        applied = apply_edits(story, edits)
    except RevisionError as error:
        raise UsageError(str(error)) from None
    if not applied.changed and not applied.removed and not applied.sound and not applied.moved:
        raise UsageError(f"{instruction.strip()!r} changes nothing in the film")
    return plan_impact(instruction.strip(), edits, applied, base, _sources(folder), policy)


def with_policy(folder: StoryFolder, plan: ImpactPlan, policy: Policy) -> ImpactPlan:
    """The same edits under another policy: no second reading of the instruction."""
    if policy == plan.policy:
        return plan
    base = folder.base()
    applied = apply_edits(Story.model_validate(base.script), plan.edits)
    return plan_impact(plan.instruction, plan.edits, applied, base, _sources(folder), policy)


def plan_redo(folder: StoryFolder, shots: Sequence[int | str], seeds: Sequence[int] | None, note: str | None) -> tuple[ImpactPlan, str]:
    """A regenerate edit of `shots` (film numbers or ids), each with a new seed (or `seeds`), only
    those shots made again; and the change's fingerprint."""
    base = folder.base()
    story = Story.model_validate(base.script)
    ids = list(dict.fromkeys(shot_id(story, shot) for shot in shots))
    if not ids:
        raise UsageError("name at least one shot to regenerate")
    if seeds is None:
        ids.sort(key=story.shot_index)  # the same shots in any order are the same change
    elif len(seeds) != len(ids):
        raise UsageError(f"give one seed per shot: {len(ids)} shot{'s' if len(ids) > 1 else ''}, {len(seeds)} seed{'s' if len(seeds) != 1 else ''}")
    given = dict(zip(ids, seeds)) if seeds is not None else {}
    numbers = [story.shot_index(i) + 1 for i in ids]
    text = note or f"regenerate shot{'s' if len(ids) > 1 else ''} {', '.join(map(str, numbers))} with a new seed"
    edits = [Edit(action="regenerate", shots=numbers)]
    applied = apply_edits(story, edits, lambda shot: given.get(shot.id, shot.seed + RESEED_STEP * folder.takes_made(shot.id)))
    return plan_impact(text, edits, applied, base, _sources(folder), "only"), change_of(edits, "only", given)


def change_of(edits: list[Edit], policy: Policy, seeds: dict[str, int] | None = None) -> str:
    """What a change is, as a fingerprint: its edits, policy and any seeds the user gave (not the words used)."""
    what = {"edits": [e.model_dump(mode="json") for e in edits], "policy": policy, "seeds": seeds or {}}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def pending(folder: StoryFolder, plan: ImpactPlan, change: str) -> Version | None:
    """The version being made, when it makes this change (a rerun finishes it); refuses another change,
    and a plan that makes no shot. (A draft made before changes had fingerprints is known by its instruction.)"""
    draft = folder.draft()
    if draft is not None and (draft.change or draft.note) != (change if draft.change else plan.instruction):
        raise UsageError(f"version {draft.number} is still being made ({draft.note}); run the command that started it again to finish it first")
    if draft is None and not plan.regenerate and not plan.sound and not any(p.action in ("remove", "move") for p in plan.changed):
        raise UsageError("the plan makes no shot: nothing to do")  # a removal, a move or a sound change alone still makes a version
    return draft


def start(folder: StoryFolder, plan: ImpactPlan, change: str, bank: MemoryBank) -> Version:
    """The draft version `plan` describes: its kept shots' takes carried over, the memory each shot
    to make starts from (its recorded memory as the user's memory edits left it, minus entries of
    characters whose look changes), those edits, and the bank set back to the base version's."""
    base = folder.base()
    story, remake = plan.script, plan.regenerate
    tagged = {e for e, entry in bank.entries.items() if set(entry.characters) & set(plan.looks)}
    number = max(v.number for v in folder.versions()) + 1
    keep = tuple(s.id for s in story.shots if s.id in base.shots and s.id not in remake)
    version = folder.start_version(story, note=plan.instruction, thread=f"{folder.load_run()['story_id']}-v{number}", parent=base, keep=keep)
    version.memory_plan = {sid: [e for e in edited_memory(bank, story, sid, _memory_at(base, story, sid)) if e not in tagged] for sid in remake}
    version.plan = plan.model_dump(mode="json")
    version.change = change
    version.bank_edits = {"active": list(bank.active_ids), "entries": bank.edit_state()}
    folder.save_version(version)
    restore_memory(bank, base)
    return version


def shot_id(story: Story, shot: int | str) -> str:
    """A film number (1-based, as the report shows) or a shot id, checked against the script."""
    if isinstance(shot, int) or str(shot).isdigit():
        number = int(shot)
        if not 1 <= number <= len(story.shots):
            raise UsageError(f"there is no shot {number}; shots are 1-{len(story.shots)}")
        return story.shots[number - 1].id
    if shot not in {s.id for s in story.shots}:
        raise UsageError(f"there is no shot {shot!r}; shots are 1-{len(story.shots)} or ids like {story.shots[0].id}")
    return str(shot)


def _memory_at(base: Version, story: Story, sid: str) -> list[str]:
    """The memory a shot had; for a new shot, the memory of the next old shot (else the final bank)."""
    if sid in base.shots:
        return list(base.shots[sid].memory)
    later = story.shots[story.shot_index(sid) + 1 :]
    following = next((s.id for s in later if s.id in base.shots), None)
    return list(base.shots[following].memory) if following else list(base.bank or [])


def _sources(folder: StoryFolder) -> dict[str, str | None]:
    """Each memory entry's source shot, as the bank recorded it (read only)."""
    return {entry_id: entry.shot_id for entry_id, entry in MemoryBank.load(folder.memory_dir).entries.items()}


def _understand(instruction: str, story: Story, settings: RunSettings, emit: EventHandler) -> list[Edit]:
    """Edits from the configured LLM when there is one, else (or when its answer does not apply) offline."""
    llm = LLMSettings.resolve(settings.llm_model, settings.llm_base_url) if settings.planner != "offline" else None
    if llm is not None:
        try:
            edits = parse_with_llm(LLMClient(llm), instruction, story)
            apply_edits(story, edits)
            emit({"note": f"instruction read by {llm.model}"})
            return edits
        except (LLMError, RevisionError) as error:
            emit({"note": f"the LLM's reading did not apply ({error}); reading the instruction offline"})
    try:
        return parse_offline(instruction, story)
    except RevisionError as error:
        raise UsageError(str(error)) from None
