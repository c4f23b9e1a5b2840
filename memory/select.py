"""StoryMem keyframe selection (design.md 2.4), computing each frame's score and embedding once.

The reference code rescored every frame on every tau step; here `analyse_frames` runs the
models once per shot and `select_keyframes` only does arithmetic on the cached arrays.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from memory.vision import ImageEmbedder, QualityScorer


class SelectionConfig(BaseModel):
    """Thresholds of the published algorithm; the defaults are the paper's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tau_start: float = Field(default=0.9, description="Initial similarity threshold to the last keyframe.")
    tau_step: float = Field(default=0.01, gt=0, description="How much tau drops per rescan.")
    max_keyframes: int = Field(default=3, ge=1, description="Rescan with a lower tau while more come out.")
    bank_similarity: float = Field(default=0.9, description="Drop a keyframe more similar than this to a bank entry.")
    stride: int = Field(default=1, ge=1, description="Analyse every stride-th frame only.")
    quality_threshold: float | None = Field(default=None, description="Quality gate; None uses the scorer's own threshold.")
    semantic: bool = Field(default=True, description="False (an ablation): evenly spaced passing frames, no novelty scan, no bank deduplication.")

    @classmethod
    def for_embedder(cls, embedder: object, quality_threshold: float | None = None) -> SelectionConfig:
        """The published algorithm with the novelty (tau start) and deduplication thresholds the
        embedder states for its own similarity scale; StoryMem's 0.9 when it states none (CLIP)."""
        return cls(
            tau_start=float(getattr(embedder, "novelty_threshold", 0.9)),
            bank_similarity=float(getattr(embedder, "dedup_threshold", 0.9)),
            quality_threshold=quality_threshold,
        )


@dataclass
class Keyframe:
    """A frame chosen for the memory bank, with the numbers that justified it and who made them."""

    frame_index: int
    image: np.ndarray
    embedding: np.ndarray | None = None
    score: float | None = None
    scorer: str | None = None
    embedder: str | None = None


@dataclass
class FrameAnalysis:
    """Every analysed frame's embedding and quality score, computed once per shot."""

    indices: list[int]
    embeddings: np.ndarray
    scores: np.ndarray
    embedder_name: str
    scorer_name: str
    threshold: float = 0.0
    model_calls: dict[str, int] = field(default_factory=dict)

    def select(
        self,
        bank_embeddings: np.ndarray | None = None,
        config: SelectionConfig = SelectionConfig(),
        threshold: float | None = None,
    ) -> list[int]:
        """Frame indices of this shot's keyframes (strides accounted for)."""
        if threshold is not None:
            gate = threshold
        else:
            gate = self.threshold if config.quality_threshold is None else config.quality_threshold
        return [self.indices[i] for i in select_keyframes(self.embeddings, self.scores, gate, bank_embeddings, config)]

    def keyframes(self, frames: Sequence[np.ndarray], frame_indices: Sequence[int]) -> list[Keyframe]:
        """The chosen frames as bank-ready keyframes, with the numbers that justified them."""
        row = {frame: position for position, frame in enumerate(self.indices)}
        return [
            Keyframe(
                frame_index=int(i),
                image=np.asarray(frames[i]),
                embedding=self.embeddings[row[i]],
                score=float(self.scores[row[i]]),
                scorer=self.scorer_name,
                embedder=self.embedder_name,
            )
            for i in frame_indices
        ]

    def save(self, path: Path) -> None:
        """Write the analysis to `path` (an .npz); the caller makes the write atomic."""
        names = json.dumps({"embedder": self.embedder_name, "scorer": self.scorer_name, "threshold": self.threshold})
        with open(path, "wb") as f:
            np.savez(f, indices=np.array(self.indices), embeddings=self.embeddings, scores=self.scores, names=np.array(names))

    @classmethod
    def load(cls, path: Path) -> FrameAnalysis:
        with np.load(path) as data:
            names = json.loads(str(data["names"]))
            return cls(
                indices=data["indices"].tolist(),
                embeddings=data["embeddings"],
                scores=data["scores"],
                embedder_name=names["embedder"],
                scorer_name=names["scorer"],
                threshold=float(names["threshold"]),
            )


def scan(embeddings: np.ndarray, passing: np.ndarray, tau: float) -> list[int]:
    """One greedy pass: first passing frame, then each passing frame below tau to the last keyframe."""
    candidates = np.flatnonzero(passing)
    if candidates.size == 0:
        return []
    keyframes = [int(candidates[0])]
    for i in candidates[1:]:
        if float(embeddings[i] @ embeddings[keyframes[-1]]) < tau:
            keyframes.append(int(i))
    return keyframes


def evenly_spaced(passing: np.ndarray, count: int) -> list[int]:
    """`count` passing frames spread evenly over the passing ones (first and last included)."""
    candidates = np.flatnonzero(passing)
    if candidates.size <= count:
        return candidates.tolist()
    return [int(candidates[i]) for i in np.unique(np.linspace(0, candidates.size - 1, count).round().astype(int))]


def select_keyframes(
    embeddings: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    bank_embeddings: np.ndarray | None,
    config: SelectionConfig = SelectionConfig(),
) -> list[int]:
    """Positions (rows of `embeddings`) of the keyframes, as published.

    Embeddings must be L2-normalised so that a dot product is the cosine similarity. Tau is
    lowered in steps of `tau_step` while more than `max_keyframes` come out; once tau is below
    -1 no second keyframe can pass, so the loop always ends. Bank deduplication comes last.
    """
    embeddings = np.asarray(embeddings, dtype=np.float32)
    passing = np.asarray(scores, dtype=np.float64) >= threshold
    if not config.semantic:
        return evenly_spaced(passing, config.max_keyframes)
    step = 0
    while True:
        tau = config.tau_start - step * config.tau_step
        keyframes = scan(embeddings, passing, tau)
        if len(keyframes) <= config.max_keyframes:
            break
        step += 1
    if bank_embeddings is not None and len(bank_embeddings) and keyframes:
        bank = np.asarray(bank_embeddings, dtype=np.float32)
        similarity = embeddings[keyframes] @ bank.T
        keyframes = [k for k, row in zip(keyframes, similarity) if not (row > config.bank_similarity).any()]
    return keyframes


def analyse_frames(
    frames: Sequence[np.ndarray],
    embedder: ImageEmbedder,
    scorer: QualityScorer,
    stride: int = 1,
) -> FrameAnalysis:
    """Embed and score frames[::stride], one model call each for the whole shot."""
    indices = list(range(0, len(frames), max(1, stride)))
    images = [np.asarray(frames[i]) for i in indices]
    if images:
        embeddings = np.asarray(embedder.embed_images(images), dtype=np.float32)
        scores = np.asarray(scorer.score(images), dtype=np.float32)
    else:
        embeddings = np.zeros((0, 0), dtype=np.float32)
        scores = np.zeros((0,), dtype=np.float32)
    return FrameAnalysis(
        indices=indices,
        embeddings=embeddings,
        scores=scores,
        embedder_name=embedder.name,
        scorer_name=scorer.name,
        threshold=float(scorer.threshold),
        model_calls={"embed_images": 1 if images else 0, "score": 1 if images else 0},
    )
