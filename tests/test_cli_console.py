"""What the console says on reruns and edits, and the inputs that must be refused in one line."""

from __future__ import annotations

import json

import pytest

from director.frontends.cli import main
from helpers import LOGLINE, terminal_sigint

FAST = ["--backend", "preview", "--planner", "offline", "--size", "64x48", "--frames", "9", "--embedder", "colour-structure", "--quality-scorer", "heuristic"]


def _error(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_a_finished_story_says_it_is_complete_and_generates_nothing(tmp_path, capsys):
    folder = tmp_path / "s"
    assert main(["make", LOGLINE, "--shots", "2", "--out", str(folder), *FAST]) == 0
    capsys.readouterr()
    events_before = len((folder / "events.jsonl").read_text().splitlines())
    assert main(["make", "--out", str(folder), *FAST]) == 0
    captured = capsys.readouterr()
    assert "already complete: version 1, nothing to do" in captured.err
    assert "film:" in captured.out and "version 1" in captured.out
    generated = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()[events_before:]]
    assert not [e for e in generated if e["event"] in ("generate", "assemble")]


def test_options_are_never_abbreviated(tmp_path, capsys):
    assert main(["make", LOGLINE, "--out", str(tmp_path / "s1"), "--shot", "3", *FAST]) == 2
    assert "unrecognized arguments: --shot 3" in _error(capsys)
    assert not (tmp_path / "s1").exists()


def test_memory_edits_refuse_non_images_and_empty_tags(tmp_path, capsys):
    folder = tmp_path / "s"
    assert main(["make", LOGLINE, "--shots", "2", "--out", str(folder), *FAST]) == 0
    bank_before = (folder / "memory" / "bank.json").read_bytes()
    notes = tmp_path / "notes.png"
    notes.write_text("these are my notes, not a picture")
    capsys.readouterr()
    assert main(["memory", str(folder), "add", str(notes)]) == 2
    assert f"{notes} is not an image this tool can read" in _error(capsys)
    assert main(["memory", str(folder), "tag", "m0001"]) == 2
    assert _error(capsys) == "storymem: error: memory tag needs the names of the characters the entry shows"
    assert (folder / "memory" / "bank.json").read_bytes() == bank_before


def test_redo_history_undo_through_the_command_line(tmp_path, capsys):
    folder = tmp_path / "s"
    assert main(["make", LOGLINE, "--shots", "2", "--out", str(folder), *FAST]) == 0
    film_1 = (folder / "story.mp4").read_bytes()
    assert main(["redo", str(folder), "2", "--seed", "77"]) == 0
    assert json.loads((folder / "script.json").read_text())["shots"][1]["seed"] == 77
    capsys.readouterr()
    assert main(["history", str(folder)]) == 0
    listing = [line.split(None, 4) for line in capsys.readouterr().out.splitlines()]
    assert listing[0] == ["version", "made", "from", "state", "shots  what"]
    assert listing[1][:4] == ["v1", "-", "done", "2"] and listing[1][4].startswith("made from the logline")
    assert listing[2] == ["v2", "v1", "current", "2", "regenerate shot 2 with a new seed"]
    assert main(["undo", str(folder)]) == 0 and (folder / "story.mp4").read_bytes() == film_1
    assert main(["undo", str(folder)]) == 2
    assert "has only one version: nothing to undo" in _error(capsys)
    assert main(["redo", str(folder), "5"]) == 2
    assert "there is no shot 5; shots are 1-2" in _error(capsys)


def test_review_stops_after_planning_and_films_the_edited_script(tmp_path, capsys):
    folder = tmp_path / "s"
    assert main(["make", LOGLINE, "--shots", "3", "--out", str(folder), "--review", *FAST]) == 0
    out = capsys.readouterr().out
    assert "3 shots planned, nothing generated yet" in out and not (folder / "story.mp4").exists()
    assert not (folder / "takes").exists()
    script = json.loads((folder / "script.json").read_text())
    script["shots"][1]["prompt"] = "A red kite climbs over a grey sea."
    (folder / "script.json").write_text(json.dumps(script))
    assert main(["make", "--out", str(folder), *FAST]) == 0
    assert "filming the script as you edited it (3 shots)" in capsys.readouterr().err
    made = json.loads((folder / "shots" / f"{script['shots'][1]['id']}.json").read_text())
    assert made["prompt"] == "A red kite climbs over a grey sea."
    assert json.loads((folder / "script.json").read_text())["shots"][1]["prompt"] == "A red kite climbs over a grey sea."


