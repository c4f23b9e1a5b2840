"""LoRA for the Wan experts: the public StoryMem format and our own diffusers-format files.

Public StoryMem LoRAs (design.md 2.3) are peft state dicts of the whole original-naming Wan model,
one file per expert, rank 128 / alpha 128 with rsLoRA, so the effective scale is
alpha / sqrt(rank) = 11.31, not alpha / rank = 1. The original module names are mapped to
diffusers' and the weights injected with peft. Our own files are diffusers' LoRA format
(`transformer.<module>.lora_A.weight`) with the adapter config in the safetensors metadata, so
rank, alpha and rsLoRA round-trip.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import torch
from diffusers import WanImageToVideoPipeline
from peft import LoraConfig, get_peft_model_state_dict, set_peft_model_state_dict
from safetensors.torch import load_file

#: Original Wan module name (inside a block) -> diffusers module name.
MODULE_MAP = {
    "self_attn.q": "attn1.to_q", "self_attn.k": "attn1.to_k", "self_attn.v": "attn1.to_v",
    "self_attn.o": "attn1.to_out.0",
    "cross_attn.q": "attn2.to_q", "cross_attn.k": "attn2.to_k", "cross_attn.v": "attn2.to_v",
    "cross_attn.o": "attn2.to_out.0",
    "ffn.0": "ffn.net.0.proj", "ffn.2": "ffn.net.2",
}
_ORIGINAL_KEY = re.compile(
    r"^(?:base_model\.model\.)?(?:diffusion_model\.)?blocks\.(\d+)\.("
    + "|".join(re.escape(k) for k in MODULE_MAP)
    + r")\.(lora_[AB])\.weight$"
)
EXPERTS = ("transformer", "transformer_2")
HIGH_NOISE_FILE, LOW_NOISE_FILE = "high_noise_lora.safetensors", "low_noise_lora.safetensors"


class LoraFormatError(ValueError):
    """A LoRA file is in neither the StoryMem nor our diffusers format."""


def convert_original_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Original-naming keys -> diffusers module keys without adapter name (what peft expects)."""
    converted, unknown = {}, []
    for key, value in state_dict.items():
        match = _ORIGINAL_KEY.match(key)
        if match is None:
            unknown.append(key)
            continue
        block, module, which = match.groups()
        converted[f"blocks.{block}.{MODULE_MAP[module]}.{which}.weight"] = value
    if unknown:
        raise LoraFormatError(f"{len(unknown)} key(s) are not StoryMem/Wan LoRA keys, e.g. '{unknown[0]}'")
    return converted


def _rank(state_dict: dict[str, torch.Tensor]) -> int:
    ranks = {v.shape[0] for k, v in state_dict.items() if ".lora_A." in k}
    if len(ranks) != 1:
        raise LoraFormatError(f"expected one LoRA rank, found {sorted(ranks)}")
    return ranks.pop()


def load_original_lora(
    transformer: torch.nn.Module,
    state_dict: dict[str, torch.Tensor],
    adapter_name: str,
    alpha: float | None = None,
) -> LoraConfig:
    """Inject a StoryMem-format LoRA as a peft adapter (rsLoRA; alpha defaults to the rank)."""
    converted = convert_original_state_dict(state_dict)
    rank = _rank(converted)
    modules = sorted({k.rsplit(".lora_", 1)[0] for k in converted})
    config = LoraConfig(
        r=rank, lora_alpha=alpha if alpha is not None else rank, use_rslora=True,
        target_modules=modules, init_lora_weights=False,
    )
    transformer.add_adapter(config, adapter_name=adapter_name)
    result = set_peft_model_state_dict(transformer, converted, adapter_name=adapter_name)
    if result.unexpected_keys:
        raise LoraFormatError(f"LoRA keys with no module in the model, e.g. '{result.unexpected_keys[0]}'")
    return config


