"""The trained toy model: its shipped weights, its backend, and what memory does to its pixels.

Every goal is measured by `benchmarks/toy_memory.py`; the tests here check what the shipped model
reaches on every seed, with a margin: identity through memory (hue error) and per-character
consistency over `--no-memory`, MI2V continuity (a continued shot starts nearer the previous last
frame than the same shot cut), and the critic's drop lever (a wrong keyframe in memory, dropped,
the shot won back). The cascade's pixel change is tests/test_toy_revision.py's. The training
command's own tests run it at a few steps, on one process and on two."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from generator.toy_data import HUES, TOY_FRAMES, TOY_HEIGHT, TOY_WIDTH, clip_hue_error, draw_clip, frame_hue, hue_error
from helpers import toy_benchmark

ROOT = Path(__file__).resolve().parents[1]
SEEDS = (0, 1, 2)
bench = toy_benchmark()


@pytest.fixture(scope="module")
def harness():
    return bench.Harness(None)


@pytest.fixture(scope="module")
def with_memory(harness, tmp_path_factory):
    """Four held-out stories a seed, made shot by shot through the memory bank: {(seed, story): shots}."""
    work = tmp_path_factory.mktemp("toy")
    return {(seed, index): harness.run(bench.held_out_story(index), seed, work / f"m{seed}-{index}")["shots"] for seed in SEEDS for index in range(4)}


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


def test_memory_moves_the_pixels_on_every_seed():
    """Swapping the memory's identity changes the shot by many grey levels (the random tiny model: at most one)."""
    from generator.backends import load_generator
    from generator.toy import request

    generator = load_generator("toy")
    for seed in SEEDS:
        story = bench.held_out_story(seed)
        other = bench.wrong_identity(story.identity)
        shots = [generator.generate(request(story.prompts[1], "m2v", seed, [bench.reference_image(identity)] * 2)).frames
                 for identity in (story.identity, other)]
        assert bench.mean_abs(shots[0], shots[1]) > 5.0, (seed, bench.mean_abs(shots[0], shots[1]))


def test_make_on_the_toy_backend_fills_memory(tmp_path):
    """The toy's frames score 0 on the fallback quality scorer: keyframes are not gated on it, so
    every shot of a story made through the API leaves keyframes, and the later shots use them."""
    import json

    from director.api import RunSettings, make_story

    settings = RunSettings(backend="toy", planner="offline", shots=3, embedder="colour-structure", quality_scorer="brisque", no_sound=True,
                           critic="off")  # no memory edits: shot 3's memory is exactly what shots 1 and 2 left
    make_story(tmp_path / "toy", logline="a fox", settings=settings)
    records = [json.loads(p.read_text()) for p in sorted((tmp_path / "toy" / "shots").glob("*.json"))]
    assert len(records) == 3 and all(r["keyframes"] for r in records)  # every shot leaves keyframes
    assert records[2]["memory"] == records[0]["keyframes"] + records[1]["keyframes"]


def test_memory_carries_the_characters_colour_and_keeps_it_on_every_seed(harness, with_memory, tmp_path):
    """Four held-out stories a seed, shot by shot through the memory bank as the director runs them,
    with memory and without: the character's colour (only in the reference image) is right with
    memory and lost without, and the eval's per-character consistency rises. Measured with the
    shipped weights (median hue error 20.5-23 degrees with memory, 94-104 without; consistency
    +0.18 to +0.24, the issue's goal +0.10): the bounds leave a margin on each seed."""
    for seed in SEEDS:
        hue_with, hue_without, gain = [], [], []
        for index in range(4):
            story = bench.held_out_story(index)
            wanted = HUES[story.identity.hue]
            made = with_memory[seed, index]
            without = harness.run(story, seed, tmp_path / f"n{seed}-{index}", use_memory=False)["shots"]
            hue_with += [clip_hue_error(shot, wanted) for shot in made[1:]]
            hue_without += [clip_hue_error(shot, wanted) for shot in without[1:]]
            gain.append(bench.character_consistency(harness, made) - bench.character_consistency(harness, without))
        assert np.median(hue_with) <= 30 and np.median(hue_with) <= np.median(hue_without) / 3, (seed, np.median(hue_with), np.median(hue_without))
        assert np.mean(gain) >= 0.12, (seed, gain)


