"""The M2V pipeline on tiny random Wan2.2-shaped models: layout, frame counts, stock parity, caches."""


import numpy as np
import PIL.Image
import pytest
import torch
from diffusers import WanImageToVideoPipeline

from generator.base import ShotMode, output_frame_count
from generator.models import load_m2v_pipeline
from generator.pipeline import KNOWN_VIDEO_LATENTS, latent_frame_count, to_pil
from generator.tiny import TINY_FRAMES, TINY_HEIGHT, TINY_WIDTH, ensure_tiny_model

SIZE = {"height": TINY_HEIGHT, "width": TINY_WIDTH, "num_frames": TINY_FRAMES}
NEGATIVE = "blurry"


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    return ensure_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def pipe(tiny_folder):
    return load_m2v_pipeline(str(tiny_folder / "i2v"), dtype="float32", offload="none", device="cpu")


def image(seed: int, height: int = TINY_HEIGHT, width: int = TINY_WIDTH) -> np.ndarray:
    return np.random.RandomState(seed).randint(0, 256, (height, width, 3), dtype=np.uint8)


def seed(value: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(value)


def capture_transformer_inputs(model):
    seen = []
    handle = model.register_forward_pre_hook(lambda _m, _a, kw: seen.append(kw["hidden_states"].clone()),
                                             with_kwargs=True)
    return seen, handle


def vae_encode_alone(pipe, memory_image: np.ndarray) -> torch.Tensor:
    """design.md 2.1 by hand: stretch to the video size, encode as a one-frame video, normalise."""
    stretched = PIL.Image.fromarray(memory_image).resize((TINY_WIDTH, TINY_HEIGHT), PIL.Image.LANCZOS)
    pixels = torch.from_numpy(np.asarray(stretched, dtype=np.float32) / 127.5 - 1.0)
    video = pixels.permute(2, 0, 1)[None, :, None]  # (1, 3, 1 frame, H, W)
    with torch.no_grad():
        latent = pipe.vae.encode(video).latent_dist.mode()
    config = pipe.vae.config
    mean = torch.tensor(config.latents_mean).view(1, -1, 1, 1, 1)
    std = torch.tensor(config.latents_std).view(1, -1, 1, 1, 1)
    return (latent - mean) / std


def capture_rotary_per_call(pipe):
    """At every transformer call of either expert: its name, its input frame count, and the rotary
    (cos, sin) each block's self-attention actually receives."""
    calls, handles = [], []
    for name, model in (("transformer", pipe.transformer), ("transformer_2", pipe.transformer_2)):
        def on_call(_m, _args, kwargs, name=name):
            calls.append({"expert": name, "frames": kwargs["hidden_states"].shape[2], "rotary": []})

        handles.append(model.register_forward_pre_hook(on_call, with_kwargs=True))
        for block in model.blocks:
            def on_attention(_m, args, kwargs):
                rotary = kwargs["rotary_emb"] if "rotary_emb" in kwargs else args[3]
                calls[-1]["rotary"].append(tuple(x.detach().clone() for x in rotary))

            handles.append(block.attn1.register_forward_pre_hook(on_attention, with_kwargs=True))
    return calls, handles


def rotary_positions(rotary, head_dim: int, grid: tuple[int, int, int], theta: float = 10000.0):
    """Read the (t, h, w) position of every token back from the cos/sin the attention applies.

    Wan's layout: head channels split into t, h, w parts (h = w = 2 * (head_dim // 6)); channel
    pair k of a part of size d rotates by position * theta**(-2k/d), cos taken at even channels
    and sin at odd ones. The lowest frequency gives the position without wrap-around; every other
    pair must agree with it.
    """
    h_dim = 2 * (head_dim // 6)
    cos, sin = (x.reshape(*grid, head_dim).double() for x in rotary)
    positions, start = [], 0
    for dim in (head_dim - 2 * h_dim, h_dim, h_dim):
        c, s = cos[..., start : start + dim : 2], sin[..., start + 1 : start + dim : 2]
        freqs = theta ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)
        raw = torch.atan2(s[..., -1], c[..., -1]) / freqs[-1]
        position = raw.round()
        assert torch.allclose(raw, position, atol=1e-3)
        angles = position[..., None] * freqs
        assert torch.allclose(c, angles.cos(), atol=1e-5) and torch.allclose(s, angles.sin(), atol=1e-5)
        positions.append(position.long())
        start += dim
    return positions


def test_frame_count_formulas():
    assert latent_frame_count(81) == 21 and latent_frame_count(TINY_FRAMES) == 5
    assert [output_frame_count(m, 81) for m in (ShotMode.M2V, ShotMode.MI2V, ShotMode.MM2V)] == [81, 80, 76]
    assert [output_frame_count(m, TINY_FRAMES) for m in (ShotMode.M2V, ShotMode.MI2V, ShotMode.MM2V)] == [17, 16, 12]


@pytest.mark.parametrize("mode", [ShotMode.M2V, ShotMode.MI2V, ShotMode.MM2V])
def test_layout_mask_and_frame_counts(pipe, mode):
    memory = [image(1, 30, 40), image(2, 96, 50)]  # not the video's size or aspect: stretched
    context = [image(10 + i) for i in range(5)][: {ShotMode.M2V: 0, ShotMode.MI2V: 1, ShotMode.MM2V: 5}[mode]]
    seen, handle = capture_transformer_inputs(pipe.transformer)
    decoded = []
    original_decode = pipe.vae.decode
    pipe.vae.decode = lambda z, *a, **k: (decoded.append(z.shape), original_decode(z, *a, **k))[1]
    try:
        frames = pipe("a fox", memory=memory, mode=mode, context=context, negative_prompt=NEGATIVE,
                      num_inference_steps=1, generator=seed(), **SIZE).frames
    finally:
        handle.remove()
        del pipe.vae.decode
    num_memory, video_latents = 2, latent_frame_count(TINY_FRAMES)
    model_input = seen[0]
    assert model_input.shape == (1, 36, num_memory + video_latents, TINY_HEIGHT // 8, TINY_WIDTH // 8)

    mask = model_input[:, 16:20]
    known = num_memory + KNOWN_VIDEO_LATENTS[mode]
    expected = [1.0] * known + [0.0] * (num_memory + video_latents - known)
    for frame, value in enumerate(expected):
        assert torch.all(mask[:, :, frame] == value), (mode, frame)
    assert KNOWN_VIDEO_LATENTS[mode] == {ShotMode.M2V: 0, ShotMode.MI2V: 1, ShotMode.MM2V: 2}[mode]

    # Memory condition = each image stretched to the video size and VAE-encoded alone as a one-frame
    # video, computed here with the VAE directly; the transformer sees them in front of the video.
    expected_memory = torch.cat([vae_encode_alone(pipe, m) for m in memory], dim=2)
    assert expected_memory.shape == (1, 16, num_memory, TINY_HEIGHT // 8, TINY_WIDTH // 8)
    torch.testing.assert_close(model_input[:, 20:, :num_memory], expected_memory, atol=1e-5, rtol=0)

    # Memory latents never reach the decoder; copied context frames are dropped.
    assert decoded == [torch.Size([1, 16, video_latents, TINY_HEIGHT // 8, TINY_WIDTH // 8])]
    assert frames.shape == (1, output_frame_count(mode, TINY_FRAMES), TINY_HEIGHT, TINY_WIDTH, 3)


@pytest.mark.parametrize(
    "mode, num_memory, expected_temporal",
    [
        (ShotMode.M2V, 3, [-15, -10, -5, 0, 1, 2, 3, 4]),
        (ShotMode.MI2V, 3, [-15, -10, -5, 0, 1, 2, 3, 4]),
        (ShotMode.MM2V, 3, [-15, -10, -5, 0, 1, 2, 3, 4]),
        (ShotMode.M2V, 1, [-5, 0, 1, 2, 3, 4]),
        (ShotMode.M2V, 10, [-50, -45, -40, -35, -30, -25, -20, -15, -10, -5, 0, 1, 2, 3, 4]),
        (ShotMode.MI2V, 0, [0, 1, 2, 3, 4]),
    ],
)
def test_every_call_of_both_experts_sees_memory_at_negative_positions(pipe, mode, num_memory, expected_temporal):
    memory = [image(40 + i) for i in range(num_memory)]
    context = [image(10 + i) for i in range(5)][: {ShotMode.M2V: 0, ShotMode.MI2V: 1, ShotMode.MM2V: 5}[mode]]
    calls, handles = capture_rotary_per_call(pipe)
    try:
        pipe("a fox", memory=memory, mode=mode, context=context, negative_prompt=NEGATIVE,
             num_inference_steps=4, generator=seed(), **SIZE)
    finally:
        for handle in handles:
            handle.remove()

    # Cond + uncond call per step, by the expert owning the step; both experts ran.
    assert [c["expert"] for c in calls] == [name for _t, name in pipe.expert_trace for _ in range(2)]
    assert {c["expert"] for c in calls} == {"transformer", "transformer_2"}
    frames, rows, cols = num_memory + 5, TINY_HEIGHT // 16, TINY_WIDTH // 16  # latent 6x8, patch 2x2
    head_dim = pipe.transformer.config.attention_head_dim
    for call in calls:
        assert call["frames"] == frames
        assert len(call["rotary"]) == pipe.transformer.config.num_layers
        for rotary in call["rotary"]:
            t, h, w = rotary_positions(rotary, head_dim, (frames, rows, cols))
            assert t[:, 0, 0].tolist() == expected_temporal, call["expert"]
            assert torch.equal(t, t[:, :1, :1].expand_as(t))  # one temporal position per frame
            assert torch.equal(h, torch.arange(rows).view(1, rows, 1).expand_as(h))  # h, w unshifted
            assert torch.equal(w, torch.arange(cols).view(1, 1, cols).expand_as(w))


def test_without_memory_matches_stock_image_to_video(pipe, tiny_folder):
    stock = WanImageToVideoPipeline.from_pretrained(str(tiny_folder / "i2v"), dtype=torch.float32)
    stock.set_progress_bar_config(disable=True)
    first = image(3)

    # Same noise, condition and mask as the stock pipeline builds for the same first frame.
    pixels = stock.video_processor.preprocess(to_pil(first), height=TINY_HEIGHT, width=TINY_WIDTH)
    stock_latents, stock_condition = stock.prepare_latents(
        pixels.to(torch.float32), 1, 16, TINY_HEIGHT, TINY_WIDTH, TINY_FRAMES, torch.float32,
        torch.device("cpu"), seed(5),
    )
    memory = pipe.encode_memory([], TINY_HEIGHT, TINY_WIDTH, torch.device("cpu"))
    video = pipe.encode_condition_video([first], TINY_FRAMES, TINY_HEIGHT, TINY_WIDTH, torch.device("cpu"))
    latents, condition = pipe.prepare_m2v_latents(memory, video, 1, seed(5), None, torch.device("cpu"))
    assert torch.equal(latents, stock_latents)
    assert torch.equal(condition[:, :4], stock_condition[:, :4].to(condition.dtype))
    assert torch.allclose(condition, stock_condition, atol=1e-6)

    args = {"prompt": "a lighthouse", "negative_prompt": NEGATIVE, "num_inference_steps": 3,
            "guidance_scale": 3.5, **SIZE}
    expected = stock(image=to_pil(first), generator=seed(11), **args).frames
    ours = pipe(mode=ShotMode.MI2V, context=[first], generator=seed(11), **args).frames
    assert ours.shape[1] == expected.shape[1] - 1
    np.testing.assert_allclose(ours, expected[:, 1:], atol=1e-5)


def test_experts_switch_at_boundary(pipe):
    ran = []
    hooks = [model.register_forward_pre_hook(lambda _m, _a, name=name: ran.append(name))
             for name, model in (("high", pipe.transformer), ("low", pipe.transformer_2))]
    timesteps = []
    try:
        pipe("a fox", memory=[image(1)], negative_prompt=NEGATIVE, num_inference_steps=4, generator=seed(),
             callback_on_step_end=lambda _p, _i, t, kw: timesteps.append(float(t)) or {}, **SIZE)
    finally:
        for hook in hooks:
            hook.remove()
    boundary = pipe.config.boundary_ratio * pipe.scheduler.config.num_train_timesteps
    assert boundary == 900
    # Two calls (cond + uncond) per step, by the expert that owns the step's timestep.
    assert ran[::2] == ran[1::2]
    assert ran[::2] == ["high" if t >= boundary else "low" for t in timesteps]
    assert {"high", "low"} == set(ran)


def test_scheduler_is_flow_unipc_with_requested_shift(pipe):
    pipe("a fox", negative_prompt=NEGATIVE, num_inference_steps=1, shift=12.0, generator=seed(), **SIZE)
    assert type(pipe.scheduler).__name__ == "UniPCMultistepScheduler"
    assert pipe.scheduler.config.flow_shift == 12.0 and pipe.scheduler.config.use_flow_sigmas
    assert pipe.scheduler.config.prediction_type == "flow_prediction"
    pipe("a fox", negative_prompt=NEGATIVE, num_inference_steps=1, shift=4.0, generator=seed(), **SIZE)
    assert pipe.scheduler.config.flow_shift == 4.0


def test_memory_latents_and_prompts_are_encoded_once(tiny_folder):
    pipe = load_m2v_pipeline(str(tiny_folder / "i2v"), dtype="float32", offload="none", device="cpu")
    vae_inputs, text_calls = [], []
    original_encode = pipe.vae.encode
    pipe.vae.encode = lambda x, *a, **k: (vae_inputs.append(x.shape[2]), original_encode(x, *a, **k))[1]
    pipe.text_encoder.register_forward_pre_hook(lambda *_: text_calls.append(1))
    a, b, c = image(1), image(2), image(3)
    run = dict(negative_prompt=NEGATIVE, num_inference_steps=1, **SIZE)
    pipe("shot one", memory=[a, b], generator=seed(1), **run)
    pipe("shot one", memory=[a, b], generator=seed(2), **run)  # regenerate: nothing re-encoded
    pipe("shot two", memory=[a, b, image(3).copy()], generator=seed(3), **run)
    pipe("shot three", memory=[c, a], mode=ShotMode.MI2V, context=[b], generator=seed(4), **run)

    memory_encodes = vae_inputs.count(1)
    assert memory_encodes == 3  # one per distinct image, across shots
    assert vae_inputs.count(TINY_FRAMES) == 2  # all-zero M2V condition once, MI2V condition once
    assert len(text_calls) == 4  # negative prompt + three distinct prompts
    assert pipe.stats == {"prompt_encodes": 4, "memory_encodes": 3, "condition_encodes": 2}
