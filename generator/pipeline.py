"""StoryMem's Memory-to-Video pipeline on diffusers' Wan image-to-video pipeline (design.md 2.1).

`WanM2VPipeline` subclasses `WanImageToVideoPipeline` and keeps its components, prompt encoding,
expert switching and decoding. What changes is the conditioning layout: M memory keyframes,
each VAE-encoded alone as a one-frame video, go in front of the I2V condition latent along time,
the mask is 1 on them, the noise spans them too, and their output latents are dropped before
decoding. Temporal RoPE positions of the memory are shifted negative (`generator.rope`).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import PIL.Image
import torch
from diffusers import UniPCMultistepScheduler, WanImageToVideoPipeline
from diffusers.pipelines.wan.pipeline_output import WanPipelineOutput
from diffusers.pipelines.wan.pipeline_wan_i2v import retrieve_latents
from diffusers.utils.torch_utils import get_module_execution_device, randn_tensor

from generator.base import CONTEXT_FRAMES, ShotMode
from generator.rope import DEFAULT_MEMORY_SHIFT, install_memory_rope, set_memory_frames

#: Wan's standard negative prompt (the one Wan2.1/2.2 sample with).
WAN_NEGATIVE_PROMPT = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，"
    "JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，"
    "手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走"
)
DEFAULT_STEPS = 40
DEFAULT_GUIDANCE = 3.5
M2V_SHIFT = 4.0
T2V_SHIFT = 12.0
BOUNDARY_RATIO = 0.9

#: Video latent frames known from the previous shot, per mode (MI2V: frame 0; MM2V: frames 0-4).
KNOWN_VIDEO_LATENTS = {ShotMode.T2V: 0, ShotMode.M2V: 0, ShotMode.MI2V: 1, ShotMode.MM2V: 2}

ImageLike = np.ndarray | PIL.Image.Image


def flow_unipc_scheduler(shift: float, base: Any | None = None) -> UniPCMultistepScheduler:
    """UniPC with flow sigmas, as diffusers' Wan pipelines configure it, at the given shift."""
    flow = {"prediction_type": "flow_prediction", "use_flow_sigmas": True, "flow_shift": shift}
    if isinstance(base, UniPCMultistepScheduler):
        return UniPCMultistepScheduler.from_config(base.config, **flow)
    return UniPCMultistepScheduler(num_train_timesteps=1000, **flow)


def latent_frame_count(num_frames: int, temporal_stride: int = 4) -> int:
    return (num_frames - 1) // temporal_stride + 1


def to_pil(image: ImageLike) -> PIL.Image.Image:
    if isinstance(image, PIL.Image.Image):
        return image.convert("RGB")
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected a uint8 (H, W, 3) image, got {array.dtype} {array.shape}")
    return PIL.Image.fromarray(array)


def image_digest(image: ImageLike) -> str:
    """Content hash of an image: the cache key for its memory latent."""
    array = np.ascontiguousarray(np.asarray(to_pil(image)))
    return hashlib.sha256(array.tobytes() + str(array.shape).encode()).hexdigest()


def build_condition(
    memory_latents: torch.Tensor, video_condition: torch.Tensor, known_video_latents: int, mask_channels: int = 4
) -> torch.Tensor:
    """The transformer's condition: [mask (4), latent (16)] over [memory (M), video (F)] latent frames.

    The mask is 1 on the memory frames and on the first `known_video_latents` video frames (the
    previous shot's frames for MI2V / MM2V). Inference and LoRA training both build it here.
    """
    condition_latents = torch.cat([memory_latents, video_condition.to(memory_latents.device)], dim=2)
    batch, _, frames, lat_h, lat_w = condition_latents.shape
    mask = torch.zeros(batch, mask_channels, frames, lat_h, lat_w, device=condition_latents.device)
    mask[:, :, : memory_latents.shape[2] + known_video_latents] = 1.0
    return torch.cat([mask, condition_latents], dim=1)


