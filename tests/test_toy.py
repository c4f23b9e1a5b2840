"""The trained toy model: its shipped weights, its backend, and what memory does on its pixels.

The pixel tests run held-out toy stories (never trained on) over three seeds through the
benchmark's harness (the toy generator with the project's bank, keyframe selection, embedder,
consistency score and critic) and the revision test through `director.api`; each asserts a margin
on every seed, measured with `benchmarks/toy_memory.py`.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from generator.train.toy_data import HUES, TOY_FRAMES, TOY_HEIGHT, TOY_WIDTH, clip_hue_error, draw_clip, frame_hue, hue_error

ROOT = Path(__file__).resolve().parents[1]
SEEDS = (0, 1, 2)


def _bench():
    spec = importlib.util.spec_from_file_location("toy_memory", ROOT / "benchmarks" / "toy_memory.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["toy_memory"] = module
    spec.loader.exec_module(module)
    return module


bench = _bench()


@pytest.fixture(scope="module")
def harness():
    return bench.Harness(None)


# --- the shipped weights --------------------------------------------------------------------------


def test_shipped_weights_match_their_record():
    from generator.toy import RECORD_FILE, WEIGHTS_FILE, file_sha256, read_record

    record = read_record()
    assert file_sha256(WEIGHTS_FILE) == record["sha256"]
    assert WEIGHTS_FILE.stat().st_size == record["bytes"] <= 20_000_000
    assert record["command"].startswith("python benchmarks/train_toy.py ")
    assert record["config"]["seed"] == 0 and "--seed" not in record["command"] or f"--seed {record['config']['seed']}" in record["command"]
    assert set(record["cpu_seconds"]) == {"vae", "pool", "transformer", "total"}
    assert json.loads(RECORD_FILE.read_text()) == record


def test_tampered_weights_are_refused_in_one_line(tmp_path):
    from generator.toy import ToyWeightsError, WEIGHTS_DIR, load_pipeline

    folder = tmp_path / "w"
    shutil.copytree(WEIGHTS_DIR, folder)
    data = bytearray((folder / "toy.safetensors").read_bytes())
    data[-1] ^= 1
    (folder / "toy.safetensors").write_bytes(bytes(data))
    with pytest.raises(ToyWeightsError, match="does not match the checksum"):
        load_pipeline(folder)


def test_backend_toy_makes_shots_of_the_toy_format():
    from generator.backends import BACKENDS, load_generator
    from generator.toy import request

    assert "toy" in BACKENDS
    generator = load_generator("toy")
    assert (generator.name, generator.width, generator.height, generator.num_frames) == ("toy", TOY_WIDTH, TOY_HEIGHT, TOY_FRAMES)
    first = generator.generate(request("the hero moves left", "t2v", 3)).frames
    assert first.shape == (TOY_FRAMES, TOY_HEIGHT, TOY_WIDTH, 3) and first.dtype == np.uint8
    again = generator.generate(request("the hero moves left", "t2v", 3)).frames
    assert np.array_equal(first, again)  # a seed is a shot
    continued = generator.generate(request("the hero moves left", "mi2v", 3, [first[0]], [first[-1]])).frames
    assert continued.shape == (TOY_FRAMES - 1, TOY_HEIGHT, TOY_WIDTH, 3)


def test_toy_backend_refuses_wan_options(tmp_path):
    done = subprocess.run([sys.executable, "-m", "director.frontends.cli", "make", "a hero", "--backend", "toy", "--guidance", "5",
                           "--out", str(tmp_path / "s")], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2, done.stderr
    assert "--backend toy runs its own trained toy model" in done.stderr and "--guidance" in done.stderr
    assert not (tmp_path / "s").exists()


def test_hue_measure_reads_the_drawn_character():
    for hue, degrees in HUES.items():
        identity = bench.Identity(hue, "circle", "solid", 40)
        clip = draw_clip(identity, "left", (20.0, 16.0))
        assert hue_error(frame_hue(clip[0]), degrees) < 3
        assert clip_hue_error(clip, degrees) < 3
    assert frame_hue(np.full((32, 32, 3), 50, np.uint8)) is None


# --- what memory does on pixels -------------------------------------------------------------------


def test_memory_carries_identity_on_every_seed(harness, tmp_path):
    """Later shots' hue error: with memory far under --no-memory, on each seed."""
    stories = [bench.held_out_story(i) for i in range(2)]
    for seed in SEEDS:
        with_memory, without = [], []
        for i, story in enumerate(stories):
            wanted = HUES[story.identity.hue]
            with_memory += [clip_hue_error(s, wanted) for s in harness.run(story, seed, tmp_path / f"m{seed}{i}")["shots"][1:]]
            without += [clip_hue_error(s, wanted) for s in harness.run(story, seed, tmp_path / f"n{seed}{i}", use_memory=False)["shots"][1:]]
        assert np.median(with_memory) + 30 < np.median(without), (seed, np.median(with_memory), np.median(without))


def test_mi2v_continues_the_last_frame(harness, tmp_path):
    """A continued shot's first frame is far closer to the previous last frame than a cut's is."""
    story = bench.ToyStory(bench.held_out_story(7).identity, ["right", "right", "down", "down"], ["cut", "continue", "cut", "continue"])
    for seed in SEEDS:
        shots = harness.run(story, seed, tmp_path / f"c{seed}")["shots"]
        continued = np.mean([bench.mean_abs(shots[k][0], shots[k - 1][-1]) for k in (1, 3)])
        cut = bench.mean_abs(shots[2][0], shots[1][-1])
        assert continued * 2 < cut, (seed, continued, cut)


def test_critic_drop_lever_recovers_a_misled_shot(harness, tmp_path):
    """A wrong-identity keyframe in memory pulls the shot away; the critic drops it and the retake recovers."""
    story = bench.held_out_story(3)
    target = len(story.prompts) - 1
    for seed in SEEDS:
        clean = harness.run(story, seed, tmp_path / f"k{seed}")["shots"][target]
        lever = harness.run(story, seed, tmp_path / f"j{seed}", inject_before=target)
        similarity = [bench.identity_similarity(harness, frames, story.identity) for frames in (clean, lever["injected"], lever["shots"][target])]
        assert lever["decision"] == "drop_memory", (seed, lever["decision"])
        assert similarity[1] < similarity[0] - 0.02, (seed, similarity)
        assert similarity[2] - similarity[1] >= 0.5 * (similarity[0] - similarity[1]), (seed, similarity)


def test_cascade_recolours_dependents_and_only_leaves_them(tmp_path):
    """Through director.api: recolour shot 2; cascade moves shots 3.. toward the new colour, only keeps their bytes."""
    rows = bench.revision_rows([bench.held_out_story(0)], [0], tmp_path, None)[0]
    assert rows["only_identical"] == 1.0 and rows["only_toward_new"] == 0.0
    assert rows["cascade_toward_new"] > 20, rows
