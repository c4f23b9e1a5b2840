"""Loading real Wan models (hub ids or local folders), once per process, with offload options.

Transformers and the text encoder load with `from_pretrained(torch_dtype=...)` (never
`.to(bfloat16)`, which would also cast the rotary tables); the VAE stays float32 as Wan runs it.
A model that cannot be found raises `ModelNotFoundError` with a one-line message.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import torch
from diffusers import WanPipeline, WanTransformer3DModel

from generator.pipeline import T2V_SHIFT, WanM2VPipeline, flow_unipc_scheduler

T = TypeVar("T")

DEFAULT_I2V = "Wan-AI/Wan2.2-I2V-A14B-Diffusers"
DEFAULT_T2V = "Wan-AI/Wan2.2-T2V-A14B-Diffusers"
OFFLOAD_MODES = ("none", "model", "group")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class ModelNotFoundError(RuntimeError):
    """A model is neither a local diffusers folder nor available from the hub (or its cache)."""

    def __init__(self, model: str, reason: str):
        hint = (
            f"download it with `hf download {model}` (or run online once), or pass a local folder"
            if _HUB_ID.match(model)
            else f"pass a local folder holding a diffusers Wan model (model_index.json) or a hub id like {DEFAULT_I2V}"
        )
        super().__init__(f"Wan model '{model}' not found: {reason}; {hint}.")
        self.model = model


def _torch_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return {"bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float16": torch.float16,
                "fp16": torch.float16, "float32": torch.float32, "fp32": torch.float32}[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype '{dtype}'") from None


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}


def resolve_model(model: str) -> str:
    """Check that `model` can be loaded here; return what to pass to `from_pretrained`."""
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "model_index.json").is_file():
            raise ModelNotFoundError(model, "the folder has no model_index.json")
        return str(path)
    if not _HUB_ID.match(model):
        raise ModelNotFoundError(model, "no such folder")
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(model, "model_index.json")
    if not isinstance(cached, str) and _offline():
        raise ModelNotFoundError(model, "not in the local hub cache and HF_HUB_OFFLINE is set")
    return model


def quietly(load: Callable[[], T]) -> T:
    """`load()` without diffusers' and transformers' loading bars ("Loading pipeline components",
    "Loading weights"): for models that load in a second, where a bar is only noise in the log."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    shown = [module for module in (diffusers_logging, transformers_logging) if module.is_progress_bar_enabled()]
    for module in shown:
        module.disable_progress_bar()
    try:
        return load()
    finally:
        for module in shown:
            module.enable_progress_bar()


def _from_pretrained(loader, model: str, **kwargs):
    """Run a diffusers loader, turning 'not found / no network' failures into one clear error."""
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        return loader(resolve_model(model), **kwargs)
    except (LocalEntryNotFoundError, RepositoryNotFoundError) as error:
        raise ModelNotFoundError(model, type(error).__name__) from None
    except (HfHubHTTPError, OSError) as error:
        if Path(model).exists():
            raise
        raise ModelNotFoundError(model, str(error).splitlines()[0] if str(error) else type(error).__name__) from None


def default_device(device: str | None = None) -> torch.device:
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass(frozen=True)
class Placement:
    """Where the weights live and in what precision: what a VRAM tier chooses.

    offload: "none" (all on the GPU), "model" (one model on the GPU at a time, diffusers' model CPU
    offload), "group" (layer by layer from CPU, prefetched on a CUDA stream: diffusers' group offload);
    fp8: transformer weights stored in float8_e4m3fn, each layer cast up to compute (diffusers'
    layerwise casting); vae_tiling: the VAE decodes in tiles; text_encoder_offload: the UMT5 encoder
    goes back to the CPU after each encoding (model and group offload do this for every model).
    """

    offload: str = "none"
    fp8: bool = False
    vae_tiling: bool = False
    text_encoder_offload: bool = False

    def describe(self, device: torch.device) -> str:
        cpu = device.type == "cpu"
        parts = {
            "none": "all weights on the device",
            "model": "model CPU offload (one model on the GPU at a time)" + (" [needs CUDA: not applied on CPU]" if cpu else ""),
            "group": "group offload, leaf level" + (" (CPU to CPU, no streams)" if cpu else ", prefetched on a CUDA stream"),
        }[self.offload]
        extra = [("fp8 (e4m3) storage of transformer weights", self.fp8), ("VAE tiling", self.vae_tiling),
                 ("text encoder unloaded after encoding", self.text_encoder_offload and self.offload == "none" and not cpu)]
        return "; ".join([parts] + [text for text, on in extra if on])


#: --vram tiers (GiB of GPU memory). Sizes: one A14B expert is 26.6 GiB in bf16, 13.3 GiB in fp8;
#: UMT5-XXL 10.6 GiB; activations at 480p/81 frames 3.7 (M=0) to 5.3 GiB (M=10) (measured, README).
TIER_PLACEMENTS = {
    "80": Placement("none", text_encoder_offload=True),  # both experts resident: 53 GiB + activations
    "48": Placement("model"),  # one bf16 expert at a time: 30-32 GiB peak measured
    "24": Placement("model", fp8=True, vae_tiling=True),  # one fp8 expert: about 19 GiB (computed)
    "16": Placement("group", fp8=True, vae_tiling=True),  # a few layers resident: activations bound
}


