"""The instruction reader on a table of everyday phrasings, through the offline reader and through the
LLM path (a real loopback chat-completions endpoint), each row with the exact plan it must give."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from director import api
from director.api import RunSettings, plan_revision
from director.revision.edits import Edit, RevisionError
from director.revision.looks import restyle
from director.revision.parse import parse_offline
from director.folder.versions import ShotEntry, Version
from director.folder.workspace import Workspace
from director.story import Character, Scene, Shot, Story
from llm_server import LoopbackEndpoint

KEEPER = "a lighthouse keeper with short black hair and a mustard scarf"
FOX = "a grey fox with a crooked tail"
MARA = "a baker in a white apron and a blue coat"


def story() -> Story:
    """Seven shots in three scenes; shot 3 continues shot 2 and shot 5 continues shot 4."""
    def shot(sid, scene, prompt, who, transition="cut"):
        return Shot(id=sid, scene=scene, prompt=prompt, characters=who, transition=transition, seed=int(sid[-1]) + 10 * scene)

    return Story(
        title="The keeper and the fox", style="cinematic, soft film grain",
        characters=[Character(name="the keeper", description=KEEPER), Character(name="the fox", description=FOX), Character(name="Mara", description=MARA)],
        scenes=[Scene(number=1, setting="a rocky shore", time_of_day="day"), Scene(number=2, setting="a lighthouse lamp room", time_of_day="dusk"),
                Scene(number=3, setting="a village bakery", time_of_day="morning")],
        shots=[
            shot("01_01", 1, f"The keeper, {KEEPER}, walks the shore in soft daylight.", ["the keeper"]),
            shot("01_02", 1, f"The fox, {FOX}, watches from the rocks.", ["the fox"]),
            shot("01_03", 1, f"The fox, {FOX}, follows the keeper, {KEEPER}.", ["the fox", "the keeper"], "continue"),
            shot("02_01", 2, f"The keeper, {KEEPER}, climbs to the lamp.", ["the keeper"]),
            shot("02_02", 2, f"The keeper, {KEEPER}, lights the lamp.", ["the keeper"], "continue"),
            shot("03_01", 3, f"Mara, {MARA}, opens the bakery.", ["Mara"]),
            shot("03_02", 3, f"Mara, {MARA}, feeds the fox, {FOX}.", ["Mara", "the fox"]),
        ],
    )


# Recorded memory: each shot's keyframe m<n> comes from shot n; shot 2 remembers shot 1, shot 3 shot 2,
# shot 5 shot 4, shot 7 shot 6. So: 1 -> 2 -> 3 (3 also continues 2); 4 -> 5 (continues); 6 -> 7.
MEMORY = {"01_02": ["m0001"], "01_03": ["m0002"], "02_02": ["m0004"], "03_02": ["m0006"]}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A finished story folder as the records describe it (no generation: the plan reads only records)."""
    root = tmp_path_factory.mktemp("reader") / "story"
    script = story()
    workspace = Workspace(root)
    root.mkdir(parents=True)
    workspace.save_run({"story_id": "reader", "settings": RunSettings(backend="preview", planner="offline").model_dump(mode="json", exclude={"reference", "checkpoint_db"})})
    workspace.save_script(script)
    entries = {f"m{n:04d}": {"id": f"m{n:04d}", "image": f"m{n:04d}.png", "kind": "keyframe", "shot_id": shot.id} for n, shot in enumerate(script.shots, start=1)}
    (root / "memory").mkdir()
    (root / "memory" / "bank.json").write_text(json.dumps({"version": 1, "config": {"capacity": 10, "sink": 3}, "next_id": 8, "entries": entries, "active": list(entries), "snapshots": MEMORY}))
    version = Version(number=1, note="made", thread="reader", script=script.model_dump(mode="json"), finished=time.time(), bank=list(entries),
                      shots={s.id: ShotEntry(take=1, decision="accept", memory=MEMORY.get(s.id, []), keyframes=[f"m{n:04d}"]) for n, s in enumerate(script.shots, start=1)})
    workspace.save_version(version)
    (workspace.versions_dir / "current").write_text("1\n")
    return root


def E(action: str, *shots: int, **fields) -> Edit:  # noqa: N802 - reads like the table
    return Edit(action=action, shots=list(shots), **fields)