def save_lora(transformer: torch.nn.Module, path: str | Path, adapter_name: str) -> Path:
    """Save one expert's adapter in diffusers' LoRA format, with its config as metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    config = transformer.peft_config[adapter_name]
    metadata = {k: v for k, v in config.to_dict().items() if k in _CONFIG_FIELDS}
    WanImageToVideoPipeline.save_lora_weights(
        path.parent,
        transformer_lora_layers=get_peft_model_state_dict(transformer, adapter_name=adapter_name),
        transformer_lora_adapter_metadata=metadata,
        weight_name=path.name,
    )
    return path


_CONFIG_FIELDS = ("r", "lora_alpha", "use_rslora", "target_modules", "lora_dropout", "bias", "rank_pattern",
                  "alpha_pattern", "use_dora", "init_lora_weights")


def load_lora_file(transformer: torch.nn.Module, path: str | Path, adapter_name: str) -> str:
    """Load one expert's LoRA file, in either format; returns which format it was."""
    state_dict, metadata = WanImageToVideoPipeline.lora_state_dict(str(path), return_lora_metadata=True)
    if all(k.startswith("transformer.") for k in state_dict):
        if not metadata:
            raise LoraFormatError(f"{path}: diffusers-format LoRA without adapter metadata (rank/alpha unknown)")
        transformer.load_lora_adapter(state_dict, adapter_name=adapter_name, metadata=metadata, prefix="transformer")
        return "diffusers"
    load_original_lora(transformer, load_file(str(path)), adapter_name)
    return "storymem"


def expert_files(path: str | Path, experts: Sequence[str]) -> dict[str, Path]:
    """Which file goes to which expert: names with 'high' -> transformer, 'low' -> transformer_2.

    A folder's own .safetensors files are used (a trained LoRA's folder keeps its checkpoints in
    subfolders); a folder without any is searched below (e.g. high_noise/ and low_noise/). A single
    file without either marker applies to every expert (a Wan2.1-style single transformer has just one).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"LoRA not found: {path}")
    files = (sorted(path.glob("*.safetensors")) or sorted(path.rglob("*.safetensors"))) if path.is_dir() else [path]
    high = [f for f in files if "high" in f.name.lower() or "high" in f.parent.name.lower()]
    low = [f for f in files if "low" in f.name.lower() or "low" in f.parent.name.lower()]
    if len(high) > 1 or len(low) > 1:
        raise LoraFormatError(f"{path}: several high/low-noise files, pass one file per expert")
    if not high and not low:
        if len(files) != 1:
            raise LoraFormatError(f"{path}: expected one file or files named *high*/*low*, found {len(files)}")
        return {expert: files[0] for expert in experts}
    chosen = {"transformer": high[0] if high else None, "transformer_2": low[0] if low else None}
    return {expert: chosen[expert] for expert in experts if chosen[expert] is not None}


def apply_loras(pipe, loras: Sequence[tuple[str, float]]) -> dict[str, list[str]]:
    """Load (path, weight) LoRAs onto the pipeline's experts and activate them stacked.

    Returns the adapter names active on each expert, in the order given.
    """
    experts = [name for name in EXPERTS if getattr(pipe, name, None) is not None]
    active: dict[str, tuple[list[str], list[float]]] = {name: ([], []) for name in experts}
    for index, (path, weight) in enumerate(loras):
        for expert, file in expert_files(path, experts).items():
            adapter = f"lora{index}_{re.sub(r'[^A-Za-z0-9_]', '_', Path(path).stem)}"
            load_lora_file(getattr(pipe, expert), file, adapter)
            active[expert][0].append(adapter)
            active[expert][1].append(float(weight))
    for expert, (names, weights) in active.items():
        if names:
            getattr(pipe, expert).set_adapters(names, weights=weights)
    return {expert: names for expert, (names, _) in active.items()}


def save_pipeline_lora(pipe, folder: str | Path, adapter_name: str) -> Path:
    """Save an adapter of both experts as high/low-noise files in `folder`."""
    folder = Path(folder)
    for expert, filename in zip(EXPERTS, (HIGH_NOISE_FILE, LOW_NOISE_FILE)):
        model = getattr(pipe, expert, None)
        if model is not None and adapter_name in getattr(model, "peft_config", {}):
            save_lora(model, folder / filename, adapter_name)
    return folder
