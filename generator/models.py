"""Loading real Wan models (hub ids or local folders), once per process, with offload options.

Transformers and the text encoder load with `from_pretrained(torch_dtype=...)` (never
`.to(bfloat16)`, which would also cast the rotary tables); the VAE stays float32 as Wan runs it.
A model that cannot be found raises `ModelNotFoundError` with a one-line message.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

import torch
from diffusers import WanPipeline, WanTransformer3DModel

from generator.pipeline import M2V_SHIFT, T2V_SHIFT, WanM2VPipeline, flow_unipc_scheduler

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


def place(pipe, device: torch.device, offload: str) -> None:
    """Move a pipeline to `device`, or set up model / group CPU offload (accelerator only)."""
    if offload not in OFFLOAD_MODES:
        raise ValueError(f"offload must be one of {OFFLOAD_MODES}, got '{offload}'")
    if device.type == "cpu" or offload == "none":
        pipe.to(device)
    elif offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.enable_group_offload(
            onload_device=device, offload_device=torch.device("cpu"), offload_type="leaf_level", use_stream=True
        )


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
    loras: Sequence[tuple[str, float]] = (),
    dtype: str | torch.dtype = "bfloat16",
    offload: str = "model",
    attention: str | None = None,
    compile: bool = False,
    device: str | None = None,
) -> WanM2VPipeline:
    """Load the I2V model (two experts for Wan2.2) as a `WanM2VPipeline`, with LoRAs applied."""
    torch_dtype = _torch_dtype(dtype)
    pipe = _from_pretrained(
        WanM2VPipeline.from_pretrained, model, dtype={"vae": torch.float32, "default": torch_dtype}
    )
    pipe.register_modules(scheduler=flow_unipc_scheduler(M2V_SHIFT, pipe.scheduler))
    if loras:
        from generator.lora import apply_loras

        pipe.notes.extend(apply_loras(pipe, loras).report)
    configure_transformers(pipe, attention, compile)
    place(pipe, default_device(device), offload)
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