def test_a_continued_shot_starts_where_the_previous_one_ended_on_every_seed(harness, with_memory):
    """MI2V on pixels, paired: each later shot of four held-out stories a seed made twice with the
    same memory (the reference image) and seed, once continuing the previous shot (MI2V) and once
    as a cut (M2V); its first frame is compared with the previous shot's last frame. Measured with
    the shipped weights: MI2V 0.34-0.45 of the cut's distance (the issue's goal is a third; the
    toy world's own frames give 0.36: README);
    ignoring the previous frame makes the two equal."""
    from generator.base import ShotMode

    for seed in SEEDS:
        continued, cut = [], []
        for index in range(4):
            story = bench.held_out_story(index)
            shots = with_memory[seed, index]
            memory = [bench.reference_image(story.identity)]
            for k in range(1, len(shots)):
                last = shots[k - 1][-1]
                for mode, out in ((ShotMode.MI2V, continued), (ShotMode.M2V, cut)):
                    out.append(bench.mean_abs(harness.shot(story.prompts[k], mode, seed * 1000 + k, memory, last if mode is ShotMode.MI2V else None)[0], last))
        assert np.mean(continued) <= 0.55 * np.mean(cut), (seed, np.mean(continued), np.mean(cut))


def test_the_toy_worlds_own_mi2v_ratio_is_the_floor_the_readme_reports():
    """Drawn, not generated: the frame after a shot's first (what a perfect continuation shows
    first, MI2V dropping the copied frame) against that first frame, over a cut's distance, on the
    benchmark's 10 held-out stories: 0.36, above the issue's third (README)."""
    assert bench.drawn_mi2v_ratio([bench.held_out_story(i) for i in range(10)]) == pytest.approx(0.361, abs=0.002)


def test_the_critic_drops_a_wrong_keyframe_and_wins_back_the_shot_on_every_seed(harness, with_memory, tmp_path):
    """The drop lever on pixels: a keyframe of the character in the farthest hue is put into memory
    before shot 2 of four held-out stories a seed; the shot follows it (its identity similarity falls),
    the critic sees that the shot agrees with its memory only through that one entry, which stands
    apart from the rest, drops it, and the shot made again wins back most of the loss. Shot 2 has
    no story median to fall under: the critic's rule before this one never acted there (0 won back).
    Measured with the shipped weights: loss 0.17-0.19, won back 0.73-1.23 (the issue's goal: half)."""
    for seed in SEEDS:
        clean, injected, after = [], [], []
        for index in range(4):
            full = bench.held_out_story(index)
            story = bench.ToyStory(full.identity, full.directions[:2], full.transitions[:2])  # the same first shots, seeds and memory
            lever = harness.run(story, seed, tmp_path / f"i{seed}-{index}", inject_before=1)
            clean.append(bench.identity_similarity(harness, with_memory[seed, index][1], story.identity))
            injected.append(bench.identity_similarity(harness, lever["injected"], story.identity))
            after.append(bench.identity_similarity(harness, lever["shots"][1], story.identity))
        loss = np.mean(clean) - np.mean(injected)
        assert loss >= 0.1, (seed, clean, injected)
        assert np.mean(after) - np.mean(injected) >= 0.5 * loss, (seed, clean, injected, after)


