"""The M2V flow-matching objective, laid out exactly as the pipeline samples (design.md 2.1-2.3).

The memory and target latents are noised together, x_t = (1 - s) * x0 + s * noise, the model
sees [x_t, mask, condition] with the memory's rotary positions shifted negative, and regresses
the velocity noise - x0. Only the target (video) latent frames count in the loss: memory
positions are known inputs, and their outputs are thrown away at inference.

Timesteps follow the sampler's shifted schedule, sigma = shift * u / (1 + (shift - 1) * u) for
u uniform, and the two experts split it at the boundary (t >= 0.9 * 1000 is the high-noise
expert's), so each expert trains on the range it denoises.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from generator.base import ShotMode
from generator.pipeline import KNOWN_VIDEO_LATENTS, WanM2VPipeline, build_condition, to_pil
from generator.rope import set_memory_frames

NUM_TRAIN_TIMESTEPS = 1000
HIGH, LOW = "transformer", "transformer_2"


@dataclass
class Batch:
    """One sample in latents: everything a transformer call needs, and the clean target."""

    x0: torch.Tensor  # (1, 16, M + F, h, w): memory latents, then the target clip's latents
    condition: torch.Tensor  # (1, 20, M + F, h, w): mask (4) + condition latents (16)
    prompt_embeds: torch.Tensor  # (1, L, D)
    image_embeds: torch.Tensor | None  # CLIP tokens for Wan2.1-style bases, else None
    num_memory: int


def shifted_sigma(u: torch.Tensor, shift: float) -> torch.Tensor:
    """The flow sampler's time shift applied to uniform u in [0, 1]."""
    return shift * u / (1 + (shift - 1) * u)


def unshifted(sigma: float, shift: float) -> float:
    """The u whose shifted sigma is `sigma` (inverse of `shifted_sigma`)."""
    return sigma / (shift - (shift - 1) * sigma)


def expert_u_range(expert: str, boundary_ratio: float | None, shift: float) -> tuple[float, float]:
    """The u interval whose timesteps belong to `expert` (the whole range for a single transformer)."""
    if boundary_ratio is None:
        return 0.0, 1.0
    split = unshifted(boundary_ratio, shift)
    return (split, 1.0) if expert == HIGH else (0.0, split)


def choose_expert(experts: Sequence[str], boundary_ratio: float | None, shift: float, rng: np.random.Generator) -> str:
    """Which expert trains this step: in proportion to its share of the schedule (the same draw on every process)."""
    if len(experts) == 1:
        return experts[0]
    split = unshifted(boundary_ratio, shift)
    return HIGH if rng.random() >= split else LOW


def sample_timestep(expert: str, boundary_ratio: float | None, shift: float, generator: torch.Generator) -> torch.Tensor:
    """sigma in (0, 1] within `expert`'s range of the shifted schedule."""
    low, high = expert_u_range(expert, boundary_ratio, shift)
    u = low + (high - low) * torch.rand(1, generator=generator)
    return shifted_sigma(u, shift).clamp(min=1.0 / NUM_TRAIN_TIMESTEPS)


