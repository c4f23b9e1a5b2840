"""The LLM judge's guard rails, one verdict at a time: which memory entries a verdict may name, the
levers a run lacks, and the rules' decision (not an accept) when the answer is unusable."""

from __future__ import annotations

from typing import Any

import pytest

from director.llm import LLMError
from director.critic.rules import Decision, ShotScores
from director.critic.judge import Attempt, Case, LLMJudge, Verdict
from memory.bank import MemoryEntry

#: Pure computation: a hang (a loop that never ends) fails here in a minute, not at the suite default.
pytestmark = pytest.mark.timeout(60)

SCORES = ShotScores(quality=5.0, quality_scorer="heuristic")
RULES = Decision("regenerate", "rules: quality below the gate", SCORES.to_dict())


class OneAnswer:
    """A structured-output client that answers one verdict (or raises one error)."""

    def __init__(self, answer: Verdict | Exception):
        self.answer = answer

    def generate(self, model: type, messages: list[dict[str, Any]]) -> Any:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def entry(entry_id: str, kind: str = "keyframe") -> MemoryEntry:
    return MemoryEntry(id=entry_id, image=f"{entry_id}.png", kind=kind, shot_id="01_01" if kind == "keyframe" else None)


def case(attempt: int = 1, can_rewrite: bool = False) -> Case:
    """Memory m0001 and m0002 conditioned the attempt; the bank also holds m0003 (inactive)."""
    memory = [entry("m0001", "reference"), entry("m0002")]
    bank = {e.id: e for e in [*memory, entry("m0003")]}
    return Case(shot_id="01_02", number=2, total=3, prompt="Mara waits.", characters=["Mara"], transition="cut", mode="m2v",
                attempt=Attempt(take=attempt, attempt=attempt, seed=attempt, scores=SCORES.to_dict()), earlier=[], max_attempts=3,
                accepted=[], memory=memory, bank=bank, can_rewrite=can_rewrite)


def decide(answer: Verdict | Exception, **kw: Any) -> Decision:
    return LLMJudge(OneAnswer(answer)).decide(case(**kw), SCORES, RULES)


def test_drop_memory_may_name_only_the_entries_that_conditioned_the_attempt():
    inactive = decide(Verdict(action="drop_memory", entries=["m0003"], reasons="it misleads"))
    assert (inactive.action, inactive.drop, inactive.judge) == ("regenerate", [], "rules")
    assert inactive.fallback == "the judge asked to drop memory m0003, not an entry that conditioned this attempt"
    used = decide(Verdict(action="drop_memory", entries=["m0002"], reasons="it misleads"))
    assert (used.action, used.drop, used.judge, used.fallback) == ("drop_memory", ["m0002"], "llm", "")


def test_pin_memory_may_name_only_entries_in_the_bank():
    unknown = decide(Verdict(action="pin_memory", entries=["m0009"], reasons="hold her face"))
    assert (unknown.action, unknown.pin, unknown.judge) == ("regenerate", [], "rules")
    assert unknown.fallback == "the judge asked to pin memory m0009, not an entry in the memory bank"
    inactive = decide(Verdict(action="pin_memory", entries=["m0003"], reasons="hold her face"))
    assert (inactive.action, inactive.pin, inactive.fallback) == ("pin_memory", ["m0003"], "")


def test_a_rewrite_without_an_llm_planner_becomes_a_new_seed():
    without = decide(Verdict(action="rewrite_prompt", change="a red coat", reasons="the coat is wrong"))
    assert (without.action, without.change, without.judge) == ("regenerate", "", "llm")
    assert without.reason.endswith("; no LLM planner to rewrite the prompt: a new seed instead")
    with_planner = decide(Verdict(action="rewrite_prompt", change="a red coat", reasons="the coat is wrong"), can_rewrite=True)
    assert (with_planner.action, with_planner.change) == ("refine_prompt", "a red coat")


@pytest.mark.parametrize("error", [LLMError("no JSON object in the answer"), RuntimeError("the connection dropped")])
def test_an_unusable_answer_gives_the_rules_decision_not_an_accept(error):
    decided = decide(error)
    assert (decided.action, decided.reason, decided.judge) == ("regenerate", RULES.reason, "rules")
    assert decided.fallback.startswith("the judge's answer was not usable: ") and str(error) in decided.fallback


def test_the_judge_reads_each_consistency_with_its_meaning_and_the_storys_range():
    from director.critic.judge import _score_lines

    scores = ShotScores(consistency=0.9, consistency_without_suspect=0.6, consistency_scorer="table")
    lines = _score_lines(scores, [{"consistency": 0.8, "consistency_without_suspect": 0.7}, {"consistency": 0.86, "consistency_without_suspect": 0.84}])
    assert list(lines) == ["consistency", "consistency_without_suspect"]
    without = lines["consistency_without_suspect"]
    assert (without["value"], without["model"]) == (0.6, "table") and without["measures"].startswith("consistency without the memory entry least like the rest")
    assert without["accepted_shots_range"] == {"min": 0.7, "median": 0.77, "max": 0.84, "shots": 2}