def test_the_character_weight_covers_exactly_the_latent_cells_it_is_drawn_in():
    """The flow loss's character weight: a cell counts when any pixel it encodes is the character's
    (latent frame 0 is pixel frame 0, latent frame 1 the next four), on the 4x and 8x grids."""
    import torch

    from generator.train.toy import _character_mask, _latent_cells, _pixels

    identity = bench.Identity("red", "square", "solid", 40)
    clip = draw_clip(identity, "right", (10.0, 10.0))  # a 14x14 square on pixels 3-16, moving 2 px a frame
    mask = _character_mask(_pixels(clip[None]))
    assert mask.shape == (1, 1, TOY_FRAMES, TOY_HEIGHT, TOY_WIDTH) and mask[0, 0, 0, 3:17, 3:17].all() and mask[0, 0, 0].sum() == 196
    cells = _latent_cells(mask, (2, 8, 8))[0, 0]
    assert torch.equal(cells[0].nonzero()[:, 0].unique(), torch.arange(0, 5))  # rows 0-4: cells of 4 pixels, 0-19 hold 3-16
    assert torch.equal(cells[0].nonzero()[:, 1].unique(), torch.arange(0, 5))
    assert torch.equal(cells[1].nonzero()[:, 1].unique(), torch.arange(1, 7))  # the later frames span pixels 5-24
    coarse = _latent_cells(mask, (2, 4, 4))[0, 0]
    assert coarse[0].sum() == 9 and coarse[0, :3, :3].all()


def test_the_flow_loss_weights_only_the_target_cells_it_is_given():
    import torch

    from generator.train.objective import flow_matching_loss

    torch.manual_seed(0)
    prediction, noise, x0 = torch.randn(2, 16, 5, 4, 4), torch.randn(2, 16, 5, 4, 4), torch.randn(2, 16, 5, 4, 4)
    plain = flow_matching_loss(prediction, noise, x0, 3)
    assert torch.allclose(flow_matching_loss(prediction, noise, x0, 3, torch.ones(2, 1, 2, 4, 4)), plain)
    weight = torch.zeros(2, 1, 2, 4, 4)
    weight[1, 0, 1, 2, 3] = 5.0  # one cell of the second sample's second target frame
    error = (prediction - (noise - x0))[1, :, 4, 2, 3].pow(2).mean()
    assert torch.allclose(flow_matching_loss(prediction, noise, x0, 3, weight), error)


def test_training_memory_shows_the_character_and_after_a_recolour_its_latest_look_last():
    """Toy training samples: memory holds other clips of the target's character; with a recolour,
    its oldest entries show the same character in another hue (the pair's sibling) and the latest
    its own look; a colour prompt names the target's own hue."""
    from generator.train.toy import Pool, ToyTrainConfig, draw_memory, recoloured

    rng = np.random.default_rng(0)
    identities = []
    for _ in range(3):
        identity = bench.random_identity(rng)
        identities += [identity, recoloured(identity, rng)]
    for first, second in zip(identities[::2], identities[1::2]):
        assert first.hue != second.hue and (first.shape, first.pattern, first.background) == (second.shape, second.pattern, second.background)
    owner = [i for i in range(6) for _ in range(4)]
    pool = Pool(None, None, None, None, owner, ["left"] * 24, identities)
    recolour = ToyTrainConfig(colour_prompt_probability=0.0, recolour_probability=1.0)
    for clip in range(24):
        picks, colour = draw_memory(rng, pool, clip, 4, recolour)
        owners = [owner[c] for c in picks]
        earlier = owners.count(owner[clip] ^ 1)
        assert colour is None and clip not in picks and 1 <= earlier <= 3
        assert owners == [owner[clip] ^ 1] * earlier + [owner[clip]] * (4 - earlier)
    plain = ToyTrainConfig(colour_prompt_probability=0.0, recolour_probability=0.0)
    assert all(owner[c] == owner[5] for c in draw_memory(rng, pool, 5, 4, plain)[0])
    named = ToyTrainConfig(colour_prompt_probability=1.0)
    for clip in range(24):
        picks, colour = draw_memory(rng, pool, clip, 3, named)
        assert colour == identities[owner[clip]].hue and len({owner[c] for c in picks}) == 1


def test_a_toy_config_that_cannot_train_says_why_in_the_flags_words():
    from generator.train.toy import ToyTrainConfig

    assert ToyTrainConfig().problem() is None  # the shipped recipe
    cases = {
        "steps": (0, "--steps must be at least 1, not 0"),
        "threads": (0, "--threads must be at least 1, not 0"),
        "processes": (3, "--batch (16) must split evenly between --processes (3)"),
        "max_memory": (0, "--max-memory must be at least 1, not 0"),
        "clips_per_identity": (1, "--clips-per-identity must be at least 2, not 1"),
        "lr": (0.0, "--lr must be above 0, not 0.0"),
        "mi2v_probability": (1.5, "--mi2v-probability is a share: between 0 and 1, not 1.5"),
        "flow_character_weight": (-1.0, "--flow-character-weight must be 0 or more, not -1.0"),
        "vae_levels": (4, "--vae-levels must be 2 (4x space, the shipped VAE) or 3 (Wan's 8x), not 4"),
    }
    for name, (value, message) in cases.items():
        assert ToyTrainConfig(**{name: value}).problem() == message


