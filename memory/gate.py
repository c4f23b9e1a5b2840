"""The keyframe quality gate, calibrated per scorer, and the reason a shot adds no keyframe.

StoryMem gates keyframes on HPSv3, whose scale is absolute. The fallback scorers (BRISQUE, the
sharpness-exposure heuristic) are not: a night story's every frame scores far below their gate
(BRISQUE about 9 against 40 on a dark animatic), and a fixed gate would keep no keyframe at all,
silently switching the method's memory off. So a scorer that says its scale is only relative
(`relative_gate = True`) is gated against the story itself: where the story's frames score below
the absolute gate, a frame passes at `SHARE` of the story's median score (the frames of this shot
and the keyframes already in memory). Black or featureless frames, which score near zero, still
fail; a story whose frames reach the absolute gate is gated exactly as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from memory.select import FrameAnalysis, SelectionConfig

SHARE = 0.75  # of the story's median score: frames well below the story's own level fail


def keyframe_gate(scorer: object, shot_scores: Sequence[float], story_scores: Sequence[float] = ()) -> float:
    """The gate for this shot's frames: the scorer's own, or relative to the story for a fallback scorer."""
    threshold = float(getattr(scorer, "threshold"))
    scores = np.concatenate([np.asarray(shot_scores, dtype=np.float64).ravel(), np.asarray(story_scores, dtype=np.float64).ravel()])
    if not getattr(scorer, "relative_gate", False) or not scores.size:
        return threshold
    median = float(np.median(scores))
    if median >= threshold:
        return threshold
    return SHARE * median if median > 0 else threshold


def why_no_keyframe(analysis: FrameAnalysis, config: SelectionConfig, gate: float) -> str:
    """Why a shot's selection came out empty, in words: no frame passed the gate, or every one that
    did is already in memory."""
    scores = np.asarray(analysis.scores, dtype=np.float64)
    if not scores.size:
        return "no frames were analysed"
    passing = int((scores >= gate).sum())
    if not passing:
        return f"no frame reached the keyframe quality gate {gate:.2f} ({analysis.scorer_name}; best {scores.max():.2f})"
    return f"its {passing} frame{'s' if passing > 1 else ''} above the quality gate {'are' if passing > 1 else 'is'} already in memory (similarity above {config.bank_similarity:.3f} to a kept keyframe)"
