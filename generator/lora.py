"""LoRA for the Wan experts: StoryMem's format, our own, and the Wan files users download.

Public StoryMem LoRAs (design.md 2.3) are peft state dicts of the whole original-naming Wan model,
one file per expert, rank 128 / alpha 128 with rsLoRA, so the effective scale is
alpha / sqrt(rank) = 11.31, not alpha / rank = 1. The original module names are mapped to
diffusers' and the weights injected with peft. Our own files are diffusers' LoRA format
(`transformer.<module>.lora_A.weight`) with the adapter config in the safetensors metadata, so
rank, alpha and rsLoRA round-trip.

lightx2v / Lightning and kohya / musubi Wan LoRAs (`diffusion_model.blocks.N.<module>.lora_down`,
`lora_up`, `.alpha`; or `lora_unet_...`) go through diffusers' own converters
(`WanImageToVideoPipeline.lora_state_dict`), which fold alpha / rank into the weights. Their I2V
files carry keys for Wan2.1's image branch (`cross_attn.k_img`, `v_img`, `img_emb`), which
Wan2.2-I2V does not have: those are skipped with one warning that says how many.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import WanImageToVideoPipeline
from peft import LoraConfig, get_peft_model_state_dict, set_peft_model_state_dict
from safetensors import safe_open
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


#: A LoRA weight: one for every expert, or (high-noise, low-noise) for `transformer` / `transformer_2`.
LoraWeight = float | tuple[float, float]
#: diffusers module names of Wan2.1's image branch -> the original names users know them by.
IMAGE_BRANCH = {"add_k_proj": "cross_attn.k_img", "add_v_proj": "cross_attn.v_img", "image_embedder": "img_emb"}


class LoraFormatError(ValueError):
    """A LoRA file that cannot be read or does not fit the model; the message is one line."""


logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedLora:
    """What one file put on one expert: its format, rank, alpha, and the scale B·A is applied at."""

    path: Path
    format: str
    rank: int
    alpha: float | None
    rslora: bool
    skipped: int = 0

    @property
    def scale(self) -> float:
        """Per unit of --lora weight: alpha / sqrt(rank) for rsLoRA, else alpha / rank (1 without alpha)."""
        if self.alpha is None:
            return 1.0
        return self.alpha / (math.sqrt(self.rank) if self.rslora else self.rank)

    def describe(self, weight: float) -> str:
        rule = "no alpha in the file, B·A as stored" if self.alpha is None else (
            f"alpha {self.alpha:g} / sqrt(rank {self.rank}) (rsLoRA)" if self.rslora
            else f"alpha {self.alpha:g} / rank {self.rank}")
        return (f"LoRA {self.path.name} ({self.format}, rank {self.rank}): scale {self.scale:.4g} = {rule}; "
                f"x weight {weight:g} = effective {self.scale * weight:.4g}")


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


def check_shapes(transformer: torch.nn.Module, state_dict: dict[str, torch.Tensor], source: str) -> None:
    """Every module's B·A has the module's weight shape; the first that does not is named, both shapes."""
    for key, down in state_dict.items():
        if ".lora_A." not in key:
            continue
        name = key.split(".lora_A.")[0]
        up = state_dict.get(f"{name}.lora_B.weight")
        layer = transformer.get_submodule(name)
        expected = tuple(layer.weight.shape)  # (out, in); a peft-wrapped layer forwards .weight
        found = (up.shape[0] if up is not None else expected[0], down.shape[1])
        if found != expected:
            raise LoraFormatError(
                f"{source}: LoRA does not fit the model: {name} is {expected[0]}x{expected[1]} (out x in) in the model, "
                f"{found[0]}x{found[1]} in the file"
            )


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
    check_shapes(transformer, converted, "StoryMem LoRA")
    transformer.add_adapter(config, adapter_name=adapter_name)
    result = set_peft_model_state_dict(transformer, converted, adapter_name=adapter_name)
    if result.unexpected_keys:
        raise LoraFormatError(f"LoRA keys with no module in the model, e.g. '{result.unexpected_keys[0]}'")
    return config


def save_lora(transformer: torch.nn.Module, path: str | Path, adapter_name: str,
              state: dict[str, torch.Tensor] | None = None) -> Path:
    """Save one expert's adapter in diffusers' LoRA format, with its config as metadata; `state` is
    its peft state dict when already gathered (from FSDP shards), else it is read from `transformer`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    config = transformer.peft_config[adapter_name]
    metadata = {k: v for k, v in config.to_dict().items() if k in _CONFIG_FIELDS}
    WanImageToVideoPipeline.save_lora_weights(
        path.parent,
        transformer_lora_layers=state if state is not None else get_peft_model_state_dict(transformer, adapter_name=adapter_name),
        transformer_lora_adapter_metadata=metadata,
        weight_name=path.name,
    )
    return path


