"""storymem eval on constructed inputs with known answers, folders of mp4 files beside a StoryMem
script, storymem folders side by side with a baseline, and its refusals."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from director import api
from director.film.evaluate import Encoders, LaionAesthetic, QualityAsAesthetic, consistency, evaluate_story, read_story
from director.folder.video import write_video
from director.frontends.cli import main
from memory.fallbacks import ColourStructureEmbedder, HeuristicQualityScorer

W, H, T = 96, 64, 9
ENCODERS = Encoders(image=ColourStructureEmbedder(), aesthetic=QualityAsAesthetic(HeuristicQualityScorer()), frames=4)


def _script(prompts_by_scene, cuts_by_scene, overview="A test story."):
    return {
        "story_name": "Constructed",
        "story_overview": overview,
        "scenes": [{"scene_num": n + 1, "video_prompts": p, "cut": c} for n, (p, c) in enumerate(zip(prompts_by_scene, cuts_by_scene))],
    }


def _videos(folder, clips, script):
    folder.mkdir(parents=True, exist_ok=True)
    for k, frames in enumerate(clips):
        write_video(np.asarray(frames, dtype=np.uint8), 16, folder / f"shot_{k + 1}.mp4")  # natural order, not shot ids
    (folder / "story.json").write_text(json.dumps(script))
    return folder


def _picture(seed, shift=0):
    """A smooth coloured picture (survives H.264); the same seed shifted by a few pixels is the same content."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    image = np.zeros((H, W, 3), np.float32)
    for c in range(3):
        a, b, p = rng.uniform(0.03, 0.15, 3)
        image[..., c] = 127 + 120 * np.sin(a * (x + shift) + p * 6) * np.cos(b * y + p)
    return image.clip(0, 255).astype(np.uint8)


def _clip(seed, shift=0):
    return [_picture(seed, shift + t) for t in range(T)]


def test_identical_shots_score_consistency_one(tmp_path):
    clip = _clip(1)
    folder = _videos(tmp_path / "same", [clip, clip, clip], _script([["a", "b", "c"]], [[True, True, True]]))
    metrics = evaluate_story(read_story(folder), ENCODERS)["metrics"]
    assert metrics["consistency_all"] == pytest.approx(1.0, abs=1e-5)
    assert metrics["consistency_top10"] == pytest.approx(1.0, abs=1e-5)
    assert metrics["consistency_within_scene"] == pytest.approx(1.0, abs=1e-5) and metrics["consistency_across_scenes"] is None


def test_unrelated_shots_score_lower_than_shots_sharing_content(tmp_path):
    script = _script([["a", "b"], ["c", "d"]], [[True, True], [True, True]])
    shared = evaluate_story(read_story(_videos(tmp_path / "shared", [_clip(7, s) for s in (0, 3, 6, 9)], script)), ENCODERS)["metrics"]
    unrelated = evaluate_story(read_story(_videos(tmp_path / "unrelated", [_clip(s) for s in (11, 12, 13, 14)], script)), ENCODERS)["metrics"]
    assert shared["consistency_all"] > 0.9 > unrelated["consistency_all"] + 0.2
    assert shared["consistency_top10"] > unrelated["consistency_top10"]


def test_top10_over_fewer_than_ten_pairs_uses_all_and_over_more_the_best_ten():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(4, 16))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    few = consistency(vectors, [1, 1, 2, 2])
    similarity = vectors @ vectors.T
    pairs = [similarity[i, j] for i in range(4) for j in range(i + 1, 4)]
    assert few["pairs"] == 6 and few["consistency_top10"] == pytest.approx(np.mean(pairs)) == pytest.approx(few["consistency_all"])
    assert few["consistency_within_scene"] == pytest.approx((similarity[0, 1] + similarity[2, 3]) / 2)
    many = rng.normal(size=(6, 16))
    many /= np.linalg.norm(many, axis=1, keepdims=True)
    values = sorted(((many @ many.T)[i, j] for i in range(6) for j in range(i + 1, 6)), reverse=True)
    result = consistency(many, [1] * 6)
    assert result["pairs"] == 15 and result["consistency_top10"] == pytest.approx(np.mean(values[:10]))
    assert result["consistency_top10"] > result["consistency_all"] == pytest.approx(np.mean(values))


