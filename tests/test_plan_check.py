"""Plan checks on LLM plans: a plan that validates but is not the user's story is sent back with the
reasons, and one that stays wrong stops with one line naming the check and the model (or, under
`--planner auto`, gives way to the offline planner, saying so)."""

from __future__ import annotations

import copy
import json
import logging

import pytest
from llm_server import ScriptedEndpoint
from test_llm_planner import BIBLE, KEEPER, SCENE_1, SCENE_2, SCENES, shot

from director.planning.llm_planner import LLMPlanner
from director.planning.offline import OfflinePlanner
from director.planning.plan_check import PlanCheckError, check_plan, echoed
from director.planning.planner import OfflineOnFailedCheck, make_planner
from director.story import Shot

#: Pure computation: a hang (a loop that never ends) fails here in a minute, not at the suite default.
pytestmark = pytest.mark.timeout(60)

LOGLINE = "A lighthouse keeper befriends a stray fox on a rocky island during a winter storm."
ECHOED_PROMPT = Shot.model_fields["prompt"].description  # what SmolLM2-135M wrote as a shot prompt


def test_echoed_instructions_are_found_and_story_text_is_not() -> None:
    assert echoed(ECHOED_PROMPT)
    assert echoed("Where the scene happens, visually.")  # a whole short field description
    assert echoed(f"The keeper, {KEEPER}, opens the door to the storm.") == ""
    assert echoed("The fox slips inside at the end of the pier.") == ""


def test_a_plan_with_the_title_as_setting_and_numbers_as_purposes_is_repaired() -> None:
    bad = {"scenes": [dict(s, setting=BIBLE["title"], purpose=f"{n},") for n, s in enumerate(SCENES["scenes"], 1)]}
    endpoint = ScriptedEndpoint(BIBLE, bad, SCENES, SCENE_1, SCENE_2)
    story = LLMPlanner(endpoint.client()).plan(LOGLINE, 4, 0)

    assert [s.setting for s in story.scenes] == [s["setting"] for s in SCENES["scenes"]]
    repair = endpoint.requests[2]["messages"]
    assert repair[-2]["content"] == json.dumps(bad, separators=(",", ":"))  # the model sees its answer ...
    reasons = repair[-1]["content"]  # ... and why it was sent back
    assert "setting-is-title: scene 1's setting is the film's title 'The Keeper and the Fox'" in reasons
    assert "placeholder: scene 2's purpose is '2,'" in reasons
    assert "place-missing: the logline's place 'a rocky island'" in reasons
    assert LOGLINE in reasons
    assert check_plan(story) == []


def test_a_bible_without_a_character_of_the_logline_is_sent_back() -> None:
    keeper_only = dict(BIBLE, characters=[BIBLE["characters"][0]])
    endpoint = ScriptedEndpoint(keeper_only, BIBLE, SCENES, SCENE_1, SCENE_2)
    story = LLMPlanner(endpoint.client()).plan(LOGLINE, 4, 0)
    assert [c.name for c in story.characters] == ["the keeper", "the fox"]
    assert "the logline's 'stray fox' is not among the characters" in endpoint.requests[1]["messages"][-1]["content"]


def test_echoed_shot_prompts_that_stay_echoed_stop_with_the_check_and_the_model() -> None:
    echo = {"shots": [shot(ECHOED_PROMPT), shot(ECHOED_PROMPT, "continue")]}
    endpoint = ScriptedEndpoint(BIBLE, SCENES, echo, echo)
    with pytest.raises(PlanCheckError, match=r"^the plan by test-model failed the echo check after 1 repair round: shot 01_01's prompt repeats the instructions") as raised:
        LLMPlanner(endpoint.client()).plan(LOGLINE, 4, 0)
    assert raised.value.check == "echo" and "\n" not in str(raised.value)
    assert "echo: shot 01_02's prompt repeats the instructions" in endpoint.requests[3]["messages"][-1]["content"]


def test_shots_naming_no_character_or_place_are_found() -> None:
    vague = {"shots": [shot("Something happens slowly."), shot("It goes on.", "continue")]}
    endpoint = ScriptedEndpoint(BIBLE, SCENES, vague, vague)
    with pytest.raises(PlanCheckError, match="failed the shot-names-nothing check after 1 repair round: shot 01_01's prompt names no character and not the place"):
        LLMPlanner(endpoint.client()).plan(LOGLINE, 4, 0)


def test_auto_uses_the_offline_planner_when_the_llm_plan_still_fails_and_says_so(caplog) -> None:
    no_fox = dict(BIBLE, characters=[BIBLE["characters"][0]])
    endpoint = ScriptedEndpoint(no_fox, no_fox)
    planner = OfflineOnFailedCheck(LLMPlanner(endpoint.client()), OfflinePlanner())
    with caplog.at_level(logging.WARNING):
        story = planner.plan(LOGLINE, 4, 0)
    assert story == OfflinePlanner().plan(LOGLINE, 4, 0)
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith("the plan by test-model failed the character-missing check after 1 repair round: the logline's 'stray fox'")
    assert warning.endswith("; --planner auto uses the offline planner instead")


def test_auto_with_an_endpoint_checks_and_can_fall_back(monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    planner, note = make_planner("auto", llm_model="m", llm_base_url="http://127.0.0.1:9/v1")
    assert isinstance(planner, OfflineOnFailedCheck) and isinstance(planner.llm, LLMPlanner)
    assert note == "planner: openai-compatible LLM m at http://127.0.0.1:9/v1 (offline if its plan fails the plan check)"
    planner, _ = make_planner("openai", llm_model="m", llm_base_url="http://127.0.0.1:9/v1")
    assert isinstance(planner, LLMPlanner)  # an explicit choice is never replaced


def test_the_offline_planner_passes_the_checks() -> None:
    story = OfflinePlanner().plan(LOGLINE, 8, 0)
    assert check_plan(story) == []
    broken = copy.deepcopy(story)
    broken.scenes[0].setting = broken.title
    broken.shots[0].prompt = ECHOED_PROMPT
    assert [p.check for p in check_plan(broken)] == ["setting-is-title", "echo", "shot-names-nothing"]
