"""What a shot leaves in memory: keyframes proposed for each attempt, kept for the chosen one.

The director asks `propose_keyframes` after every attempt (each frame embedded and scored once)
and `keep_keyframes` for the attempt it keeps; the frame analysis in between is memory's own data
(`FrameAnalysis.save` / `load`), so the director never handles embeddings itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from memory.bank import MemoryBank, MemoryEntry
from memory.select import FrameAnalysis, SelectionConfig, analyse_frames
from memory.vision import ImageEmbedder, QualityScorer


@dataclass
class Proposal:
    """An attempt's frame analysis and the frames it would add to memory."""

    analysis: FrameAnalysis
    keyframes: list[int]


def propose_keyframes(
    frames: Sequence[np.ndarray],
    bank: MemoryBank,
    embedder: ImageEmbedder,
    scorer: QualityScorer,
    config: SelectionConfig = SelectionConfig(),
) -> Proposal:
    """Score and embed every frame once and select keyframes as published, against the active memory."""
    analysis = analyse_frames(frames, embedder, scorer, stride=config.stride)
    active = [entry.id for entry in bank.active()]
    return Proposal(analysis, analysis.select(bank.embeddings(active, embedder) if active else None, config))


def keep_keyframes(
    bank: MemoryBank,
    shot_id: str,
    frames: Sequence[np.ndarray],
    proposal: Proposal,
    conditioned_on: Sequence[str],
) -> list[MemoryEntry]:
    """Add the kept attempt's keyframes to the memory the shot started from, record what conditioned
    it, and save. Idempotent: a rerun after a kill starts again from the shot's snapshot."""
    bank.restore(shot_id)
    added = bank.add_keyframes(shot_id, proposal.analysis.keyframes(frames, proposal.keyframes))
    bank.record_snapshot(shot_id, conditioned_on)
    bank.save()
    return added


@dataclass
class ShotMemory:
    """What one shot left in memory, and the analysis behind it."""

    analysis: FrameAnalysis
    added: list[MemoryEntry]


def remember_shot(
    bank: MemoryBank,
    shot_id: str,
    frames: Sequence[np.ndarray],
    embedder: ImageEmbedder,
    scorer: QualityScorer,
    config: SelectionConfig = SelectionConfig(),
) -> ShotMemory:
    """Propose and add a shot's keyframes in one step (no critic in between)."""
    proposal = propose_keyframes(frames, bank, embedder, scorer, config)
    return ShotMemory(proposal.analysis, bank.add_keyframes(shot_id, proposal.analysis.keyframes(frames, proposal.keyframes)))
