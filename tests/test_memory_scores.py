"""Critic scores: consistency with the memory and the last frame, prompt following."""

import numpy as np
import pytest

from memory.bank import Keyframe, MemoryBank
from memory.scores import consistency, prompt_following, reference_entries


class AxisEmbedder:
    """Embeds an image as the unit axis named by its first pixel; text is the axis of its length."""

    name = "axis"

    def __init__(self):
        self.embedded = 0

    def embed_images(self, images):
        self.embedded += len(images)
        out = np.zeros((len(images), 4), dtype=np.float32)
        for row, image in enumerate(images):
            out[row, int(image[0, 0, 0]) % 4] = 1
        return out

    def embed_texts(self, texts):
        out = np.zeros((len(texts), 4), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row, len(text) % 4] = 1
        return out


class ImageOnly:
    name = "image-only"

    def embed_images(self, images):
        return np.ones((len(images), 4), dtype=np.float32) / 2


def img(axis):
    return np.full((4, 4, 3), axis, dtype=np.uint8)


def unit(axis):
    out = np.zeros(4, dtype=np.float32)
    out[axis] = 1
    return out


def test_consistency_uses_entries_tagged_with_the_shots_characters(tmp_path):
    bank = MemoryBank(tmp_path)
    fox = bank.add_reference(img(0), characters=["fox"])
    bank.add_reference(img(1), characters=["keeper"])
    bank.add_keyframes("s1", [Keyframe(0, img(2), unit(2), 4.0, "q", "axis")])
    embedder = AxisEmbedder()
    assert reference_entries(bank, ["fox"]) == [fox.id]
    assert len(reference_entries(bank, ["nobody"])) == 3
    score = consistency(np.stack([unit(0), unit(3)]), bank, embedder, characters=["fox"])
    assert score.memory == 0.5 and score.reference_ids == [fox.id] and score.embedder == "axis"
    assert score.continuity is None
    untagged = consistency(np.stack([unit(2)]), bank, embedder)
    assert untagged.memory == 1.0
    assert embedder.embedded == 2


def test_continuity_with_the_previous_shots_last_frame(tmp_path):
    bank = MemoryBank(tmp_path)
    score = consistency(np.zeros((0, 4)), bank, AxisEmbedder(), first_frame_embedding=unit(1), previous_last_frame=img(1))
    assert score.memory is None and score.continuity == 1.0


def test_prompt_following_needs_a_text_side():
    frames = np.stack([unit(1), unit(1), unit(2)])
    score = prompt_following(frames, "abcde", AxisEmbedder())
    assert score.value == pytest.approx(2 / 3) and score.embedder == "axis"
    assert prompt_following(frames, "abcde", ImageOnly()).value is None


def test_an_entry_stands_apart_when_it_agrees_with_the_rest_less_than_they_do_by_the_margin(tmp_path):
    """Three looks of one character and a stranger: mean similarity to the others 0.693, 0.660,
    0.660 and 0.033; the stranger is 0.627 under the others' median, a look among the three is not."""
    from memory.scores import misleading_entries, stands_apart

    bank = MemoryBank(tmp_path)
    vectors = [np.array(v, dtype=np.float32) for v in ((1, 0.1, 0, 0), (1, 0, 0.1, 0), (1, 0, 0, 0.1), (0, 1, 0, 0))]
    for k, vector in enumerate(vectors):
        bank.add_keyframes(f"s{k + 1}", [Keyframe(0, img(k), vector / np.linalg.norm(vector), 4.0, "q", "axis")])
    first, second, third, stranger = bank.active_ids
    embedder = AxisEmbedder()
    assert misleading_entries(bank, embedder)[0] == stranger
    assert stands_apart(bank, embedder, stranger, 0.62) and not stands_apart(bank, embedder, stranger, 0.63)
    assert not stands_apart(bank, embedder, second, 0.0) and not stands_apart(bank, embedder, first, 0.0)
    assert not stands_apart(bank, embedder, "m9999", 0.0)  # not in memory
    bank.drop(first)
    bank.drop(second)
    assert not stands_apart(bank, embedder, stranger, 0.0)  # two entries: a disagreement, not an outlier
