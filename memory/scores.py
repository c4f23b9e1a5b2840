"""Consistency and prompt-following numbers for the critic, each naming the model behind it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from memory.bank import MemoryBank
from memory.vision import ImageEmbedder


@dataclass
class ConsistencyScore:
    """Cosine similarity of a shot's keyframes to the memory it should agree with.

    `memory` is the mean over keyframes of the best match among the reference entries (those
    tagged with the shot's characters, or all active ones when none are tagged); `continuity`
    is the similarity of the shot's first frame to the previous shot's last frame, for
    continuations. None where there was nothing to compare with.
    """

    memory: float | None
    continuity: float | None
    reference_ids: list[str]
    embedder: str


@dataclass
class PromptScore:
    """Mean CLIP text-image similarity of the frames to the shot prompt; None without a text side."""

    value: float | None
    embedder: str


def reference_entries(bank: MemoryBank, characters: Sequence[str] = ()) -> list[str]:
    """Active entries that show any of `characters`, or every active entry when none do."""
    wanted = set(characters)
    tagged = [e.id for e in bank.active() if wanted and wanted.intersection(e.characters)]
    return tagged or [e.id for e in bank.active()]


def consistency(
    keyframe_embeddings: np.ndarray,
    bank: MemoryBank,
    embedder: ImageEmbedder,
    characters: Sequence[str] = (),
    first_frame_embedding: np.ndarray | None = None,
    previous_last_frame: np.ndarray | None = None,
    exclude: Sequence[str] = (),
) -> ConsistencyScore:
    """How well a new shot agrees with the memory (and, for a continuation, with the last frame).

    Pass the bank as it was before the shot's own keyframes were added, or list them in
    `exclude`, so that a shot is not compared with itself.
    """
    ids = [i for i in reference_entries(bank, characters) if i not in set(exclude)]
    memory = None
    keys = np.asarray(keyframe_embeddings, dtype=np.float32)
    if ids and len(keys):
        similarity = keys @ bank.embeddings(ids, embedder).T
        memory = float(similarity.max(axis=1).mean())
    continuity = None
    if previous_last_frame is not None and first_frame_embedding is not None:
        previous = embedder.embed_images([np.asarray(previous_last_frame)])[0]
        continuity = float(np.asarray(first_frame_embedding, dtype=np.float32) @ previous)
    return ConsistencyScore(memory=memory, continuity=continuity, reference_ids=ids, embedder=embedder.name)


def prompt_following(frame_embeddings: np.ndarray, prompt: str, embedder: ImageEmbedder) -> PromptScore:
    """Mean cosine similarity of frame embeddings (from `embedder`) to the prompt's text embedding."""
    embed_texts = getattr(embedder, "embed_texts", None)
    frames = np.asarray(frame_embeddings, dtype=np.float32)
    if embed_texts is None or not len(frames):
        return PromptScore(value=None, embedder=embedder.name)
    text = embed_texts([prompt])[0]
    return PromptScore(value=float((frames @ text).mean()), embedder=embedder.name)


def _agreement(bank: MemoryBank, embedder: ImageEmbedder, ids: list[str]) -> np.ndarray:
    """Each entry's mean similarity to the other entries."""
    vectors = bank.embeddings(ids, embedder)
    similarity = vectors @ vectors.T
    return (similarity.sum(axis=1) - np.diag(similarity)) / (len(ids) - 1)


def misleading_entries(bank: MemoryBank, embedder: ImageEmbedder, characters: Sequence[str] = ()) -> list[str]:
    """Keyframes the critic may drop when a shot drifts from its memory, most suspect first.

    An entry that agrees least with the other entries showing the same characters is the likeliest
    to pull a shot away from them (a bad frame, a wrong face). Pinned entries and user references
    are never offered. Needs at least three entries to tell an outlier from a disagreement.
    """
    ids = reference_entries(bank, characters)
    if len(ids) < 3:
        return []
    order = np.argsort(_agreement(bank, embedder, ids), kind="stable")
    return [ids[i] for i in order if bank.entry(ids[i]).kind == "keyframe" and not bank.entry(ids[i]).pinned]


def stands_apart(bank: MemoryBank, embedder: ImageEmbedder, entry: str, margin: float, characters: Sequence[str] = ()) -> bool:
    """Whether `entry` agrees with the other entries showing these characters less than they
    typically do (their median agreement) by more than `margin`: an outlier such as a wrong
    character's keyframe, not one look among several (a new scene's first keyframes)."""
    ids = reference_entries(bank, characters)
    if entry not in ids or len(ids) < 3:
        return False
    agreement = _agreement(bank, embedder, ids)
    index = ids.index(entry)
    return float(np.median(np.delete(agreement, index)) - agreement[index]) > margin
