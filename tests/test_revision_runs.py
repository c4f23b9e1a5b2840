"""Real revisions on the preview backend: removing the last shot, inserting a shot before a
continuation, and memory edits that redo, revise, resume, undo and checkout all respect."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from director import api
from director.api import RunSettings, edit_memory, make_story, plan_revision, redo_shots, revise_story
from director.folder.video import count_frames, read_video
from helpers import LOGLINE, CrashAt

SETTINGS = RunSettings(backend="preview", planner="offline", shots=5, size="64x48", frames=9, embedder="colour-structure", quality_scorer="heuristic")


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    """Five shots: 01_01 01_02 01_03 (continues 01_02) | 02_01 02_02; three keyframes a shot (m0001-m0015)."""
    folder = tmp_path_factory.mktemp("runs") / "story"
    make_story(folder, logline=LOGLINE, settings=SETTINGS)
    return folder


def _copy(made: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "story"
    shutil.copytree(made, folder)
    return folder


def _version(folder: Path, number: int) -> dict:
    return json.loads((folder / "versions" / f"v{number:03d}.json").read_text())


def _take(folder: Path, shot: str, number: int) -> dict:
    return json.loads((folder / "takes" / shot / f"t{number:03d}.json").read_text())


def _bank(folder: Path) -> dict:
    return json.loads((folder / "memory" / "bank.json").read_text())


def test_removing_the_last_shot_makes_a_version_without_it(made, tmp_path):
    folder = _copy(made, tmp_path)
    film = (folder / "story.mp4").read_bytes()
    last = _take(folder, "02_02", 1)["frames"]
    plan = plan_revision(folder, "remove the last shot")
    assert [(p.id, p.action) for p in plan.changed] == [("02_02", "remove")] and plan.generations == 0
    result = revise_story(folder, "remove the last shot", plan=plan)
    assert (result.version, result.generated, result.shots) == (2, 0, 4)
    assert count_frames(folder / "story.mp4") == count_frames(made / "story.mp4") - last
    assert [s["id"] for s in json.loads((folder / "script.json").read_text())["shots"]] == ["01_01", "01_02", "01_03", "02_01"]
    v2 = _version(folder, 2)
    assert {k: e["take"] for k, e in v2["shots"].items()} == {"01_01": 1, "01_02": 1, "01_03": 1, "02_01": 1}
    assert not {"m0013", "m0014", "m0015"} & set(_bank(folder)["active"])  # the removed shot's keyframes leave memory
    api.undo(folder)
    assert (folder / "story.mp4").read_bytes() == film


def test_a_shot_inserted_before_a_continuation_is_what_the_continuation_follows(made, tmp_path):
    folder = _copy(made, tmp_path)
    instruction = "add a shot after 2: the keeper lights the lamp"
    plan = plan_revision(folder, instruction)
    assert [(p.number, p.id, p.action) for p in plan.changed] == [(3, "01_02a", "add")]
    assert [(p.number, p.id, p.action) for p in plan.dependents] == [(4, "01_03", "regenerate"), (5, "02_01", "keep"), (6, "02_02", "keep")]  # they only remember it
    new = plan.script.shots[2]
    script = json.loads((folder / "script.json").read_text())
    assert "the keeper, a lighthouse keeper" in new.prompt.lower() and script["style"] in new.prompt and "flat grey daylight under low cloud" in new.prompt  # the storm's light
    revise_story(folder, instruction, plan=plan)
    v2 = _version(folder, 2)
    assert v2["shots"]["01_03"]["take"] == 2 and _take(folder, "01_03", 2)["mode"] in ("mi2v", "mm2v")
    first = read_video(folder / "takes" / "01_03" / "t002.mp4")[0].astype(float)
    inserted = np.load(folder / "takes" / "01_02a" / "t001.tail.npz")["frames"][-1].astype(float)
    before = np.load(folder / "takes" / "01_02" / "t001.tail.npz")["frames"][-1].astype(float)
    follows, stale = np.abs(first - inserted).mean(), np.abs(first - before).mean()
    assert follows < stale / 2, (follows, stale)  # the continuation starts from the new shot's last frame


def test_a_new_order_keeps_every_take_and_remakes_only_a_continuation_that_lost_its_shot(made, tmp_path):
    folder = _copy(made, tmp_path)
    film, takes = (folder / "story.mp4").read_bytes(), {p: p.read_bytes() for p in (folder / "takes").rglob("*") if p.is_file()}
    frames = {sid: read_video(folder / "takes" / sid / "t001.mp4").astype(float) for sid in ("01_01", "01_02", "02_01", "02_02")}

    result = revise_story(folder, "move shot 5 before shot 4")  # two cuts of scene 2 change places: nothing is generated
    assert (result.version, result.generated) == (2, 0)
    assert [s["id"] for s in json.loads((folder / "script.json").read_text())["shots"]] == ["01_01", "01_02", "01_03", "02_02", "02_01"]
    assert {p: p.read_bytes() for p in (folder / "takes").rglob("*") if p.is_file()} == takes  # no take made, none touched
    assert {k: e["take"] for k, e in _version(folder, 2)["shots"].items()} == {"01_01": 1, "01_02": 1, "01_03": 1, "02_02": 1, "02_01": 1}
    shown = read_video(folder / "story.mp4").astype(float)
    start = count_frames(made / "story.mp4") - len(frames["02_01"]) - len(frames["02_02"])  # the film's scene 2, now 02_02 then 02_01
    moved, after = shown[start : start + len(frames["02_02"])], shown[start + len(frames["02_02"]) :]
    assert len(after) == len(frames["02_01"])
    assert np.abs(moved - frames["02_02"]).mean() < np.abs(moved - frames["02_01"][: len(moved)]).mean() / 2
    assert np.abs(after - frames["02_01"]).mean() < np.abs(after - frames["02_02"][: len(after)]).mean() / 2

    plan = plan_revision(folder, "swap shots 1 and 2")  # 01_03 continued 01_02, which now comes first: 01_03 follows 01_01 instead
    assert [(p.number, p.id, p.action) for p in plan.changed] == [(1, "01_02", "move")]
    assert [(p.number, p.id, p.action) for p in plan.dependents][0] == (3, "01_03", "regenerate") and plan.generations == 1
    assert revise_story(folder, "swap shots 1 and 2", plan=plan).generated == 1
    v3 = _version(folder, 3)
    assert v3["shots"]["01_03"]["take"] == 2 and _take(folder, "01_03", 2)["mode"] in ("mi2v", "mm2v")
    assert v3["shots"]["01_01"]["take"] == 1 and v3["shots"]["01_02"]["take"] == 1
    first = read_video(folder / "takes" / "01_03" / "t002.mp4")[0].astype(float)
    follows, stale = np.abs(first - frames["01_01"][-1]).mean(), np.abs(first - frames["01_02"][-1]).mean()
    assert follows < stale / 2, (follows, stale)
    api.undo(folder)
    api.undo(folder)
    assert (folder / "story.mp4").read_bytes() == film


def test_memory_edits_hold_through_redo_revise_undo_and_checkout(made, tmp_path):
    folder = _copy(made, tmp_path)
    recorded = _version(folder, 1)["shots"]["02_01"]["memory"]
    assert "m0002" in recorded and "m0009" in _bank(folder)["active"]
    face = tmp_path / "face.png"
    Image.fromarray(np.full((48, 64, 3), 200, np.uint8)).save(face)
    edit_memory(folder, "drop", "m0002")
    edit_memory(folder, "pin", "m0009")
    edit_memory(folder, "tag", "m0010", ["the fox"])
    reference = next(iter(set(edit_memory(folder, "add", str(face), characters=["the keeper"]).entries) - set(_bank(made)["entries"])))

    redo_shots(folder, [4])  # 02_01, once made from memory holding m0002
    take = _take(folder, "02_01", 2)
    assert "m0002" not in take["memory"] and reference in take["memory"] and set(take["memory"]) - {reference} <= set(recorded)
    bank = _bank(folder)
    assert "m0002" not in bank["active"] and reference in bank["active"] and "m0009" in bank["active"]
    assert bank["entries"]["m0009"]["pinned"] and bank["entries"]["m0010"]["characters"] == ["the fox"] and bank["entries"]["m0002"]["dropped"]

    revise_story(folder, "make the last shot at night")  # 02_02
    take = _take(folder, "02_02", 2)
    assert "m0002" not in take["memory"] and reference in take["memory"] and "m0009" in take["memory"]
    bank = _bank(folder)
    assert "m0002" not in bank["active"] and bank["entries"]["m0009"]["pinned"] and bank["entries"]["m0010"]["characters"] == ["the fox"]

    api.checkout(folder, 1)  # the film and the memory it was made with
    bank = _bank(folder)
    assert "m0002" in bank["active"] and reference not in bank["active"] and not bank["entries"]["m0002"]["dropped"]
    assert not bank["entries"]["m0009"]["pinned"] and bank["entries"]["m0010"]["characters"] == []
    api.checkout(folder, 3)
    bank = _bank(folder)
    assert bank["active"] == _version(folder, 3)["bank"] and "m0002" not in bank["active"] and reference in bank["active"]
    assert bank["entries"]["m0002"]["dropped"] and bank["entries"]["m0009"]["pinned"] and bank["entries"]["m0010"]["characters"] == ["the fox"]


def test_an_entry_dropped_while_a_story_is_interrupted_conditions_none_of_its_later_shots(tmp_path, capsys):
    from director.run.context import load_components
    from director.folder.workspace import Workspace

    folder = tmp_path / "story"
    components = load_components(SETTINGS, Workspace(folder))
    components.generator = CrashAt(components.generator, "02_01")
    with pytest.raises(RuntimeError, match="crash at 02_01"):
        make_story(folder, logline=LOGLINE, settings=SETTINGS, components=components)
    for command in (["revise", str(folder), "make shot 1 at night"], ["chat", str(folder)], ["redo", str(folder), "1"], ["undo", str(folder)], ["checkout", str(folder), "1"]):
        from director.frontends.cli import main

        before = sorted((p, p.stat().st_mtime_ns) for p in folder.rglob("*"))
        assert main(command) == 2
        assert capsys.readouterr().err.strip() == f"storymem: error: {folder} has no finished film yet: finish it first: storymem make --out {folder}"
        assert sorted((p, p.stat().st_mtime_ns) for p in folder.rglob("*")) == before
    assert "m0002" in _bank(folder)["snapshots"]["02_01"]  # recorded before the crash
    edit_memory(folder, "drop", "m0002")
    make_story(folder, settings=SETTINGS)  # the resume
    v1 = _version(folder, 1)
    for shot in ("02_01", "02_02"):
        assert "m0002" not in _take(folder, shot, v1["shots"][shot]["take"])["memory"], shot
    assert "m0002" in _take(folder, "01_03", 1)["memory"]  # made before the drop: its record says so
