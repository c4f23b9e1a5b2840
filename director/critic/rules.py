"""The critic: judge a shot attempt from its scores and decide what to do next.

Scores come from whatever models are loaded (each score names its scorer; `memory.scores`
computes them). Thresholds are the
quality scorer's own gate, and, for consistency, relative to the story's own earlier shots, since
the fallback embedders have no absolute scale.

With `--critic-judge llm` an LLM decides instead (`director.critic.judge`); this critic's decision is
then its guard rail and its fallback.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

Action = Literal["accept", "regenerate", "refine_prompt", "drop_memory", "pin_memory", "switch_continuation", "keep_best"]


@dataclass
class ShotScores:
    """One attempt's scores; None where no model could measure it."""

    quality: float | None = None
    quality_scorer: str | None = None
    consistency: float | None = None
    consistency_scorer: str | None = None
    #: Consistency with memory leaving out the entry that agrees least with the rest (the first of
    #: `Levers.misleading_memory`), measured when that entry stands apart from the others by more than
    #: the consistency margin: low while `consistency` is not when the shot follows that one entry.
    consistency_without_suspect: float | None = None
    continuity: float | None = None
    prompt_following: float | None = None
    prompt_scorer: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def overall(self) -> float:
        """Rank attempts of one shot against each other (only ever compared within a shot)."""
        parts = [v for v in (self.quality, self.consistency, self.prompt_following) if v is not None]
        return float(np.mean(parts)) if parts else 0.0


@dataclass
class Decision:
    """What to do with an attempt. `drop` lists memory entries to take out before regenerating,
    `pin` entries to hold in the memory of the next attempt. `judge` says who decided ("rules",
    or "llm"); an LLM judge adds what it saw (`evidence`, per aspect), what a prompt rewrite
    must change (`change`) and, when attempts ran out, the kept take and its comparisons."""

    action: Action
    reason: str
    scores: dict = field(default_factory=dict)
    drop: list[str] = field(default_factory=list)
    pin: list[str] = field(default_factory=list)
    judge: str = "rules"
    change: str = ""
    evidence: list[dict] = field(default_factory=list)
    fallback: str = ""  # why the LLM's decision was not used, when it was not
    keep: int | None = None  # keep_best: the take number kept
    comparisons: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Levers:
    """What the critic may use on this attempt, besides a new seed."""

    can_refine_prompt: bool = False  # an LLM is there to rewrite the prompt
    misleading_memory: list[str] = field(default_factory=list)  # entries that could be dropped
    memory_edited: bool = False  # this shot's memory was edited already


class Critic:
    """Judge an attempt and pick the next move, at most `max_attempts` attempts a shot.

    Problems: quality under the gate; consistency with the memory, or prompt following, clearly
    under the story's own accepted shots (median minus a margin: the weight-free fallback models
    have no absolute scale); or a shot that agrees with its memory through one suspect entry: an
    entry that stands apart from the rest (a wrong character's keyframe), which leaving out costs the
    shot's consistency more than the margin (it follows that entry, which its plain consistency, a
    best match over entries, cannot see; no story median is needed, so this holds from shot 2).
    Moves, in order of preference:
      - low consistency: drop the memory entry that misleads (once a shot), then regenerate;
      - low prompt following, or low quality again: ask the LLM to refine the prompt;
      - otherwise: regenerate with a new seed;
    and when attempts run out, keep the best attempt. A gate set to None is measured and logged,
    but not acted on: the director turns the quality gate off for the animatic (its cards are not
    natural images) and the consistency and prompt gates off for colour-only embedders.
    """

    def __init__(
        self,
        max_attempts: int = 3,
        quality_threshold: float | None = None,
        consistency_margin: float | None = 0.15,
        prompt_margin: float | None = 0.03,
    ):
        if max_attempts < 1:
            raise ValueError("--max-attempts must be at least 1")
        self.max_attempts = max_attempts
        self.quality_threshold = quality_threshold
        self.consistency_margin = consistency_margin
        self.prompt_margin = prompt_margin

    @staticmethod
    def _floor(values: list[float], margin: float | None) -> float | None:
        values = [v for v in values if v is not None]
        return float(np.median(values)) - margin if margin is not None and len(values) >= 2 else None

    def decide(self, scores: ShotScores, attempt: int, accepted: list[dict], levers: Levers = Levers()) -> Decision:
        """`attempt` counts from 1; `accepted` holds the story's accepted shots' score dicts."""
        low_quality = self.quality_threshold is not None and scores.quality is not None and scores.quality < self.quality_threshold
        consistency_floor = self._floor([a.get("consistency") for a in accepted], self.consistency_margin)
        low_consistency = consistency_floor is not None and scores.consistency is not None and scores.consistency < consistency_floor
        suspect = levers.misleading_memory[0] if levers.misleading_memory else None
        follows_suspect = (suspect is not None and self.consistency_margin is not None and None not in (scores.consistency, scores.consistency_without_suspect)
                           and scores.consistency - scores.consistency_without_suspect > self.consistency_margin)
        prompt_floor = self._floor([a.get("prompt_following") for a in accepted], self.prompt_margin)
        low_prompt = prompt_floor is not None and scores.prompt_following is not None and scores.prompt_following < prompt_floor

        problems = []
        if low_quality:
            problems.append(f"quality {scores.quality:.3f} < {self.quality_threshold:.3f} ({scores.quality_scorer})")
        if low_consistency:
            problems.append(f"consistency {scores.consistency:.3f} < story median - margin {consistency_floor:.3f} ({scores.consistency_scorer})")
        if follows_suspect:
            problems.append(f"consistency without memory entry {suspect} {scores.consistency_without_suspect:.3f} < with it {scores.consistency:.3f} "
                            f"- margin {self.consistency_margin:.3f}: the shot follows the entry least like the rest")
        if low_prompt:
            problems.append(f"prompt following {scores.prompt_following:.3f} < story median - margin {prompt_floor:.3f} ({scores.prompt_scorer})")
        found = "; ".join(problems)
        if not problems:
            return Decision("accept", "scores pass: " + _summary(scores), scores.to_dict())
        if attempt >= self.max_attempts:
            return Decision("keep_best", f"{attempt} attempts made; keeping the best. Last: {found}", scores.to_dict())
        if (low_consistency or follows_suspect) and suspect is not None and not levers.memory_edited:
            return Decision("drop_memory", f"{found}; dropping memory entry {suspect}, the least like the rest", scores.to_dict(), drop=[suspect])
        if levers.can_refine_prompt and (low_prompt or (low_quality and attempt >= 2)):
            return Decision("refine_prompt", f"{found}; asking the LLM to refine the prompt", scores.to_dict())
        return Decision("regenerate", f"{found}; trying a new seed", scores.to_dict())


def _summary(scores: ShotScores) -> str:
    parts = []
    for label, value, scorer in (
        ("quality", scores.quality, scores.quality_scorer),
        ("consistency", scores.consistency, scores.consistency_scorer),
        ("prompt", scores.prompt_following, scores.prompt_scorer),
    ):
        if value is not None:
            parts.append(f"{label} {value:.3f} ({scorer})")
    return ", ".join(parts) or "nothing to measure"