def noised(x0: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """x_t = (1 - sigma) x0 + sigma noise, over memory and target frames alike (as the sampler starts)."""
    sigma = sigma.view(-1, 1, 1, 1, 1).to(x0.dtype)
    return (1 - sigma) * x0 + sigma * noise


def flow_matching_loss(prediction: torch.Tensor, noise: torch.Tensor, x0: torch.Tensor, num_memory: int,
                       weight: torch.Tensor | None = None) -> torch.Tensor:
    """MSE between the predicted and true velocity (noise - x0) on the target latent frames only.
    `weight` (broadcast over the target's latents) makes it a weighted mean: cells that matter more count more."""
    error = (prediction[:, :, num_memory:].float() - (noise - x0)[:, :, num_memory:].float()).pow(2)
    if weight is None:
        return error.mean()
    weight = weight.float().expand_as(error)
    return (weight * error).sum() / weight.sum()


@torch.no_grad()
def encode_video(pipe: WanM2VPipeline, frames: np.ndarray, device: torch.device) -> torch.Tensor:
    """Normalised latents (1, 16, F, h, w) of uint8 (T, H, W, 3) frames, preprocessed as the pipeline's inputs."""
    height, width = frames.shape[1:3]
    pixels = pipe.video_processor.preprocess([to_pil(f) for f in frames], height=height, width=width)
    return pipe._vae_encode(pixels.permute(1, 0, 2, 3).unsqueeze(0)).to(device)


def cached_batch(video: torch.Tensor, memory: torch.Tensor, video_condition: torch.Tensor, mi2v: bool,
                 prompt_embeds: torch.Tensor, device: torch.device, dtype: torch.dtype) -> Batch:
    """A batch from cached latents (`generator.train.cache`): the same layout and `build_condition`
    as `encode_batch`, without the VAE or text encoder."""
    mode = ShotMode.MI2V if mi2v else ShotMode.M2V
    memory, video = memory[None].to(device), video[None].to(device)
    condition = build_condition(memory, video_condition[None].to(device), KNOWN_VIDEO_LATENTS[mode], 4)
    return Batch(x0=torch.cat([memory, video], dim=2), condition=condition.to(dtype),
                 prompt_embeds=prompt_embeds[None].to(device, dtype), image_embeds=None, num_memory=memory.shape[2])


@torch.no_grad()
def encode_batch(pipe: WanM2VPipeline, target: np.ndarray, memory: Sequence[np.ndarray], context: Sequence[np.ndarray],
                 caption: str, device: torch.device, dtype: torch.dtype) -> Batch:
    """Latents of one pixel sample, through the pipeline's own encoders and `build_condition`.

    `target` is uint8 (F, H, W, 3); `context` is [] (M2V) or the target's first frame (MI2V). The
    condition is what `WanM2VPipeline.__call__` builds for the same memory, context and size.
    """
    num_frames, height, width = target.shape[:3]
    mode = ShotMode.MI2V if context else ShotMode.M2V
    memory_latents = pipe.encode_memory(list(memory), height, width, device)
    video_condition = pipe.encode_condition_video(list(context), num_frames, height, width, device)
    condition = build_condition(memory_latents, video_condition, KNOWN_VIDEO_LATENTS[mode], pipe.vae_scale_factor_temporal)
    target_latents = encode_video(pipe, target, device)
    prompt_embeds, _ = pipe.encode_prompt(prompt=caption, do_classifier_free_guidance=False, max_sequence_length=512, device=device)
    anchor = context[0] if context else memory[-1]
    image_embeds = pipe._image_embeds(anchor, height, width, device)
    return Batch(
        x0=torch.cat([memory_latents, target_latents], dim=2),
        condition=condition.to(dtype),
        prompt_embeds=prompt_embeds.to(dtype),
        image_embeds=image_embeds.to(dtype) if image_embeds is not None else None,
        num_memory=memory_latents.shape[2],
    )


def predict(model: Callable[..., Any], rope_owner: torch.nn.Module, batch: Batch, latents: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The transformer's velocity for noised latents, called as the pipeline calls it."""
    set_memory_frames(rope_owner, batch.num_memory)
    model_input = torch.cat([latents, batch.condition], dim=1).to(batch.condition.dtype)
    return model(
        hidden_states=model_input,
        timestep=(sigma * NUM_TRAIN_TIMESTEPS).to(latents.device),
        encoder_hidden_states=batch.prompt_embeds,
        encoder_hidden_states_image=batch.image_embeds,
        return_dict=False,
    )[0]


def step_loss(model: Callable[..., Any], rope_owner: torch.nn.Module, batch: Batch, sigma: torch.Tensor,
              generator: torch.Generator) -> torch.Tensor:
    """One flow-matching loss: draw noise, noise x0 at sigma, predict, compare on the target frames."""
    noise = torch.randn(batch.x0.shape, generator=generator).to(batch.x0.device)
    latents = noised(batch.x0, noise, sigma.to(batch.x0.device))
    prediction = predict(model, rope_owner, batch, latents, sigma)
    return flow_matching_loss(prediction, noise, batch.x0, batch.num_memory)
