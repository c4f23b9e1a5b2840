"""Rotary position embedding with StoryMem's negative temporal shift (design.md 2.2).

diffusers' `WanRotaryPosEmbed` precomputes cos/sin tables for positions 0..max_seq_len-1 and
slices them by frame count, so it can only express positions 0..f-1 (a negative index would wrap
around silently). Memory frames must sit at -M*S, ..., -S in front of the video, so this module
computes the temporal cos/sin for explicit position ids and keeps the stock tables for height and
width. With no memory frames its output is bit-identical to the stock module.
"""

from __future__ import annotations

import torch
from diffusers.models.embeddings import get_1d_rotary_pos_embed
from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed

DEFAULT_MEMORY_SHIFT = 5


def temporal_position_ids(num_memory: int, num_video: int, shift: int = DEFAULT_MEMORY_SHIFT) -> torch.Tensor:
    """Temporal positions: memory at -M*S..-S (oldest most negative), video latent frames 0..f-1."""
    if num_memory < 0 or num_video < 0:
        raise ValueError(f"frame counts must be >= 0, got memory={num_memory} video={num_video}")
    memory = torch.arange(-num_memory, 0, dtype=torch.int64) * shift
    video = torch.arange(num_video, dtype=torch.int64)
    return torch.cat([memory, video])


class MemoryRotaryPosEmbed(WanRotaryPosEmbed):
    """Drop-in replacement for the transformer's `rope` module.

    The transformer calls `rope(hidden_states)` with no other argument, so the number of memory
    frames in front of the video is set on the module (`num_memory`) by the pipeline before each
    denoising call. The first `num_memory` latent frames of the input are memory.
    """

    def __init__(
        self,
        attention_head_dim: int,
        patch_size: tuple[int, int, int],
        max_seq_len: int,
        theta: float = 10000.0,
        shift: int = DEFAULT_MEMORY_SHIFT,
    ):
        super().__init__(attention_head_dim, patch_size, max_seq_len, theta)
        self.theta = theta
        self.shift = shift
        self.num_memory = 0

    @classmethod
    def from_stock(cls, stock: WanRotaryPosEmbed, shift: int = DEFAULT_MEMORY_SHIFT) -> "MemoryRotaryPosEmbed":
        """Build from a transformer's stock module, on its device (tables are recomputed in float)."""
        module = cls(stock.attention_head_dim, tuple(stock.patch_size), stock.max_seq_len, shift=shift)
        return module.to(stock.freqs_cos.device)

    def _freqs_dtype(self) -> torch.dtype:
        # Same rule as the stock module, so the M=0 output matches it bit for bit.
        return torch.float32 if torch.backends.mps.is_available() else torch.float64

    def temporal_freqs(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos/sin of the temporal rotary channels for explicit (possibly negative) positions."""
        device = self.freqs_cos.device
        if device.type == "meta":
            device = torch.device("cpu")
        pos = positions.to(device=device, dtype=self._freqs_dtype())
        return get_1d_rotary_pos_embed(
            self.t_dim, pos, self.theta, use_real=True, repeat_interleave_real=True, freqs_dtype=self._freqs_dtype()
        )

    def forward(self, hidden_states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, _, num_frames, height, width = hidden_states.shape
        p_t, p_h, p_w = self.patch_size
        ppf, pph, ppw = num_frames // p_t, height // p_h, width // p_w
        if self.num_memory > ppf:
            raise ValueError(f"{self.num_memory} memory frames but only {ppf} latent frames in the input")
        if pph > self.max_seq_len or ppw > self.max_seq_len:
            raise ValueError(f"latent grid {pph}x{ppw} exceeds rope_max_seq_len={self.max_seq_len}")

        positions = temporal_position_ids(self.num_memory, ppf - self.num_memory, self.shift)
        cos_t, sin_t = self.temporal_freqs(positions)
        cos_t, sin_t = cos_t.to(self.freqs_cos.device), sin_t.to(self.freqs_sin.device)

        split_sizes = [self.t_dim, self.h_dim, self.w_dim]
        _, cos_h, cos_w = self.freqs_cos.split(split_sizes, dim=1)
        _, sin_h, sin_w = self.freqs_sin.split(split_sizes, dim=1)

        def grid(t: torch.Tensor, h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
            t = t.view(ppf, 1, 1, -1).expand(ppf, pph, ppw, -1)
            h = h[:pph].view(1, pph, 1, -1).expand(ppf, pph, ppw, -1)
            w = w[:ppw].view(1, 1, ppw, -1).expand(ppf, pph, ppw, -1)
            return torch.cat([t, h, w], dim=-1).reshape(1, ppf * pph * ppw, 1, -1)

        return grid(cos_t, cos_h, cos_w), grid(sin_t, sin_h, sin_w)


def install_memory_rope(transformer: torch.nn.Module, shift: int = DEFAULT_MEMORY_SHIFT) -> MemoryRotaryPosEmbed:
    """Replace `transformer.rope` with a MemoryRotaryPosEmbed (idempotent)."""
    rope = transformer.rope
    if isinstance(rope, MemoryRotaryPosEmbed):
        rope.shift = shift
        return rope
    transformer.rope = MemoryRotaryPosEmbed.from_stock(rope, shift=shift)
    return transformer.rope


def set_memory_frames(transformer: torch.nn.Module | None, num_memory: int) -> None:
    """Tell the transformer's rotary module how many leading latent frames are memory."""
    if transformer is None:
        return
    rope = transformer.rope
    if not isinstance(rope, MemoryRotaryPosEmbed):
        if num_memory:
            raise RuntimeError("memory frames need MemoryRotaryPosEmbed; call install_memory_rope first")
        return
    rope.num_memory = num_memory
