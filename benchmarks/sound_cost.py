"""What sound adds to a story: seconds of synthesis and mixing per shot, against the preview
backend's render per shot and against the whole silent `make` run.

    python benchmarks/sound_cost.py [--shots 8] [--size 832x480] [--voice auto]

The silent film is made first (`--no-sound`, the default logline); then its soundtrack is made
from an empty line cache (the voice engine started, every line synthesised, the bed decoded,
ducked, normalised, muxed), as the assemble step does. Goal: under 30% of the silent run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from director.api import RunSettings, make_story
from director.folder.workspace import Workspace
from director.sound.soundtrack import add_sound, prepare_sound

LOGLINE = "A lighthouse keeper befriends a stray fox during a week-long winter storm."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=8)
    parser.add_argument("--size", default=None, help="frame size WxH (default: the preview backend's 832x480, as make run)")
    parser.add_argument("--voice", default="auto")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "story"
        settings = RunSettings(backend="preview", planner="offline", shots=args.shots, size=args.size, no_sound=True, voice=args.voice)
        start = time.perf_counter()
        make_story(folder, logline=LOGLINE, settings=settings)
        silent = time.perf_counter() - start
        workspace = Workspace(folder)
        version = workspace.current()
        story = workspace.load_script()
        render = sum(workspace.load_take(s.id, version.shots[s.id].take).seconds for s in story.shots)

        start = time.perf_counter()
        plan = prepare_sound(settings.model_copy(update={"no_sound": False}))
        summary = add_sound(workspace, version, story, 16, plan)
        sound = time.perf_counter() - start
        shots = len(story.shots)
        print(f"{shots} shots, preview backend, {args.size or '832x480'}; voice {summary['engine']}, {len(summary['lines'])} lines, music {'on' if plan.library else 'off'}")
        print(f"silent make run:                   {silent:7.2f} s ({silent / shots:.2f} s a shot)")
        print(f"preview render:                    {render:7.2f} s ({render / shots:.2f} s a shot)")
        print(f"sound (voice started, lines, mix): {sound:7.2f} s ({sound / shots:.2f} s a shot, {sound / max(render, 1e-9):.2f}x the render a shot)")
        print(f"sound adds {sound / silent * 100:.1f}% to the make run (goal: under 30%)")
        print(f"mix: {summary['loudness']} LUFS, true peak {summary['true_peak']} dBTP, music ducked {summary['ducking_db']} dB under speech")


if __name__ == "__main__":
    main()