def test_continuation_whose_first_frame_is_not_the_previous_last_is_flagged(tmp_path):
    script = _script([["the boat sails", "the boat sails on", "a new day"]], [[True, False, True]])
    smooth = _clip(3)
    follows = [_picture(3, T + t) for t in range(T)]  # starts right where the first shot ends
    jumps = _clip(21)  # unrelated content, marked as a continuation
    good = evaluate_story(read_story(_videos(tmp_path / "good", [smooth, follows, _clip(30)], script)), ENCODERS)
    bad = evaluate_story(read_story(_videos(tmp_path / "bad", [smooth, jumps, _clip(30)], script)), ENCODERS)
    assert [(r["transition"], r["flagged"]) for r in good["transitions"]] == [("continue", False), ("cut", False)]
    assert good["metrics"]["continuations_flagged"] == 0 and good["metrics"]["continuation_fidelity"] > 0.95
    assert [(r["transition"], r["flagged"]) for r in bad["transitions"]] == [("continue", True), ("cut", False)]
    assert bad["metrics"]["continuations_flagged"] == 1 and bad["metrics"]["continuation_fidelity"] < 0.9
    same = evaluate_story(read_story(_videos(tmp_path / "nocut", [smooth, smooth, smooth], _script([["a", "b", "c"]], [[True, True, True]]))), ENCODERS)
    assert same["metrics"]["cuts_flagged"] == 0  # each starts at the beginning again: differs from the last frame
    still = [_picture(3)] * T
    frozen = evaluate_story(read_story(_videos(tmp_path / "frozen", [still, still], _script([["a", "b"]], [[True, True]]))), ENCODERS)
    assert frozen["metrics"]["cuts_flagged"] == 1  # a cut that changes nothing


