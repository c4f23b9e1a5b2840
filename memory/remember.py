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
from memory.gate import keyframe_gate, why_no_keyframe
from memory.select import FrameAnalysis, SelectionConfig, analyse_frames
from memory.vision import ImageEmbedder, QualityScorer


@dataclass
class Proposal:
    """An attempt's frame analysis and the frames it would add to memory (the analysis' threshold
    is the gate it was selected at)."""

    analysis: FrameAnalysis
    keyframes: list[int]


def gate_of(analysis: FrameAnalysis, config: SelectionConfig) -> float:
    return analysis.threshold if config.quality_threshold is None else config.quality_threshold


def why_empty(proposal: Proposal, config: SelectionConfig) -> str:
    """Why the proposal adds no keyframe ("" when it adds some)."""
    return "" if proposal.keyframes else why_no_keyframe(proposal.analysis, config, gate_of(proposal.analysis, config))


def propose_keyframes(
    frames: Sequence[np.ndarray],
    bank: MemoryBank,
    embedder: ImageEmbedder,
    scorer: QualityScorer,
    config: SelectionConfig = SelectionConfig(),
) -> Proposal:
    """Score and embed every frame once and select keyframes as published, against the active memory,
    at the scorer's gate calibrated to the story (`memory.gate`)."""
    analysis = analyse_frames(frames, embedder, scorer, stride=config.stride)
    story = [e.score for e in bank.active() if e.kind == "keyframe" and e.scorer == scorer.name and e.score is not None]
    analysis.threshold = keyframe_gate(scorer, analysis.scores, story)
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
