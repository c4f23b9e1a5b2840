"""What the critic is given about an attempt: its scores, and the case the LLM judge reads.

The scores are evidence, measured the same way for the rules and the judge: quality is the mean
frame score; consistency compares the attempt's keyframes (all analysed frames when none passed
the gate) with the memory showing the shot's characters; continuity compares the first frame with
the previous shot's last, for continuations; prompt following is text-frame similarity.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from director.critic.judge import Attempt, Case
from director.critic.rules import ShotScores
from director.folder.versions import Take
from director.folder.workspace import attempt_frames, previous_frames
from director.story import Story
from generator.base import ShotMode
from memory.scores import consistency, prompt_following
from memory.select import FrameAnalysis


class Judging(Protocol):
    """The parts of a run the critic reads: its folder, memory bank, embedder, judge and critic."""

    workspace: Any
    bank: Any
    embedder: Any
    judge: Any
    critic: Any


def score_attempt(ctx: Judging, story: Story, index: int, analysis: FrameAnalysis, take: Take, suspect: str | None = None) -> ShotScores:
    """The attempt's scores, from memory's analysis of its frames (every frame is analysed once);
    `suspect` is the memory entry the critic would drop first (`memory.scores.misleading_entries`),
    given when it stands apart from the rest (`memory.scores.stands_apart`)."""
    shot = story.shots[index]
    rows = [analysis.indices.index(i) for i in take.keyframes] or list(range(len(analysis.indices)))
    previous = previous_frames(ctx.workspace, story, index, 1)[-1] if take.mode in ("mi2v", "mm2v") else None
    agreement = consistency(
        analysis.embeddings[rows],
        ctx.bank,
        ctx.embedder,
        characters=shot.characters,
        first_frame_embedding=analysis.embeddings[0],
        previous_last_frame=previous,
    )
    without = consistency(analysis.embeddings[rows], ctx.bank, ctx.embedder, characters=shot.characters, exclude=[suspect]) if suspect else None
    prompt = prompt_following(analysis.embeddings, shot.prompt, ctx.embedder)
    return ShotScores(
        quality=float(np.mean(analysis.scores)),
        quality_scorer=analysis.scorer_name,
        consistency=agreement.memory,
        consistency_scorer=agreement.embedder if agreement.memory is not None else None,
        consistency_without_suspect=without.memory if without is not None else None,
        continuity=agreement.continuity,
        prompt_following=prompt.value,
        prompt_scorer=prompt.embedder if prompt.value is not None else None,
    )


def build_case(ctx: Judging, story: Story, index: int, takes: list[Take], accepted: list[dict], can_rewrite: bool, switched: str | None, images: bool = True) -> Case:
    """What the LLM judge sees of an attempt (images only when it can see them)."""
    shot = story.shots[index]
    take = takes[-1]
    seeing = images and ctx.judge is not None and ctx.judge.vision
    attempts = [
        Attempt(t.number, t.attempt, t.seed, t.scores, attempt_frames(ctx.workspace, t) if ctx.judge is not None else None, t.keyframes, t.decision)
        for t in takes
    ]
    memory = [ctx.bank.entries[i] for i in take.memory if i in ctx.bank.entries]
    return Case(
        shot_id=shot.id,
        number=index + 1,
        total=len(story.shots),
        prompt=shot.prompt,
        characters=list(shot.characters),
        transition=shot.transition,
        mode=take.mode,
        attempt=attempts[-1],
        earlier=attempts[:-1],
        max_attempts=ctx.critic.max_attempts,
        accepted=accepted,
        memory=memory,
        bank=dict(ctx.bank.entries),
        memory_images={e.id: ctx.bank.image(e.id) for e in memory} if seeing else {},
        previous_last=previous_frames(ctx.workspace, story, index, 1)[-1] if seeing and index > 0 else None,
        can_rewrite=can_rewrite,
        can_switch_continuation=take.mode in (ShotMode.MI2V.value, ShotMode.MM2V.value) and switched is None,
    )