def summary(plan) -> tuple[str, str, dict[str, str]]:
    """Changed and dependent shots as 'NUMBER:ACTION' (r regenerate, a add, m move, k keep; removed: 'ID:x'), and the looks."""
    code = {"regenerate": "r", "add": "a", "move": "m", "keep": "k", "remove": "x"}
    changed = " ".join(f"{p.number or p.id}:{code[p.action]}" for p in plan.changed)
    return changed, " ".join(f"{p.number}:{code[p.action]}" for p in plan.dependents), plan.looks


# instruction, the edits it means, the plan: changed, dependents, looks
TABLE = [
    ("make the first shot at night", [E("condition", 1, text="at night")], "1:r", "2:r 3:r", {}),
    ("shot 3 but at sunrise", [E("condition", 3, text="at sunrise")], "3:r", "", {}),
    ("at sunrise for shot 3", [E("condition", 3, text="at sunrise")], "3:r", "", {}),
    ("make it rain in the second scene", [E("condition", scene=2, text="in the rain")], "4:r 5:r", "", {}),
    ("make it snow in scene 3", [E("condition", scene=3, text="in the snow")], "6:r 7:r", "", {}),
    ("make the last scene foggy", [E("condition", scene=3, text="in thick fog")], "6:r 7:r", "", {}),
    ("make shot 2 at night and shot 4 in the rain", [E("condition", 2, text="at night"), E("condition", 4, text="in the rain")], "2:r 4:r", "3:r 5:r", {}),
    ("make shot 2 and shot 6 at dusk", [E("condition", 2, 6, text="at dusk")], "2:r 6:r", "3:r 7:r", {}),
    ("set the opening at dawn, then the next one at dusk", [E("condition", 1, text="at dawn"), E("condition", 2, text="at dusk")], "1:r 2:r", "3:r", {}),
    ("the ending should be at night", [E("condition", 7, text="at night")], "7:r", "", {}),
    ("render the whole film in winter", [E("condition", 1, 2, 3, 4, 5, 6, 7, text="in winter")], "1:r 2:r 3:r 4:r 5:r 6:r 7:r", "", {}),
    ("make the penultimate shot rainy", [E("condition", 6, text="in the rain")], "6:r", "7:k", {}),
    ("the second shot of scene 2 at night", [E("condition", 5, text="at night")], "5:r", "", {}),
    ("make shots 4-5 in the snow", [E("condition", 4, 5, text="in the snow")], "4:r 5:r", "", {}),
    ("make scene 1 at dusk and the next scene at night", [E("condition", scene=1, text="at dusk"), E("condition", scene=2, text="at night")], "1:r 2:r 3:r 4:r 5:r", "", {}),
    ("change the opening to night", [E("condition", 1, text="at night")], "1:r", "2:r 3:r", {}),
    ("remove the last shot", [E("remove", 7)], "03_02:x", "", {}),
    ("remove the opening", [E("remove", 1)], "01_01:x", "1:r 2:r", {}),
    ("delete shots 2 to 3", [E("remove", 2, 3)], "01_02:x 01_03:x", "", {}),
    ("cut the fourth shot", [E("remove", 4)], "4:r 02_01:x", "", {}),
    ("drop scene 2", [E("remove", 4, 5)], "02_01:x 02_02:x", "", {}),
    ("get rid of the second shot", [E("remove", 2)], "01_02:x", "2:r", {}),
    ("add a shot after 2: the keeper lights a lantern", [E("add", 2, text="the keeper lights a lantern")], "3:a", "4:r", {}),
    ("add a shot at the end: the fox sleeps by the oven", [E("add", 7, text="the fox sleeps by the oven")], "8:a", "", {}),
    ("open with a shot of the sea at dawn", [E("add", 0, text="the sea at dawn")], "1:a", "", {}),
    ("insert a shot before shot 4: the keeper climbs the stairs", [E("add", 3, scene=2, text="the keeper climbs the stairs")], "4:a", "", {}),
    ("add a shot between shots 4 and 5: the lamp flickers", [E("add", 4, text="the lamp flickers")], "5:a", "6:r", {}),
    ("add a final shot where Mara waves", [E("add", 7, text="Mara waves")], "8:a", "", {}),
    ("add a shot at the start of scene 3: the bakery before dawn", [E("add", 5, scene=3, text="the bakery before dawn")], "6:a", "", {}),
    ("add a shot after the opening: gulls circle the lighthouse", [E("add", 1, text="gulls circle the lighthouse")], "2:a", "", {}),
    ("regenerate the last shot", [E("regenerate", 7)], "7:r", "", {}),
    ("try the second shot again", [E("regenerate", 2)], "2:r", "3:r", {}),
    ("redo shots 1 and 6", [E("regenerate", 1, 6)], "1:r 6:r", "2:r 3:r 7:r", {}),
    ("give shot 4 another take", [E("regenerate", 4)], "4:r", "5:r", {}),
    ("cut between shots 2 and 3", [E("transition", 3, transition="cut")], "3:r", "", {}),
    ("make shot 5 a hard cut", [E("transition", 5, transition="cut")], "5:r", "", {}),
    ("join shots 6 and 7", [E("transition", 7, transition="continue")], "7:r", "", {}),
    ("change shot 2 to: The fox sleeps on the rocks.", [E("prompt", 2, text="The fox sleeps on the rocks.")], "2:r", "3:r", {}),
    ("shot 6 should show Mara kneading dough", [E("prompt", 6, text="Mara kneading dough")], "6:r", "7:k", {}),
    ("give the fox red fur", [Edit(action="look", character="the fox", text="red fur")], "2:r 3:r 7:r", "", {"the fox": "red fur"}),
    ("make the fox red", [Edit(action="look", character="the fox", text="red")], "2:r 3:r 7:r", "", {"the fox": "red"}),
    ("the fox should be white", [Edit(action="look", character="the fox", text="white")], "2:r 3:r 7:r", "", {"the fox": "white"}),
    ("give the keeper a red scarf", [Edit(action="look", character="the keeper", text="a red scarf")], "1:r 3:r 4:r 5:r", "2:r", {"the keeper": "a red scarf"}),
    ("give the baker a green coat", [Edit(action="look", character="Mara", text="a green coat")], "6:r 7:r", "", {"Mara": "a green coat"}),
    ("Mara's apron should be black", [Edit(action="look", character="Mara", text="black apron")], "6:r 7:r", "", {"Mara": "black apron"}),
    ("the keeper wears a blue hat", [Edit(action="look", character="the keeper", text="a blue hat")], "1:r 3:r 4:r 5:r", "2:r", {"the keeper": "a blue hat"}),
    ("give the fox red fur and the keeper a grey scarf", [Edit(action="look", character="the fox", text="red fur"), Edit(action="look", character="the keeper", text="a grey scarf")],
     "1:r 2:r 3:r 4:r 5:r 7:r", "", {"the fox": "red fur", "the keeper": "a grey scarf"}),
    ("make shot 2 at night; remove the last shot", [E("condition", 2, text="at night"), E("remove", 7)], "2:r 03_02:x", "3:r", {}),
    ("please make the third shot foggy, and regenerate shot 6", [E("condition", 3, text="in thick fog"), E("regenerate", 6)], "3:r 6:r", "7:k", {}),
    ("I want shot 2 to be at sunset", [E("condition", 2, text="at sunset")], "2:r", "3:r", {}),
    ("can you make the opening shot rainy?", [E("condition", 1, text="in the rain")], "1:r", "2:r 3:r", {}),
    ("turn shot 7 into a night shot", [E("condition", 7, text="at night")], "7:r", "", {}),
    ("make shot 2 at night and then regenerate it", [E("condition", 2, text="at night"), E("regenerate", 2)], "2:r", "3:r", {}),
    ("the keeper's scarf should be green", [Edit(action="look", character="the keeper", text="green scarf")], "1:r 3:r 4:r 5:r", "2:r", {"the keeper": "green scarf"}),
    ("change the fox's fur to white", [Edit(action="look", character="the fox", text="white fur")], "2:r 3:r 7:r", "", {"the fox": "white fur"}),
    ("replace the ending with: the fox sleeps.", [E("prompt", 7, text="the fox sleeps.")], "7:r", "", {}),
    ("lose the first two shots", [E("remove", 1, 2)], "1:r 01_01:x 01_02:x", "", {}),
    ("shot 4: the keeper and the fox watch shot 3 of a film, then sit", [E("prompt", 4, text="the keeper and the fox watch shot 3 of a film, then sit")], "4:r", "5:r", {}),
    # a new order within a scene: moved shots keep their takes; a continuation whose shot before it changed is made again
    ("swap shots 2 and 3", [E("move", 3, 1)], "2:m", "", {}),
    ("move shot 5 before shot 4", [E("move", 5, 3)], "4:m", "", {}),
    ("swap the first and third shots", [E("move", 3, 0), E("move", 1, 2)], "1:m 3:m", "", {}),
    ("move the opening to the end of its scene", [E("move", 1, 3)], "3:m", "", {}),
    ("move shot 2 to the start", [E("move", 2, 0)], "1:m", "3:r", {}),
    ("put the last shot before shot 6", [E("move", 7, 5)], "6:m", "", {}),
    ("swap shot 6 and shot 7, then make shot 1 at night", [E("move", 7, 5), E("condition", 1, text="at night")], "1:r 6:m", "2:r 3:r", {}),
    ("put shot 5 at the start of scene 2", [E("move", 5, 3)], "4:m", "", {}),
    # weather added to a shot is a condition, not a new shot; "can shot N be ..." asks for one
    ("add rain to shot 4", [E("condition", 4, text="in the rain")], "4:r", "5:r", {}),
    ("add some snow to scene 3", [E("condition", scene=3, text="in the snow")], "6:r 7:r", "", {}),
    ("can shot 6 be at sunset?", [E("condition", 6, text="at sunset")], "6:r", "7:k", {}),
]

