"""The Python API alone: make a story, make a second version of one shot, undo; versions survive kills."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from director import api
from director.api import RunSettings, make_story, redo_shots, undo
from director.folder.video import count_frames, read_video
from gate import storymem_held_at, wait_for
from helpers import LOGLINE, CrashAt

SETTINGS = RunSettings(backend="preview", planner="offline", shots=4, size="64x48", frames=17, embedder="colour-structure", quality_scorer="heuristic")
# 4 offline shots: scenes of 2 and 2, all cuts, 17 frames each.
FRAMES = 4 * 17


def _bytes(folder: Path) -> dict[str, bytes]:
    names = ["story.mp4", "story.srt", "script.json", *(f"shots/{p.name}" for p in sorted((folder / "shots").iterdir()))]
    return {name: (folder / name).read_bytes() for name in names}


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api") / "keeper"
    first = make_story(folder, logline=LOGLINE, settings=SETTINGS)
    v1 = _bytes(folder)
    second = redo_shots(folder, [2])
    v2 = _bytes(folder)
    back = undo(folder)
    return folder, first, second, back, v1, v2


def test_make_story_returns_the_films_paths_and_counts(versions):
    folder, first, *_ = versions
    assert first.version == 1 and first.shots == 4 and first.frames == FRAMES and first.generated == 4
    assert first.film == folder.resolve() / "story.mp4" and count_frames(first.film) == FRAMES
    assert first.report.is_file() and first.subtitles.is_file() and first.script.is_file()


def test_a_second_version_regenerates_exactly_the_named_shot_with_a_new_seed(versions):
    folder, first, second, _, v1, v2 = versions
    assert second.version == 2 and second.generated == 1 and second.frames == FRAMES
    changed = {name for name in v1 if v1[name] != v2[name]}
    assert changed >= {"shots/01_02.mp4", "shots/01_02.json", "story.mp4", "script.json"}
    assert not {n for n in changed if n.startswith("shots/") and not n.startswith("shots/01_02")}  # every other shot byte-identical
    seeds = [json.loads(v["script.json"])["shots"][1]["seed"] for v in (v1, v2)]
    assert seeds[0] != seeds[1]
    record = json.loads(v2["shots/01_02.json"])
    assert record["take"] == "t002" and record["seed"] == seeds[1]
    assert record["memory"] == json.loads(v1["shots/01_02.json"])["memory"]  # redone from the memory it had
    remembered = [e for e in (folder / "events.jsonl").read_text().splitlines() if '"event": "remember"' in e]
    assert len(remembered) == 5 and all(json.loads(e)["scorer"] == json.loads(remembered[0])["scorer"] == "heuristic-sharpness-exposure" for e in remembered)  # the redo used the story's own models


def test_undo_restores_version_1_byte_for_byte_and_version_2_stays_playable(versions):
    folder, _, second, back, v1, v2 = versions
    assert back.version == 1 and _bytes(folder) == v1
    film_2 = folder / "versions" / "v002" / "story.mp4"
    assert count_frames(film_2) == FRAMES and film_2.read_bytes() == v2["story.mp4"]
    assert [v.number for v in api.history(folder)] == [1, 2] and all(v.done for v in api.history(folder))
    again = api.checkout(folder, "v2")
    assert again.version == 2 and _bytes(folder) == v2


def test_the_current_files_are_the_kept_takes_themselves_not_copies(versions):
    """Hard links: the film and each shot are the very files their version keeps (no copy to drift)."""
    from director.folder.workspace import Workspace

    folder = versions[0]
    workspace = Workspace(folder)
    current = workspace.current()
    assert current.shots and (folder / "story.mp4").samefile(workspace.film_of(current))
    assert (folder / "story.srt").samefile(workspace.subtitles_of(current))
    for shot_id, entry in current.shots.items():
        assert workspace.shot_video(shot_id).samefile(workspace.take_path(shot_id, entry.take, ".mp4")), shot_id
        assert workspace.shot_tail(shot_id).samefile(workspace.take_path(shot_id, entry.take, ".tail.npz")), shot_id


def test_undo_goes_back_to_the_version_a_change_was_made_from(versions, tmp_path):
    """v3 made from v1 (not from v2): undo makes v1 current again, not v2."""
    folder = tmp_path / "copy"
    shutil.copytree(versions[0], folder)
    api.checkout(folder, "v1")
    v1 = _bytes(folder)
    third = redo_shots(folder, [3])
    assert third.version == 3 and api.history(folder)[-1].parent == 1
    back = undo(folder)
    assert back.version == 1 and _bytes(folder) == v1


def test_undo_with_one_version_and_bad_shot_numbers_are_one_line_errors(tmp_path):
    folder = tmp_path / "one"
    make_story(folder, logline=LOGLINE, settings=SETTINGS)
    before = _bytes(folder)
    with pytest.raises(api.UsageError, match="has only one version: nothing to undo"):
        undo(folder)
    with pytest.raises(api.UsageError, match=r"there is no shot 9; shots are 1-4"):
        redo_shots(folder, [9])
    with pytest.raises(api.UsageError, match=r"give one seed per shot: 2 shots, 1 seed$"):
        redo_shots(folder, [1, 2], seeds=[5])
    with pytest.raises(api.UsageError, match=r"no finished version 'v7' .* versions: v1"):
        api.checkout(folder, "v7")
    with pytest.raises(api.UsageError, match="is not a story folder"):
        undo(tmp_path / "nowhere")
    assert _bytes(folder) == before


def test_a_revision_that_dies_leaves_version_1_current_and_the_rerun_finishes_it(tmp_path):
    from director.run.context import load_components
    from director.folder.workspace import Workspace

    folder = tmp_path / "story"
    make_story(folder, logline=LOGLINE, settings=SETTINGS)
    v1 = _bytes(folder)
    components = load_components(SETTINGS, Workspace(folder))
    components.generator = CrashAt(components.generator, "02_01")
    with pytest.raises(RuntimeError, match="crash at 02_01"):
        redo_shots(folder, [1, 3], components=components)  # 01_01 is remade, then the crash at 02_01
    assert _bytes(folder) == v1 and count_frames(folder / "story.mp4") == FRAMES
    draft = Workspace(folder).draft()
    assert draft.number == 2 and sorted(draft.shots) == ["01_01", "01_02", "02_02"]

    with pytest.raises(api.UsageError, match=r"version 2 is still being made \(regenerate shots 1, 3 with a new seed\)"):
        redo_shots(folder, [2])  # another change must wait: the pending one would be lost
    finished = redo_shots(folder, [3, 1, 1])  # the same change again (any order) completes version 2
    assert finished.version == 2 and finished.generated == 1  # only 02_01 was left to make
    v2 = _bytes(folder)
    assert v2["shots/01_01.mp4"] != v1["shots/01_01.mp4"] and v2["shots/02_01.mp4"] != v1["shots/02_01.mp4"]
    assert v2["shots/01_02.mp4"] == v1["shots/01_02.mp4"] and v2["shots/02_02.mp4"] == v1["shots/02_02.mp4"]
    film = read_video(folder / "story.mp4")
    assert len(film) == FRAMES


@pytest.mark.timeout(300)  # a run that never reaches its hold, or ignores the signal, fails here
def test_a_sigkilled_revision_leaves_version_1_intact_and_playable(tmp_path):
    folder = tmp_path / "killed"
    full = ["--backend", "preview", "--planner", "offline", "--size", "64x48", "--embedder", "colour-structure", "--quality-scorer", "heuristic"]
    storymem = str(Path(sys.executable).parent / "storymem")
    made = subprocess.run([storymem, "make", LOGLINE, "--shots", "6", "--out", str(folder), *full], capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    v1 = _bytes(folder)
    # The redo holds as it starts its third shot (two are in version 2's manifest) until killed.
    marker = tmp_path / "held"
    process = subprocess.Popen(storymem_held_at(3, marker, "redo", str(folder), "1", "2", "3", "4", "5", "6"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(marker, process)
    assert len(json.loads((folder / "versions" / "v002.json").read_text())["shots"]) == 2
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert json.loads((folder / "versions" / "current").read_text()) == 1
    assert json.loads((folder / "run.json").read_text())["settings"]["backend"] == "preview"  # what redo makes new takes with
    assert _bytes(folder) == v1 and count_frames(folder / "story.mp4") == sum(json.loads(v1[n])["frames"] for n in v1 if n.endswith(".json") and n.startswith("shots/"))

    again = subprocess.run([storymem, "redo", str(folder), "1", "2", "3", "4", "5", "6"], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "version 2" in again.stdout and json.loads((folder / "versions" / "current").read_text()) == 2
    assert not list(folder.rglob(".*.partial*"))


def test_keep_takes_prunes_takes_no_version_keeps(tmp_path):
    from director.critic.rules import Critic
    from director.run.context import load_components
    from director.folder.workspace import Workspace

    folder = tmp_path / "pruned"
    settings = SETTINGS.model_copy(update={"keep_takes": 0, "max_attempts": 2})
    components = load_components(settings, Workspace(folder))
    components.critic = Critic(max_attempts=2, quality_threshold=1e9)  # nothing passes: two takes a shot, the best kept
    make_story(folder, logline=LOGLINE, settings=settings, components=components)
    takes = sorted(p.relative_to(folder / "takes").as_posix() for p in (folder / "takes").rglob("*.mp4"))
    kept = [f"{shot}/{json.loads((folder / 'shots' / f'{shot}.json').read_text())['take']}.mp4" for shot in ("01_01", "01_02", "02_01", "02_02")]
    assert takes == sorted(kept)
    assert not list((folder / "takes").rglob("*.frames.npy"))  # raw frames never outlive their shot


def test_a_folder_made_before_versions_is_adopted_as_version_1(tmp_path):
    import shutil

    folder = tmp_path / "old"
    make_story(folder, logline=LOGLINE, settings=SETTINGS)
    shutil.rmtree(folder / "versions")
    shutil.rmtree(folder / "takes")
    before = _bytes(folder)
    notes = []
    result = make_story(folder, settings=SETTINGS, on_event=notes.append)
    videos = {name: data for name, data in before.items() if not name.endswith(".json")}
    assert result.version == 1 and result.generated == 0
    assert {name: data for name, data in _bytes(folder).items() if name in videos} == videos
    assert any("adopted as version 1" in n.get("note", "") for n in notes)
    assert redo_shots(folder, [4]).version == 2 and np.array_equal(read_video(folder / "shots" / "01_01.mp4"), read_video(folder / "takes" / "01_01" / "t001.mp4"))


def test_the_readme_python_example_runs_as_written(tmp_path, monkeypatch, capsys):
    """The README's Python API section is code a user will paste: it must run."""
    import re

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("## Python API", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert f"{Path('runs/keeper').resolve() / 'story.mp4'} 1 324" in printed
    assert "[(1, 'made from the logline: A lighthouse keeper befriends a fox.'), (2, 'regenerate shot 2 with a new seed')]" in printed
    assert count_frames(tmp_path / "runs" / "keeper" / "story.mp4") == 324
