"""The story folder's lifecycle and the revision start, through the API: what a call says it does
(a new story is not a resume), a change read once, and the change (not its wording) as the key
that finishes a version being made."""

from __future__ import annotations

from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from director import api
from director.api import RunSettings, make_story, redo_shots, revise_story
from director.critic.judge import make_judge
from director.folder.story_folder import StoryFolder
from director.folder.workspace import Workspace
from director.revision import change
from director.revision.session import TurnContext, build_turn
from helpers import LOGLINE

SETTINGS = RunSettings(backend="preview", planner="offline", shots=4, size="64x48", frames=9, embedder="colour-structure", quality_scorer="heuristic")
SCRIPT = Path(__file__).parent / "fixtures" / "two_scenes.storymem.json"


def _notes(events: list[dict]) -> list[str]:
    return [e["note"] for e in events if "note" in e]


def test_a_new_story_from_a_script_is_not_called_a_resume(tmp_path):
    events: list[dict] = []
    result = make_story(tmp_path / "boats", script=SCRIPT, settings=SETTINGS, on_event=events.append)
    assert result.version == 1 and result.generated == result.shots
    assert not [n for n in _notes(events) if n.startswith("resuming")], _notes(events)
    again: list[dict] = []
    make_story(tmp_path / "boats", script=SCRIPT, settings=SETTINGS, on_event=again.append)
    assert "already complete: version 1, nothing to do" in _notes(again)


def test_the_critic_says_an_offline_planner_uses_no_llm():
    assert make_judge(SETTINGS) == (None, "critic: rules (--planner offline uses no LLM; --critic-judge llm asks for one)")


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("folder") / "keeper"
    make_story(folder, logline=LOGLINE, settings=SETTINGS)
    return folder


def test_a_chat_that_changes_the_policy_reads_the_instruction_once(made, tmp_path, monkeypatch):
    import shutil

    folder = tmp_path / "chat"
    shutil.copytree(made, folder)
    readings: list[str] = []
    real = change.parse_offline
    monkeypatch.setattr(change, "parse_offline", lambda instruction, story: readings.append(instruction) or real(instruction, story))
    turn, config = build_turn(InMemorySaver()), {"configurable": {"thread_id": "t"}}
    context = TurnContext(folder=str(folder), revise=api.revise_story)
    state = turn.invoke({"instruction": "make shot 1 in the rain"}, config, context=context)
    assert state["__interrupt__"][0].value["policy"] == "only"
    state = turn.invoke(Command(resume="cascade"), config, context=context)
    assert readings == ["make shot 1 in the rain"]  # the policy changed; the instruction was not read again
    version = Workspace(folder).version(2)
    assert version.plan["policy"] == "cascade" and len(version.plan["dependents"]) >= 1
    assert state["message"].startswith("version 2: ")


def test_the_change_not_its_words_finishes_a_version_being_made(made, tmp_path):
    import shutil

    folder = tmp_path / "key"
    shutil.copytree(made, folder)
    plan = api.plan_revision(folder, "make shot 2 at night", policy="only")
    version = change.start(StoryFolder.existing(folder), plan, change.change_of(plan.edits, plan.policy), _bank(folder))
    assert version.change == change.change_of(plan.edits, "only") and version.note == "make shot 2 at night"
    with pytest.raises(api.UsageError, match=r"version 2 is still being made \(make shot 2 at night\)"):
        revise_story(folder, "make shot 2 at night", policy="cascade")  # the same words, another change
    with pytest.raises(api.UsageError, match="version 2 is still being made"):
        redo_shots(folder, [2])
    finished = revise_story(folder, "Make shot 2 at night", policy="only")  # other words, the same change
    assert finished.version == 2 and finished.generated == 1


def test_resume_finishes_a_change_without_reading_it_again(made, tmp_path, monkeypatch):
    import shutil

    from helpers import RecordingGenerator, make_context

    folder = tmp_path / "resume"
    shutil.copytree(made, folder)
    with pytest.raises(RuntimeError, match="simulated crash"):
        redo_shots(folder, [2], note="a take I like better", components=make_context(folder, RecordingGenerator(64, 48, 9, fail_at="01_02")))
    monkeypatch.setattr(change, "plan_instruction", lambda *args: pytest.fail("resume read the change again"))
    finished = api.resume(folder)
    assert finished.version == 2 and finished.generated == 1 and api.history(folder)[1].note == "a take I like better"
    with pytest.raises(api.UsageError, match="has no version being made"):
        api.resume(folder)


def _bank(folder: Path):
    from director.run.context import open_bank

    return open_bank(Workspace(folder))
