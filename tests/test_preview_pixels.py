"""The animatic measured on its pixels: characters told apart by colours that stay theirs from shot to
shot, a close-up draws the figure larger than a wide shot, night is dark and rain is drawn."""

from __future__ import annotations

import numpy as np

from generator.base import ShotMode, ShotRequest
from generator.preview import PreviewGenerator, figure_for

KEEPER = ("the keeper", "an old lighthouse keeper with a navy wool coat and white hair")
GIRL = ("the girl", "a little girl with a yellow raincoat and black hair")
W, H, FRAMES = 320, 192, 9


def render(cast, setting="a harbour town by the sea", time_of_day="day", camera="medium shot, static", scene=1, shot=1, size=(W, H)) -> np.ndarray:
    info = {
        "scene": scene, "shot": shot, "setting": setting, "time_of_day": time_of_day, "camera": camera,
        "characters": [name for name, _ in cast], "descriptions": dict(cast),
    }  # fmt: skip
    prompt = f"{camera} of {setting}. " + " ".join(f"{n}, {d}, walks." for n, d in cast)
    request = ShotRequest(f"{scene:02d}_{shot:02d}", prompt, ShotMode.T2V, 7, num_frames=FRAMES, width=size[0], height=size[1], info=info)
    return PreviewGenerator(*size, FRAMES).generate(request).frames


def share(frames: np.ndarray, colour: tuple[int, int, int]) -> float:
    """Fraction of pixels of exactly this colour, over all frames."""
    return float(np.all(frames == np.array(colour, dtype=np.uint8), axis=-1).mean())


def test_two_characters_get_different_colours_that_stay_theirs_across_shots() -> None:
    keeper, girl = figure_for(*KEEPER), figure_for(*GIRL)
    assert keeper.body == (25, 35, 90) and girl.body == (245, 215, 50)  # navy coat, yellow raincoat: from the words
    both_wide = render([KEEPER, GIRL], camera="wide shot, static")
    both_later = render([KEEPER, GIRL], setting="a rocky shore under cliffs", camera="medium shot, slow pan", scene=3, shot=2)
    keeper_alone, girl_alone = render([KEEPER]), render([GIRL])
    for frames in (both_wide, both_later):
        assert share(frames, keeper.body) > 0.002 and share(frames, girl.body) > 0.002
    assert share(keeper_alone, keeper.body) > 0.01 and share(keeper_alone, girl.body) == 0
    assert share(girl_alone, girl.body) > 0.01 and share(girl_alone, keeper.body) == 0


def test_a_close_up_draws_the_figure_larger_than_a_wide_shot() -> None:
    coat = figure_for(*KEEPER).body
    wide = share(render([KEEPER], camera="wide shot, static"), coat)
    medium = share(render([KEEPER], camera="medium shot, static"), coat)
    close = share(render([KEEPER], camera="close-up, static"), coat)
    assert 0 < wide and wide * 3 < medium < close


def test_night_is_dark_and_rain_is_drawn() -> None:
    day = render([KEEPER], time_of_day="day")
    night = render([KEEPER], time_of_day="night")
    sky = slice(0, H // 3)
    assert night.mean() < 0.6 * day.mean()
    assert night[:, sky].mean() < 0.5 * day[:, sky].mean()

    rain_colour = (200, 210, 235)
    dry = render([KEEPER], setting="a harbour town by the sea")
    wet = render([KEEPER], setting="a harbour town by the sea, steady rain")
    assert share(dry, rain_colour) == 0 and share(wet, rain_colour) > 0.01
    streaks = np.all(wet == np.array(rain_colour, dtype=np.uint8), axis=-1)
    assert (streaks[0] != streaks[-1]).mean() > 0.005  # the rain falls: its streaks move between frames
