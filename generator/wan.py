"""The `tiny` and `wan` generator backends: `generator.base.Generator` over the M2V pipeline.

One `WanGenerator` holds its models for the life of the process and serves any story: memory
images travel with each `ShotRequest`, and the pipeline caches their latents and the prompt
embeddings by content. A T2V request uses the Wan T2V experts (shift 12) when loaded; without
them, or when it carries reference images (MR2V), it runs as M2V with the request's memory
(none for a plain first shot).
"""

from __future__ import annotations

import atexit
import os
import time
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import WanPipeline

from generator.base import ShotMode, ShotRequest, ShotResult
from generator.models import (
    DEFAULT_I2V,
    DEFAULT_T2V,
    Placement,
    load_m2v_pipeline,
    load_t2v_pipeline,
    quietly,
    resolve_model,
)
from generator.pipeline import (
    T2V_SHIFT,
    WAN_NEGATIVE_PROMPT,
    WanM2VPipeline,
)
from generator.speed import PUBLISHED, CacheSpec, Sampler
from generator.tiny import (
    TINY_FPS,
    TINY_FRAMES,
    TINY_HEIGHT,
    TINY_WIDTH,
    default_cache_dir,
    ensure_tiny_model,
)

MAX_SEQUENCE_LENGTH = 512  # UMT5 tokens, as Wan encodes prompts


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """Float frames in [0, 1] (T, H, W, 3) to uint8, rounding like PIL conversion does."""
    return np.clip(np.round(frames * 255.0), 0, 255).astype(np.uint8)


def with_steps(sampler: Sampler, steps: int | None) -> Sampler:
    """The sampler with another step count; a distilled sampler's steps are its own."""
    if steps is None or steps == sampler.steps:
        return sampler
    if sampler.sigmas is not None:
        raise ValueError(f"this sampler is distilled for {sampler.steps} steps; it cannot run {steps}")
    return replace(sampler, steps=steps)


