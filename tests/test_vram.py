"""VRAM tiers at tiny size on CPU (what diffusers allows there: group offload CPU to CPU, fp8
layerwise storage, VAE tiling), output close to full precision; and the options a preset, cache or
parallel launch needs, refused in one line before anything loads."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from director.frontends.cli import main
from director.run.context import generator_options
from director.settings import RunSettings
from generator.models import TIER_PLACEMENTS, Placement, load_m2v_pipeline
from generator.speed import PUBLISHED
from generator.tiny import TINY_HEIGHT, TINY_WIDTH, ensure_tiny_model
from helpers import LOGLINE

SAMPLER = replace(PUBLISHED, steps=4)
#: fp8 (e4m3) keeps 3 mantissa bits (each weight within 6.25 % relative). After 4 steps through both
#: experts and the VAE, the decoded video's relative L2 error was 0.0082 here; allowed: 0.02.
FP8_TOLERANCE = 0.02
CLI = ["--shots", "2", "--planner", "offline", "--size", "64x48", "--frames", "9", "--embedder", "colour-structure",
       "--quality-scorer", "heuristic"]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return ensure_tiny_model(tmp_path_factory.mktemp("tiny"))


def run(tiny_dir, placement: Placement):
    pipe = load_m2v_pipeline(str(tiny_dir / "i2v"), dtype="float32", offload=placement, device="cpu", sampler=SAMPLER)
    memory = [np.random.RandomState(m).randint(0, 256, (TINY_HEIGHT, TINY_WIDTH, 3), dtype=np.uint8) for m in range(2)]
    video = pipe("a lighthouse at night", memory=memory, height=TINY_HEIGHT, width=TINY_WIDTH, num_frames=9,
                 num_inference_steps=4, generator=torch.Generator().manual_seed(1), output_type="pt").frames
    return pipe, video


@pytest.fixture(scope="module")
def full(tiny_dir):
    return run(tiny_dir, Placement())[1]


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


def test_group_offload_to_cpu_is_exact(tiny_dir, full):
    pipe, video = run(tiny_dir, Placement("group"))
    from diffusers.hooks import HookRegistry

    assert "group_offloading" in HookRegistry.check_if_exists_or_initialize(pipe.transformer.blocks[0].attn1.to_q).hooks
    assert torch.equal(video, full)
    assert pipe.notes[-1] == "placement (cpu): group offload, leaf level (CPU to CPU, no streams)"


@pytest.mark.parametrize("tier", ["24", "16"])
def test_tier_applies_fp8_storage_and_vae_tiling_close_to_full_precision(tiny_dir, full, tier):
    pipe, video = run(tiny_dir, TIER_PLACEMENTS[tier])
    for model in (pipe.transformer, pipe.transformer_2):
        assert model.blocks[0].ffn.net[2].weight.dtype == torch.float8_e4m3fn  # stored in fp8
        assert model.patch_embedding.weight.dtype == torch.float32  # diffusers keeps embeddings and norms
    assert pipe.vae.use_tiling
    error = relative_error(video, full)
    assert 0 < error <= FP8_TOLERANCE
    expected = {"24": "placement (cpu): model CPU offload (one model on the GPU at a time) [needs CUDA: not applied on CPU]; "
                      "fp8 (e4m3) storage of transformer weights; VAE tiling",
                "16": "placement (cpu): group offload, leaf level (CPU to CPU, no streams); fp8 (e4m3) storage of transformer "
                      "weights; VAE tiling"}[tier]
    assert pipe.notes[-1] == expected


def test_tiers_choose_as_documented_and_raw_options_add_to_them():
    assert [(t.offload, t.fp8, t.vae_tiling, t.text_encoder_offload) for t in TIER_PLACEMENTS.values()] == [
        ("none", False, False, True), ("model", False, False, False), ("model", True, True, False), ("group", True, True, False)]
    options = generator_options("wan", RunSettings(vram="48", vae_tiling=True))
    assert options["offload"] == Placement("model", vae_tiling=True)
    assert generator_options("wan", RunSettings(vram="80", offload="group"))["offload"] == Placement("group", text_encoder_offload=True)


def _error(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    return lines[-1] if lines else ""


@pytest.mark.parametrize("extra, message", [
    (["--backend", "tiny", "--speed", "fast"], "--speed fast needs the step-distillation LoRA: pass --distill-lora PATH"),
    (["--backend", "tiny", "--speed", "fast", "--distill-lora", "nowhere/lightx2v"], "--distill-lora file not found: nowhere/lightx2v"),
    (["--backend", "tiny", "--distill-lora", "x.safetensors"], "--distill-lora is for --speed fast"),
    (["--backend", "tiny", "--cache", "mag"], "--cache mag needs ratios calibrated for this checkpoint and sampler"),
    (["--backend", "tiny", "--parallel", "ulysses"], "--parallel splits a Wan A14B shot over several CUDA GPUs; it needs --backend wan"),
    (["--backend", "wan", "--parallel", "ring"], "--parallel ring needs several processes: launch with `torchrun --nproc_per_node N"),
    (["--backend", "preview", "--vram", "24"], "the preview animatic takes no Wan options (--vram)"),
    (["--backend", "tiny", "--vram", "12"], "unknown vram '12'; choose one of: 80, 48, 24, 16"),
])
def test_what_a_preset_tier_or_launch_needs_is_refused_in_one_line_before_loading(tmp_path, capsys, monkeypatch, extra, message):
    import generator.backends

    def no_load(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(generator.backends, "load_generator", no_load)
    out = tmp_path / "story"
    assert main(["make", LOGLINE, *CLI, *extra, "--out", str(out)]) == 2
    line = _error(capsys)
    assert message in line and "\n" not in line
    assert not out.exists()


def test_parallel_needs_one_gpu_per_process(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    out = tmp_path / "story"
    assert main(["make", LOGLINE, *CLI, "--backend", "wan", "--parallel", "ulysses", "--out", str(out)]) == 2
    assert "--parallel ulysses needs one CUDA GPU per torchrun process: 2 processes, 0 GPU(s) here" in _error(capsys)
    monkeypatch.setenv("WORLD_SIZE", "3")
    assert main(["make", LOGLINE, *CLI, "--backend", "wan", "--parallel", "ulysses", "--out", str(out)]) == 2
    assert "the process count must divide 40, got 3" in _error(capsys)
    assert not out.exists()
