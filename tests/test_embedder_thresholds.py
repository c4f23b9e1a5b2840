"""Novelty and deduplication thresholds belong to the embedder: measured on the colour-structure
fallback's own similarities over an animatic story, each scene of a 12-shot, 4-scene story keeps keyframes."""

from __future__ import annotations

import numpy as np
import pytest

from director.planning.offline import OfflinePlanner
from generator.base import ShotRequest
from generator.preview import PreviewGenerator
from memory.fallbacks import ColourStructureEmbedder, HeuristicQualityScorer
from memory.select import SelectionConfig, analyse_frames

LOGLINE = "A lighthouse keeper befriends a stray fox during a week-long winter storm."


@pytest.fixture(scope="module")
def shots():
    story = OfflinePlanner().plan(LOGLINE, 12, 0)
    generator = PreviewGenerator(208, 120, 33)
    embedder = ColourStructureEmbedder()
    out = []
    for shot in story.shots:
        scene = story.scene(shot.scene)
        info = {"scene": shot.scene, "shot": story.number_in_scene(shot.id), "camera": shot.camera,
                "setting": scene.setting, "time_of_day": scene.time_of_day, "characters": shot.characters}
        frames = generator.generate(ShotRequest(shot.id, shot.prompt, "m2v", shot.seed, num_frames=33, width=208, height=120, info=info)).frames
        out.append((shot.scene, list(frames), embedder.embed_images(list(frames))))
    return out


def test_thresholds_sit_in_the_embedders_own_distribution(shots):
    embedder = ColourStructureEmbedder()
    within = np.concatenate([(e @ e.T)[np.triu_indices(len(e), 1)] for _, _, e in shots])
    firsts = {scene: e[0] for scene, _, e in reversed(shots)}
    across = [float(firsts[a] @ firsts[b]) for a in firsts for b in firsts if a < b]
    # CLIP's 0.9 sits below almost every frame pair of one shot (no change would ever count as new);
    # this embedder's novelty threshold cuts inside its within-shot range ...
    assert np.mean(within < 0.9) < 0.1
    assert 0.1 < np.mean(within < embedder.novelty_threshold) < 0.9
    # ... and different scenes are far below deduplication, so no scene is dropped as a duplicate.
    assert max(across) < embedder.dedup_threshold
    config = SelectionConfig.for_embedder(embedder, quality_threshold=1.0)
    assert (config.tau_start, config.bank_similarity, config.quality_threshold) == (0.97, 0.985, 1.0)
    assert SelectionConfig.for_embedder(object()).tau_start == SelectionConfig().tau_start == 0.9


def test_every_scene_of_a_twelve_shot_story_keeps_keyframes(shots):
    embedder, scorer = ColourStructureEmbedder(), HeuristicQualityScorer()
    config = SelectionConfig.for_embedder(embedder)
    bank: list[tuple[int, np.ndarray]] = []  # (scene, embedding): 3 sink entries + the 7 most recent
    kept = {scene: 0 for scene, _, _ in shots}
    for scene, frames, _ in shots:
        analysis = analyse_frames(frames, embedder, scorer)
        active = np.stack([e for _, e in bank]) if bank else None
        for index in analysis.select(active, config):
            kept[scene] += 1
            bank.append((scene, analysis.embeddings[analysis.indices.index(index)]))
        bank = bank[:3] + bank[3:][-7:]
    assert all(count >= 1 for count in kept.values()), kept
    assert sum(kept.values()) > 3
    print("keyframes per scene:", kept)