def test_the_training_command_refuses_a_vae_it_cannot_build_before_writing(tmp_path, capsys):
    """The command's own `main` (in this process: the refusal needs no training stack of its own)."""
    import runpy

    main = runpy.run_path(str(ROOT / "benchmarks" / "train_toy.py"))["main"]
    with pytest.raises(SystemExit) as refused:
        main(["--out", str(tmp_path / "w"), "--vae-levels", "4"])
    assert refused.value.code == 2 and "--vae-levels must be 2" in capsys.readouterr().err.splitlines()[-1]
    assert not (tmp_path / "w").exists()


def test_the_training_command_writes_weights_that_load_and_match_their_record(tmp_path):
    """`benchmarks/train_toy.py` end to end at two transformer steps on two processes: weights,
    record (command, checksum, losses, CPU seconds), and the toy backend runs them. The two
    processes train what one does: the same batch loss (each takes half the batch, the loss is
    their mean) and the same update (DistributedDataParallel averages the halves' gradients)."""
    import torch

    from generator.toy import build_pipeline, file_sha256, load_pipeline, request, toy_generator
    from generator.train.toy import ToyTrainConfig, train_toy

    out = tmp_path / "weights"
    knobs = {"vae_steps": 2, "steps": 2, "identities_per_pool": 2, "clips_per_identity": 2, "vae_batch": 2, "batch": 4, "vae_levels": 2}
    command = [sys.executable, str(ROOT / "benchmarks" / "train_toy.py"), "--out", str(out), "--processes", "2",
               *[a for k, v in knobs.items() for a in ("--" + k.replace("_", "-"), str(v))]]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads((out / "toy.json").read_text())
    assert record["sha256"] == file_sha256(out / "toy.safetensors") and record["bytes"] == (out / "toy.safetensors").stat().st_size
    assert record["command"] == "python benchmarks/train_toy.py " + " ".join(command[2:])
    assert (record["config"]["steps"], record["config"]["processes"], record["config"]["vae_levels"]) == (2, 2, 2)
    assert set(record["cpu_seconds"]) == {"vae", "pool", "transformer", "total"}
    assert record["cpu_seconds"]["transformer"] >= 2.0  # the two processes' CPU (each imports torch), not the waiting parent's
    assert "pool: 4 clips of 2 identities encoded" in done.stdout and "transformer step 1/2: loss" in done.stdout
    one = train_toy(ToyTrainConfig(**knobs, processes=1), tmp_path / "one", report=lambda line: None)
    assert record["loss_first_last"][0] == pytest.approx(one.loss[0], rel=1e-6)
    two, single = load_pipeline(out).transformer.state_dict(), load_pipeline(tmp_path / "one").transformer.state_dict()
    start = build_pipeline(0, 2).transformer.state_dict()
    step = float(torch.cat([(single[k] - start[k]).abs().flatten() for k in single]).median())  # Adam's first step moves each weight by its lr
    apart = sum(int(((two[k] - single[k]).abs() > step / 2).sum()) for k in two)
    assert step > 1e-4 and apart <= 1e-3 * sum(v.numel() for v in two.values()), (step, apart)  # one half's gradient alone flips many signs
    generator = toy_generator(out)
    assert generator.pipe.vae_scale_factor_spatial == 4 and generator.pipe.transformer.config.patch_size == (1, 2, 2)  # the record's VAE
    frames = generator.generate(request("the hero moves up", "t2v", 1)).frames
    assert frames.shape == (TOY_FRAMES, TOY_HEIGHT, TOY_WIDTH, 3) and frames.dtype == np.uint8
