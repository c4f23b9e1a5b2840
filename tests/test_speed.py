"""Speed presets and diffusers feature caches on the tiny M2V pipeline: transformer passes per
preset, caches with memory (threshold 0 == uncached), and no cached feature surviving into the
next shot, even when a shot stops half-way."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from director.run.context import generator_options
from director.settings import RunSettings
from generator.base import ShotMode, ShotRequest
from generator.models import load_m2v_pipeline
from generator.speed import DISTILLED_4STEP, PUBLISHED, CacheSpec, expert_steps
from generator.tiny import TINY_FRAMES, TINY_HEIGHT, TINY_WIDTH, ensure_tiny_model
from generator.wan import WanGenerator
from test_lora_formats import lightx2v_lora

STEPS = 6  # the published sampler at tiny size: 6 UniPC steps (12 passes with CFG)
SAMPLER = replace(PUBLISHED, steps=STEPS)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return ensure_tiny_model(tmp_path_factory.mktemp("tiny"))


def images(count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.RandomState(seed)
    return [rng.randint(0, 256, (TINY_HEIGHT, TINY_WIDTH, 3), dtype=np.uint8) for _ in range(count)]


def record_calls(pipe) -> list[tuple[str, bool]]:
    """(expert, conditional?) for every transformer call: the prompt's embedding tells them apart."""
    calls = []
    for name in ("transformer", "transformer_2"):
        def hook(module, args, kwargs, name=name):
            calls.append((name, kwargs["encoder_hidden_states"].data_ptr()))
        getattr(pipe, name).register_forward_pre_hook(hook, with_kwargs=True)
    return calls


def shot(pipe, memory, **kw):
    generator = torch.Generator().manual_seed(3)
    return pipe("a fox in the snow", memory=memory, height=TINY_HEIGHT, width=TINY_WIDTH, num_frames=9,
                num_inference_steps=STEPS, generator=generator, output_type="latent", **kw).frames


def test_fast_preset_runs_four_distilled_steps_without_the_unconditional_pass(tiny_dir, tmp_path):
    distill = tmp_path / "lightx2v"
    distill.mkdir()
    save_file({k: v for k, v in lightx2v_lora(1).items() if "img" not in k}, str(distill / "high_noise_4step.safetensors"))
    save_file({k: v for k, v in lightx2v_lora(2).items() if "img" not in k}, str(distill / "low_noise_4step.safetensors"))
    options = generator_options("tiny", RunSettings(backend="tiny", speed="fast", distill_lora=str(distill)))
    gen = WanGenerator.tiny(cache_dir=tiny_dir.parent, **options)
    assert gen.sampler == DISTILLED_4STEP
    assert gen.pipe.transformer.active_adapters() == ["lora0_lightx2v"] == gen.pipe.transformer_2.active_adapters()
    calls = record_calls(gen.pipe)
    request = ShotRequest(shot_id="s", prompt="a fox", mode=ShotMode.M2V, seed=1, memory=images(2, 5),
                          num_frames=gen.num_frames, width=gen.width, height=gen.height)
    result = gen.generate(request)
    assert result.frames.shape == (TINY_FRAMES, TINY_HEIGHT, TINY_WIDTH, 3)
    assert [name for name, _ in calls] == ["transformer", "transformer", "transformer_2", "transformer_2"]
    assert len({ptr for _, ptr in calls}) == 1  # one prompt embedding: no unconditional pass
    assert [round(t, 1) for t, _ in gen.pipe.expert_trace] == [1000.0, 937.5, 833.3, 625.0]  # 1000..250 shifted by 5
    # a first shot (T2V) also runs on the distilled I2V experts: the LoRA is there
    calls.clear()
    gen.generate(replace(request, mode=ShotMode.T2V, memory=[]))
    assert len(calls) == 4 and result.metadata["guidance"] == 1.0


def test_quality_preset_runs_the_unconditional_pass_every_step(tiny_dir):
    options = generator_options("tiny", RunSettings(backend="tiny", steps=40))
    gen = WanGenerator.tiny(cache_dir=tiny_dir.parent, **options)
    assert gen.sampler == PUBLISHED and gen.steps == 40
    calls = record_calls(gen.pipe)
    gen.generate(ShotRequest(shot_id="s", prompt="a fox", mode=ShotMode.M2V, seed=1, memory=images(1, 5),
                             num_frames=gen.num_frames, width=gen.width, height=gen.height))
    assert len(calls) == 80
    assert len({ptr for _, ptr in calls}) == 2 and calls[0][1] != calls[1][1]  # cond, uncond alternate
    high = expert_steps(PUBLISHED, 0.9, ["transformer", "transformer_2"])["transformer"]
    assert [name for name, _ in calls] == ["transformer"] * 2 * high + ["transformer_2"] * 2 * (40 - high)


def mag(threshold: float) -> CacheSpec:
    counts = expert_steps(SAMPLER, 0.9, ["transformer", "transformer_2"])
    return CacheSpec("mag", threshold=threshold, mag_ratios={k: [0.95] * n for k, n in counts.items()})


CACHES = {  # name: (caches nothing, caches)
    "first-block": (CacheSpec("first-block", threshold=0.0), CacheSpec("first-block", threshold=10.0)),
    "mag": (mag(0.0), mag(1.0)),
    "taylorseer": (CacheSpec("taylorseer", interval=1), CacheSpec("taylorseer", interval=3)),
}


@pytest.fixture(scope="module")
def uncached(tiny_dir):
    pipe = load_m2v_pipeline(str(tiny_dir / "i2v"), dtype="float32", offload="none", device="cpu", sampler=SAMPLER)
    return {m: shot(pipe, images(m, 10 + m)) for m in (1, 3)}


@pytest.mark.parametrize("name", list(CACHES))
def test_cache_with_memory_zero_threshold_is_uncached_and_nothing_leaks_between_shots(tiny_dir, uncached, name):
    off, on = CACHES[name]
    load = lambda cache: load_m2v_pipeline(str(tiny_dir / "i2v"), dtype="float32", offload="none", device="cpu",  # noqa: E731
                                           sampler=SAMPLER, cache=cache)
    idle = load(off)
    assert idle.transformer.is_cache_enabled and idle.transformer_2.is_cache_enabled
    assert torch.equal(shot(idle, images(3, 13)), uncached[3])

    cached = load(on)
    first = shot(cached, images(1, 11))
    assert first.shape == uncached[1].shape and torch.isfinite(first).all()
    assert not torch.equal(first, uncached[1])  # the cache did reuse features (else this test proves nothing)

    # A shot stopped half-way leaves features in the cache; the next shot has other memory.
    def stop(pipe, i, t, kwargs):
        if i == 3:
            raise InterruptedError
    with pytest.raises(InterruptedError):
        shot(cached, images(1, 11), callback_on_step_end=stop)
    second = shot(cached, images(3, 13))
    fresh = shot(load(on), images(3, 13))
    assert torch.equal(second, fresh)
