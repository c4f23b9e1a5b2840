"""After a shot: analyse its frames once, select keyframes, add them to the bank."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from memory.bank import MemoryBank, MemoryEntry
from memory.select import FrameAnalysis, SelectionConfig, analyse_frames
from memory.vision import ImageEmbedder, QualityScorer


@dataclass
class ShotMemory:
    """What one shot left in memory, and the analysis behind it (for the critic's scores)."""

    analysis: FrameAnalysis
    added: list[MemoryEntry]


def bank_embeddings(bank: MemoryBank, embedder: ImageEmbedder) -> np.ndarray | None:
    """Active entries' embeddings by `embedder`; entries without one are embedded and updated."""
    stale = [e.id for e in bank.active() if e.embedder != embedder.name or bank.embedding(e.id) is None]
    if stale:
        for entry_id, vector in zip(stale, embedder.embed_images([bank.image(i) for i in stale])):
            bank.set_embedding(entry_id, vector, embedder.name)
    return bank.active_embeddings(embedder.name)


def remember_shot(
    bank: MemoryBank,
    shot_id: str,
    frames: Sequence[np.ndarray],
    embedder: ImageEmbedder,
    scorer: QualityScorer,
    config: SelectionConfig = SelectionConfig(),
) -> ShotMemory:
    """Score and embed every frame once, select keyframes as published, add them to the bank."""
    analysis = analyse_frames(frames, embedder, scorer, stride=config.stride)
    keyframes = analysis.select(frames, bank_embeddings(bank, embedder), config)
    return ShotMemory(analysis=analysis, added=bank.add_keyframes(shot_id, keyframes))
