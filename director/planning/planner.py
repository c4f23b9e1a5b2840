"""What every planner is, and the checks and choice shared by all of them.

A planner turns a logline into a `Story`: the offline planner (`director.planning.offline`)
by rules, the LLM planner (`director.planning.llm_planner`) through an OpenAI-compatible model.
`make_planner` picks one for a `--planner` name and says why.
"""

from __future__ import annotations

import logging
import unicodedata
from typing import Protocol, runtime_checkable

from director.story import Shot, Story

MAX_LOGLINE = 2000
DEFAULT_SHOTS = 8
PLANNERS = ("auto", "openai", "offline", "local")

log = logging.getLogger(__name__)


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



class OfflineOnFailedCheck:
    """`--planner auto` with an LLM: its plan, or the offline planner's when the LLM's plan still
    fails a plan check after repair (said in one warning line). Prompt refinement stays the LLM's."""

    def __init__(self, llm: Planner, offline: Planner) -> None:
        self.llm, self.offline = llm, offline
        self.name = llm.name

    def plan(self, logline: str, shots: int, seed: int):
        from director.planning.llm import LLMInvalidOutputError, LLMLengthError
        from director.planning.plan_check import PlanCheckError

        try:
            return self.llm.plan(logline, shots, seed)
        except (PlanCheckError, LLMInvalidOutputError, LLMLengthError) as error:
            log.warning("%s; --planner auto uses the offline planner instead", error)
            return self.offline.plan(logline, shots, seed)

    def refine_prompt(self, shot: Shot, story: Story, critique: str) -> str:
        return self.llm.refine_prompt(shot, story, critique)


def make_planner(name: str, llm_model: str | None = None, llm_base_url: str | None = None) -> tuple[Planner, str]:
    """The planner for a `--planner` name, and a sentence saying which one runs and why.

    `local` starts the bundled llama.cpp server (stopped at exit; see `director.planning.local`).
    """
    if name not in PLANNERS:
        raise PlanError(f"unknown planner {name!r}; choose one of: {', '.join(PLANNERS)}")
    from director.planning.offline import OfflinePlanner

    if name == "offline":
        return OfflinePlanner(), "planner: offline (rule-based, deterministic)"
    if name == "local":
        return _local_planner()
    from director.planning.llm import LLMClient, LLMSettings
    from director.planning.llm_planner import LLMPlanner

    settings = LLMSettings.resolve(llm_model, llm_base_url)
    if settings is None:
        if name == "openai":
            raise PlanError("--planner openai needs an endpoint: set OPENAI_API_KEY or OPENAI_BASE_URL, or pass --llm-base-url")
        return OfflinePlanner(), "planner: offline (no LLM endpoint configured; set OPENAI_API_KEY or --llm-base-url to use one)"
    planner: Planner = LLMPlanner(LLMClient(settings))
    note = f"planner: openai-compatible LLM {settings.model} at {settings.base_url or 'the OpenAI API'}"
    if name == "auto":
        return OfflineOnFailedCheck(planner, OfflinePlanner()), f"{note} (offline if its plan fails the plan check)"
    return planner, note


def _local_planner() -> tuple[Planner, str]:
    """The LLM planner on the bundled SmolLM2-135M, served by llama.cpp only while it is asked."""
    from director.planning.local import LOCAL_MODEL, LocalPlanner, bundled_model

    planner = LocalPlanner(bundled_model())
    threads = planner.server.threads
    return planner, f"planner: local {LOCAL_MODEL} through llama.cpp on loopback ({threads} thread{'s' if threads > 1 else ''}; the server runs only while planning)"