_CONFIG_FIELDS = ("r", "lora_alpha", "use_rslora", "target_modules", "lora_dropout", "bias", "rank_pattern",
                  "alpha_pattern", "use_dora", "init_lora_weights")


def _raw_keys(path: Path) -> list[str]:
    with safe_open(str(path), framework="pt") as handle:
        return list(handle.keys())


def _wan_original_rank_alpha(path: Path, keys: list[str]) -> tuple[int, float | None]:
    """Rank and alpha of a lightx2v / kohya file, read before diffusers folds alpha / rank in."""
    with safe_open(str(path), framework="pt") as handle:
        ranks = {handle.get_slice(k).get_shape()[0] for k in keys if k.endswith(("lora_down.weight", "lora_A.weight"))}
        alphas = {round(float(handle.get_tensor(k).item()), 6) for k in keys if k.endswith(".alpha")}
    if len(ranks) != 1 or len(alphas) > 1:
        raise LoraFormatError(f"{path}: expected one LoRA rank and alpha, found ranks {sorted(ranks)} alphas {sorted(alphas)}")
    return ranks.pop(), (alphas.pop() if alphas else None)


def _drop_missing_modules(transformer: torch.nn.Module, state_dict: dict[str, torch.Tensor], path: Path, warn: bool) -> dict:
    """Keys for modules the model lacks are dropped, with one warning that says how many and which."""
    kept, missing = {}, {}
    for key, value in state_dict.items():
        name = key.removeprefix("transformer.").split(".lora_")[0]
        try:
            transformer.get_submodule(name)
        except AttributeError:
            kind = next((orig for ours, orig in IMAGE_BRANCH.items() if ours in name), re.sub(r"blocks\.\d+\.", "", name))
            missing[kind] = missing.get(kind, 0) + 1
            continue
        kept[key] = value
    if missing and warn:
        logger.warning(
            "LoRA %s: skipped %d weights for modules this model does not have (%s; Wan2.1's image branch, "
            "absent from Wan2.2-I2V)", path.name, sum(missing.values()), ", ".join(sorted(missing)),
        )
    return kept


