"""What every planner is, and the checks shared by all of them (the planners import this; the
choice among them, `make_planner`, imports the planners)."""

from __future__ import annotations

import unicodedata
from typing import Protocol, runtime_checkable

from director.story import Shot, Story

MAX_LOGLINE = 2000
DEFAULT_SHOTS = 8
PLANNERS = ("auto", "openai", "offline", "local")


class PlanError(ValueError):
    """Bad planning input; the message is one readable line."""


@runtime_checkable
class Planner(Protocol):
    name: str

    def plan(self, logline: str, shots: int, seed: int) -> Story: ...


@runtime_checkable
class PromptRefiner(Protocol):
    """A planner that can rewrite one shot's prompt from the critic's words (the LLM planner)."""

    def refine_prompt(self, shot: Shot, story: Story, critique: str) -> str: ...


def check_logline(logline: str) -> str:
    text = " ".join(logline.split())
    if not text:
        raise PlanError("the logline is empty: describe the story in one line, e.g. \"a lighthouse keeper befriends a fox\"")
    if not any(unicodedata.category(c).startswith("L") for c in text):
        raise PlanError(f"the logline {text!r} has no words: describe the story in words, e.g. \"a lighthouse keeper befriends a fox\"")
    if len(text) > MAX_LOGLINE:
        raise PlanError(f"the logline has {len(text)} characters; keep it under {MAX_LOGLINE}")
    return text


def check_shot_count(shots: int) -> int:
    if not 2 <= shots <= 60:
        raise PlanError(f"--shots must be between 2 and 60, got {shots}")
    return shots
