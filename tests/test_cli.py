"""The command line: bad input is one line on stderr, exit 2, and never touches a story folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from director.folder.video import count_frames
from director.frontends.cli import main
from gate import storymem_held_at, wait_for
from helpers import LOGLINE

FAST = ["--backend", "preview", "--planner", "offline", "--size", "64x48", "--frames", "17", "--embedder", "colour-structure", "--quality-scorer", "heuristic"]


def _state(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def story_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("made") / "keeper"
    assert main(["make", LOGLINE, "--shots", "3", "--out", str(folder), *FAST]) == 0
    return folder


def _fails(capsys, argv: list[str], message: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("storymem: error: ") and message in err[0], err[0]


def test_made_story_has_exact_frame_counts(story_folder):
    # 3 shots at 17 frames: scenes of 2 and 1 shots, all cuts.
    assert count_frames(story_folder / "story.mp4") == 51
    assert len(list((story_folder / "shots").glob("*.mp4"))) == 3


@pytest.mark.parametrize(
    "args, message",
    [
        (["make", "   "], "the logline is empty"),
        (["make", "x" * 2001], "keep it under 2000"),
        (["make", "--script", "nowhere.json"], "script file not found: nowhere.json"),
        (["make", LOGLINE, "--backend", "sora"], "unknown backend 'sora'; choose one of: auto, preview, tiny, toy, wan"),
        (["make", LOGLINE, "--planner", "gpt"], "unknown planner 'gpt'; choose one of: auto, openai, offline, local"),
        (["make", LOGLINE, "--size", "big"], "--size must look like 832x480"),
        (["make", LOGLINE, "--shots", "1"], "--shots must be between 2 and 60"),
        (["make", LOGLINE, "--max-attempts", "0"], "--max-attempts must be at least 1"),
        (["make"], "give a logline, --script FILE, or --out FOLDER to resume"),
        (["make", LOGLINE, "--shots", "many"], "argument --shots: invalid int value: 'many'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    _fails(capsys, args, message)
    assert not (tmp_path / "runs").exists()


def test_bad_scripts_name_the_problem(capsys, tmp_path):
    not_json = tmp_path / "a.json"
    not_json.write_text("story: yes")
    _fails(capsys, ["make", "--script", str(not_json)], "is not valid JSON")
    invalid = tmp_path / "b.json"
    invalid.write_text(json.dumps({"title": "T", "scenes": [{"number": 1, "setting": "x"}], "shots": [{"id": "a", "scene": 1, "prompt": ""}]}))
    _fails(capsys, ["make", "--script", str(invalid)], "shots.0.prompt: must not be empty")
    mismatched = tmp_path / "c.json"
    mismatched.write_text(json.dumps({"story_name": "S", "scenes": [{"scene_num": 1, "video_prompts": ["a", "b"], "cut": [True]}]}))
    _fails(capsys, ["make", "--script", str(mismatched)], "scenes.0.cut: has 1 entries for 2 video_prompts")


def test_every_bad_command_leaves_an_existing_story_untouched(capsys, story_folder):
    before = _state(story_folder)
    out = ["--out", str(story_folder)]
    _fails(capsys, ["make", "A different story about a baker.", *out, *FAST], "holds a different story ('The Keeper and the Fox'); use --force")
    _fails(capsys, ["make", LOGLINE, "--shots", "4", *out, *FAST], "holds a different story")
    _fails(capsys, ["make", "", *out], "the logline is empty")
    _fails(capsys, ["make", LOGLINE, "--backend", "nope", *out], "unknown backend")
    _fails(capsys, ["make", "--script", str(story_folder / "missing.json"), *out], "script file not found")
    assert _state(story_folder) == before


def test_rerunning_a_finished_story_regenerates_nothing(capsys, story_folder):
    shots_before = {p.name: p.read_bytes() for p in (story_folder / "shots").iterdir()}
    assert main(["make", "--out", str(story_folder), *FAST]) == 0
    assert {p.name: p.read_bytes() for p in (story_folder / "shots").iterdir()} == shots_before
    assert "film:" in capsys.readouterr().out


def test_force_replaces_only_what_storymem_owns(tmp_path):
    folder = tmp_path / "story"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    assert main(["make", LOGLINE, "--shots", "2", "--out", str(folder), *FAST]) == 2  # not a story folder
    assert main(["make", LOGLINE, "--shots", "2", "--out", str(folder), "--force", *FAST]) == 0
    assert main(["make", "A baker bakes a cake.", "--shots", "2", "--out", str(folder), "--force", *FAST]) == 0
    assert (folder / "notes.txt").read_text() == "mine"
    assert json.loads((folder / "script.json").read_text())["logline"] == "A baker bakes a cake."


def test_script_run_through_the_installed_console_script(tmp_path):
    script = Path(__file__).parent / "fixtures" / "two_scenes.storymem.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "storymem"), "make", "--script", str(script), "--out", str(tmp_path / "boats"), *FAST],
        capture_output=True, text=True, env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "planner: none (script given)" in done.stderr
    # 3 shots of 17 frames; the second continues the first, so it drops its copied frame.
    assert count_frames(tmp_path / "boats" / "story.mp4") == 17 + 16 + 17
    assert f"film:      {tmp_path / 'boats' / 'story.mp4'}" in done.stdout


def test_help_teaches_by_example():
    done = subprocess.run([sys.executable, "-m", "director.frontends.cli", "make", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    assert "examples:" in done.stdout and "--script" in done.stdout and "resume" in done.stdout


def test_memory_command_lists_and_edits_with_events(capsys, tmp_path):
    folder = tmp_path / "story"
    assert main(["make", LOGLINE, "--shots", "3", "--out", str(folder), *FAST]) == 0
    capsys.readouterr()
    bank = json.loads((folder / "memory" / "bank.json").read_text())
    first = bank["active"][0]
    assert main(["memory", str(folder)]) == 0
    listing = capsys.readouterr().out
    assert f"  {first}  shot 01_01 frame" in listing and "first 3 are the sink" in listing

    assert main(["memory", str(folder), "pin", first]) == 0
    assert main(["memory", str(folder), "tag", first, "the lighthouse keeper"]) == 0
    face = tmp_path / "face.png"
    from PIL import Image

    Image.new("RGB", (32, 24), (200, 10, 10)).save(face)
    assert main(["memory", str(folder), "add", str(face), "--character", "the stray fox"]) == 0
    bank = json.loads((folder / "memory" / "bank.json").read_text())
    assert bank["entries"][first]["pinned"] and bank["entries"][first]["characters"] == ["the keeper"]  # the character, as the script names it
    added = bank["active"][0]  # references come before every keyframe
    assert bank["entries"][added]["kind"] == "reference" and bank["entries"][added]["characters"] == ["the fox"]
    edits = [e for e in json.loads("[" + ",".join((folder / "events.jsonl").read_text().splitlines()) + "]") if e.get("source") == "user"]
    assert [e["event"] for e in edits] == ["memory.pin", "memory.tag", "memory.add_reference"]

    capsys.readouterr()
    assert main(["memory", str(folder), "drop", "m9999"]) == 2
    assert capsys.readouterr().err.strip() == f"storymem: error: no memory entry 'm9999' in {folder}"
    assert main(["memory", str(tmp_path / "nowhere")]) == 2
    assert main(["memory", str(folder), "shuffle", first]) == 2


@pytest.mark.timeout(300)  # a run that never reaches its hold, or ignores the signal, fails here
def test_a_killed_run_keeps_its_finished_shots_and_the_rerun_completes(tmp_path):
    """SIGKILL, not an exception: nothing gets to clean up, and the rerun must still be right."""
    import signal

    folder = tmp_path / "killed"
    arguments = ["make", LOGLINE, "--shots", "8", "--out", str(folder), "--size", "64x48"]
    arguments += ["--backend", "preview", "--planner", "offline", "--embedder", "colour-structure", "--quality-scorer", "heuristic"]
    # The run holds as it starts its third shot (two are finished): the kill lands mid-run, however loaded the machine.
    marker = tmp_path / "held"
    process = subprocess.Popen(storymem_held_at(3, marker, *arguments), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(marker, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    command = [str(Path(sys.executable).parent / "storymem"), *arguments]
    done = sorted(p.stem for p in (folder / "shots").glob("*.json"))
    assert "01_02" in done and len(done) < 8, done
    kept = {p.name: p.read_bytes() for p in (folder / "shots").iterdir() if p.name.split(".")[0] in done}

    again = subprocess.run(command, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    for name, data in kept.items():
        assert (folder / "shots" / name).read_bytes() == data, name
    assert count_frames(folder / "story.mp4") == 646
    assert not list(folder.rglob(".*.partial*"))
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    rerun_start = max(i for i, e in enumerate(events) if e["event"] == "resume" or e.get("node") == "plan")
    missing = [s["id"] for s in json.loads((folder / "script.json").read_text())["shots"] if s["id"] not in done]
    rerun = events[rerun_start:]
    assert [e["shot"] for e in rerun if e["event"] == "commit"] == missing  # the rerun finished exactly the missing shots
    generated = [e["shot"] for e in rerun if e["event"] == "generate"]
    # ... generating each of them, except one whose attempt was checkpointed before the kill
    assert generated == missing or generated == missing[1:], (generated, missing)


def test_resuming_with_other_render_settings_is_refused(capsys, story_folder):
    before = _state(story_folder)
    other = [a if a != "17" else "33" for a in FAST]
    assert main(["make", "--out", str(story_folder), *other]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("storymem: error")]
    assert len(errors) == 1 and "was made with preview at 64x48, 17 frames a clip; this run asks for preview at 64x48, 33" in errors[0]
    assert _state(story_folder) == before