class ColourWords:
    """Image side: mean colour; text side: the colour words. Known cosines for prompt following."""

    name = "colour-words"
    WORDS = {"red": [1, 0, 0], "green": [0, 1, 0], "blue": [0, 0, 1]}

    def embed_images(self, images):
        rows = np.asarray([np.asarray(i, np.float32).reshape(-1, 3).mean(axis=0) for i in images])
        return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)

    def embed_texts(self, texts):
        rows = np.asarray([np.sum([self.WORDS[w] for w in t.split() if w in self.WORDS] or [[1, 1, 1]], axis=0) for t in texts], np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_prompt_following_per_shot_and_global_with_a_known_text_side(tmp_path):
    red, blue = np.zeros((T, H, W, 3), np.uint8), np.zeros((T, H, W, 3), np.uint8)
    red[..., 0], blue[..., 2] = 250, 250
    encoders = Encoders(image=ColourWords(), aesthetic=QualityAsAesthetic(HeuristicQualityScorer()), frames=3)
    matching = _videos(tmp_path / "match", [red, blue], _script([["red", "blue"]], [[True, True]], overview="red blue"))
    swapped = _videos(tmp_path / "swap", [red, blue], _script([["blue", "red"]], [[True, True]], overview="green"))
    good = evaluate_story(read_story(matching), encoders)["metrics"]
    bad = evaluate_story(read_story(swapped), encoders)["metrics"]
    assert good["prompt_shot"] == pytest.approx(1.0, abs=0.01) and bad["prompt_shot"] == pytest.approx(0.0, abs=0.01)
    assert good["prompt_global"] == pytest.approx(1.0, abs=0.01) and bad["prompt_global"] == pytest.approx(0.0, abs=0.01)
    assert good["consistency_all"] == pytest.approx(0.0, abs=0.01)  # a red shot and a blue shot share nothing


def test_colour_structure_has_no_text_side_so_prompt_following_is_unavailable(tmp_path):
    folder = _videos(tmp_path / "v", [_clip(1), _clip(2)], _script([["a", "b"]], [[True, True]]))
    result = evaluate_story(read_story(folder), ENCODERS)
    assert result["metrics"]["prompt_shot"] is None and result["metrics"]["prompt_global"] is None
    assert "colour-structure-v1 has no text side" in result["unavailable"]["prompt_shot"]
    assert result["kind"] == "videos" and "not a storymem folder" in result["unavailable"]["critic"]


class Fixed768:
    name = "fixed-768"

    def embed_images(self, images):
        rows = np.zeros((len(images), 768), np.float32)
        rows[:, 0], rows[:, 1] = 3.0, 4.0  # normalised: 0.6, 0.8
        return rows


def test_laion_head_scores_on_the_st_bench_scale(tmp_path):
    import torch

    linear = tmp_path / "linear.pth"
    weight = torch.zeros(1, 768)
    weight[0, 0], weight[0, 1] = 5.0, 2.5  # 0.6 * 5 + 0.8 * 2.5 = 5
    torch.save({"weight": weight, "bias": torch.tensor([1.0])}, linear)
    assert LaionAesthetic(Fixed768(), linear).score([np.zeros((4, 4, 3), np.uint8)] * 2) == pytest.approx([0.6, 0.6])
    mlp = tmp_path / "mlp.pth"
    sizes = [(1024, 768), (128, 1024), (64, 128), (16, 64), (1, 16)]
    state = {}
    for index, (rows, cols) in zip((0, 2, 4, 6, 7), sizes):
        state[f"layers.{index}.weight"], state[f"layers.{index}.bias"] = torch.zeros(rows, cols), torch.zeros(rows)
    state["layers.7.bias"] = torch.tensor([7.0])
    torch.save(state, mlp)
    head = LaionAesthetic(Fixed768(), mlp)
    assert head.score([np.zeros((4, 4, 3), np.uint8)]) == pytest.approx([0.7]) and head.name.startswith("laion-aesthetic:mlp.pth")


FAST = ["--backend", "preview", "--planner", "offline", "--embedder", "colour-structure", "--quality-scorer", "heuristic", "--size", "160x96", "--frames", "17"]
LOGLINE = "A lighthouse keeper befriends a stray fox during a winter storm."


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    assert main(["make", LOGLINE, "--shots", "5", "--out", str(root / "full"), *FAST]) == 0
    assert main(["make", LOGLINE, "--shots", "5", "--out", str(root / "nomem"), "--no-memory", *FAST]) == 0
    return root


def test_eval_baseline_prints_the_side_by_side_table(two_runs, capsys):
    out = two_runs / "eval.json"
    assert main(["eval", str(two_runs / "full"), "--baseline", str(two_runs / "nomem"), "--embedder", "colour-structure", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "encoders: image colour-structure-v1; video-text none (prompt following unavailable)" in printed
    assert re.search(r"metric\s+this\s+baseline\s+change", printed)
    assert re.search(r"consistency, all pairs\s+\d\.\d{4}\s+\d\.\d{4}\s+[+-]\d+\.\d%", printed)
    assert re.search(r"consistency, top-10 pairs\s+\d\.\d{4}\s+\d\.\d{4}", printed)
    assert re.search(r"attempts per shot\s+1\.0000\s+1\.0000", printed)
    assert f"baseline: {two_runs / 'nomem'} (--no-memory)" in printed
    assert f"note: {two_runs / 'full'} and {two_runs / 'nomem'}: made with the preview backend, which does not condition on memory: this comparison does not measure memory" in printed
    assert "prompt shot: unavailable: colour-structure-v1 has no text side" in printed
    report = json.loads(out.read_text())
    story, base = report["stories"][0], report["baseline"]["stories"][0]
    assert story["shots"] == base["shots"] == 5 and story["kind"] == "storymem" and base["ablations"] == ["--no-memory"]
    assert report["encoders"]["aesthetic"]["model"].startswith("brisque-quality") or report["encoders"]["aesthetic"]["model"].startswith("heuristic")
    assert story["metrics"]["generation_seconds_per_shot"] > 0 and story["metrics"]["seconds_per_shot"] > story["metrics"]["generation_seconds_per_shot"]
    assert story["metrics"]["first_attempt_accepted"] == 1.0 and story["metrics"]["memory_edits_tried"] == 0


def test_eval_of_several_stories_has_an_overall_block(two_runs, capsys):
    result = api.evaluate([two_runs / "full", two_runs / "nomem"], embedder="colour-structure", frames=3)
    values = [s["metrics"]["consistency_all"] for s in result["stories"]]
    assert result["overall"]["consistency_all"] == pytest.approx(np.mean(values))
    from director.film.evaluate import format_report

    assert "overall (2 stories, mean per story)" in format_report(result)


def _bad(args, capsys):
    assert main(["eval", *args, "--embedder", "colour-structure"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    return err


def test_bad_input_is_one_line_and_exit_2(two_runs, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert "is not a story: no storymem records" in _bad([str(tmp_path / "empty")], capsys)
    assert "is not a folder" in _bad([str(tmp_path / "missing")], capsys)
    script_only = tmp_path / "script_only"
    script_only.mkdir()
    (script_only / "s.json").write_text(json.dumps(_script([["a", "b"]], [[True, True]])))
    assert "has no finished shots to evaluate" in _bad([str(script_only)], capsys)
    other = _videos(tmp_path / "three", [_clip(1)] * 3, _script([["a", "b", "c"]], [[True, True, True]]))
    assert re.search(r"has 5 shots and its baseline .* 3: compare stories of the same script", _bad([str(two_runs / "full"), "--baseline", str(other)], capsys))
    assert "give one --baseline per story folder" in _bad([str(two_runs / "full"), str(two_runs / "nomem"), "--baseline", str(other)], capsys)
    assert "holds 2 mp4 files for a 3-shot script" in _bad([str(_videos(tmp_path / "short", [_clip(1)] * 2, _script([["a", "b", "c"]], [[True, True, True]])))], capsys)


def test_differing_prompts_with_the_same_count_are_compared_and_reported(tmp_path, capsys):
    a = _videos(tmp_path / "a", [_clip(1), _clip(2)], _script([["a fox", "a boat"]], [[True, True]]))
    b = _videos(tmp_path / "b", [_clip(1), _clip(3)], _script([["a fox", "a ship"]], [[True, True]]))
    assert main(["eval", str(a), "--baseline", str(b), "--embedder", "colour-structure", "--frames-per-shot", "3"]) == 0
    assert f"note: {a} and {b}: prompts differ in shot 2 (compared anyway)" in capsys.readouterr().out
