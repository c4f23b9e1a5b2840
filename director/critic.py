"""The critic: judge a shot attempt from its scores and decide what to do next.

Scores come from whatever models are loaded (each score names its scorer; `memory.scores`
computes them). Thresholds are the
quality scorer's own gate, and, for consistency, relative to the story's own earlier shots, since
the fallback embedders have no absolute scale.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

Action = Literal["accept", "regenerate", "keep_best"]


@dataclass
class ShotScores:
    """One attempt's scores; None where no model could measure it."""

    quality: float | None = None
    quality_scorer: str | None = None
    consistency: float | None = None
    consistency_scorer: str | None = None
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
    action: Action
    reason: str
    scores: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


class Critic:
    """Accept a shot whose frames pass the quality gate and that is not far less consistent with
    the memory than the story's accepted shots; otherwise regenerate, at most `max_attempts` times,
    then keep the best attempt.

    Either gate can be off (None): scores are still measured and logged, but not acted on. The
    director turns the quality gate off for the animatic (its cards are not natural images) and
    the consistency gate off for colour-only embedders (they cannot tell identity, and every
    change of scene lowers their similarity).
    """

    def __init__(self, max_attempts: int = 3, quality_threshold: float | None = None, consistency_margin: float | None = 0.15):
        if max_attempts < 1:
            raise ValueError("--max-attempts must be at least 1")
        self.max_attempts = max_attempts
        self.quality_threshold = quality_threshold
        self.consistency_margin = consistency_margin

    def decide(self, scores: ShotScores, attempt: int, accepted_consistency: list[float]) -> Decision:
        """`attempt` counts from 1; `accepted_consistency` holds the story's accepted shots' values."""
        problems = []
        if self.quality_threshold is not None and scores.quality is not None and scores.quality < self.quality_threshold:
            problems.append(f"quality {scores.quality:.3f} < {self.quality_threshold:.3f} ({scores.quality_scorer})")
        if self.consistency_margin is not None and scores.consistency is not None and len(accepted_consistency) >= 2:
            floor = float(np.median(accepted_consistency)) - self.consistency_margin
            if scores.consistency < floor:
                problems.append(f"consistency {scores.consistency:.3f} < story median - margin {floor:.3f} ({scores.consistency_scorer})")
        if not problems:
            return Decision("accept", "scores pass: " + _summary(scores), scores.to_dict())
        if attempt >= self.max_attempts:
            return Decision("keep_best", f"{attempt} attempts made; keeping the best. Last: " + "; ".join(problems), scores.to_dict())
        return Decision("regenerate", "; ".join(problems), scores.to_dict())


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
