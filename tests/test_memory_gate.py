"""Memory never silently empty: the keyframe gate of a fallback quality scorer is calibrated to the
story (a dark story's frames all score far below BRISQUE's absolute gate), a shot that adds no
keyframe says why on the console and in the report, and a story whose memory is still empty after
its first scene says so once, with the cause."""

from __future__ import annotations

import json

import numpy as np
import pytest

from director.api import RunSettings, make_story
from memory.brisque import BrisqueScorer
from memory.fallbacks import HeuristicQualityScorer
from memory.gate import SHARE, keyframe_gate

DARK = "At 3 AM, a night guard walks through a dark, empty museum in a blackout."


class Absolute:
    """A scorer whose scale means the same for every story (as HPSv3's does)."""

    name, threshold = "absolute", 3.0


@pytest.mark.parametrize("scorer", [BrisqueScorer, HeuristicQualityScorer])
def test_a_fallback_scorer_is_gated_against_the_story(scorer):
    threshold = scorer.threshold
    dark = np.full(8, threshold / 4)  # a night story: every frame far below the absolute gate
    assert keyframe_gate(scorer, dark) == pytest.approx(SHARE * threshold / 4)
    assert keyframe_gate(scorer, dark[:2], story_scores=np.full(6, threshold / 2)) == pytest.approx(SHARE * threshold / 2)  # the story's keyframes count
    assert keyframe_gate(scorer, np.full(8, threshold * 1.5)) == threshold  # a story that reaches the gate: as published
    assert keyframe_gate(scorer, np.zeros(8)) == threshold  # black frames stay out
    assert keyframe_gate(Absolute, dark) == Absolute.threshold  # an absolute scale is never moved


def _make(folder, logline, **settings):
    notes = []
    base = dict(backend="preview", planner="offline", embedder="colour-structure", shots=4, size="128x80", frames=17)
    make_story(folder, logline=logline, settings=RunSettings(**{**base, **settings}), on_event=lambda e: notes.append(e["note"]) if "note" in e else None)
    bank = json.loads((folder / "memory" / "bank.json").read_text())
    return notes, bank, (folder / "report.html").read_text()


@pytest.fixture(scope="module")
def dark_story(tmp_path_factory):
    return _make(tmp_path_factory.mktemp("dark") / "story", DARK, quality_scorer="brisque")


def test_a_dark_low_contrast_story_fills_its_memory(dark_story):
    notes, bank, _ = dark_story
    keyframes = [e for e in bank["entries"].values() if e["kind"] == "keyframe"]
    assert len(keyframes) >= 3
    assert all(e["score"] < BrisqueScorer.threshold for e in keyframes)  # each below the absolute gate: calibrated, not lowered by hand
    assert not [n for n in notes if "memory is still empty" in n]


def test_a_shot_that_adds_no_keyframe_says_why(dark_story, tmp_path):
    notes, bank, report = dark_story
    shots_with_keyframes = {e["shot_id"] for e in bank["entries"].values()}
    silent = [n for n in notes if "adds no keyframe" in n]
    assert len(silent) == 4 - len(shots_with_keyframes)  # one line for each shot that added none
    assert all("quality gate" in n for n in silent)
    assert report.count("added to memory: m") == len(shots_with_keyframes)
    assert report.count("added no keyframe to memory: ") == len(silent)


def test_a_story_whose_memory_stays_empty_warns_once_with_the_cause(tmp_path):
    notes, bank, report = _make(tmp_path / "story", "A lighthouse keeper befriends a fox during a winter storm.", quality_scorer="heuristic", quality_threshold=11.0)
    assert bank["entries"] == {}
    warnings = [n for n in notes if "memory is still empty" in n]
    assert len(warnings) == 1, notes
    assert "after scene 1" in warnings[0] and "no frame reached the keyframe quality gate 11.00" in warnings[0]
    assert warnings[0] in report.replace("&quot;", '"').replace("&#x27;", "'")


class Scripted:
    """A fallback-like scorer whose scores the test writes: frame k scores SCORES[pixel value k]."""

    name, threshold, relative_gate = "scripted", 10.0, True

    def score(self, images):
        return np.array([float(np.asarray(i)[0, 0, 0]) for i in images], dtype=np.float32)


def test_the_story_so_far_calibrates_the_gate(tmp_path):
    from helpers import HashEmbedder
    from memory.bank import MemoryBank
    from memory.remember import propose_keyframes
    from memory.select import Keyframe

    embedder = HashEmbedder()
    bank = MemoryBank(tmp_path / "memory")
    earlier = [np.full((8, 8, 3), 8 + k, np.uint8) for k in range(3)]  # the story so far scored 8, 9, 10
    bank.add_keyframes("01_01", [Keyframe(k, image, embedder.embed_images([image])[0], float(image[0, 0, 0]), Scripted.name, embedder.name) for k, image in enumerate(earlier)])
    frames = [np.full((8, 8, 3), value, np.uint8) for value in (5, 7)]  # this shot alone: median 6
    proposal = propose_keyframes(frames, bank, embedder, Scripted())
    assert proposal.analysis.threshold == pytest.approx(SHARE * 8.0)  # the median of 5, 7, 8, 9, 10, not of 5, 7
    assert proposal.keyframes == [1]  # 7 passes at 6.0; 5 does not