# What the new description of a look row reads (a colour replaces a colour, a garment its garment).
LOOKS = {
    "give the fox red fur": ("the fox", "a red fox with a crooked tail"),
    "make the fox red": ("the fox", "a red fox with a crooked tail"),
    "the fox should be white": ("the fox", "a white fox with a crooked tail"),
    "give the keeper a red scarf": ("the keeper", "a lighthouse keeper with short black hair and a red scarf"),
    "give the baker a green coat": ("Mara", "a baker in a white apron and a green coat"),
    "Mara's apron should be black": ("Mara", "a baker in a black apron and a blue coat"),
    "the keeper wears a blue hat": ("the keeper", "a lighthouse keeper with short black hair and a mustard scarf, with a blue hat"),
    "the keeper's scarf should be green": ("the keeper", "a lighthouse keeper with short black hair and a green scarf"),
    "change the fox's fur to white": ("the fox", "a white fox with a crooked tail"),
}


def test_the_table_has_forty_phrasings():
    assert len(TABLE) >= 40 and len({row[0] for row in TABLE}) == len(TABLE)


@pytest.mark.parametrize("instruction, edits, changed, dependents, looks", TABLE, ids=[row[0] for row in TABLE])
def test_the_offline_reader_gives_the_expected_edits_and_plan(folder, instruction, edits, changed, dependents, looks):
    assert parse_offline(instruction, story()) == edits
    plan = plan_revision(folder, instruction)
    assert plan.edits == edits
    assert summary(plan) == (changed, dependents, looks)
    if instruction in LOOKS:
        name, description = LOOKS[instruction]
        assert {c.name: c.description for c in plan.script.characters}[name] == description