class _LRU(OrderedDict):
    def __init__(self, capacity: int):
        super().__init__()
        self.capacity = capacity

    def get_or_compute(self, key: Any, compute: Callable[[], Any]) -> tuple[Any, bool]:
        if key in self:
            self.move_to_end(key)
            return self[key], True
        value = compute()
        self[key] = value
        while len(self) > self.capacity:
            self.popitem(last=False)
        return value, False


class WanM2VPipeline(WanImageToVideoPipeline):
    """Memory-to-video generation (M2V / MI2V / MM2V) with Wan2.2-I2V-A14B or a single Wan expert.

    Loads like the stock pipeline (`WanM2VPipeline.from_pretrained(...)`), then generates one shot
    per call. Prompt embeddings and memory latents are cached by content, so a story that reuses
    memory keyframes and prompts across shots encodes each once.
    """

    def __init__(
        self,
        tokenizer: Any,
        text_encoder: Any,
        vae: Any,
        scheduler: Any,
        image_processor: Any = None,
        image_encoder: Any = None,
        transformer: Any = None,
        transformer_2: Any = None,
        boundary_ratio: float | None = None,
        expand_timesteps: bool = False,
    ):
        if expand_timesteps:
            raise ValueError("expand_timesteps (Wan2.2-TI2V-5B) is not supported by the M2V layout")
        super().__init__(
            tokenizer, text_encoder, vae, scheduler, image_processor, image_encoder,
            transformer, transformer_2, boundary_ratio, expand_timesteps,
        )
        self.memory_shift = DEFAULT_MEMORY_SHIFT
        for model in (self.transformer, self.transformer_2):
            if model is not None:
                install_memory_rope(model, self.memory_shift)
        self._prompt_cache = _LRU(64)
        self._latent_cache = _LRU(256)
        self.stats = {"prompt_encodes": 0, "memory_encodes": 0, "condition_encodes": 0}
        self.expert_trace: list[tuple[float, str]] = []
        self.notes: list[str] = []  # what loading chose (LoRA scales, VRAM tier), said to the user once
        self.text_encoder_hook = None  # accelerate's offload hook when the encoder leaves the GPU after use

    # ---- caching wrappers -------------------------------------------------------------------

    def _get_t5_prompt_embeds(
        self,
        prompt: str | list[str] = None,
        num_videos_per_prompt: int = 1,
        max_sequence_length: int = 512,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> torch.Tensor:
        """The stock T5 encoding, run once per distinct prompt (regenerating a shot reuses it)."""
        prompts = tuple([prompt] if isinstance(prompt, str) else prompt)
        device = device or self._execution_device
        dtype = dtype or self.text_encoder.dtype
        key = (prompts, num_videos_per_prompt, max_sequence_length, str(device), dtype)

        def encode() -> torch.Tensor:
            self.stats["prompt_encodes"] += 1
            embeds = super(WanM2VPipeline, self)._get_t5_prompt_embeds(
                list(prompts), num_videos_per_prompt, max_sequence_length, device, dtype
            )
            if self.text_encoder_hook is not None:
                self.text_encoder_hook.offload()
            return embeds

        return self._prompt_cache.get_or_compute(key, encode)[0]

    def _normalize_latents(self, latents: torch.Tensor) -> torch.Tensor:
        config = self.vae.config
        mean = torch.tensor(config.latents_mean).view(1, config.z_dim, 1, 1, 1).to(latents.device, latents.dtype)
        inv_std = 1.0 / torch.tensor(config.latents_std).view(1, config.z_dim, 1, 1, 1).to(latents.device, latents.dtype)
        return (latents - mean) * inv_std

    def _vae_encode(self, video: torch.Tensor) -> torch.Tensor:
        """Encode a pixel video (B, 3, T, H, W) in [-1, 1] to normalised float32 latents."""
        video = video.to(device=get_module_execution_device(self.vae), dtype=self.vae.dtype)
        latents = retrieve_latents(self.vae.encode(video), sample_mode="argmax")
        return self._normalize_latents(latents.to(torch.float32))

    @torch.no_grad()
    def encode_memory(self, memory: Sequence[ImageLike], height: int, width: int, device: torch.device) -> torch.Tensor:
        """Memory latents (1, C, M, h, w): each image stretched to the video size, encoded alone."""
        if not memory:
            channels = self.vae.config.z_dim
            scale = self.vae_scale_factor_spatial
            return torch.zeros(1, channels, 0, height // scale, width // scale, device=device)
        latents = []
        for image in memory:
            pil = to_pil(image)
            key = ("memory", image_digest(pil), height, width, self.vae.dtype)

            def encode(pil: PIL.Image.Image = pil) -> torch.Tensor:
                self.stats["memory_encodes"] += 1
                pixels = self.video_processor.preprocess(pil, height=height, width=width).to(torch.float32)
                return self._vae_encode(pixels.unsqueeze(2))

            latent = self._latent_cache.get_or_compute(key, encode)[0]
            latents.append(latent.to(device))
        return torch.cat(latents, dim=2)

    @torch.no_grad()
    def encode_condition_video(
        self, context: Sequence[ImageLike], num_frames: int, height: int, width: int, device: torch.device
    ) -> torch.Tensor:
        """I2V condition latent: the context frames first, then zeros up to `num_frames`.

        With no context the input is all zeros and its latent depends only on the size, so it is
        encoded once per size.
        """

        def encode() -> torch.Tensor:
            self.stats["condition_encodes"] += 1
            frames = [to_pil(f) for f in context]
            zeros = torch.zeros(1, 3, num_frames - len(frames), height, width, device=device)
            if frames:
                pixels = self.video_processor.preprocess(frames, height=height, width=width)
                pixels = pixels.to(device, dtype=torch.float32).permute(1, 0, 2, 3).unsqueeze(0)
                video = torch.cat([pixels, zeros], dim=2)
            else:
                video = zeros
            return self._vae_encode(video)

        if context:
            return encode().to(device)
        key = ("zeros", num_frames, height, width, self.vae.dtype)
        return self._latent_cache.get_or_compute(key, encode)[0].to(device)

    # ---- conditioning layout ----------------------------------------------------------------

    def prepare_m2v_latents(
        self,
        memory_latents: torch.Tensor,
        video_condition: torch.Tensor,
        known_video_latents: int,
        generator: torch.Generator | None,
        latents: torch.Tensor | None,
        device: torch.device,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Noise over all M+F latent frames, and the condition = [mask (4), latent (16)]."""
        condition_latents = torch.cat([memory_latents, video_condition], dim=2)
        batch, channels, frames, lat_h, lat_w = condition_latents.shape
        shape = (batch, channels, frames, lat_h, lat_w)
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=device, dtype=torch.float32)
        else:
            latents = latents.to(device=device, dtype=torch.float32)
        if latents.shape != shape:
            raise ValueError(f"latents must have shape {shape}, got {tuple(latents.shape)}")

        condition = build_condition(memory_latents, video_condition, known_video_latents, self.vae_scale_factor_temporal)
        return latents, condition.to(device)

    def _image_embeds(self, image: ImageLike | None, height: int, width: int, device: torch.device) -> torch.Tensor | None:
        """CLIP image tokens for Wan2.1-style I2V transformers (Wan2.2 has no image branch)."""
        if self.transformer is None or self.transformer.config.image_dim is None:
            return None
        pil = to_pil(image) if image is not None else PIL.Image.new("RGB", (width, height))
        return self.encode_image(pil, device)

    # ---- generation -------------------------------------------------------------------------

    @torch.no_grad()
    def __call__(
        self,
        prompt: str,
        memory: Sequence[ImageLike] = (),
        mode: ShotMode | str = ShotMode.M2V,
        context: Sequence[ImageLike] = (),
        negative_prompt: str | None = WAN_NEGATIVE_PROMPT,
        height: int = 480,
        width: int = 832,
        num_frames: int = 81,
        num_inference_steps: int = DEFAULT_STEPS,
        guidance_scale: float = DEFAULT_GUIDANCE,
        guidance_scale_2: float | None = None,
        shift: float | None = M2V_SHIFT,
        sigmas: Sequence[float] | None = None,
        generator: torch.Generator | None = None,
        latents: torch.Tensor | None = None,
        output_type: str = "np",
        return_dict: bool = True,
        attention_kwargs: dict[str, Any] | None = None,
        callback_on_step_end: Callable[..., dict[str, Any]] | None = None,
        callback_on_step_end_tensor_inputs: Sequence[str] = ("latents",),
        max_sequence_length: int = 512,
        drop_context_frames: bool = True,
    ) -> WanPipelineOutput | tuple:
        """Generate one shot.

        `memory` are keyframes from earlier shots (oldest first); `context` the previous shot's
        last frame (MI2V) or last 5 frames (MM2V). T2V here means M2V with the given (usually
        empty) memory: plain text-to-video needs a T2V model. Returns `num_frames` frames minus
        the copied context frames (unless `drop_context_frames=False`). `sigmas` fix a distilled
        sampler's own schedule (with a scheduler that takes them, e.g. flow-matching Euler; pass
        `shift=None` to keep the pipeline's scheduler).
        """
        mode = ShotMode(mode)
        num_context = CONTEXT_FRAMES[mode]
        if len(context) < num_context:
            raise ValueError(f"{mode.value} needs {num_context} context frame(s), got {len(context)}")
        context = list(context)[-num_context:] if num_context else []
        if num_frames % self.vae_scale_factor_temporal != 1:
            raise ValueError(f"num_frames must be 4k+1, got {num_frames}")
        patch = (self.transformer or self.transformer_2).config.patch_size
        multiple = self.vae_scale_factor_spatial * patch[1]
        if height % multiple or width % multiple:
            raise ValueError(f"height and width must be multiples of {multiple}, got {height}x{width}")
        if shift is not None and getattr(self.scheduler.config, "flow_shift", None) != shift:
            self.register_modules(scheduler=flow_unipc_scheduler(shift, self.scheduler))
        if self.config.boundary_ratio is not None and guidance_scale_2 is None:
            guidance_scale_2 = guidance_scale
        self._guidance_scale = guidance_scale
        self._guidance_scale_2 = guidance_scale_2
        self._attention_kwargs = attention_kwargs
        self._interrupt = False
        device = self._execution_device

        # 1. Encode the prompt (cached per distinct prompt).
        prompt_embeds, negative_prompt_embeds = self.encode_prompt(
            prompt=prompt,
            negative_prompt=negative_prompt or "",
            do_classifier_free_guidance=self.do_classifier_free_guidance,
            max_sequence_length=max_sequence_length,
            device=device,
        )
        transformer_dtype = (self.transformer or self.transformer_2).dtype
        prompt_embeds = prompt_embeds.to(transformer_dtype)
        if negative_prompt_embeds is not None:
            negative_prompt_embeds = negative_prompt_embeds.to(transformer_dtype)
        anchor = context[0] if context else (memory[-1] if memory else None)
        image_embeds = self._image_embeds(anchor, height, width, device)
        if image_embeds is not None:
            image_embeds = image_embeds.to(transformer_dtype)

        # 2. Timesteps; feature caches start empty (a cached feature is only valid for this shot's memory).
        if sigmas is not None:
            self.scheduler.set_timesteps(sigmas=list(sigmas), device=device)
        else:
            self.scheduler.set_timesteps(num_inference_steps, device=device)
        self.reset_feature_caches()
        timesteps = self.scheduler.timesteps

        # 3. Memory latents, condition latent, mask and noise.
        memory_latents = self.encode_memory(list(memory), height, width, device)
        num_memory = memory_latents.shape[2]
        video_condition = self.encode_condition_video(context, num_frames, height, width, device)
        latents, condition = self.prepare_m2v_latents(
            memory_latents, video_condition, KNOWN_VIDEO_LATENTS[mode], generator, latents, device
        )

        # 4. Denoising loop: high-noise expert for t >= boundary, low-noise expert below.
        boundary = None
        if self.config.boundary_ratio is not None:
            boundary = self.config.boundary_ratio * self.scheduler.config.num_train_timesteps
        self._num_timesteps = len(timesteps)
        self.expert_trace = []
        with self.progress_bar(total=len(timesteps)) as progress_bar:
            for i, t in enumerate(timesteps):
                self._current_timestep = t
                if boundary is None or t >= boundary:
                    model, scale, name = self.transformer, guidance_scale, "transformer"
                else:
                    model, scale, name = self.transformer_2, guidance_scale_2, "transformer_2"
                self.expert_trace.append((float(t), name))
                set_memory_frames(model, num_memory)

                model_input = torch.cat([latents, condition], dim=1).to(transformer_dtype)
                timestep = t.expand(latents.shape[0])
                with model.cache_context("cond"):
                    noise_pred = model(
                        hidden_states=model_input,
                        timestep=timestep,
                        encoder_hidden_states=prompt_embeds,
                        encoder_hidden_states_image=image_embeds,
                        attention_kwargs=attention_kwargs,
                        return_dict=False,
                    )[0]
                if self.do_classifier_free_guidance:
                    with model.cache_context("uncond"):
                        noise_uncond = model(
                            hidden_states=model_input,
                            timestep=timestep,
                            encoder_hidden_states=negative_prompt_embeds,
                            encoder_hidden_states_image=image_embeds,
                            attention_kwargs=attention_kwargs,
                            return_dict=False,
                        )[0]
                    noise_pred = noise_uncond + scale * (noise_pred - noise_uncond)
                latents = self.scheduler.step(noise_pred, t, latents, return_dict=False)[0]

                if callback_on_step_end is not None:
                    local = {"latents": latents, "prompt_embeds": prompt_embeds,
                             "negative_prompt_embeds": negative_prompt_embeds, "condition": condition}
                    kwargs = {k: local[k] for k in callback_on_step_end_tensor_inputs}
                    outputs = callback_on_step_end(self, i, t, kwargs) or {}
                    latents = outputs.pop("latents", latents)
                progress_bar.update()
        self._current_timestep = None

        # 5. Drop the memory latents, decode the video, drop the copied context frames.
        latents = latents[:, :, num_memory:]
        if output_type == "latent":
            video = latents
        else:
            video = self.decode_latents(latents, output_type)
            if drop_context_frames and num_context:
                video = video[:, num_context:]
        self.maybe_free_model_hooks()
        if not return_dict:
            return (video,)
        return WanPipelineOutput(frames=video)

    def reset_feature_caches(self) -> None:
        """Forget every feature a diffusers cache (`enable_cache`) holds, on both experts."""
        for model in (self.transformer, self.transformer_2):
            if model is not None and getattr(model, "is_cache_enabled", False):
                model._reset_stateful_cache()

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor, output_type: str = "np") -> Any:
        """Denormalise and VAE-decode video latents (memory latents already removed)."""
        config = self.vae.config
        latents = latents.to(device=get_module_execution_device(self.vae), dtype=self.vae.dtype)
        mean = torch.tensor(config.latents_mean).view(1, config.z_dim, 1, 1, 1).to(latents.device, latents.dtype)
        inv_std = 1.0 / torch.tensor(config.latents_std).view(1, config.z_dim, 1, 1, 1).to(latents.device, latents.dtype)
        video = self.vae.decode(latents / inv_std + mean, return_dict=False)[0]
        return self.video_processor.postprocess_video(video, output_type=output_type)
