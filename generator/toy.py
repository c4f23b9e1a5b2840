"""The `toy` backend: a small M2V model trained here, shipped as package data (design.md 4).

Same classes as the real model (diffusers' `AutoencoderKLWan` and `WanTransformer3DModel`, a
UMT5 text encoder) at a toy config, run by the same `WanM2VPipeline` with the same memory
layout and negative RoPE. Unlike `tiny` it was trained (`benchmarks/train_toy.py`) on synthetic
stories whose characters' identity is only in memory (`generator.toy_data`), so what
memory does shows on its pixels.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKLWan, WanTransformer3DModel
from transformers import UMT5Config, UMT5EncoderModel

from generator.base import ShotRequest
from generator.pipeline import WanM2VPipeline, flow_unipc_scheduler
from generator.speed import Sampler
from generator.tiny import build_tokenizer
from generator.toy_data import TOY_FPS, TOY_FRAMES, TOY_HEIGHT, TOY_WIDTH

WEIGHTS_DIR = Path(__file__).parent / "toy_weights"
WEIGHTS_FILE = WEIGHTS_DIR / "toy.safetensors"
RECORD_FILE = WEIGHTS_DIR / "toy.json"
TEXT_DIM = 32
#: The toy's sampler: few flow steps, no CFG pass (its prompts carry only motion and an optional colour).
TOY_SAMPLER = Sampler(steps=8, guidance=1.0, shift=2.0)


class ToyWeightsError(RuntimeError):
    """The shipped toy weights are missing or not the ones their record names."""


def build_vae(vae_levels: int = 3) -> AutoencoderKLWan:
    """Wan's VAE layout (4x time, 16 latent channels) at 8 base channels, with `vae_levels`
    spatial halvings: 3 is Wan's 8x space (a 4x4 latent a frame), 2 a 4x space (8x8, sharper)."""
    return AutoencoderKLWan(base_dim=8, z_dim=16, dim_mult=[1] * (vae_levels + 1), num_res_blocks=1,
                            temperal_downsample=[False] * (vae_levels - 2) + [True, True], attn_scales=[],
                            scale_factor_spatial=2 ** vae_levels)


def build_transformer(vae_levels: int = 3) -> WanTransformer3DModel:
    """One I2V expert (36 input channels: noise 16, mask 4, condition 16), 4 blocks of width 64.
    Its patch covers 8x8 pixels whatever the VAE, so a frame is always 4x4 tokens."""
    patch = 2 ** (3 - vae_levels)
    return WanTransformer3DModel(
        patch_size=(1, patch, patch), num_attention_heads=4, attention_head_dim=16, in_channels=36, out_channels=16,
        text_dim=TEXT_DIM, freq_dim=64, ffn_dim=256, num_layers=4, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", rope_max_seq_len=32, image_dim=None,
    )


def build_text_encoder(vocab_size: int) -> UMT5EncoderModel:
    return UMT5EncoderModel(UMT5Config(
        vocab_size=vocab_size, d_model=TEXT_DIM, d_kv=8, d_ff=32, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1,
    ))


def build_pipeline(seed: int = 0, vae_levels: int = 3) -> WanM2VPipeline:
    """The toy pipeline with freshly initialised weights (training starts here)."""
    tokenizer = build_tokenizer()
    torch.manual_seed(seed)
    vae, text_encoder, transformer = build_vae(vae_levels), build_text_encoder(len(tokenizer)), build_transformer(vae_levels)
    pipe = WanM2VPipeline(tokenizer=tokenizer, text_encoder=text_encoder.eval(), vae=vae.eval(),
                          scheduler=flow_unipc_scheduler(TOY_SAMPLER.shift), transformer=transformer.eval())
    pipe.set_progress_bar_config(disable=True)
    return pipe


def components(pipe: WanM2VPipeline) -> dict[str, torch.nn.Module]:
    """The trained modules, by the prefix their weights carry in the shipped file."""
    return {"vae": pipe.vae, "transformer": pipe.transformer, "text_encoder": pipe.text_encoder}


