"""The story model: validation messages, JSON round trips, and StoryMem's script format."""

import json
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from director.story import (
    ScriptError,
    Shot,
    Story,
    describe_validation_error,
    from_storymem,
    load_script,
    parse_script,
    story_json_schema,
    to_storymem,
)

#: Pure computation: a hang (a loop that never ends) fails here in a minute, not at the suite default.
pytestmark = pytest.mark.timeout(60)

FIXTURES = Path(__file__).parent / "fixtures"


def _story(**changes) -> dict:
    data = {
        "title": "T",
        "scenes": [{"number": 1, "setting": "a pier"}, {"number": 2, "setting": "a boat", "time_of_day": "night"}],
        "shots": [
            {"id": "01_01", "scene": 1, "prompt": "A pier.", "transition": "cut"},
            {"id": "01_02", "scene": 1, "prompt": "The pier again.", "transition": "continue"},
            {"id": "02_01", "scene": 2, "prompt": "A boat.", "transition": "cut"},
        ],
    }
    data.update(changes)
    return data


def _error(data: dict) -> str:
    with pytest.raises(ValidationError, match=r"^\d+ validation errors? for Story\n") as caught:
        Story.model_validate(data)
    return describe_validation_error(caught.value)


def test_valid_story_round_trips_through_json(tmp_path):
    story = Story.model_validate(_story())
    path = tmp_path / "script.json"
    path.write_text(story.model_dump_json())
    assert load_script(path) == story
    assert story.number_in_scene("01_02") == 2 and story.number_in_scene("02_01") == 1


def test_duplicate_shot_ids_are_named():
    data = _story()
    data["shots"][2]["id"] = "01_01"
    assert "shot ids must be unique, repeated: ['01_01']" in _error(data)


def test_blank_prompt_names_the_field():
    data = _story()
    data["shots"][1]["prompt"] = "   "
    assert _error(data) == "shots.1.prompt: must not be empty"


def test_first_shot_of_a_scene_must_be_a_cut():
    data = _story()
    data["shots"][2]["transition"] = "continue"
    assert "shot 02_01 opens scene 2, so its transition must be 'cut'" in _error(data)


def test_shot_in_unknown_scene_and_bad_transition_are_rejected():
    data = _story()
    data["shots"][2]["scene"] = 7
    assert "refers to scene 7" in _error(data)
    data = _story()
    data["shots"][1]["transition"] = "dissolve"
    assert _error(data).startswith("shots.1.transition:")


def test_schema_export_carries_field_descriptions():
    schema = story_json_schema()
    shot = schema["$defs"]["Shot"]["properties"]
    assert "first shot of a scene is always a cut" in shot["transition"]["description"]
    assert shot["transition"]["enum"] == ["cut", "continue"]


def test_three_scene_storymem_script_imports_with_string_booleans():
    # Same shape as the StoryMem scripts the paper's benchmark ships: 3 scenes of 3 shots, flags mixing
    # JSON booleans with "False" / "false" / "True" strings, and a false flag on a scene's first shot.
    story = load_script(FIXTURES / "three_scenes_string_flags.storymem.json")
    assert story.title == "The Clockmaker's Owl"
    assert story.logline == (
        "In a cluttered attic workshop, an elderly clockmaker with round spectacles and a leather apron "
        "finishes a small brass owl with one green glass eye."
    )
    assert [scene.number for scene in story.scenes] == [1, 2, 3]
    assert len(story.shots) == 9
    # scene 1: [true, true, "False"], scene 2: [true, "false", true], scene 3: [false, "True", false]
    assert [s.transition for s in story.shots] == ["cut", "cut", "continue", "cut", "continue", "cut", "cut", "cut", "continue"]
    assert [s.id for s in story.shots] == ["01_01", "01_02", "01_03", "02_01", "02_02", "02_03", "03_01", "03_02", "03_03"]
    assert [s.scene for s in story.shots] == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert story.shots[7].prompt.startswith("The brass owl with one green glass eye glides over")
    exported = to_storymem(story)
    assert [scene["cut"] for scene in exported["scenes"]] == [[True, True, False], [True, False, True], [True, True, False]]


def test_storymem_fixture_imports_coerces_and_round_trips():
    story = load_script(FIXTURES / "two_scenes.storymem.json")
    assert [s.transition for s in story.shots] == ["cut", "continue", "cut"]
    assert story.shots[1].first_frame_prompt == "A girl running."
    assert story.scenes[1].time_of_day == "dusk"
    exported = to_storymem(story)
    assert exported["scenes"][0]["cut"] == [True, False]
    assert from_storymem(exported).shots == story.shots


def test_false_string_means_continue_and_true_string_means_cut():
    data = {"story_name": "S", "story_overview": "", "scenes": [{"scene_num": 1, "video_prompts": ["a", "b", "c"], "cut": ["True", "False", "false"]}]}
    assert [s.transition for s in parse_script(data).shots] == ["cut", "continue", "continue"]


def test_first_shot_of_a_storymem_scene_is_a_cut_whatever_its_flag():
    data = {"story_name": "S", "scenes": [{"scene_num": 1, "video_prompts": ["a", "b"], "cut": [False, False]}]}
    assert [s.transition for s in parse_script(data).shots] == ["cut", "continue"]


@pytest.mark.parametrize(
    "scene, message",
    [
        ({"scene_num": 1, "video_prompts": ["a", "b"], "cut": [True]}, "scenes.0.cut: has 1 entries for 2 video_prompts"),
        ({"scene_num": 1, "video_prompts": ["a"], "cut": [True], "first_frame_prompt": ["x", "y"]}, "scenes.0.first_frame_prompt"),
        ({"scene_num": 1, "video_prompts": ["a"], "cut": ["maybe"]}, "scenes.0.cut.0: expected true or false, got 'maybe'"),
        ({"scene_num": 1, "video_prompts": []}, "scenes.0.video_prompts: must be a non-empty list"),
    ],
)
def test_bad_storymem_scripts_give_one_line_errors(scene, message):
    with pytest.raises(ScriptError, match=re.escape(message)) as caught:
        parse_script({"story_name": "S", "scenes": [scene]})
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_load_script_errors(tmp_path):
    with pytest.raises(ScriptError, match="script file not found"):
        load_script(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ScriptError, match="is not valid JSON"):
        load_script(bad)
    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps(_story(title="")))
    with pytest.raises(ScriptError, match=r"^title: "):
        load_script(invalid)


def test_shot_ids_cannot_escape_the_story_folder():
    with pytest.raises(ValidationError, match=re.escape("id\n  String should match pattern '^[A-Za-z0-9_-]+$'")):
        Shot(id="../../etc", scene=1, prompt="x")
