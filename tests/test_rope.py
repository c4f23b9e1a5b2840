"""Negative RoPE shift: explicit temporal positions, stock-identical without memory."""

import pytest
import torch
from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed

from generator.rope import MemoryRotaryPosEmbed, install_memory_rope, set_memory_frames, temporal_position_ids
from generator.tiny import tiny_transformer

HEAD_DIM, PATCH, MAX_LEN = 12, (1, 2, 2), 32


def latents(frames: int, height: int = 6, width: int = 8) -> torch.Tensor:
    return torch.zeros(1, 36, frames, height, width)


def test_position_ids_for_ten_memory_frames():
    expected = [-50, -45, -40, -35, -30, -25, -20, -15, -10, -5] + list(range(21))
    assert temporal_position_ids(10, 21).tolist() == expected


@pytest.mark.parametrize(
    "num_memory, expected_memory",
    [(0, []), (1, [-5]), (3, [-15, -10, -5])],
)
def test_position_ids_small_memory(num_memory, expected_memory):
    assert temporal_position_ids(num_memory, 21).tolist() == expected_memory + list(range(21))
    assert temporal_position_ids(num_memory, 5, shift=1).tolist()[:num_memory] == [-num_memory + i for i in range(num_memory)]


@pytest.mark.parametrize("frames", [1, 5, 21])
def test_no_memory_equals_stock_exactly(frames):
    stock = WanRotaryPosEmbed(HEAD_DIM, PATCH, MAX_LEN)
    ours = MemoryRotaryPosEmbed.from_stock(stock)
    for a, b in zip(stock(latents(frames)), ours(latents(frames))):
        assert a.dtype == b.dtype == torch.float32
        assert torch.equal(a, b)


def _split(freqs: torch.Tensor, frames: int, module: WanRotaryPosEmbed, hw: int = 12):
    grid = freqs.reshape(frames, hw, -1)
    return grid[..., : module.t_dim], grid[..., module.t_dim :]


def test_memory_positions_are_negative_and_hw_unchanged():
    num_memory, video = 3, 5
    stock = WanRotaryPosEmbed(HEAD_DIM, PATCH, MAX_LEN)
    ours = MemoryRotaryPosEmbed.from_stock(stock)
    ours.num_memory = num_memory
    cos, sin = ours(latents(num_memory + video))
    ref_cos, ref_sin = stock(latents(num_memory + video))
    for mine, ref in ((cos, ref_cos), (sin, ref_sin)):
        mine_t, mine_hw = _split(mine, num_memory + video, ours)
        ref_t, ref_hw = _split(ref, num_memory + video, stock)
        assert torch.equal(mine_hw, ref_hw)  # height/width positions untouched
        assert torch.equal(mine_t[num_memory:], ref_t[:video])  # video keeps positions 0..f-1

    # Memory frame j sits at -(M - j) * 5: computed by hand, not read from a wrapped table.
    inv_freq = 1.0 / (10000.0 ** (torch.arange(0, ours.t_dim, 2, dtype=torch.float64) / ours.t_dim))
    sin_t, _ = _split(sin, num_memory + video, ours)
    cos_t, _ = _split(cos, num_memory + video, ours)
    for j, position in enumerate([-15, -10, -5]):
        angle = position * inv_freq
        expected_sin = angle.sin().repeat_interleave(2).float()
        expected_cos = angle.cos().repeat_interleave(2).float()
        assert torch.allclose(sin_t[j, 0], expected_sin, atol=1e-6)
        assert torch.allclose(cos_t[j, 0], expected_cos, atol=1e-6)
    # The stock table indexed at -5 wraps to position MAX_LEN-5: the thing this module avoids.
    stock_t_sin = stock.freqs_sin[:, : stock.t_dim]
    assert not torch.allclose(sin_t[2, 0], stock_t_sin[-5])


def test_installed_rope_keeps_transformer_output_without_memory():
    reference = tiny_transformer(36, seed=7).eval()
    patched = tiny_transformer(36, seed=7).eval()
    install_memory_rope(patched)
    assert isinstance(patched.rope, MemoryRotaryPosEmbed)
    set_memory_frames(patched, 0)
    inputs = dict(
        hidden_states=torch.randn(1, 36, 5, 6, 8, generator=torch.Generator().manual_seed(0)),
        timestep=torch.tensor([500]),
        encoder_hidden_states=torch.randn(1, 7, 32, generator=torch.Generator().manual_seed(1)),
        return_dict=False,
    )
    with torch.no_grad():
        assert torch.equal(reference(**inputs)[0], patched(**inputs)[0])
        set_memory_frames(patched, 2)
        assert not torch.equal(reference(**inputs)[0], patched(**inputs)[0])


def test_memory_needs_the_replacement_module():
    model = tiny_transformer(36, seed=0)
    with pytest.raises(RuntimeError, match=r"^memory frames need MemoryRotaryPosEmbed; call install_memory_rope first$"):
        set_memory_frames(model, 1)
