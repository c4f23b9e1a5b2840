"""M2V LoRA training in one process: the objective's layout, data order, overfitting, resume, bad input
(launched on several processes, DDP and FSDP: test_train_distributed.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from director import api
from director.folder.video import count_frames, read_video, write_video
from director.frontends.cli import main
from director.run.context import generator_options
from director.settings import RunSettings
from generator.backends import load_generator
from generator.base import ShotMode, ShotRequest
from generator.models import load_m2v_pipeline
from generator.tiny import TINY_FRAMES, TINY_HEIGHT, TINY_WIDTH, ensure_tiny_model
from generator.train.cache import CachedSamples, find_cache
from generator.train.data import ClipSamples, SampleOptions, load_clips
from generator.train.objective import (
    HIGH, LOW, cached_batch, choose_expert, encode_batch, encode_video, flow_matching_loss, noised, predict, sample_timestep, unshifted,
)
from generator.train.config import DEFAULT_TARGETS, TrainConfig
from generator.train.trainer import train_lora
from train_support import ROOT, one_torch_thread, progress_of, synthetic_data

FAST = {"rank": 4, "num_workers": 0, "validate_every": 0, "eval_samples": 2, "max_memory": 3}


@pytest.fixture(autouse=True)
def one_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return synthetic_data(tmp_path_factory)


@pytest.fixture(scope="module")
def pipe():
    return load_m2v_pipeline(str(ensure_tiny_model() / "i2v"), dtype="float32", offload="none", device="cpu")


def test_synthetic_data_is_real_video_in_groups(data):
    clips = load_clips(data, probe=count_frames, min_frames=TINY_FRAMES)
    assert [c.group for c in clips] == ["g000", "g000", "g001", "g001"]
    frames = read_video(clips[0].path)
    assert frames.shape == (TINY_FRAMES, TINY_HEIGHT, TINY_WIDTH, 3)
    assert clips[0].caption.startswith("a ") and "moving" in clips[0].caption
    # a group keeps its identity: the same two colours dominate both of its clips
    colours = [set(map(tuple, read_video(c.path)[0].reshape(-1, 3)[::97] // 64)) for c in clips]
    assert colours[0] & colours[1]


def test_prepare_reads_a_folder_of_groups_with_captions(data, tmp_path):
    import json
    import shutil

    clips = load_clips(data)
    videos = tmp_path / "videos"
    (videos / "alice").mkdir(parents=True)
    shutil.copy(clips[0].path, videos / "alice" / "a.mp4")
    shutil.copy(clips[1].path, videos / "alice" / "b.mp4")
    (videos / "alice" / "a.txt").write_text("alice waves\n")
    shutil.copy(clips[2].path, videos / "solo.mp4")
    out = tmp_path / "prepared"
    assert main(["train", "prepare", str(videos), "--out", str(out)]) == 0
    lines = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [(line["group"], Path(line["clip"]).name, line["caption"]) for line in lines] == [
        ("alice", "a.mp4", "alice waves"), ("alice", "b.mp4", ""), ("solo", "solo.mp4", "")]
    assert [(c.group, c.path.name) for c in load_clips(out)] == [(c.group, c.path.name) for c in load_clips(videos)]
    assert all(c.path.is_file() for c in load_clips(out))


def test_loss_counts_target_frames_only():
    g = torch.Generator().manual_seed(0)
    x0, noise, prediction = (torch.randn(1, 16, 3 + 5, 6, 8, generator=g) for _ in range(3))
    loss = flow_matching_loss(prediction, noise, x0, num_memory=3)
    expected = ((prediction[:, :, 3:] - (noise - x0)[:, :, 3:]) ** 2).mean()
    torch.testing.assert_close(loss, expected)
    at_memory = prediction.clone()
    at_memory[:, :, :3] += 100.0
    assert torch.equal(flow_matching_loss(at_memory, noise, x0, 3), loss)
    at_target = prediction.clone()
    at_target[:, :, 3, 2, 4] += 1.0
    assert flow_matching_loss(at_target, noise, x0, 3) != loss
    # x_t spans memory and target alike; at sigma = 1 it is pure noise, as the sampler starts
    assert torch.equal(noised(x0, noise, torch.tensor([1.0])), noise)
    torch.testing.assert_close(noised(x0, noise, torch.tensor([0.25])), 0.75 * x0 + 0.25 * noise)


def test_timesteps_follow_the_shift_and_split_at_the_expert_boundary():
    g = torch.Generator().manual_seed(0)
    high = torch.cat([sample_timestep(HIGH, 0.9, 4.0, g) for _ in range(400)])
    low = torch.cat([sample_timestep(LOW, 0.9, 4.0, g) for _ in range(400)])
    assert high.min() >= 0.9 and high.max() <= 1.0
    assert low.max() < 0.9 and low.min() > 0.0
    # shift 4: sigma(u=1/2) = 0.8, so the combined median (low share 0.692) sits at 0.8
    rng = np.random.default_rng(0)
    draws = [choose_expert([HIGH, LOW], 0.9, 4.0, rng) for _ in range(4000)]
    share = draws.count(HIGH) / len(draws)
    assert abs(share - (1 - unshifted(0.9, 4.0))) < 0.03 and abs(share - 0.3077) < 0.03
    single = torch.cat([sample_timestep(HIGH, None, 4.0, g) for _ in range(2000)])
    assert abs(single.median().item() - 0.8) < 0.03


def test_each_expert_trains_on_its_own_side_of_the_boundary(data, tmp_path, monkeypatch):
    """Every training step's loss is taken at a sigma of the expert it steps: >= 0.9 for the high-noise
    expert, below for the low-noise one (design.md 2.3), not anywhere on the schedule."""
    import generator.train.trainer as trainer

    order = []
    real_choose, real_loss = trainer.choose_expert, trainer.step_loss
    monkeypatch.setattr(trainer, "choose_expert", lambda *a, **k: order.append(("expert", real_choose(*a, **k))) or order[-1][1])
    monkeypatch.setattr(trainer, "step_loss", lambda model, owner, batch, sigma, g: order.append(("sigma", float(sigma))) or real_loss(model, owner, batch, sigma, g))
    config = TrainConfig(str(data), str(tmp_path / "lora"), steps=8, checkpoint_every=8, **{**FAST, "eval_samples": 0, "max_memory": 1})
    summary = train_lora(config, read_video, write_video, count_frames)
    steps = [(expert, sigma) for (what, expert), (then, sigma) in zip(order, order[1:]) if what == "expert" and then == "sigma"]
    assert [e for e, _ in steps] == [h["expert"] for h in summary.history] and {e for e, _ in steps} == {HIGH, LOW}
    assert all(sigma >= 0.9 for expert, sigma in steps if expert == HIGH), steps
    assert all(0.0 < sigma < 0.9 for expert, sigma in steps if expert == LOW), steps


@pytest.mark.parametrize("mode", [ShotMode.M2V, ShotMode.MI2V])
def test_training_condition_equals_the_pipelines(pipe, mode):
    rng = np.random.default_rng(1)
    target = rng.integers(0, 256, (TINY_FRAMES, TINY_HEIGHT, TINY_WIDTH, 3), dtype=np.uint8)
    memory = [rng.integers(0, 256, (TINY_HEIGHT, TINY_WIDTH, 3), dtype=np.uint8) for _ in range(3)]
    context = [target[0]] if mode is ShotMode.MI2V else []
    seen = {}

    def grab(_pipe, _i, _t, tensors):
        seen.setdefault("condition", tensors["condition"].clone())
        return {}

    def record(_module, _args, kwargs, output):
        seen.setdefault("call", (kwargs["hidden_states"].clone(), kwargs["timestep"].clone(), output[0].clone()))

    hook = pipe.transformer.register_forward_hook(record, with_kwargs=True)
    try:
        pipe("a red circle", memory=memory, mode=mode, context=context, height=TINY_HEIGHT, width=TINY_WIDTH,
             num_frames=TINY_FRAMES, num_inference_steps=1, callback_on_step_end=grab,
             callback_on_step_end_tensor_inputs=["condition"], output_type="latent")
    finally:
        hook.remove()
    batch = encode_batch(pipe, target, memory, context, "a red circle", torch.device("cpu"), torch.float32)
    assert torch.equal(batch.condition, seen["condition"])
    # the training forward is the sampler's: same input layout, timestep = sigma * 1000, memory rotary
    hidden, timestep, output = seen["call"]
    pipe.transformer.rope.num_memory = 0  # predict must set it itself
    with torch.no_grad():
        prediction = predict(pipe.transformer, pipe.transformer, batch, hidden[:, :16], timestep / 1000)
    torch.testing.assert_close(prediction, output, rtol=1e-5, atol=1e-5)
    assert batch.condition.shape == (1, 20, 3 + 5, TINY_HEIGHT // 8, TINY_WIDTH // 8)
    known = 3 + (1 if mode is ShotMode.MI2V else 0)
    assert torch.all(batch.condition[:, :4, :known] == 1) and torch.all(batch.condition[:, :4, known:] == 0)
    assert batch.num_memory == 3 and batch.x0.shape == (1, 16, 8, 6, 8)
    # x0's memory part is the memory latents the pipeline conditions on
    assert torch.equal(batch.x0[:, :, :3], batch.condition[:, 4:, :3])


def test_samples_are_fixed_by_index_and_skip_clips_that_fail(data):
    clips = load_clips(data)
    options = SampleOptions(TINY_WIDTH, TINY_HEIGHT, TINY_FRAMES, max_memory=4, seed=3)
    samples = ClipSamples(clips, options, 16, read_video)
    first, again = samples[5], ClipSamples(clips, options, 16, read_video)[5]
    assert first.clip == again.clip and np.array_equal(first.target, again.target) and len(first.memory) == len(again.memory)
    assert all(np.array_equal(a, b) for a, b in zip(first.memory, again.memory))
    # every epoch visits every clip once
    assert sorted(samples[i].clip for i in range(4)) == sorted(str(c.path) for c in clips)
    counts = {len(samples[i].memory) for i in range(16)}
    assert counts <= {1, 2, 3, 4} and len(counts) > 1
    assert {bool(samples[i].context) for i in range(16)} == {True, False}
    # memory frames are frames of the other clip of the target's group; MI2V's context is the target's first frame
    videos = {str(c.path): read_video(c.path) for c in clips}
    for i in range(8):
        sample = samples[i]
        group = next(c.group for c in clips if str(c.path) == sample.clip)
        mate = next(str(c.path) for c in clips if c.group == group and str(c.path) != sample.clip)
        assert all(any(np.array_equal(m, f) for f in videos[mate]) for m in sample.memory)
        assert not sample.context or np.array_equal(sample.context[0], sample.target[0])

    broken = str(clips[0].path)

    def reader(path):
        if str(path) == broken:
            raise OSError("corrupt stream")
        return read_video(path)

    flaky = ClipSamples(clips, options, 16, reader)
    index = next(i for i in range(4) if samples[i].clip == broken)
    sample = flaky[index]
    assert set(sample.skipped) == {broken} and sample.clip != broken
    # as a memory source it is skipped too: its group mate still trains, with its own frames as memory
    mate = next(i for i in range(4) if samples[i].clip == str(clips[1].path))
    assert flaky[mate].clip == str(clips[1].path) and set(flaky[mate].skipped) <= {broken}


def test_overfit_then_the_lora_loads_through_make_lora(data, tmp_path):
    out = tmp_path / "lora"
    summary = api.train_lora(data, out, steps=50, learning_rate=1e-2, checkpoint_every=50, **{**FAST, "rank": 8, "max_memory": 2})
    losses = [h["loss"] for h in summary.history]
    print(f"fixed-sample loss (same noise and timesteps): start {summary.eval_loss_start:.4f} -> end {summary.eval_loss_end:.4f}; "
          f"mean step loss, first 10 {np.mean(losses[:10]):.4f} -> last 10 {np.mean(losses[-10:]):.4f}")
    assert summary.steps == 50 and summary.eval_loss_end < 0.85 * summary.eval_loss_start
    assert np.mean(losses[-10:]) < 0.9 * np.mean(losses[:10])
    assert sorted(p.name for p in out.glob("*.safetensors")) == ["high_noise_lora.safetensors", "low_noise_lora.safetensors"]
    assert {h["expert"] for h in summary.history} == {HIGH, LOW}

    request = ShotRequest("s1", "a red circle", ShotMode.M2V, seed=4, memory=[read_video(load_clips(data)[0].path)[8]],
                          num_frames=TINY_FRAMES, width=TINY_WIDTH, height=TINY_HEIGHT)
    plain = load_generator("tiny", **generator_options("tiny", RunSettings(backend="tiny", steps=2)))
    tuned = load_generator("tiny", **generator_options("tiny", RunSettings(backend="tiny", steps=2, lora=[str(out)])))
    assert tuned.lora_names == [str(out)]
    assert not np.array_equal(plain.generate(request).frames, tuned.generate(request).frames)


def test_resume_continues_steps_optimizer_and_data_order(data, tmp_path):
    options = {**FAST, "learning_rate": 1e-3, "checkpoint_every": 2, "expert": "high"}
    whole = train_lora(TrainConfig(str(data), str(tmp_path / "whole"), steps=4, **options), read_video, write_video, count_frames)
    first = train_lora(TrainConfig(str(data), str(tmp_path / "split"), steps=2, **options), read_video, write_video, count_frames)
    assert first.steps == 2
    rest = train_lora(TrainConfig(str(data), str(tmp_path / "split"), steps=4, **options), read_video, write_video, count_frames)
    assert (rest.resumed_from, rest.steps_run, rest.steps) == (2, 2, 4)
    assert [h["samples"] for h in rest.history] == [h["samples"] for h in whole.history] == [[0], [1], [2], [3]]
    np.testing.assert_allclose([h["loss"] for h in rest.history], [h["loss"] for h in whole.history], rtol=1e-5)
    for name in ("high_noise_lora.safetensors",):
        a, b = load_file(str(tmp_path / "whole" / name)), load_file(str(tmp_path / "split" / name))
        assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    optimizer = [torch.load(tmp_path / run / "checkpoints" / "step-000004" / "optimizer.bin", weights_only=False)
                 for run in ("whole", "split")]
    states = [o["state"] for o in optimizer]
    assert states[0].keys() == states[1].keys() and states[0]
    assert all(torch.allclose(states[0][k]["exp_avg_sq"], states[1][k]["exp_avg_sq"], atol=1e-9) for k in states[0])
    # Adam's step count went on from the checkpoint (a fresh optimiser would count 2)
    assert {float(states[1][k]["step"]) for k in states[1]} == {float(states[0][k]["step"]) for k in states[0]} == {4.0}
    assert progress_of(tmp_path / "split" / "checkpoints" / "step-000004")["step"] == 4


def test_a_clip_failing_mid_run_is_skipped_and_named(data, tmp_path):
    broken = str(load_clips(data)[1].path)

    def reader(path):
        if str(path) == broken:
            raise OSError("corrupt stream")
        return read_video(path)

    options = {**FAST, "eval_samples": 0, "validate_every": 2, "validation_steps": 1}
    config = TrainConfig(str(data), str(tmp_path / "lora"), steps=4, expert="high", checkpoint_every=4, **options)
    summary = train_lora(config, reader, write_video, count_frames)
    assert summary.steps == 4 and summary.skipped.get(broken, 0) >= 1
    assert broken in summary.describe() and "skipped" in summary.describe()
    assert [p.name for p in (tmp_path / "lora").glob("*.safetensors")] == ["high_noise_lora.safetensors"]
    # validation renders of the fixed memory set and prompt, beside the checkpoints
    renders = sorted((tmp_path / "lora" / "checkpoints" / "validation").glob("*.mp4"))
    assert [p.name for p in renders] == ["step-000002.mp4", "step-000004.mp4"]
    assert all(count_frames(p) == TINY_FRAMES for p in renders)


def test_bad_input_is_one_line_exit_2_before_any_write(data, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = tmp_path / "missing.jsonl"
    missing.write_text('{"clip": "nowhere.mp4", "group": "a", "caption": "x"}\n')
    garbage = tmp_path / "garbage"
    (garbage / "g").mkdir(parents=True)
    (garbage / "g" / "clip.mp4").write_bytes(b"not a video at all")
    cases = [
        ([str(empty)], "no clips in"),
        ([str(missing)], "clip not found"),
        ([str(garbage)], "cannot read video"),
        ([str(data), "--model", str(tmp_path / "no-such-model")], "not found"),
        ([str(data), "--expert", "middle"], "invalid choice"),
        ([str(data), "--frames", "16"], "4k+1"),
        ([str(data), "--workers", "-1"], "--workers must be 0 or more"),
    ]
    for args, message in cases:
        out = tmp_path / "out"
        assert main(["train", *args, "--out", str(out), "--steps", "1"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err
        assert not out.exists()
    assert main(["train", "prepare", str(garbage), "--out", str(tmp_path / "d")]) == 2
    assert "cannot read video" in capsys.readouterr().err and not (tmp_path / "d").exists()


def test_latent_cache_holds_what_the_encoders_give_and_trains_without_them(pipe, tmp_path):
    data = tmp_path / "cached"
    assert main(["train", "prepare", "--synthetic", "1", "--clips-per-group", "2", "--cache", "--out", str(data)]) == 0
    clips = load_clips(data)
    options = SampleOptions(TINY_WIDTH, TINY_HEIGHT, TINY_FRAMES, max_memory=3, mi2v_probability=1.0, caption_dropout=0.0)
    folder = find_cache(data, clips, "tiny", options)
    samples = CachedSamples(clips, options, 4, folder)
    sample = samples[0]
    own = next(c for c in clips if str(c.path) == sample.clip)
    mate = next(c for c in clips if c is not own)
    frames, mate_frames = read_video(own.path), read_video(mate.path)
    cpu = torch.device("cpu")
    torch.testing.assert_close(sample.video[None], encode_video(pipe, frames, cpu))
    torch.testing.assert_close(sample.video_condition[None], pipe.encode_condition_video([frames[0]], TINY_FRAMES, TINY_HEIGHT, TINY_WIDTH, cpu))
    prompt = pipe.encode_prompt(prompt=own.caption, do_classifier_free_guidance=False, max_sequence_length=512, device=cpu)[0]
    torch.testing.assert_close(sample.prompt_embeds[None], prompt)
    # the cached batch is the live batch for the same memory frames (the group mate's 4 keyframes)
    spots = (0, 5, 11, 16)  # 4 evenly spaced frames of 17
    keyframes = pipe.encode_memory([mate_frames[i] for i in spots], TINY_HEIGHT, TINY_WIDTH, cpu)[0]
    picks = [next(k for k in range(4) if torch.equal(sample.memory[:, m], keyframes[:, k])) for m in range(sample.memory.shape[1])]
    cached = cached_batch(sample.video, sample.memory, sample.video_condition, True, sample.prompt_embeds, cpu, torch.float32)
    live = encode_batch(pipe, frames, [mate_frames[spots[k]] for k in picks], [frames[0]], own.caption, cpu, torch.float32)
    torch.testing.assert_close(cached.x0, live.x0)
    torch.testing.assert_close(cached.condition, live.condition)
    # a cache made for another size is refused, in one line
    with pytest.raises(ValueError, match="made with other width, height"):
        find_cache(data, clips, "tiny", SampleOptions(32, 32, TINY_FRAMES))
    summary = train_lora(TrainConfig(str(data), str(tmp_path / "lora"), steps=2, expert="high", checkpoint_every=2, **FAST),
                         read_video, write_video, count_frames)
    assert summary.cached and summary.steps == 2 and "latent cache" in summary.describe()


def test_a_single_transformer_model_from_a_folder_trains_one_lora_file(data, tmp_path):
    from generator.pipeline import M2V_SHIFT, WanM2VPipeline, flow_unipc_scheduler
    from generator.tiny import build_tiny_components

    parts = build_tiny_components(seed=7)
    folder = tmp_path / "one-expert"
    WanM2VPipeline(tokenizer=parts["tokenizer"], text_encoder=parts["text_encoder"], vae=parts["vae"],
                   scheduler=flow_unipc_scheduler(M2V_SHIFT), transformer=parts["transformer"]).save_pretrained(folder)
    out = tmp_path / "lora"
    common = ["--out", str(out), "--steps", "2", "--rank", "4", "--workers", "0", "--validate-every", "0", "--size", "64x48", "--frames", "17"]
    assert main(["train", str(data), "--model", str(folder), "--expert", "low", *common]) == 2 and not out.exists()
    assert main(["train", str(data), "--model", str(folder), *common]) == 0
    assert [p.name for p in out.glob("*.safetensors")] == ["lora.safetensors"]
    from generator.lora import apply_loras

    pipe = load_m2v_pipeline(str(folder), dtype="float32", offload="none", device="cpu")
    assert apply_loras(pipe, [(str(out), 1.0)]).adapters == {"transformer": ["lora0_lora"]}
    # the paper's targets in every block and nothing else, at rsLoRA's scale alpha / sqrt(rank) = 4 / 2
    adapted = {name for name, module in pipe.transformer.named_modules() if hasattr(module, "lora_A")}
    assert adapted == {f"blocks.{b}.{target}" for b in range(2) for target in DEFAULT_TARGETS}
    assert {pipe.transformer.get_submodule(name).scaling["lora0_lora"] for name in adapted} == {2.0}


@pytest.mark.timeout(400)
def test_a_killed_run_resumes_from_its_last_checkpoint(data, tmp_path):
    out = tmp_path / "killed"
    args = ["train", str(data), "--out", str(out), "--rank", "4", "--expert", "high", "--workers", "0",
            "--validate-every", "0", "--checkpoint-every", "2", "--max-memory", "2"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    run = subprocess.Popen([sys.executable, "-m", "director.frontends.cli", *args, "--steps", "100"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not (out / "checkpoints" / "step-000002").is_dir():  # a run that hangs fails on the test's timeout
            assert run.poll() is None
            time.sleep(0.05)
        run.kill()  # SIGKILL: no chance to tidy up
    finally:
        run.kill()
        run.wait()
    saved = max(int(p.name[5:]) for p in (out / "checkpoints").glob("step-*"))
    assert saved % 2 == 0 and saved < 10
    summary = api.train_lora(data, out, steps=10, rank=4, expert="high", num_workers=0, validate_every=0, checkpoint_every=2, max_memory=2)
    assert summary.resumed_from == saved and summary.steps == 10 and summary.steps_run == 10 - saved
    assert [h["samples"] for h in summary.history] == [[i] for i in range(10)]
    assert not list((out / "checkpoints").glob(".step-*"))


def test_gradient_accumulation_takes_several_samples_per_step(data, tmp_path):
    config = TrainConfig(str(data), str(tmp_path / "acc"), steps=2, gradient_accumulation=3, expert="high", checkpoint_every=2,
                         **{**FAST, "eval_samples": 0, "max_memory": 1})
    summary = train_lora(config, read_video, write_video, count_frames)
    assert [h["samples"] for h in summary.history] == [[0, 1, 2], [3, 4, 5]]
    state = torch.load(tmp_path / "acc" / "checkpoints" / "step-000002" / "optimizer.bin", weights_only=False)["state"]
    assert {float(s["step"]) for s in state.values()} == {2.0}  # two optimiser steps, not six