def place(pipe, device: torch.device, placement: Placement | str, dtype: torch.dtype | None = None) -> None:
    """Set up where weights live (see `Placement`); a bare string is an offload mode."""
    if isinstance(placement, str):
        placement = Placement(placement)
    if placement.offload not in OFFLOAD_MODES:
        raise ValueError(f"offload must be one of {OFFLOAD_MODES}, got '{placement.offload}'")
    models = transformers_of(pipe)
    if placement.fp8:
        compute = dtype or models[0].dtype
        for model in models:
            model.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=compute)
    if placement.vae_tiling and getattr(pipe, "vae", None) is not None:
        pipe.vae.enable_tiling()
    if placement.offload == "group":
        cpu = torch.device("cpu")
        pipe.enable_group_offload(onload_device=device, offload_device=cpu, offload_type="leaf_level",
                                  use_stream=device.type == "cuda")
    elif device.type == "cpu" or placement.offload == "none":
        pipe.to(device)
        if placement.text_encoder_offload and device.type != "cpu" and getattr(pipe, "text_encoder", None) is not None:
            from accelerate import cpu_offload_with_hook

            pipe.text_encoder.to("cpu")
            _, pipe.text_encoder_hook = cpu_offload_with_hook(pipe.text_encoder, device)
    else:
        pipe.enable_model_cpu_offload(device=device)


def transformers_of(pipe) -> list[torch.nn.Module]:
    return [m for m in (getattr(pipe, "transformer", None), getattr(pipe, "transformer_2", None)) if m is not None]


def configure_transformers(pipe, attention: str | None, compile: bool) -> None:
    """Attention backend (diffusers' dispatcher, e.g. "flash", "sage", "_native_cudnn") and
    opt-in regional compilation: only the repeated transformer block is compiled, so compile
    time stays short and the rotary module (which changes with the memory size) stays eager."""
    for model in transformers_of(pipe):
        if attention:
            model.set_attention_backend(attention)
        if compile:
            model.compile_repeated_blocks(fullgraph=True)


def load_m2v_pipeline(
    model: str = DEFAULT_I2V,
    loras: Sequence[tuple[str, float | tuple[float, float]]] = (),
    dtype: str | torch.dtype = "bfloat16",
    offload: str | Placement = "model",
    attention: str | None = None,
    compile: bool = False,
    device: str | None = None,
    sampler=None,
    cache=None,
    parallel: str | None = None,
) -> WanM2VPipeline:
    """Load the I2V model (two experts for Wan2.2) as a `WanM2VPipeline`, with LoRAs applied.

    `sampler` (`generator.speed.Sampler`) picks the scheduler, `cache` (`generator.speed.CacheSpec`)
    a diffusers feature cache on both experts, `offload` a `Placement` (a VRAM tier) or an offload
    mode, `parallel` ("ulysses" / "ring") diffusers' context parallelism over the torchrun ranks.
    What was chosen is in `pipe.notes`.
    """
    from generator.speed import PUBLISHED, enable_cache

    torch_dtype = _torch_dtype(dtype)
    sampler = sampler or PUBLISHED
    pipe = _from_pretrained(
        WanM2VPipeline.from_pretrained, model, dtype={"vae": torch.float32, "default": torch_dtype}
    )
    pipe.register_modules(scheduler=sampler.scheduler(pipe.scheduler))
    pipe.notes.append(f"sampler: {sampler.describe()}")
    if loras:
        from generator.lora import apply_loras

        pipe.notes.extend(apply_loras(pipe, loras).report)
    configure_transformers(pipe, attention, compile)
    if cache is not None and cache.name != "none":
        enable_cache(pipe, cache, sampler)
        pipe.notes.append(f"cache: {cache.describe()}")
    target = default_device(device)
    if parallel:
        from generator.parallel import enable_context_parallel

        target = enable_context_parallel(pipe, parallel)
        pipe.notes.append(f"parallel: {parallel} context parallelism over {torch.distributed.get_world_size()} ranks")
    placement = offload if isinstance(offload, Placement) else Placement(offload)
    place(pipe, target, placement, torch_dtype)
    pipe.notes.append(f"placement ({target.type}): {placement.describe(target)}")
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _model_index(model: str) -> dict:
    """A diffusers model folder's model_index.json (from the hub cache for hub ids)."""
    local = Path(model)
    if local.exists():
        index = local / "model_index.json"
    else:
        from huggingface_hub import hf_hub_download

        index = Path(hf_hub_download(model, "model_index.json"))
    return json.loads(index.read_text())


def load_t2v_pipeline(
    model: str = DEFAULT_T2V,
    dtype: str | torch.dtype = "bfloat16",
    offload: str = "model",
    attention: str | None = None,
    compile: bool = False,
    device: str | None = None,
) -> WanPipeline:
    """Load only the T2V experts as a stock `WanPipeline` (shift 12).

    Its text encoder and VAE are the same as the I2V model's, so they are not loaded twice: the
    caller passes prompt embeddings in and decodes the returned latents with the M2V pipeline.
    """
    torch_dtype = _torch_dtype(dtype)
    index = _from_pretrained(_model_index, model)

    def load_expert(subfolder: str) -> WanTransformer3DModel | None:
        if (index.get(subfolder) or [None])[0] is None:
            return None
        return _from_pretrained(WanTransformer3DModel.from_pretrained, model, subfolder=subfolder,
                                dtype=torch_dtype)

    transformer, transformer_2 = load_expert("transformer"), load_expert("transformer_2")
    boundary = index.get("boundary_ratio") if transformer_2 is not None else None
    pipe = WanPipeline(
        tokenizer=None, text_encoder=None, vae=None, scheduler=flow_unipc_scheduler(T2V_SHIFT),
        transformer=transformer, transformer_2=transformer_2, boundary_ratio=boundary,
    )
    configure_transformers(pipe, attention, compile)
    place(pipe, default_device(device), offload)
    pipe.set_progress_bar_config(disable=True)
    return pipe
