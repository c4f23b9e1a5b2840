"""What a revision costs, before anything is generated: the changed shots and the ones that depend on them.

Dependencies are data recorded when the film was made, not guesses: shot B depends on shot A when
B continues A, or when the memory that conditioned B's kept take holds a keyframe taken from A.
The impact of a change is the transitive closure of those edges from the changed shots.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from director.revision.edits import Applied, Edit
from director.folder.versions import Version
from director.story import Story

Policy = Literal["only", "cascade"]


class PlannedShot(BaseModel):
    """One shot of the plan, by its number in the revised film."""

    number: int = Field(description="Position in the revised film, from 1 (0 for a removed shot).")
    id: str
    action: Literal["regenerate", "add", "remove", "move", "keep"]
    reasons: list[str]


class ImpactPlan(BaseModel):
    """Which shots a revision makes again and why, before any generation."""

    instruction: str
    edits: list[Edit]
    policy: Policy
    policy_reason: str
    changed: list[PlannedShot] = Field(description="Shots whose prompt, seed or transition changes, added, removed or moved (a moved shot keeps its take).")
    dependents: list[PlannedShot] = Field(description="Later shots that depend on a changed one, and whether they are made again.")
    generations: int = Field(description="Shots to generate (each may take several attempts).")
    looks: dict[str, str] = Field(default_factory=dict, description="Characters whose look changes, and the new look.")
    sound: list[str] = Field(default_factory=list, description="Sound-only changes (lines, music, voices): the soundtrack is made again, no shot.")
    script: Story = Field(description="The revised script.")

    @property
    def regenerate(self) -> list[str]:
        """Shot ids to generate, in film order."""
        return [p.id for p in sorted(self.changed + self.dependents, key=lambda p: p.number) if p.action in ("regenerate", "add")]

    def describe(self) -> str:
        """The plan as lines a person reads before saying yes."""
        lines = [f"{self.generations} shot{'s' if self.generations != 1 else ''} to generate. Policy {self.policy}: {self.policy_reason}."]
        for shot in self.changed:
            where = f"shot {shot.number}" if shot.number else f"old {shot.id}"
            lines.append(f"  {where:<10} {shot.action:<10} {'; '.join(shot.reasons)}")
        for shot in self.dependents:
            lines.append(f"  shot {shot.number:<5} {shot.action:<10} {'; '.join(shot.reasons)}")
        if not self.dependents and (self.changed or not self.sound):
            lines.append("  no later shot depends on the changed ones")
        lines += [f"  sound      {change}" for change in self.sound]
        return "\n".join(lines)


def dependents(story: Story, version: Version, entry_source: dict[str, str | None], changed: set[str], numbers: dict[str, str] | None = None) -> dict[str, list[str]]:
    """Shots of `story` (the film as made) that depend on `changed`, transitively, with their reasons.

    `entry_source` maps memory entry ids to the shot they were taken from; `numbers` names shots in
    the reasons (default: their numbers in `story`; a plan passes the revised film's).
    """
    numbers = numbers or {shot.id: str(number) for number, shot in enumerate(story.shots, start=1)}
    order = {shot.id: index for index, shot in enumerate(story.shots)}
    found: dict[str, list[str]] = {}
    reached = set(changed)
    for index, shot in enumerate(story.shots):
        if shot.id in changed:
            continue
        reasons = []
        if shot.transition == "continue" and index > 0 and story.shots[index - 1].id in reached:
            reasons.append(f"continues shot {numbers[story.shots[index - 1].id]}")
        entry = version.shots.get(shot.id)
        sources = sorted({entry_source.get(e) for e in entry.memory} & reached, key=lambda s: order.get(s, 0)) if entry else []
        if sources:
            reasons.append("its memory holds keyframes of shot" + ("s " if len(sources) > 1 else " ") + ", ".join(str(numbers[s]) for s in sources))
        if reasons:
            found[shot.id] = reasons
            reached.add(shot.id)
    return found


def plan_impact(instruction: str, edits: list[Edit], applied: Applied, base: Version, entry_source: dict[str, str | None], policy: Policy | None) -> ImpactPlan:
    """The impact plan of `applied` on the film `base`, under `policy` (or the default, with its reason)."""
    old = Story.model_validate(base.script)
    new_numbers = {shot.id: number for number, shot in enumerate(applied.story.shots, start=1)}
    touched = set(applied.changed) | set(applied.removed) | set(applied.follows)
    old_numbers = {shot.id: number for number, shot in enumerate(old.shots, start=1)}
    labels = {sid: str(new_numbers[sid]) if sid in new_numbers else f"old {number} (removed)" for sid, number in old_numbers.items()}
    depending = dependents(old, base, entry_source, touched & {s.id for s in old.shots}, labels)
    depending = {sid: reasons for sid, reasons in depending.items() if sid in new_numbers and sid not in applied.changed and sid not in applied.follows}
    continuing = [sid for sid, reasons in depending.items() if any(r.startswith("continues") for r in reasons)]
    if policy is None:
        if not touched:
            policy, why = "only", ("only the order changes; every shot keeps its take" if applied.moved and not applied.sound
                                   else "only the soundtrack changes; every shot keeps its take")
        elif continuing:
            policy, why = "cascade", "a later shot continues a changed one, so its first frame must follow the new last frame"
        elif applied.looks:
            policy, why = "cascade", "a character's look changed, so every shot that remembers the old look is made again"
        else:
            policy, why = "only", "later shots only remember the changed ones, so they keep their takes; --cascade makes them again too"
    else:
        why = "as asked"
    old_ids = {s.id for s in old.shots}
    made = [PlannedShot(number=new_numbers[sid], id=sid, action="regenerate" if sid in old_ids else "add", reasons=reasons) for sid, reasons in applied.changed.items()]
    moved = [PlannedShot(number=new_numbers[sid], id=sid, action="move", reasons=reasons) for sid, reasons in applied.moved.items() if sid not in applied.changed]
    changed = sorted(made + moved, key=lambda p: p.number) + [
        PlannedShot(number=0, id=sid, action="remove", reasons=[f"was shot {old_numbers[sid]}; the shots after it are numbered without it"]) for sid in applied.removed
    ]
    follow = {sid: ("regenerate", reasons) for sid, reasons in applied.follows.items()}  # a continuation of a new or removed shot: never kept
    planned = [
        PlannedShot(number=new_numbers[sid], id=sid, action=action, reasons=reasons)
        for sid, (action, reasons) in sorted({**{s: ("regenerate" if policy == "cascade" else "keep", r) for s, r in depending.items()}, **follow}.items(), key=lambda item: new_numbers[item[0]])
    ]
    generations = sum(1 for p in changed + planned if p.action in ("regenerate", "add"))
    return ImpactPlan(
        instruction=instruction, edits=edits, policy=policy, policy_reason=why, changed=changed, dependents=planned,
        generations=generations, looks=applied.looks, sound=applied.sound, script=applied.story,
    )