def state_dict(pipe: WanM2VPipeline) -> dict[str, torch.Tensor]:
    """All toy weights in one flat dict, plus the VAE's latent statistics (set from the training data)."""
    tensors = {f"{name}.{key}": value.detach().clone().contiguous() for name, module in components(pipe).items() for key, value in module.state_dict().items()}
    tensors["latents_mean"] = torch.tensor(pipe.vae.config.latents_mean, dtype=torch.float32)
    tensors["latents_std"] = torch.tensor(pipe.vae.config.latents_std, dtype=torch.float32)
    return tensors


def set_latent_statistics(pipe: WanM2VPipeline, mean: torch.Tensor, std: torch.Tensor) -> None:
    """The per-channel latent mean and std the pipeline normalises with (a trained VAE's own)."""
    pipe.vae.register_to_config(latents_mean=[float(v) for v in mean], latents_std=[float(v) for v in std])


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_record(folder: Path = WEIGHTS_DIR) -> dict[str, Any]:
    """The JSON beside the weights: the command and seed that made them, their checksum, figures."""
    path = folder / RECORD_FILE.name
    if not path.is_file():
        raise ToyWeightsError(f"no toy weights record at {path}; train them with: python benchmarks/train_toy.py --out DIR")
    return json.loads(path.read_text())


def load_pipeline(folder: Path = WEIGHTS_DIR, verify: bool = True) -> WanM2VPipeline:
    """The trained toy pipeline from `folder` (default: the shipped weights), checked against its record."""
    from safetensors.torch import load_file

    weights = Path(folder) / WEIGHTS_FILE.name
    if not weights.is_file():
        raise ToyWeightsError(f"no toy weights at {weights}; train them with: python benchmarks/train_toy.py --out DIR")
    record = read_record(Path(folder))
    if verify and file_sha256(weights) != record["sha256"]:
        raise ToyWeightsError(f"{weights} does not match the checksum in its record {Path(folder) / RECORD_FILE.name}")
    tensors = load_file(str(weights))
    pipe = build_pipeline(vae_levels=record["config"].get("vae_levels", 3))
    set_latent_statistics(pipe, tensors.pop("latents_mean"), tensors.pop("latents_std"))
    for name, module in components(pipe).items():
        prefix = name + "."
        module.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
        module.eval()
    return pipe


def toy_generator(folder: Path | None = None, steps: int | None = None, sampler: Sampler | None = None) -> Any:
    """The `toy` backend: the trained toy pipeline behind the same `WanGenerator` as tiny and wan.
    With no T2V experts, a first shot runs as M2V with empty memory (as the toy was trained).
    `folder` (or $STORYMEM_TOY_WEIGHTS) holds weights of your own `benchmarks/train_toy.py` run."""
    from generator.wan import WanGenerator, with_steps

    folder = Path(folder or os.environ.get("STORYMEM_TOY_WEIGHTS") or WEIGHTS_DIR)
    pipe = load_pipeline(folder)
    return WanGenerator(
        pipe, None, name="toy", width=TOY_WIDTH, height=TOY_HEIGHT, num_frames=TOY_FRAMES, fps=TOY_FPS,
        sampler=with_steps(sampler or TOY_SAMPLER, steps), model_ids={"i2v": str(folder / WEIGHTS_FILE.name)},
    )


def request(prompt: str, mode: str, seed: int, memory: list | None = None, previous: list | None = None) -> ShotRequest:
    """A toy-size shot request (benchmarks and tests that call the generator directly)."""
    return ShotRequest(shot_id="toy", prompt=prompt, mode=mode, seed=seed, memory=list(memory or []), previous_frames=list(previous or []),
                       num_frames=TOY_FRAMES, width=TOY_WIDTH, height=TOY_HEIGHT, fps=TOY_FPS)
