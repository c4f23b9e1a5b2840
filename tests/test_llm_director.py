"""The whole director with an LLM planner: the real LLMClient over httpx2's MockTransport, scripted
chat completions (including a broken answer that needs a repair round), then the film."""

from __future__ import annotations

import json
import re

import httpx2
import pytest
from llm_server import ScriptedEndpoint, completion
from test_llm_planner import BIBLE, SCENE_1, SCENE_2, SCENES

from director.folder.video import count_frames
from director.graph import run_director
from director.llm import LLMRefusalError
from director.planning.llm_planner import LLMPlanner
from director.folder.workspace import Workspace
from helpers import RecordingGenerator, make_context

LOGLINE = "A lighthouse keeper befriends a stray fox during a winter storm."


def test_llm_plan_with_a_repair_drives_the_graph_to_a_film(tmp_path):
    broken = json.dumps(SCENE_2)[:-20]  # cut off: not JSON, so the client sends the error back
    endpoint = ScriptedEndpoint(
        json.dumps(BIBLE), json.dumps(SCENES), json.dumps({**SCENE_1, "shots": [dict(s, transition="False") if i else s for i, s in enumerate(SCENE_1["shots"])]}),
        broken, json.dumps(SCENE_2),
    )
    context = make_context(tmp_path, RecordingGenerator(num_frames=9))
    context.planner = LLMPlanner(endpoint.client())
    result = run_director(context, "llm", {"logline": LOGLINE, "shots_wanted": 4, "seed": 0}, 4)

    assert len(endpoint.requests) == 5 and not endpoint.replies
    assert endpoint.requests[-1]["messages"][-2]["content"] == broken  # the repair round shows the model its answer
    story = Workspace(tmp_path).load_script()
    assert story.title == "The Keeper and the Fox"
    assert [s.transition for s in story.shots] == ["cut", "continue", "cut", "continue"]  # "False" meant continue
    assert count_frames(tmp_path / "story.mp4") == result["film"]["frames"] == 9 + 8 + 9 + 8


def test_a_refusal_stops_before_any_shot_with_a_clear_error(tmp_path):
    endpoint = ScriptedEndpoint(httpx2.Response(200, json=completion(None, refusal="I can't help with that.")))
    context = make_context(tmp_path, RecordingGenerator(num_frames=9))
    context.planner = LLMPlanner(endpoint.client())
    with pytest.raises(LLMRefusalError, match=re.escape("refused: I can't help with that.")) as caught:
        run_director(context, "llm", {"logline": LOGLINE, "shots_wanted": 4, "seed": 0}, 4)
    assert "\n" not in str(caught.value) and "refused: I can't help with that." in str(caught.value)
    assert not (tmp_path / "shots").exists() and not (tmp_path / "script.json").exists()
