"""Revision: instructions to typed edits, the impact plan from recorded dependencies, and applying it."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from director import api
from director.api import RunSettings, make_story, plan_revision, revise_story
from director.folder.video import count_frames
from director.revision.edits import Edit, RevisionError, apply_edits
from director.revision.impact import ImpactPlan, dependents, plan_impact
from director.revision.parse import parse_offline
from director.folder.versions import ShotEntry, Version
from director.story import Character, Scene, Shot, Story
from helpers import LOGLINE

SETTINGS = RunSettings(backend="preview", planner="offline", shots=5, size="64x48", frames=9, embedder="colour-structure", quality_scorer="heuristic")


def _story() -> Story:
    """Five shots in two scenes; shot 2 continues shot 1."""
    mara = Character(name="Mara", description="a tall woman in a grey coat")
    ben = Character(name="the boy", description="a small boy in a yellow raincoat")
    return Story(
        title="T", characters=[mara, ben],
        scenes=[Scene(number=1, setting="a harbour", time_of_day="day"), Scene(number=2, setting="a lighthouse", time_of_day="dusk")],
        shots=[
            Shot(id="01_01", scene=1, prompt="Mara, a tall woman in a grey coat, walks in soft daylight.", characters=["Mara"], seed=1),
            Shot(id="01_02", scene=1, prompt="Mara, a tall woman in a grey coat, keeps walking.", characters=["Mara"], transition="continue", seed=2),
            Shot(id="01_03", scene=1, prompt="The boy, a small boy in a yellow raincoat, waves.", characters=["the boy"], seed=3),
            Shot(id="02_01", scene=2, prompt="The lighthouse at dusk.", seed=4),
            Shot(id="02_02", scene=2, prompt="Mara, a tall woman in a grey coat, and the boy, a small boy in a yellow raincoat, climb.", characters=["Mara", "the boy"], seed=5),
        ],
    )


@pytest.mark.parametrize(
    "instruction, expected",
    [
        ("make shot 3 at night", [Edit(action="condition", shots=[3], text="at night")]),
        ("Make shots 2 and 4 in the rain", [Edit(action="condition", shots=[2, 4], text="in the rain")]),
        ("make scene 2 in winter", [Edit(action="condition", scene=2, text="in winter")]),
        ("change shot 2 to: The boy runs along the pier.", [Edit(action="prompt", shots=[2], text="The boy runs along the pier.")]),
        ("regenerate shot 4", [Edit(action="regenerate", shots=[4])]),
        ("cut between shots 1 and 2", [Edit(action="transition", shots=[2], transition="cut")]),
        ("continue shot 3 into 4", [Edit(action="transition", shots=[4], transition="continue")]),
        ("remove shot 5", [Edit(action="remove", shots=[5])]),
        ("add a shot after 3: Mara opens the door.", [Edit(action="add", shots=[3], text="Mara opens the door.")]),
        ("give Mara a red scarf", [Edit(action="look", character="Mara", text="a red scarf")]),
        ("give the boy a blue hat; regenerate shots 1-2", [Edit(action="look", character="the boy", text="a blue hat"), Edit(action="regenerate", shots=[1, 2])]),
    ],
)
def test_each_instruction_form_becomes_typed_edits(instruction, expected):
    assert parse_offline(instruction, _story()) == expected


@pytest.mark.parametrize(
    "instruction, message",
    [
        ("", "the instruction is empty"),
        ("paint it blue", "could not tell which character you mean in 'paint it blue'; characters are: Mara, the boy; the closest form I understand: \"give Mara red fur\""),
        ("shot 3 is boring", "could not read 'shot 3 is boring'; the closest form I understand: \"make shot 3 at night\""),
        ("give Zed a hat", "could not tell which character you mean in 'give Zed a hat'; characters are: Mara, the boy"),
        ("cut between shots 1 and 3", "shots 1 and 3 are not next to each other"),
    ],
)
def test_instructions_that_cannot_be_read_say_why(instruction, message):
    with pytest.raises(RevisionError, match=message):
        parse_offline(instruction, _story())


def test_applied_edits_change_exactly_what_they_say():
    story = _story()
    night = apply_edits(story, parse_offline("make shot 1 at night", story))
    assert list(night.changed) == ["01_01"] and night.story.shots[0].time_of_day == "night"
    assert "night" in night.story.shots[0].prompt and "daylight" not in night.story.shots[0].prompt
    assert night.story.shots[1:] == story.shots[1:]

    scene = apply_edits(story, parse_offline("make scene 2 at night", story))
    assert scene.story.scene(2).time_of_day == "night" and sorted(scene.changed) == ["02_01", "02_02"]

    cut = apply_edits(story, parse_offline("remove shot 1", story))
    assert [s.id for s in cut.story.shots] == ["01_02", "01_03", "02_01", "02_02"] and cut.removed == ["01_01"]
    assert cut.story.shots[0].transition == "cut" and cut.changed == {"01_02": ["the shot it continued (old shot 1) was removed"]}

    swapped = apply_edits(story, parse_offline("swap shots 1 and 2", story))  # shot 2 continued shot 1: first now, it cuts in
    assert [(s.id, s.transition) for s in swapped.story.shots[:3]] == [("01_02", "cut"), ("01_01", "cut"), ("01_03", "cut")]
    assert swapped.moved == {"01_02": ["moved (was shot 2); it keeps its take", "it now cuts in (it continued old shot 1)"]}
    assert swapped.changed == {} and swapped.follows == {} and swapped.story.shots[3:] == story.shots[3:]

    added = apply_edits(story, parse_offline("add a shot after 3: Mara opens the door.", story))
    assert [s.id for s in added.story.shots][3] == "01_03a" and added.story.shots[3].characters == ["Mara"]

    look = apply_edits(story, parse_offline("give Mara a red scarf", story))
    assert sorted(look.changed) == ["01_01", "01_02", "02_02"] and look.looks == {"Mara": "a red scarf"}
    assert all("a tall woman in a grey coat, with a red scarf" in look.story.shots[i].prompt for i in (0, 1, 4))

    with pytest.raises(RevisionError, match="there is no shot 9; shots are 1-5"):
        apply_edits(story, [Edit(action="regenerate", shots=[9])])
    with pytest.raises(RevisionError, match="shot 3 opens a scene|shot 4 opens a scene, so it can only cut"):
        apply_edits(story, [Edit(action="transition", shots=[4], transition="continue")])


def test_a_new_time_in_a_storm_keeps_the_storms_grey_light():
    from director.planning.offline import OfflinePlanner

    story = OfflinePlanner().plan("A lighthouse keeper befriends a fox during a winter storm.", 5, 0)
    assert "flat grey daylight under low cloud" in story.shots[0].prompt
    night = apply_edits(story, parse_offline("make shot 1 at night", story)).story.shots[0].prompt
    assert "darkness broken by warm practical lights" in night and "daylight" not in night and "moonlight" not in night
    added = apply_edits(story, parse_offline("add a shot after 1: the fox shakes off the snow", story)).story.shots[1].prompt
    assert "howling wind and driving rain" in added and "flat grey daylight under low cloud" in added


def _version(story: Story, memory: dict[str, list[str]]) -> Version:
    return Version(number=1, note="v1", thread="t", script=story.model_dump(mode="json"), finished=1.0,
                   shots={s.id: ShotEntry(take=1, decision="accept", memory=memory.get(s.id, [])) for s in story.shots})


def test_dependents_are_the_transitive_closure_of_recorded_edges():
    story = _story()
    # By construction: 01_02 continues 01_01; 01_03 remembers nothing of them; 02_01 remembers a keyframe of
    # 01_02; 02_02 remembers one of 02_01 only. So a change to 01_01 reaches 01_02, 02_01 and 02_02.
    sources = {"m1": "01_01", "m2": "01_02", "m3": "01_03", "m4": "02_01"}
    version = _version(story, {"01_03": ["m1"], "02_01": ["m2", "m3"], "02_02": ["m4"]})
    found = dependents(story, version, sources, {"01_01"})
    assert found == {
        "01_02": ["continues shot 1"],
        "01_03": ["its memory holds keyframes of shot 1"],
        "02_01": ["its memory holds keyframes of shots 2, 3"],
        "02_02": ["its memory holds keyframes of shot 4"],
    }
    assert dependents(story, version, sources, {"01_03"}) == {"02_01": ["its memory holds keyframes of shot 3"], "02_02": ["its memory holds keyframes of shot 4"]}
    assert dependents(story, version, sources, {"02_02"}) == {}

    edits = [Edit(action="condition", shots=[3], text="at night")]
    applied = apply_edits(story, edits)
    only = plan_impact("make shot 3 at night", edits, applied, version, sources, None)
    assert only.policy == "only" and only.regenerate == ["01_03"] and only.generations == 1
    assert [(p.number, p.action) for p in only.dependents] == [(4, "keep"), (5, "keep")]
    cascade = plan_impact("make shot 3 at night", edits, applied, version, sources, "cascade")
    assert cascade.regenerate == ["01_03", "02_01", "02_02"] and cascade.generations == 3
    continued = plan_impact("x", [Edit(action="regenerate", shots=[1])], apply_edits(story, [Edit(action="regenerate", shots=[1])]), version, sources, None)
    assert continued.policy == "cascade" and "continues a changed one" in continued.policy_reason
    # a removal renumbers the film: the removed shot goes by its old number, the others by their new one
    removal = [Edit(action="remove", shots=[2])]
    removed = plan_impact("remove shot 2", removal, apply_edits(story, removal), version, sources, None)
    assert [(p.number, p.id, p.reasons) for p in removed.changed] == [(0, "01_02", ["was shot 2; the shots after it are numbered without it"])]
    assert [(p.number, p.reasons) for p in removed.dependents] == [(3, ["its memory holds keyframes of shot old 2 (removed)"]), (4, ["its memory holds keyframes of shot 3"])]
    assert "  old 01_02  remove     was shot 2;" in removed.describe()


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    folder = tmp_path_factory.mktemp("revise") / "story"
    make_story(folder, logline=LOGLINE, settings=SETTINGS)
    return folder


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((folder / "shots").iterdir())}


def test_only_remakes_the_changed_shot_and_keeps_every_other_file(made, tmp_path):
    import shutil

    folder = tmp_path / "only"
    shutil.copytree(made, folder)
    before = _files(folder)
    frames = count_frames(folder / "story.mp4")
    plan = plan_revision(folder, "make shot 3 at night", policy="only")
    assert plan.regenerate == ["01_03"]
    result = revise_story(folder, "make shot 3 at night", plan=plan)
    after = _files(folder)
    assert result.version == 2 and result.generated == 1
    differs = {n for n in before if before[n] != after[n]}
    assert {"01_03.mp4", "01_03.json"} <= differs <= {"01_03.mp4", "01_03.json", "01_03.tail.npz"}  # every other shot byte-identical
    script = json.loads((folder / "script.json").read_text())
    assert "night" in script["shots"][2]["prompt"] and script["shots"][2]["time_of_day"] == "night"
    assert count_frames(folder / "story.mp4") == frames
    latest = api.history(folder)[-1]
    assert latest.note == "make shot 3 at night" and [p["id"] for p in latest.plan["changed"]] == ["01_03"]
    undone = api.undo(folder)
    assert undone.version == 1 and _files(folder) == before


def test_cascade_remakes_exactly_the_planned_dependents(made, tmp_path):
    import shutil

    folder = tmp_path / "cascade"
    shutil.copytree(made, folder)
    before = _files(folder)
    plan = plan_revision(folder, "make shot 1 in the rain", policy="cascade")
    assert plan.regenerate[0] == "01_01" and len(plan.regenerate) >= 2  # shot 1's keyframes condition later shots
    revise_story(folder, "make shot 1 in the rain", plan=plan)
    after = _files(folder)
    take = lambda files, shot: json.loads(files[f"{shot}.json"])["take"]  # noqa: E731
    remade = sorted(n.split(".")[0] for n in before if n.endswith(".json") and take(before, n.split(".")[0]) != take(after, n.split(".")[0]))
    assert remade == sorted(plan.regenerate)  # a new take for exactly the planned shots
    version = json.loads((folder / "versions" / "v002.json").read_text())
    bank = json.loads((folder / "memory" / "bank.json").read_text())["entries"]
    old_keyframes = set(json.loads((folder / "versions" / "v001.json").read_text())["shots"]["01_01"]["keyframes"])
    new_keyframes = set(version["shots"]["01_01"]["keyframes"])
    for shot_id in plan.regenerate[1:]:  # a remade dependent remembers shot 1's new keyframes, not its old ones
        memory = set(version["shots"][shot_id]["memory"])
        assert not memory & old_keyframes and memory & new_keyframes, shot_id
        assert all(bank[e]["shot_id"] != "01_01" or e in new_keyframes for e in memory)


def test_bad_revisions_are_one_line_and_change_nothing(made, capsys):
    from director.frontends.cli import main

    before = _files(made)
    for instruction, message in [("make shot 12 at night", "there is no shot 12; shots are 1-5"), ("do something", "could not tell which shot you mean"), ("", "the instruction is empty")]:
        assert main(["revise", str(made), instruction]) == 2
        assert message in capsys.readouterr().err
    assert main(["revise", str(made.parent / "nowhere"), "regenerate shot 1"]) == 2
    assert "is not a story folder" in capsys.readouterr().err
    assert _files(made) == before and [v.number for v in api.history(made)] == [1]


class _ScriptedLLM(BaseHTTPRequestHandler):
    """A loopback chat-completions endpoint that answers with fixed edits and keeps what it was sent."""

    received: list[dict] = []
    answer = {"edits": [{"action": "condition", "shots": [2], "text": "in the rain"}]}

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append(body)
        reply = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                 "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": json.dumps(self.answer)}}]}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_the_llm_reads_instructions_the_grammar_cannot(made, monkeypatch):
    server = HTTPServer(("127.0.0.1", 0), _ScriptedLLM)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    try:
        settings = SETTINGS.model_copy(update={"planner": "openai", "llm_base_url": f"http://127.0.0.1:{server.server_port}/v1", "llm_model": "scripted"})
        plan = plan_revision(made, "it should rain during the second shot", settings=settings)
    finally:
        server.shutdown()
    assert plan.edits == [Edit(action="condition", shots=[2], text="in the rain")] and plan.regenerate[0] == "01_02"
    sent = json.dumps(_ScriptedLLM.received[-1]["messages"])
    assert "it should rain during the second shot" in sent and "2. [scene 1," in sent


def test_chat_plans_confirms_undoes_and_quits_through_stdin(made, tmp_path):
    import shutil

    folder = tmp_path / "chat"
    shutil.copytree(made, folder)
    film = (folder / "story.mp4").read_bytes()
    storymem = str(Path(sys.executable).parent / "storymem")
    session = "make shot 2 at night\nyes\nhistory\nregenerate shot 9\nundo\nquit\n"
    done = subprocess.run([storymem, "chat", str(folder)], input=session, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "1 shot to generate" in out or "shots to generate" in out
    assert "version 2:" in out and "make shot 2 at night" in out  # made, then listed by history
    assert "there is no shot 9; shots are 1-5" in out  # a bad instruction does not end the session
    assert "now at version 1" in out and (folder / "story.mp4").read_bytes() == film


@pytest.mark.parametrize("instruction, answer", [("make shot 4 at night", "cascade"), ("make shot 1 in the rain", "only")])
def test_a_chat_answer_of_only_or_cascade_applies_that_policy_not_the_default(made, tmp_path, instruction, answer):
    """The turn graph the chat and the studio drive: the plan shown has the default policy; the answer overrides it."""
    import shutil

    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.types import Command

    from director.revision.session import TurnContext, build_turn

    folder = tmp_path / "chat"
    shutil.copytree(made, folder)
    default = plan_revision(folder, instruction)
    asked = plan_revision(folder, instruction, policy=answer)
    assert default.policy != answer and asked.regenerate != default.regenerate  # the answer changes what is made
    turn, config, context = build_turn(InMemorySaver()), {"configurable": {"thread_id": answer}}, TurnContext(folder=str(folder), revise=api.revise_story)
    shown = ImpactPlan.model_validate(turn.invoke({"instruction": instruction}, config, context=context)["__interrupt__"][0].value)
    assert shown.policy == default.policy and shown.regenerate == default.regenerate
    done = turn.invoke(Command(resume=answer.upper()), config, context=context)
    assert done["message"].startswith(f"version 2: {len(asked.regenerate)} shot")
    latest = api.history(folder)[-1]
    assert latest.plan["policy"] == answer and sorted(sid for sid, entry in latest.shots.items() if entry.take != 1) == sorted(asked.regenerate)