def load_lora_file(transformer: torch.nn.Module, path: str | Path, adapter_name: str, warn: bool = True) -> LoadedLora:
    """Load one expert's LoRA file in any supported format; returns what was loaded and at what scale.
    `warn=False` keeps quiet about skipped keys (said once already for this file)."""
    path = Path(path)
    try:
        keys = _raw_keys(path)
    except Exception as error:  # safetensors raises its own error types for a broken header
        raise LoraFormatError(f"{path}: not a readable .safetensors LoRA ({type(error).__name__})") from None
    if any(k.startswith(("diffusion_model.", "lora_unet_")) for k in keys):
        fmt = "lightx2v/kohya Wan" if keys[0].startswith("diffusion_model.") else "kohya/musubi Wan"
        rank, alpha = _wan_original_rank_alpha(path, keys)
        try:
            state_dict = WanImageToVideoPipeline.lora_state_dict(str(path))  # diffusers' converter folds alpha / rank
        except (ValueError, KeyError) as error:
            raise LoraFormatError(f"{path}: diffusers' Wan LoRA converter refused it ({type(error).__name__}: {str(error)[:120]})") from None
        before = len(state_dict)
        state_dict = _drop_missing_modules(transformer, state_dict, path, warn)
        unprefixed = {k.removeprefix("transformer."): v for k, v in state_dict.items()}
        check_shapes(transformer, unprefixed, path.name)
        transformer.load_lora_adapter(state_dict, adapter_name=adapter_name, prefix="transformer")
        return LoadedLora(path, fmt, rank, alpha, rslora=False, skipped=before - len(state_dict))
    state_dict, metadata = WanImageToVideoPipeline.lora_state_dict(str(path), return_lora_metadata=True)
    if all(k.startswith("transformer.") for k in state_dict):
        if not metadata:
            raise LoraFormatError(f"{path}: diffusers-format LoRA without adapter metadata (rank/alpha unknown)")
        check_shapes(transformer, {k.removeprefix("transformer."): v for k, v in state_dict.items()}, path.name)
        transformer.load_lora_adapter(state_dict, adapter_name=adapter_name, metadata=metadata, prefix="transformer")
        config = transformer.peft_config[adapter_name]
        return LoadedLora(path, "diffusers", config.r, float(config.lora_alpha), bool(config.use_rslora))
    config = load_original_lora(transformer, load_file(str(path)), adapter_name)
    return LoadedLora(path, "StoryMem", config.r, float(config.lora_alpha), rslora=True)


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


def expert_weight(weight: LoraWeight, expert: str) -> float:
    """The weight of a LoRA on one expert: a single number is both experts'; (high, low) picks one."""
    if isinstance(weight, (int, float)):
        return float(weight)
    return float(weight[EXPERTS.index(expert)])


@dataclass
class AppliedLoras:
    """The adapter names active on each expert (in the order given), and one report line per file and expert."""

    adapters: dict[str, list[str]]
    report: list[str]


def apply_loras(pipe, loras: Sequence[tuple[str, LoraWeight]]) -> AppliedLoras:
    """Load (path, weight) LoRAs onto the pipeline's experts and activate them stacked, each at its
    own weight per expert (an expert whose weight is 0 does not load that file).

    The report says each file's format and effective scale, which users get wrong (report it once).
    """
    experts = [name for name in EXPERTS if getattr(pipe, name, None) is not None]
    active: dict[str, tuple[list[str], list[float]]] = {name: ([], []) for name in experts}
    report, warned = [], set()
    for index, (path, weight) in enumerate(loras):
        for expert, file in expert_files(path, experts).items():
            scale = expert_weight(weight, expert)
            if scale == 0:
                continue
            adapter = f"lora{index}_{re.sub(r'[^A-Za-z0-9_]', '_', Path(path).stem)}"
            loaded = load_lora_file(getattr(pipe, expert), file, adapter, warn=file not in warned)
            warned.add(file)
            active[expert][0].append(adapter)
            active[expert][1].append(scale)
            report.append(f"{expert}: {loaded.describe(scale)}")
    for expert, (names, weights) in active.items():
        if names:
            getattr(pipe, expert).set_adapters(names, weights=weights)
    return AppliedLoras({expert: names for expert, (names, _) in active.items()}, report)


def save_pipeline_lora(pipe, folder: str | Path, adapter_name: str) -> Path:
    """Save an adapter of both experts as high/low-noise files in `folder`."""
    folder = Path(folder)
    for expert, filename in zip(EXPERTS, (HIGH_NOISE_FILE, LOW_NOISE_FILE)):
        model = getattr(pipe, expert, None)
        if model is not None and adapter_name in getattr(model, "peft_config", {}):
            save_lora(model, folder / filename, adapter_name)
    return folder
