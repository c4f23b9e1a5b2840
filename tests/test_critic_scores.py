"""The critic's inputs and gates, against values computed by hand: what it scores, which gates a
run gets, which memory entry it drops, and a real run where a gate rejects shots."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np

from director.critic.cases import score_attempt as _score
from director.graph import run_director
from director.run.context import make_critic
from director.folder.versions import Take
from director.folder.workspace import Workspace
from director.story import Character, Scene, Shot, Story
from helpers import LOGLINE, HashEmbedder, RecordingGenerator, make_context
from memory.bank import Keyframe, MemoryBank
from memory.scores import misleading_entries
from memory.select import FrameAnalysis
from memory.vision import load_embedder, load_quality_scorer


def _unit(*values: float) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


class TableEmbedder:
    """Embeds an image as the row of a fixed table named by its first pixel; text as one fixed axis."""

    name = "table"
    TEXT = _unit(0, 0, 1)

    def __init__(self, table: dict[int, np.ndarray]):
        self.table = table

    def embed_images(self, images):
        return np.stack([self.table[int(image[0, 0, 0])] for image in images])

    def embed_texts(self, texts):
        return np.stack([self.TEXT for _ in texts])


def _image(value: int) -> np.ndarray:
    return np.full((4, 4, 3), value, dtype=np.uint8)


def _story() -> Story:
    return Story(
        title="T", logline="l", overview="o", style="s",
        characters=[Character(name="Mara", description="a woman")],
        scenes=[Scene(number=1, setting="a room", time_of_day="day", purpose="p")],
        shots=[Shot(id="01_01", scene=1, prompt="Mara waits.", characters=["Mara"], seed=0),
               Shot(id="01_02", scene=1, prompt="Mara waits on.", characters=["Mara"], transition="continue", seed=1)],
    )


def test_scores_are_the_mean_quality_the_keyframes_consistency_and_the_continuity(tmp_path):
    table = {1: _unit(1, 0, 0), 2: _unit(0, 1, 0), 3: _unit(1, 1, 0), 9: _unit(1, 0, 1)}
    embedder = TableEmbedder(table)
    bank = MemoryBank(tmp_path / "memory")
    bank.add_keyframes("00_01", [Keyframe(frame_index=0, image=_image(1), embedding=table[1], embedder="table")])
    bank.entries[bank.active_ids[0]].characters = ["Mara"]
    # Frames 0, 4, 8 analysed; keyframes 0 and 8. Embeddings: frame 0 -> e1, frame 4 -> e2, frame 8 -> e3.
    analysis = FrameAnalysis(indices=[0, 4, 8], embeddings=np.stack([table[1], table[2], table[3]]),
                             scores=np.array([1.0, 4.0, 7.0], dtype=np.float32), embedder_name="table", scorer_name="q")
    take = Take(shot_id="01_02", number=1, attempt=1, prompt="Mara waits on.", seed=1, mode="mi2v", frames=9, fps=16,
                seconds=0.1, backend="test", keyframes=[0, 8])
    workspace = SimpleNamespace(
        draft=lambda: SimpleNamespace(shots={"01_01": SimpleNamespace(take=1)}),
        take_tail=lambda shot_id, number: np.stack([_image(9)] * 5),
    )
    ctx = SimpleNamespace(workspace=workspace, bank=bank, embedder=embedder)
    scores = _score(ctx, _story(), 1, analysis, take)
    assert scores.quality == 4.0  # the mean of 1, 4, 7 (not the minimum)
    # Keyframes only (frames 0 and 8): best match with memory e1 is 1.0 and cos(e3, e1) = 0.7071.
    assert np.isclose(scores.consistency, (1.0 + 0.70710677) / 2)
    assert np.isclose(scores.continuity, float(table[1] @ table[9]))  # first frame vs the previous shot's last
    assert np.isclose(scores.prompt_following, float(np.mean(analysis.embeddings @ TableEmbedder.TEXT)))
    assert scores.consistency_without_suspect is None  # no suspect named
    # With a second entry (e2) and the first named as the suspect: the keyframes against e2 alone, 0 and 0.7071.
    bank.add_keyframes("00_02", [Keyframe(frame_index=0, image=_image(2), embedding=table[2], embedder="table")])
    first, second = bank.active_ids
    bank.entries[second].characters = ["Mara"]
    scores = _score(ctx, _story(), 1, analysis, take, suspect=first)
    assert np.isclose(scores.consistency, (1.0 + 0.70710677) / 2) and np.isclose(scores.consistency_without_suspect, 0.70710677 / 2)
    assert scores.quality_scorer == "q" and scores.consistency_scorer == "table" and scores.prompt_scorer == "table"


def test_each_run_gets_the_gates_its_models_can_judge():
    colour, heuristic = load_embedder("colour-structure"), load_quality_scorer("heuristic")
    semantic = TableEmbedder({})
    preview = make_critic("preview", heuristic, colour, 3, None)
    assert (preview.quality_threshold, preview.consistency_margin, preview.prompt_margin) == (None, None, None)
    tiny = make_critic("tiny", heuristic, colour, 3, None)
    assert (tiny.quality_threshold, tiny.consistency_margin, tiny.prompt_margin) == (heuristic.threshold, None, None)
    wan = make_critic("wan", heuristic, semantic, 2, 5.5)
    assert (wan.quality_threshold, wan.consistency_margin, wan.prompt_margin, wan.max_attempts) == (5.5, 0.15, 0.03, 2)


def test_the_entry_dropped_is_the_obvious_outlier(tmp_path):
    table = {1: _unit(1, 0.1, 0), 2: _unit(1, 0, 0.1), 3: _unit(1, 0.05, 0.05), 4: _unit(0, 0, 1), 5: _unit(1, 0, 0)}
    bank = MemoryBank(tmp_path)
    bank.add_keyframes("01_01", [Keyframe(frame_index=i, image=_image(i), embedding=table[i], embedder="table") for i in (1, 4, 2, 3)])
    ids = list(bank.active_ids)
    assert misleading_entries(bank, TableEmbedder(table))[0] == ids[1]  # the one unlike the other three


def test_a_quality_gate_rejects_every_attempt_and_the_loop_keeps_the_best_within_the_bound(tmp_path):
    generator = RecordingGenerator(num_frames=9)
    context = make_context(tmp_path, generator)
    context.critic = make_critic("tiny", context.scorer, context.embedder, 2, 1e9)  # a gate nothing passes
    run_director(context, "s", {"logline": LOGLINE, "shots_wanted": 3, "seed": 0}, 3)
    assert [r.shot_id for r in generator.requests] == ["01_01", "01_01", "01_02", "01_02", "02_01", "02_01"]
    actions = [e["action"] for e in Workspace(tmp_path).events() if e["event"] == "critique"]
    assert actions == ["regenerate", "keep_best"] * 3
    for shot_id in ("01_01", "01_02", "02_01"):
        record = Workspace(tmp_path).load_shot_record(shot_id)
        best = max(record["history"], key=lambda h: h["overall"])
        assert record["decision"] == "keep_best" and record["take"] == best["take"]


def test_a_long_story_fills_the_bank_to_ten_with_the_first_three_as_sink(tmp_path):
    context = make_context(tmp_path, RecordingGenerator(num_frames=9))
    context.embedder = HashEmbedder()  # every frame unlike the others: three keyframes a shot
    run_director(context, "s", {"logline": LOGLINE, "shots_wanted": 8, "seed": 0}, 8)
    bank = json.loads((tmp_path / "memory" / "bank.json").read_text())
    entries = bank["entries"]
    assert len(entries) > 10 and len(bank["active"]) == 10
    first_three = sorted(entries, key=lambda i: int(i[1:]))[:3]
    assert bank["active"][:3] == first_three
    newest = sorted(entries, key=lambda i: int(i[1:]))[-7:]
    assert bank["active"][3:] == newest


def test_a_pinned_keyframe_is_never_offered_for_dropping(tmp_path):
    table = {1: _unit(1, 0.1, 0), 2: _unit(1, 0, 0.1), 3: _unit(1, 0.05, 0.05), 4: _unit(0, 0, 1)}
    bank = MemoryBank(tmp_path)
    bank.add_keyframes("01_01", [Keyframe(frame_index=i, image=_image(i), embedding=table[i], embedder="table") for i in (1, 4, 2, 3)])
    outlier = bank.active_ids[1]
    assert misleading_entries(bank, TableEmbedder(table))[0] == outlier
    bank.pin(outlier)
    offered = misleading_entries(bank, TableEmbedder(table))
    assert outlier not in offered and sorted(offered) == sorted(i for i in bank.active_ids if i != outlier)


def test_quality_is_the_mean_of_skewed_frame_scores(tmp_path):
    """Skewed per-frame scores tell the mean (3.0) from the median (1.0) and the extremes."""
    table = {1: _unit(1, 0, 0)}
    bank = MemoryBank(tmp_path / "memory")
    analysis = FrameAnalysis(indices=[0, 4, 8], embeddings=np.stack([table[1]] * 3),
                             scores=np.array([0.0, 1.0, 8.0], dtype=np.float32), embedder_name="table", scorer_name="q")
    take = Take(shot_id="01_01", number=1, attempt=1, prompt="Mara waits.", seed=0, mode="m2v", frames=9, fps=16,
                seconds=0.1, backend="test", keyframes=[0])
    ctx = SimpleNamespace(workspace=None, bank=bank, embedder=TableEmbedder(table))
    assert _score(ctx, _story(), 0, analysis, take).quality == 3.0
