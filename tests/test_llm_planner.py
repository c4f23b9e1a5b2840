"""LLMPlanner driven by scripted LLM answers: a fake `generate`, and the real LLMClient over MockTransport."""

from __future__ import annotations

import copy
from typing import Any

import httpx2
import pytest
from llm_server import ScriptedEndpoint, completion
from pydantic import BaseModel

from director.llm import LLMRefusalError
from director.planning.llm_planner import LLMPlanner
from director.story import Story

#: Pure computation: a hang (a loop that never ends) fails here in a minute, not at the suite default.
pytestmark = pytest.mark.timeout(60)

LOGLINE = "A lighthouse keeper befriends a stray fox during a winter storm."
KEEPER = "an old lighthouse keeper with a grey beard and a navy wool coat"
FOX = "a small red fox with a white-tipped tail and a torn left ear"
BIBLE = {
    "title": "The Keeper and the Fox",
    "overview": "A storm traps a lonely keeper with a fox. They learn to trust each other.",
    "style": "cinematic, soft film grain",
    "characters": [{"name": "the keeper", "description": KEEPER}, {"name": "the fox", "description": FOX}],
}
SCENES = {
    "scenes": [
        {"setting": "a lighthouse on a rocky island", "time_of_day": "night", "purpose": "The fox arrives.", "shots": 2},
        {"setting": "the lamp room of the lighthouse", "time_of_day": "dawn", "purpose": "They make friends.", "shots": 2},
    ]
}


def shot(prompt: str, transition: Any = "cut", characters: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"prompt": prompt, "camera": "medium shot", "transition": transition, "reason": "why", "characters": list(characters)}


SCENE_1 = {
    "shots": [
        shot(f"The keeper, {KEEPER}, opens the door to the storm.", characters=("the keeper",)),
        shot(f"The fox, {FOX}, slips inside past the keeper.", "continue", ("the fox", "the keeper")),
    ]
}
SCENE_2 = {
    "shots": [
        shot(f"At dawn the keeper, {KEEPER}, feeds the fox, {FOX}.", characters=("the keeper", "the fox")),
        shot(f"The fox, {FOX}, sleeps by the lamp.", "continue", ("the fox",)),
    ]
}


class ScriptedLLM:
    """The LLMClient.generate interface, answering from a script and recording what was asked."""

    def __init__(self, *answers: dict[str, Any]) -> None:
        self.answers = [copy.deepcopy(answer) for answer in answers]
        self.calls: list[tuple[type[BaseModel], list[dict[str, Any]]]] = []

    def generate(self, schema: type[BaseModel], messages: list[dict[str, Any]]) -> BaseModel:
        self.calls.append((schema, messages))
        return schema.model_validate(self.answers.pop(0))


def plan(*answers: dict[str, Any], shots: int = 4, seed: int = 10) -> tuple[Story, ScriptedLLM]:
    llm = ScriptedLLM(*answers)
    story = LLMPlanner(llm).plan(LOGLINE, shots, seed)
    assert not llm.answers, "every scripted answer is used"
    return Story.model_validate(story.model_dump()), llm


def test_valid_plan() -> None:
    story, llm = plan(BIBLE, SCENES, SCENE_1, SCENE_2)
    assert LLMPlanner.name == "openai"
    assert story.title == "The Keeper and the Fox" and story.logline == LOGLINE
    assert [c.name for c in story.characters] == ["the keeper", "the fox"]
    assert [(s.number, s.time_of_day) for s in story.scenes] == [(1, "night"), (2, "dawn")]
    assert [s.id for s in story.shots] == ["01_01", "01_02", "02_01", "02_02"]
    assert [s.seed for s in story.shots] == [10, 11, 12, 13]
    assert [s.transition for s in story.shots] == ["cut", "continue", "cut", "continue"]
    assert story.shots[1].characters == ["the keeper", "the fox"]
    # The steps: bible, scenes, then one call per scene, each told the count it must write.
    assert [schema.__name__ for schema, _ in llm.calls] == ["StoryBible", "SceneOutline", "ShotList", "ShotList"]
    assert LOGLINE in llm.calls[0][1][-1]["content"]
    shots_schema = llm.calls[2][0].model_json_schema()["properties"]["shots"]
    assert (shots_schema["minItems"], shots_schema["maxItems"]) == (2, 2)
    assert KEEPER in llm.calls[2][1][-1]["content"]  # shot writers see the fixed descriptions


def test_true_false_strings_are_cut_flags() -> None:
    scene_1 = {"shots": [shot("The keeper waits.", "True"), shot("The keeper waits more.", "False")]}
    scene_2 = {"shots": [shot("The fox eats.", True), shot("The fox sleeps.", False)]}
    story, _ = plan(BIBLE, SCENES, scene_1, scene_2)
    assert [s.transition for s in story.shots] == ["cut", "continue", "cut", "continue"]


