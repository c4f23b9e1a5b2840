"""Revision on the trained toy model's pixels: a cascade carries a recoloured shot's new look forward.

The toy model and its benchmark are described in tests/test_toy.py and the README ("A toy model
that shows what memory does"); this file is apart from it so that the suite's workers share the load.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from generator.toy_data import HUES, clip_hue_error
from helpers import toy_benchmark

SEEDS = (0, 1, 2)
bench = toy_benchmark()


def test_a_cascade_after_recolouring_shot_2_moves_the_later_shots_toward_the_new_colour_on_every_seed(tmp_path):
    """Revision on pixels, through `director.api` as a user runs it: a held-out story (its
    character's look only in the reference image) is made, then shot 2 is revised to name another
    colour with the cascade policy. The later shots are remade from the new memory, and their
    character's hue moves toward the new colour. Measured with the shipped weights, the three
    held-out stories of the benchmark's revision rows a seed: 16, 33 and 18 degrees nearer on
    average (single stories -11 to 44: one story of a seed may move away, so the bound is on each
    seed's mean); a revision that keeps the old keyframes (`remade = False` in
    `versions.rebuilt_memory`) moves them 6, 9 and 1. The critic is off: every shot is its first
    attempt, so what moves is memory alone. `--only` leaving them byte for byte is
    tests/test_revision.py's."""
    for seed in SEEDS:
        gains = [_cascade_gain(tmp_path / f"s{seed}-{index}", bench.held_out_story(index), seed) for index in range(3)]
        assert np.mean(gains) >= 12.0, (seed, gains)


def _cascade_gain(folder: Path, story, seed: int) -> float:
    """Degrees the later shots' character moves toward shot 2's new colour when the story is revised with cascade."""
    from director import api
    from director.folder.video import read_video
    from director.folder.workspace import Workspace
    from director.settings import RunSettings
    from generator.toy_data import prompt_for

    new_hue = bench.wrong_identity(story.identity).hue
    settings = RunSettings(backend="toy", planner="offline", embedder="colour-structure", quality_scorer="heuristic", seed=seed, no_sound=True, critic="off")
    api.make_story(folder, script=bench.toy_script(story, folder.with_suffix(".png"), seed), settings=settings)
    workspace = Workspace(folder)
    later = [shot.id for shot in api.current_script(folder).shots][2:]

    def distance() -> float:
        return float(np.mean([clip_hue_error(read_video(workspace.shot_video(sid)), HUES[new_hue]) for sid in later]))

    before = distance()
    api.revise_story(folder, f"change shot 2 to {prompt_for(story.directions[1], new_hue)}", policy="cascade", settings=settings)
    return before - distance()
