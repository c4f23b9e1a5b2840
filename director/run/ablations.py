"""The paper's ablations as run settings: what each one changes in the bank, the keyframe
selection and the critic, in one place.

- `no_memory`: every generator request carries empty memory (the graph's generate node reads
  `Components.use_memory`); cuts become T2V, continuations keep their last frame(s). Keyframes are
  still chosen and recorded, so `storymem eval` and the report see the same folder layout.
- `no_sink`: the bank keeps no permanent entries, only the most recent `memory_size`.
- `memory_size M`: the bank's capacity (StoryMem's 10); the sink is min(3, M).
- `no_quality_gate`: keyframe selection lets every frame pass the quality gate.
- `no_semantic_selection`: keyframes evenly spaced among passing frames, no novelty scan and no
  deduplication against the bank.
- `critic`: `on` (judge and retry), `scores` (measure, record what it would have done, keep the
  first attempt), `off` (keep the first attempt unjudged; the graph still records the scores).
"""

from __future__ import annotations

from typing import Any

from director.critic.rules import Critic, Decision, Levers, ShotScores
from memory.select import SelectionConfig

#: StoryMem's bank: 10 entries, the 3 earliest permanent.
DEFAULT_CAPACITY, DEFAULT_SINK = 10, 3


def bank_policy(settings: Any) -> dict[str, int]:
    """Capacity and sink for a new bank (a saved bank keeps its own)."""
    capacity = int(getattr(settings, "memory_size", DEFAULT_CAPACITY) or DEFAULT_CAPACITY)
    sink = 0 if getattr(settings, "no_sink", False) else min(DEFAULT_SINK, capacity)
    return {"capacity": capacity, "sink": sink}


def selection_config(settings: Any, embedder: object, gated: bool = True) -> SelectionConfig:
    """The published selection for this embedder, with the selection ablations applied; not `gated`
    (frames no quality scorer can judge), no quality gate unless --quality-threshold sets one."""
    config = SelectionConfig.for_embedder(embedder, quality_threshold=settings.quality_threshold)
    update: dict[str, Any] = {}
    if settings.no_quality_gate or (not gated and settings.quality_threshold is None):
        update["quality_threshold"] = float("-inf")
    if settings.no_semantic_selection:
        update["semantic"] = False
    return config.model_copy(update=update) if update else config


def recorded_settings(recorded: dict[str, Any]) -> Any:
    """run.json's recorded settings read like RunSettings (defaults for fields not recorded)."""
    from types import SimpleNamespace

    from director.settings import RunSettings

    defaults = {name: field.default for name, field in RunSettings.model_fields.items() if not field.is_required()}
    return SimpleNamespace(**{**defaults, **{k: v for k, v in recorded.items() if k in RunSettings.model_fields}})


def names(settings: Any) -> list[str]:
    """The ablations a run used, as flags (empty for the full method)."""
    found = [f"--{flag.replace('_', '-')}" for flag in ("no_memory", "no_sink", "no_quality_gate", "no_semantic_selection") if getattr(settings, flag, False)]
    if getattr(settings, "memory_size", DEFAULT_CAPACITY) != DEFAULT_CAPACITY:
        found.append(f"--memory-size {settings.memory_size}")
    if getattr(settings, "critic", "on") != "on":
        found.append(f"--critic {settings.critic}")
    return found


class PassiveCritic(Critic):
    """Keeps every shot's first attempt. In `scores` mode it still asks the full critic and records
    what it would have done; in `off` mode it judges nothing."""

    def __init__(self, inner: Critic, mode: str):
        super().__init__(max_attempts=1, quality_threshold=inner.quality_threshold, consistency_margin=inner.consistency_margin, prompt_margin=inner.prompt_margin)
        self.inner, self.mode = inner, mode

    def decide(self, scores: ShotScores, attempt: int, accepted: list[dict], levers: Levers = Levers()) -> Decision:
        if self.mode == "off":
            return Decision("accept", "critic off: the first attempt is kept unjudged", scores.to_dict())
        would = self.inner.decide(scores, attempt, accepted, levers)
        return Decision("accept", f"critic in scores mode: kept the first attempt; the critic would {would.action}: {would.reason}", scores.to_dict())


def critic_for(settings: Any, critic: Critic) -> Critic:
    mode = getattr(settings, "critic", "on")
    return critic if mode == "on" else PassiveCritic(critic, mode)
