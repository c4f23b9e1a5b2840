"""WanGenerator end to end on the tiny model through ShotRequest, and clear missing-model errors."""

import re
import time
from pathlib import Path

import numpy as np
import pytest

from generator.base import Generator, ShotMode, ShotRequest, output_frame_count
from generator.models import ModelNotFoundError, load_m2v_pipeline
from generator.tiny import TINY_FRAMES, TINY_HEIGHT, TINY_WIDTH
from generator.wan import WanGenerator


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return WanGenerator.tiny(cache_dir=tmp_path_factory.mktemp("tiny-cache"), steps=2)


def frames(count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.RandomState(seed)
    return [rng.randint(0, 256, (TINY_HEIGHT, TINY_WIDTH, 3), dtype=np.uint8) for _ in range(count)]


def request(gen: WanGenerator, mode: ShotMode, memory: int = 0, seed: int = 1, **kw) -> ShotRequest:
    context = frames({ShotMode.MI2V: 1, ShotMode.MM2V: 5}.get(mode, 0), 99)
    return ShotRequest(shot_id="s1", prompt="a fox in the snow", mode=mode, seed=seed, memory=frames(memory, 7),
                       previous_frames=context, num_frames=gen.num_frames, width=gen.width, height=gen.height, **kw)


def test_native_format(tiny):
    assert isinstance(tiny, Generator)
    assert (tiny.name, tiny.width, tiny.height, tiny.num_frames, tiny.fps) == ("tiny", 64, 48, 17, 16)


@pytest.mark.parametrize("mode, memory, expected", [
    (ShotMode.T2V, 0, 17), (ShotMode.M2V, 3, 17), (ShotMode.MI2V, 3, 16), (ShotMode.MM2V, 3, 12),
])
def test_each_mode_end_to_end(tiny, mode, memory, expected):
    started = time.perf_counter()
    result = tiny.generate(request(tiny, mode, memory))
    elapsed = time.perf_counter() - started
    assert expected == output_frame_count(mode, TINY_FRAMES)
    assert result.frames.shape == (expected, TINY_HEIGHT, TINY_WIDTH, 3)
    assert result.frames.dtype == np.uint8
    meta = result.metadata
    assert (meta["mode"], meta["M"], meta["seed"], meta["steps"]) == (mode.value, memory, 1, 2)
    assert meta["effective_mode"] == mode.value
    assert meta["shift"] == (12.0 if mode is ShotMode.T2V else 4.0)
    assert meta["num_frames"] == expected
    # The timing is this call's, in seconds: positive and within the wall time measured around it.
    assert 0 < meta["timings"]["total_s"] <= round(elapsed, 4) + 1e-4
    assert Path(meta["model_ids"]["i2v"], "model_index.json").is_file()


def test_same_seed_same_frames_and_seed_matters(tiny):
    first = tiny.generate(request(tiny, ShotMode.MI2V, memory=2, seed=5)).frames
    again = tiny.generate(request(tiny, ShotMode.MI2V, memory=2, seed=5)).frames
    other = tiny.generate(request(tiny, ShotMode.MI2V, memory=2, seed=6)).frames
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_t2v_without_t2v_model_runs_m2v_with_no_memory(tiny):
    t2v, tiny.t2v = tiny.t2v, None
    try:
        result = tiny.generate(request(tiny, ShotMode.T2V))
    finally:
        tiny.t2v = t2v
    assert result.metadata["effective_mode"] == "m2v" and result.metadata["M"] == 0
    assert result.frames.shape[0] == TINY_FRAMES


def test_reference_images_make_t2v_an_m2v_shot(tiny):
    result = tiny.generate(request(tiny, ShotMode.T2V, memory=2))
    assert result.metadata["effective_mode"] == "m2v" and result.metadata["M"] == 2


def test_missing_local_folder_is_one_clear_error(tmp_path):
    missing = tmp_path / "no-such-wan"
    with pytest.raises(ModelNotFoundError, match=re.escape(f"Wan model '{missing}' not found: no such folder; pass a local folder")) as info:
        load_m2v_pipeline(str(missing), device="cpu")
    message = str(info.value)
    assert "\n" not in message and str(missing) in message and "local folder" in message
    assert info.value.__cause__ is None and (info.value.__context__ is None or info.value.__suppress_context__)


def test_offline_hub_id_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = "storymem-tests/not-a-real-wan-model"
    with pytest.raises(ModelNotFoundError, match=re.escape(f"Wan model '{model}' not found: not in the local hub cache and HF_HUB_OFFLINE is set; download it with `hf download {model}`")) as info:
        WanGenerator.from_pretrained(model=model, t2v_model=None, device="cpu")
    message = str(info.value)
    assert "\n" not in message and model in message and f"hf download {model}" in message


def test_t2v_experts_load_only_when_a_first_shot_needs_them(tmp_path, monkeypatch):
    import generator.wan as wan

    loads = []
    real = wan.load_t2v_pipeline
    monkeypatch.setattr(wan, "load_t2v_pipeline", lambda *a, **k: loads.append(a) or real(*a, **k))
    fresh = wan.WanGenerator.tiny(cache_dir=tmp_path, steps=1)
    fresh.generate(request(fresh, ShotMode.T2V, memory=1))  # MR2V: reference images, no T2V
    fresh.generate(request(fresh, ShotMode.M2V, memory=1))
    assert loads == []
    assert fresh.generate(request(fresh, ShotMode.T2V)).metadata["effective_mode"] == "t2v"
    fresh.generate(request(fresh, ShotMode.T2V))
    assert len(loads) == 1


def test_every_memory_image_reaches_the_transformer(tiny):
    """More memory images than any default: each is one latent frame in front of the video's (design.md 2.1)."""
    from generator.pipeline import latent_frame_count

    seen = []
    handles = [model.register_forward_pre_hook(lambda _m, _a, kw: seen.append(tuple(kw["hidden_states"].shape)), with_kwargs=True)
               for model in (tiny.pipe.transformer, tiny.pipe.transformer_2) if model is not None]
    try:
        result = tiny.generate(request(tiny, ShotMode.M2V, memory=7))
    finally:
        for handle in handles:
            handle.remove()
    assert result.metadata["M"] == 7
    assert seen and {shape[2] for shape in seen} == {7 + latent_frame_count(TINY_FRAMES)}