def test_the_llm_path_reads_the_same_table_into_the_same_plans(folder, monkeypatch):
    """The endpoint answers each instruction with the table's edits (as a model would, in the schema);
    every plan must equal the offline one, and every request must carry what a model needs."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    answers = {row[0]: {"edits": [e.model_dump(mode="json") for e in row[1]]} for row in TABLE}

    def answer(body):
        asked = body["messages"][-1]["content"].split("The user asks: ", 1)[1].split("\n", 1)[0]
        return answers[asked]

    with LoopbackEndpoint(answer) as endpoint:
        settings = RunSettings(backend="preview", planner="openai", llm_base_url=endpoint.base_url, llm_model="scripted")
        notes: list[dict] = []
        for instruction, edits, changed, dependents, looks in TABLE:
            plan = plan_revision(folder, instruction, settings=settings, on_event=notes.append)
            assert plan.edits == edits, instruction
            assert summary(plan) == (changed, dependents, looks), instruction
            offline = plan_revision(folder, instruction)
            assert plan.model_dump(exclude={"instruction"}) == offline.model_dump(exclude={"instruction"}), instruction
    assert len(endpoint.requests) == len(TABLE) and all(n == {"note": "instruction read by scripted"} for n in notes)
    sent = endpoint.requests[0]["messages"][-1]["content"]
    assert "7. [scene 3, cut]" in sent and "The film has 7 shots (the last is shot 7) in 3 scenes" in sent and f"- the fox: {FOX}" in sent
    schema = json.dumps(endpoint.requests[0])
    assert "0: before the first shot" in schema and "the scene the new shot joins" in schema


@pytest.mark.parametrize(
    "instruction, message",
    [
        ("make it nicer", "could not tell which shot you mean in 'make it nicer'; the closest form I understand: \"make shot 3 at night\""),
        ("remove it", "could not tell which shot you mean in 'remove it'; the closest form I understand: \"remove shot 5\" or \"remove the last shot\""),
        ("add a shot", "could not tell where the new shot goes in 'add a shot'; the closest form I understand: \"add a shot after 3: WHAT HAPPENS\""),
        ("give Zed a hat", "could not tell which character you mean in 'give Zed a hat'; characters are: the keeper, the fox, Mara"),
        ("give the fox red fur in shot 3", "a look changes a character in every shot; for one shot say \"change shot 2 to: NEW PROMPT\""),
        ("make shot 2 at night and the next one", "say what to do with"),
        ("cut between shots 2 and 4", "shots 2 and 4 are not next to each other"),
        ("the next one at night", "'the next one' needs a shot named before it"),
        ("remove the fox from shot 3", "to take the fox out of shot 3, give it a new prompt: \"change shot 3 to: NEW PROMPT\""),
        ("cut the keeper out of shot 1", "to take the keeper out of shot 1, give it a new prompt"),
    ],
)
def test_what_the_reader_cannot_read_is_one_line_naming_the_closest_form(instruction, message):
    with pytest.raises(RevisionError) as error:
        parse_offline(instruction, story())
    assert message in str(error.value) and "\n" not in str(error.value)


def test_numbers_outside_the_film_are_one_line_and_write_nothing(folder):
    before = sorted((p.name, p.stat().st_mtime_ns) for p in folder.rglob("*"))
    for instruction, message in [("make shot 9 at night", "there is no shot 9; shots are 1-7"), ("make scene 4 rainy", "there is no scene 4; scenes are 1-3"),
                                 ("remove shots 1-7", "a film needs at least one shot"),
                                 ("move shot 2 after shot 5", "shot 2 belongs to scene 1: a shot moves within its scene"),
                                 ("move shot 3 after shot 2", "shot 3 is already there"), ("move shot 2 before shot 3", "shot 2 is already there")]:
        with pytest.raises(api.UsageError, match=message):
            plan_revision(folder, instruction)
    assert sorted((p.name, p.stat().st_mtime_ns) for p in folder.rglob("*")) == before


def test_an_added_shot_inherits_its_scenes_setting_the_looks_and_the_style(folder):
    plan = plan_revision(folder, "add a shot after 4: the keeper and the fox watch the beam")
    new = plan.script.shots[4]
    assert new.scene == 2 and new.characters == ["the keeper", "the fox"] and new.transition == "cut"
    assert new.prompt == (f"The keeper, {KEEPER}, and the fox, {FOX}, watch the beam, in a lighthouse lamp room, amber dusk light and long shadows. "
                             "Style: cinematic, soft film grain.")
    follower = plan.script.shots[5]
    assert follower.id == "02_02" and follower.transition == "continue"  # it continues the new shot, so it is made again
    assert [(p.number, p.action) for p in plan.dependents] == [(6, "regenerate")] and "a new shot comes before it" in plan.dependents[0].reasons[0]
    asked_cut = plan_revision(folder, "add a shot after 4: the lamp glows, and cut to shot 5")
    assert asked_cut.script.shots[5].transition == "cut" and [(p.number, p.action) for p in asked_cut.changed] == [(5, "add"), (6, "regenerate")]
    assert asked_cut.dependents == []


@pytest.mark.parametrize(
    "description, look, expected",
    [
        ("a grey fox", "red fur", "a red fox"),
        ("a stray fox with sleek black fur and a crooked tail", "red fur", "a stray fox with sleek red fur and a crooked tail"),
        ("a tall woman in a grey coat", "a red raincoat", "a tall woman in a red raincoat"),
        ("a small boy in a yellow raincoat", "green", "a small boy in a green raincoat"),
        ("a keeper with short black hair", "blue hair", "a keeper with short blue hair"),
        ("a tall woman in a grey coat", "a red scarf", "a tall woman in a grey coat, with a red scarf"),
    ],
)
def test_a_new_look_replaces_the_old_value(description, look, expected):
    assert restyle(description, look) == expected