class WanGenerator:
    """Memory-conditioned Wan video generator (M2V / MI2V / MM2V, T2V for the first shot)."""

    def __init__(
        self,
        pipe: WanM2VPipeline,
        t2v: WanPipeline | partial | None = None,
        *,
        name: str,
        width: int,
        height: int,
        num_frames: int,
        fps: int,
        sampler: Sampler = PUBLISHED,
        model_ids: dict[str, str | None] | None = None,
        lora_names: Sequence[str] = (),
    ):
        self.pipe = pipe
        self._t2v = t2v
        self.name = name
        self.width, self.height, self.num_frames, self.fps = width, height, num_frames, fps
        self.sampler = sampler
        self.parallel_leader = False  # rank 0 of a --parallel launch: sends each request to the other ranks
        self.model_ids = dict(model_ids or {})
        self.lora_names = list(lora_names)

    @property
    def steps(self) -> int:
        return self.sampler.steps

    @property
    def guidance(self) -> float:
        return self.sampler.guidance

    @property
    def notes(self) -> list[str]:
        """What loading chose (LoRA formats and scales, sampler, VRAM tier), to tell the user once."""
        return list(self.pipe.notes)

    @property
    def t2v(self) -> WanPipeline | None:
        """The T2V experts, loaded on the first shot that needs them: a resumed story or one that
        starts from reference images never does, and the host keeps two experts fewer."""
        if isinstance(self._t2v, partial):
            self._t2v = self._t2v()
        return self._t2v

    @t2v.setter
    def t2v(self, value: WanPipeline | partial | None) -> None:
        self._t2v = value

    @classmethod
    def tiny(
        cls,
        cache_dir: Path | None = None,
        steps: int | None = 4,
        loras: Sequence[tuple[str, float | tuple[float, float]]] = (),
        dtype: str = "float32",
        offload: str | Placement = "none",
        attention: str | None = None,
        compile: bool = False,
        sampler: Sampler = PUBLISHED,
        cache: CacheSpec | None = None,
    ) -> "WanGenerator":
        """Random tiny Wan2.2-shaped models (built once into `cache_dir`) on CPU: the same pipeline
        and options as `from_pretrained` (LoRAs at the tiny model's sizes, dtype, attention, compile,
        sampler, cache; of the placements, what CPU allows: group offload CPU to CPU, fp8 storage,
        VAE tiling). `steps` overrides the sampler's (4 by default: toy speed)."""
        folder = ensure_tiny_model(cache_dir if cache_dir is not None else default_cache_dir())
        sampler = with_steps(sampler, steps)
        options = {"dtype": dtype, "offload": offload, "attention": attention, "compile": compile, "device": "cpu"}
        pipe = quietly(partial(load_m2v_pipeline, str(folder / "i2v"), loras=loras, sampler=sampler, cache=cache, **options))
        t2v = partial(load_t2v_pipeline, str(folder / "t2v"), **options)
        return cls(
            pipe, t2v, name="tiny", width=TINY_WIDTH, height=TINY_HEIGHT, num_frames=TINY_FRAMES, fps=TINY_FPS,
            sampler=sampler, model_ids={"i2v": str(folder / "i2v"), "t2v": str(folder / "t2v")},
            lora_names=[str(path) for path, _ in loras],
        )

    @classmethod
    def from_pretrained(
        cls,
        model: str = DEFAULT_I2V,
        t2v_model: str | None = DEFAULT_T2V,
        loras: Sequence[tuple[str, float | tuple[float, float]]] = (),
        dtype: str = "bfloat16",
        offload: str | Placement = "model",
        attention: str | None = None,
        compile: bool = False,
        device: str | None = None,
        steps: int | None = None,
        sampler: Sampler = PUBLISHED,
        cache: CacheSpec | None = None,
        parallel: str | None = None,
    ) -> "WanGenerator":
        """Real Wan2.2 (or Wan2.1-style) weights from hub ids or local folders, loaded once.

        `loras` are (path, weight) pairs in the public StoryMem format or our own format.
        Raises `generator.models.ModelNotFoundError` when a model is not available.
        """
        sampler = with_steps(sampler, steps)
        if parallel and device is None:  # each torchrun rank on its own GPU (the T2V experts too, unsharded)
            device = f"cuda:{os.environ.get('LOCAL_RANK', '0')}"
        options = {"dtype": dtype, "offload": offload, "attention": attention, "compile": compile, "device": device}
        pipe = load_m2v_pipeline(model, loras=loras, sampler=sampler, cache=cache, parallel=parallel, **options)
        if t2v_model:
            resolve_model(t2v_model)  # a missing T2V model is reported now, not at the first shot
        t2v = partial(load_t2v_pipeline, t2v_model, **options) if t2v_model else None
        generator = cls(
            pipe, t2v, name="wan", width=832, height=480, num_frames=81, fps=16, sampler=sampler,
            model_ids={"i2v": model, "t2v": t2v_model}, lora_names=[str(path) for path, _ in loras],
        )
        if parallel:
            from generator.parallel import rank, stop_followers

            generator.parallel_leader = rank() == 0
            if generator.parallel_leader:
                atexit.register(stop_followers)
        return generator

    @torch.no_grad()
    def generate(self, request: ShotRequest) -> ShotResult:
        if self.parallel_leader:
            from generator.parallel import broadcast_request

            broadcast_request(request)  # the other ranks run this shot with us (generator.parallel.serve_shots)
        started = time.perf_counter()
        mode = ShotMode(request.mode)
        # A distilled sampler's LoRA is on the I2V experts: a first shot runs there with empty memory.
        use_t2v = mode is ShotMode.T2V and not request.memory and self.sampler.sigmas is None and self.t2v is not None
        effective = ShotMode.T2V if use_t2v else (ShotMode.M2V if mode is ShotMode.T2V else mode)
        seed_generator = torch.Generator(device="cpu").manual_seed(request.seed)
        common = {
            "height": request.height, "width": request.width, "num_frames": request.num_frames,
            "num_inference_steps": self.steps, "max_sequence_length": MAX_SEQUENCE_LENGTH, "guidance_scale": self.guidance, "generator": seed_generator,
        }
        negative = request.negative_prompt or WAN_NEGATIVE_PROMPT
        if use_t2v:
            frames, shift = self._text_to_video(request.prompt, negative, common), T2V_SHIFT
        else:
            shift = self.sampler.shift
            frames = self.pipe(
                request.prompt, memory=list(request.memory), mode=effective, context=list(request.previous_frames),
                negative_prompt=negative, shift=shift if self.sampler.solver == "unipc" else None,
                sigmas=self.sampler.sigmas, **common,
            ).frames[0]
        frames = to_uint8(np.asarray(frames))
        metadata = {
            "backend": self.name,
            "mode": mode.value,
            "effective_mode": effective.value,
            "M": len(request.memory),
            "seed": request.seed,
            "steps": self.steps,
            "shift": shift,
            "guidance": self.guidance,
            "sampler": self.sampler.describe() if not use_t2v else "published T2V",
            "num_frames": int(frames.shape[0]),
            "timings": {"total_s": round(time.perf_counter() - started, 4)},
            "model_ids": self.model_ids,
            "loras": self.lora_names,
            "experts": [name for _, name in self.pipe.expert_trace] if not use_t2v else [],
        }
        return ShotResult(frames=frames, fps=request.fps, metadata=metadata)

    def _text_to_video(self, prompt: str, negative: str, common: dict[str, Any]) -> np.ndarray:
        """First shot with the T2V experts; prompts are encoded (and cached) by the M2V pipeline,
        which shares the T2V model's text encoder and VAE, and decodes the latents."""
        prompt_embeds, negative_embeds = self.pipe.encode_prompt(
            prompt=prompt, negative_prompt=negative, do_classifier_free_guidance=self.guidance > 1.0,
            max_sequence_length=MAX_SEQUENCE_LENGTH, device=self.pipe._execution_device,
        )
        latents = self.t2v(
            prompt_embeds=prompt_embeds, negative_prompt_embeds=negative_embeds, output_type="latent", **common
        ).frames
        return self.pipe.decode_latents(latents, output_type="np")[0]