def test_too_many_shots_and_scenes_are_trimmed_to_the_requested_count() -> None:
    scenes = {"scenes": [dict(SCENES["scenes"][0], shots=5), dict(SCENES["scenes"][1], shots=6), dict(SCENES["scenes"][1])]}
    scene_1 = {"shots": [shot(f"The keeper takes step {i}.") for i in range(5)]}
    story, llm = plan(BIBLE, scenes, scene_1, SCENE_2)
    assert len(story.scenes) == 2  # 4 shots allow at most 2 scenes
    assert [s.id for s in story.shots] == ["01_01", "01_02", "02_01", "02_02"]
    assert story.shots[1].prompt.startswith("The keeper, ") and "step 1" in story.shots[1].prompt
    assert llm.calls[1][0].model_json_schema()["properties"]["scenes"]["maxItems"] == 2


def test_uneven_scene_counts_are_rebalanced() -> None:
    scenes = {"scenes": [dict(SCENES["scenes"][0], shots=1), dict(SCENES["scenes"][1], shots=1)]}
    answers = [{"shots": [shot("The keeper looks out.")] * 3}, {"shots": [shot("The fox looks in.")] * 2}]
    story, _ = plan(BIBLE, scenes, *answers, shots=5)
    assert [s.id for s in story.shots] == ["01_01", "01_02", "01_03", "02_01", "02_02"]


def test_too_few_shots_are_padded_by_splitting_the_last() -> None:
    story, _ = plan(BIBLE, SCENES, {"shots": [shot("The keeper opens the door.")]}, SCENE_2)
    first, split = story.shots[0], story.shots[1]
    assert split.id == "01_02" and split.transition == "continue" and split.prompt == first.prompt
    assert len(story.shots) == 4


def test_rules_hold_whatever_the_llm_says() -> None:
    bible = dict(BIBLE, characters=[*BIBLE["characters"], {"name": "The Keeper", "description": "a copy"}])
    scenes = {"scenes": [dict(SCENES["scenes"][0], time_of_day="late afternoon"), dict(SCENES["scenes"][1], time_of_day="under the stars")]}
    scene_1 = {"shots": [shot("The keeper climbs the stairs.", "continue", ("the fox",)), shot("Waves hit the rocks.", "continue")]}
    story, _ = plan(bible, scenes, scene_1, SCENE_2)
    assert [c.name for c in story.characters] == ["the keeper", "the fox"]  # repeated name dropped
    assert [s.time_of_day for s in story.scenes] == ["day", "night"]
    opening = story.shots[0]
    assert opening.transition == "cut" and opening.reason == "opens the scene"
    # Descriptions go in right after the first mention, or close the prompt when there is none.
    assert opening.prompt == f"The keeper, {KEEPER}, climbs the stairs. With the fox, {FOX}."
    assert opening.characters == ["the keeper", "the fox"]
    assert story.shots[1].prompt == "Waves hit the rocks." and story.shots[1].characters == []


def test_refine_prompt_keeps_descriptions() -> None:
    story, _ = plan(BIBLE, SCENES, SCENE_1, SCENE_2)
    llm = ScriptedLLM({"prompt": "The keeper lifts the lantern higher in the dark doorway."})
    prompt = LLMPlanner(llm).refine_prompt(story.shots[0], story, "too dark, the keeper's face is not visible")
    assert prompt == f"The keeper, {KEEPER}, lifts the lantern higher in the dark doorway."
    request = llm.calls[0][1][-1]["content"]
    assert "too dark" in request and story.shots[0].prompt in request


def test_plan_through_the_real_client_with_a_repair_round() -> None:
    too_many = {"shots": [dict(s, transition="False") for s in SCENE_2["shots"]] + [shot("An extra shot.")]}
    endpoint = ScriptedEndpoint(BIBLE, SCENES, '{"shots": [', SCENE_1, too_many)
    client = endpoint.client()
    story = LLMPlanner(client).plan(LOGLINE, 4, 0)
    assert client.mode == "json_schema"
    assert [s.id for s in story.shots] == ["01_01", "01_02", "02_01", "02_02"]
    assert [s.transition for s in story.shots] == ["cut", "continue", "cut", "continue"]
    repair = endpoint.requests[3]["messages"]
    assert repair[-2]["content"] == '{"shots": [' and "not a valid ShotList" in repair[-1]["content"]
    sent = endpoint.requests[2]["response_format"]["json_schema"]["schema"]["properties"]["shots"]
    assert (sent["minItems"], sent["maxItems"]) == (2, 2)


def test_refusal_is_a_clear_error() -> None:
    refusal = httpx2.Response(200, json=completion(None, refusal="I cannot write this story."))
    endpoint = ScriptedEndpoint(BIBLE, refusal)
    with pytest.raises(LLMRefusalError, match="refused: I cannot write this story."):
        LLMPlanner(endpoint.client()).plan(LOGLINE, 4, 0)