def test_piped_stderr_gets_a_line_per_finished_shot(tmp_path):
    """A log file or a pipe shows no bar; each finished shot is a line, read here as it comes."""
    import subprocess
    import sys
    from pathlib import Path

    folder = tmp_path / "piped"
    command = [str(Path(sys.executable).parent / "storymem"), "make", LOGLINE, "--shots", "3", "--out", str(folder), *FAST]
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as process:
        lines = []
        for line in process.stderr:  # synchronised on the lines themselves: each arrives whole
            lines.append(line.rstrip("\n"))
            if line.startswith("shot 1 of 3 done"):  # printed when the shot is kept, not at the end
                assert (folder / "shots" / f"{line.split(': ')[1].split(',')[0]}.json").is_file()
        assert process.wait() == 0, lines
    records = [json.loads((folder / "shots" / f"{s['id']}.json").read_text()) for s in json.loads((folder / "script.json").read_text())["shots"]]
    assert [line for line in lines if line.startswith("shot ")] == [f"shot {k} of 3 done: {r['shot_id']}, {r['frames']} frames" for k, r in enumerate(records, start=1)]
    assert not [line for line in lines if "\r" in line or "it/s" in line]  # no bar


def test_ctrl_c_while_starting_is_one_line_and_status_130(tmp_path):
    """SIGINT while the command's modules import: Python's import-time log says when that is."""
    import os
    import re
    import signal
    import subprocess
    import sys
    from pathlib import Path

    command = [str(Path(sys.executable).parent / "storymem"), "make", LOGLINE, "--out", str(tmp_path / "s"), *FAST]
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=terminal_sigint) as process:
        for line in process.stderr:
            if re.search(r"\|\s+director\.story$", line):  # the script model has loaded: the director's imports are under way
                process.send_signal(signal.SIGINT)
                break
        said = [line.rstrip("\n") for line in process.stderr if not line.startswith("import time:")]
        assert process.wait() == 130
    assert said[-1].startswith("storymem: interrupted") and not [line for line in said if "Traceback" in line or "KeyboardInterrupt" in line], said
    assert not (tmp_path / "s").exists()


@pytest.mark.timeout(180)  # a Ctrl-C that waited for the held shot would never return: the test fails here
def test_ctrl_c_during_a_shot_exits_at_once_keeping_the_finished_ones(tmp_path):
    """The second shot holds forever (as a long GPU shot would): Ctrl-C must not wait for it."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from gate import TESTS, wait_for

    folder, marker = tmp_path / "s", tmp_path / "held"
    argv = ["storymem", "make", LOGLINE, "--shots", "3", "--out", str(folder), *FAST]
    code = (f"import sys; sys.path.insert(0, {TESTS!r}); import gate; gate.hold_preview(2, {str(marker)!r}); sys.argv = {argv!r}; "
            "from director.frontends.cli import console; console()")
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(Path(TESTS).parent)},
                               preexec_fn=terminal_sigint)
    wait_for(marker, process)
    process.send_signal(signal.SIGINT)
    said = process.stderr.read().splitlines()
    assert process.wait() == 130
    assert said[-1] == f"storymem: interrupted; rerun the same command to resume at shot 2 of 3 (1 finished, kept in {folder})", said
    assert not [line for line in said if "Traceback" in line]
    first = (folder / "shots" / "01_01.mp4").read_bytes()
    assert main(["make", "--out", str(folder), *FAST]) == 0  # the rerun resumes: shot 1 kept as it was
    assert (folder / "shots" / "01_01.mp4").read_bytes() == first and (folder / "story.mp4").is_file()
