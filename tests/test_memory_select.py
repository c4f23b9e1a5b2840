"""Keyframe selection as published (design.md 2.4), on synthetic embeddings and scores."""

import numpy as np
import pytest

from memory.bank import MemoryBank
from memory.remember import remember_shot
from memory.select import SelectionConfig, analyse_frames, scan, select_keyframes


def unit(vectors) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def drifting(n: int, step: float = 0.05) -> np.ndarray:
    """Unit vectors turning by `step` radians per frame: neighbours are similar, far frames not."""
    angles = np.arange(n) * step
    return unit(np.stack([np.cos(angles), np.sin(angles), np.zeros(n)], axis=1))


def reference_selection(embeddings, scores, threshold, bank, max_keyframes=3):
    """The reference code's loop, literally: rescan with tau - 0.01 while too many come out."""
    tau = 0.9
    while True:
        keys = []
        for i in range(len(embeddings)):
            if scores[i] < threshold:
                continue
            if not keys or float(embeddings[i] @ embeddings[keys[-1]]) < tau:
                keys.append(i)
        if len(keys) <= max_keyframes:
            break
        tau = round(tau - 0.01, 10)
    if bank is not None:
        keys = [k for k in keys if not any(float(embeddings[k] @ b) > 0.9 for b in bank)]
    return keys


def test_gate_skips_bad_first_frames():
    embeddings = unit(np.ones((6, 3)))
    scores = np.array([1.0, 2.9, 3.0, 5.0, 5.0, 5.0])
    assert select_keyframes(embeddings, scores, 3.0, None) == [2]


def test_no_keyframe_when_no_frame_passes():
    assert select_keyframes(drifting(20), np.full(20, 2.0), 3.0, None) == []
    assert select_keyframes(np.zeros((0, 3)), np.zeros(0), 3.0, None) == []


def test_adaptive_tau_reduces_to_at_most_three():
    embeddings = drifting(81, step=0.04)
    scores = np.full(81, 4.0)
    assert len(scan(embeddings, scores >= 3.0, 0.9)) > 3
    chosen = select_keyframes(embeddings, scores, 3.0, None)
    assert 1 <= len(chosen) <= 3
    assert chosen[0] == 0
    assert chosen == reference_selection(embeddings, scores, 3.0, None)


def test_failing_frames_never_become_keyframes():
    embeddings = drifting(60, step=0.08)
    scores = np.where(np.arange(60) % 2 == 0, 2.0, 6.0)
    chosen = select_keyframes(embeddings, scores, 3.0, None)
    assert chosen and all(scores[i] >= 3.0 for i in chosen)
    assert chosen == reference_selection(embeddings, scores, 3.0, None)


def test_matches_reference_on_random_sequences():
    rng = np.random.default_rng(0)
    for _ in range(20):
        embeddings = unit(np.cumsum(rng.normal(size=(40, 8)), axis=0))
        scores = rng.uniform(2, 5, size=40)
        bank = unit(rng.normal(size=(3, 8)))
        assert select_keyframes(embeddings, scores, 3.0, bank) == reference_selection(embeddings, scores, 3.0, bank)


def test_dedupe_against_bank_at_0_9():
    embeddings = unit([[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    scores = np.full(3, 5.0)
    assert select_keyframes(embeddings, scores, 3.0, None) == [0, 1, 2]
    near = unit([[0.1, 1, 0]])
    assert select_keyframes(embeddings, scores, 3.0, near) == [0, 2]
    at_threshold = np.array([[0.9, np.sqrt(1 - 0.81), 0]], dtype=np.float32)
    assert select_keyframes(embeddings, scores, 3.0, at_threshold) == [0, 1, 2]


def test_config_changes_counts_and_thresholds():
    embeddings = drifting(81, step=0.04)
    scores = np.full(81, 4.0)
    config = SelectionConfig(max_keyframes=5, tau_start=0.95)
    assert 3 < len(select_keyframes(embeddings, scores, 3.0, None, config)) <= 5


class FrameIdEmbedder:
    """Reads the frame number written in pixel (0, 0) and counts every image it embeds."""

    name = "frame-id"

    def __init__(self, n):
        self.table = drifting(n, step=0.04)
        self.calls = 0
        self.images = []

    def embed_images(self, images):
        self.calls += 1
        self.images.extend(int(i[0, 0, 0]) for i in images)
        return self.table[[int(i[0, 0, 0]) for i in images]]


class CountingScorer:
    name = "counting"
    threshold = 3.0

    def __init__(self):
        self.calls = 0
        self.images = []

    def score(self, images):
        self.calls += 1
        self.images.extend(int(i[0, 0, 0]) for i in images)
        return np.full(len(images), 4.0)


def frames(n):
    out = np.zeros((n, 4, 4, 3), dtype=np.uint8)
    out[:, 0, 0, 0] = np.arange(n)
    return list(out)


def test_each_frame_scored_and_embedded_once_per_shot(tmp_path):
    embedder, scorer = FrameIdEmbedder(81), CountingScorer()
    bank = MemoryBank(tmp_path)
    shot = remember_shot(bank, "s1", frames(81), embedder, scorer)
    assert sorted(embedder.images) == list(range(81)) and embedder.calls == 1
    assert sorted(scorer.images) == list(range(81)) and scorer.calls == 1
    assert 1 <= len(shot.added) <= 3
    assert all(e.scorer == "counting" and e.embedder == "frame-id" for e in shot.added)
    assert [e.frame_index for e in shot.added] == [shot.analysis.indices[i] for i in select_keyframes(
        shot.analysis.embeddings, shot.analysis.scores, 3.0, None)]


def test_stride_analyses_every_nth_frame_and_keeps_true_indices():
    embedder, scorer = FrameIdEmbedder(81), CountingScorer()
    video = frames(81)
    analysis = analyse_frames(video, embedder, scorer, stride=4)
    assert analysis.indices == list(range(0, 81, 4)) and sorted(embedder.images) == analysis.indices
    keyframes = analysis.keyframes(video, analysis.select())
    assert keyframes and all(k.frame_index % 4 == 0 for k in keyframes)
    assert all(int(k.image[0, 0, 0]) == k.frame_index for k in keyframes)


def test_second_shot_drops_keyframes_already_in_bank(tmp_path):
    embedder, scorer = FrameIdEmbedder(81), CountingScorer()
    bank = MemoryBank(tmp_path)
    first = remember_shot(bank, "s1", frames(81), embedder, scorer)
    second = remember_shot(bank, "s2", frames(81), embedder, scorer)
    assert first.added and second.added == []


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_tau_loop_ends_even_with_opposite_frames(bad):
    embeddings = unit(np.array([[1, 0], [-1, 0]] * 4, dtype=np.float32))
    chosen = select_keyframes(embeddings, np.full(8, 5.0), bad, None)
    assert len(chosen) <= 3
