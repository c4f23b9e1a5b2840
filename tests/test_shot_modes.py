"""Cut or continuation: the mode each shot is generated in, and the previous frames it is given
(design.md 2.1: a cut is M2V, or T2V while memory is empty; a continuation is MI2V on the previous
shot's last frame or MM2V on its last 5)."""

from __future__ import annotations

import numpy as np
import pytest

from director import api
from director.graph import shot_mode
from director.settings import RunSettings
from director.story import Character, Scene, Shot, Story
from generator.base import ShotMode
from helpers import RecordingGenerator, make_context


def _story(*transitions: str) -> Story:
    return Story(
        title="Modes", logline="A keeper and a fox.", overview="o", style="s",
        characters=[Character(name="Mara", description="a keeper in a grey coat")],
        scenes=[Scene(number=1, setting="a lighthouse", time_of_day="night", purpose="p")],
        shots=[Shot(id=f"01_{i:02d}", scene=1, prompt=f"Mara climbs, step {i}.", characters=["Mara"], transition=t, seed=i)
               for i, t in enumerate(transitions, start=1)],
    )


def test_the_mode_follows_the_transition_and_the_memory():
    story = _story("cut", "cut", "continue")
    story.shots[0].transition = "continue"  # not a valid script (a scene opens on a cut), yet never a continuation of nothing
    assert shot_mode(story, 0, False, ShotMode.MI2V) is ShotMode.T2V  # a first shot continues nothing
    assert shot_mode(story, 0, True, ShotMode.MM2V) is ShotMode.M2V  # reference images: MR2V
    assert shot_mode(story, 1, True, ShotMode.MI2V) is ShotMode.M2V
    assert shot_mode(story, 1, False, ShotMode.MI2V) is ShotMode.T2V  # --no-memory
    assert shot_mode(story, 2, True, ShotMode.MI2V) is ShotMode.MI2V
    assert shot_mode(story, 2, False, ShotMode.MM2V) is ShotMode.MM2V  # a continuation needs the frames, not memory


@pytest.mark.parametrize("continuation, context", [("mi2v", 1), ("mm2v", 5)])
def test_a_story_of_cuts_and_continuations_asks_the_generator_for_each_mode(tmp_path, continuation, context):
    generator = RecordingGenerator(width=64, height=48, num_frames=9)
    settings = RunSettings(backend="preview", planner="offline", embedder="colour-structure", quality_scorer="heuristic",
                           size="64x48", frames=9, continuation=continuation)
    folder = tmp_path / "story"
    components = make_context(folder, generator)
    components.continuation = ShotMode(continuation)
    api.make_story(folder, script=_story("cut", "continue", "cut", "continue"), settings=settings, components=components)
    requests = generator.requests
    assert [r.mode for r in requests] == [ShotMode.T2V, ShotMode(continuation), ShotMode.M2V, ShotMode(continuation)]
    assert [len(r.previous_frames) for r in requests] == [0, context, 0, context]
    assert not requests[0].memory and requests[2].memory  # the second cut is conditioned on memory
    # a continuation starts from the end of the shot before it, as that shot was generated
    first = generator._inner.generate(requests[0]).frames
    assert all(np.array_equal(a, b) for a, b in zip(requests[1].previous_frames, first[-context:]))
