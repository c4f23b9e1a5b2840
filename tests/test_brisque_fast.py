"""The BRISQUE fallback's faster path: the package's features and score (up to round-off in flat
regions), every 8th frame of a shot scored and the frames between interpolated."""

from __future__ import annotations

import cv2
import numpy as np
from brisque import BRISQUE
from test_preview_pixels import GIRL, KEEPER, render

from memory.brisque import BrisqueScorer


class _Package(BRISQUE):
    def scale_features(self, features):
        return super().scale_features([np.asarray(f, dtype=np.float64).reshape(-1)[0] for f in features])


def test_fast_brisque_scores_as_the_package_does() -> None:
    frames = list(render([KEEPER, GIRL], camera="wide shot, slow pan", size=(832, 480))[::4])  # a preview shot's size
    rng = np.random.default_rng(0)
    frames += [rng.integers(0, 256, (480, 832, 3), dtype=np.uint8), cv2.GaussianBlur(frames[0], (0, 0), 4)]
    package = BrisqueScorer()  # the same resizing and clipping around the package's own model
    package._model, package.frame_stride = _Package(url=False), 1
    expected = package.score(frames)
    fast = BrisqueScorer()
    fast.frame_stride = 1
    got = fast.score(frames)
    assert np.abs(got - expected).max() < 0.5, (got, expected)


def test_a_shot_scores_every_eighth_frame_and_interpolates_between() -> None:
    scorer = BrisqueScorer()
    scored: list[int] = []
    real = scorer._score
    scorer._score = lambda image: scored.append(int(image[0, 0, 0])) or real(image)
    frames = [np.full((64, 96, 3), i, dtype=np.uint8) + np.random.default_rng(i).integers(0, 40, (64, 96, 3), dtype=np.uint8) for i in range(20)]
    for i, frame in enumerate(frames):
        frame[0, 0] = i  # mark each frame
    scores = scorer.score(frames)
    assert scored == [0, 8, 16, 19] and scores.shape == (20,)
    assert np.isclose(scores[4], (scores[0] + scores[8]) / 2, atol=1e-4)
    assert len(scorer.score([])) == 0 and len(scorer.score(frames[:1])) == 1
