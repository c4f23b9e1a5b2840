"""A batch rerun with settings other than a finished story was made with: each such story is named
with the difference and left as it is (as `make` refuses), or remade with --force."""

from __future__ import annotations

import json

from director.api import RunSettings, run_batch
from director.frontends import cli

TINY = RunSettings(backend="preview", planner="offline", size="64x48", frames=9, embedder="colour-structure", quality_scorer="heuristic", shots=2)
FLAGS = ["--backend", "preview", "--planner", "offline", "--size", "64x48", "--frames", "9", "--embedder", "colour-structure", "--quality-scorer", "heuristic"]


def test_changed_settings_are_reported_per_story_and_force_remakes(tmp_path, capsys):
    loglines = tmp_path / "loglines.txt"
    loglines.write_text("A lighthouse keeper befriends a stray fox.\n")
    out = tmp_path / "batch"
    first = run_batch(loglines, out, settings=TINY, workers=1)
    (story,) = [r["id"] for r in first.stories]
    film = (out / story / "story.mp4").stat().st_mtime_ns

    capsys.readouterr()
    assert cli.main(["batch", str(loglines), "--out", str(out), "--shots", "3", "--workers", "1", *FLAGS]) == 0
    err = capsys.readouterr().err
    assert f"storymem: {story} was made with other settings (the shot count differs (2 there, 3 asked)): not remade; --force remakes it" in err, err
    assert (out / story / "story.mp4").stat().st_mtime_ns == film  # left as it was

    again = run_batch(loglines, out, settings=TINY.model_copy(update={"shots": 3}), workers=1)
    assert list(again.refused) == [story] and again.skipped == [story]
    assert run_batch(loglines, out, settings=TINY, workers=1).refused == {}  # its own settings: nothing to say

    forced = run_batch(loglines, out, settings=TINY.model_copy(update={"shots": 3}), workers=1, force=True)
    assert forced.refused == {} and forced.stories[0]["status"] == "done" and forced.stories[0]["shots"] == 3
    assert json.loads((out / story / "run.json").read_text())["source"]["shots"] == 3
