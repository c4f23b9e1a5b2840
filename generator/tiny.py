"""A randomly initialised, Wan2.2-shaped model set built from config, with no network.

It has the real layout (two I2V experts with 36 input channels, a Wan VAE with 4x temporal / 8x
spatial stride and 16 latent channels, a UMT5 encoder, a T5 tokenizer, and a two-expert T2V set)
at toy widths, so the whole M2V path runs on CPU in seconds. It is saved with `save_pretrained`
and loaded back through `generator.models`, exactly like a real checkpoint.
"""

from __future__ import annotations

import shutil
import string
import tempfile
from pathlib import Path

import torch
from diffusers import AutoencoderKLWan, WanPipeline, WanTransformer3DModel
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import T5TokenizerFast, UMT5Config, UMT5EncoderModel

from generator.options import default_cache_dir
from generator.pipeline import BOUNDARY_RATIO, M2V_SHIFT, T2V_SHIFT, WanM2VPipeline, flow_unipc_scheduler

#: Bump when the tiny architecture changes, so stale caches are rebuilt.
TINY_VERSION = "1"
TINY_WIDTH, TINY_HEIGHT, TINY_FRAMES, TINY_FPS = 64, 48, 17, 16
T2V_BOUNDARY_RATIO = 0.875  # Wan2.2-T2V-A14B's switch point
TEXT_DIM = 32


def build_tokenizer() -> T5TokenizerFast:
    """A small SentencePiece-style (Unigram + Metaspace) T5 tokenizer, built in code."""
    chars = string.ascii_letters + string.digits + string.punctuation
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    vocab += [(c, -3.0) for c in chars] + [("▁" + c, -2.5) for c in string.ascii_letters]
    tok = Tokenizer(models.Unigram(vocab, unk_id=2, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    return T5TokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", extra_ids=0)


def tiny_transformer(in_channels: int, seed: int) -> WanTransformer3DModel:
    torch.manual_seed(seed)
    return WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=in_channels,
        out_channels=16,
        text_dim=TEXT_DIM,
        freq_dim=256,
        ffn_dim=32,
        num_layers=2,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
        image_dim=None,
    )


def build_tiny_components(seed: int = 0) -> dict:
    """Components of the tiny I2V set (plus `t2v_transformer(_2)` for the T2V set)."""
    tokenizer = build_tokenizer()
    torch.manual_seed(seed)
    vae = AutoencoderKLWan(
        base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True]
    )
    torch.manual_seed(seed + 1)
    text_encoder = UMT5EncoderModel(
        UMT5Config(
            vocab_size=len(tokenizer), d_model=TEXT_DIM, d_kv=8, d_ff=32, num_layers=2, num_heads=4,
            relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1,
        )
    )
    return {
        "tokenizer": tokenizer,
        "text_encoder": text_encoder.eval(),
        "vae": vae.eval(),
        "transformer": tiny_transformer(36, seed + 2).eval(),
        "transformer_2": tiny_transformer(36, seed + 3).eval(),
        "t2v_transformer": tiny_transformer(16, seed + 4).eval(),
        "t2v_transformer_2": tiny_transformer(16, seed + 5).eval(),
    }


def _save(folder: Path, seed: int) -> None:
    parts = build_tiny_components(seed)
    shared = {k: parts[k] for k in ("tokenizer", "text_encoder", "vae")}
    i2v = WanM2VPipeline(
        **shared, scheduler=flow_unipc_scheduler(M2V_SHIFT), transformer=parts["transformer"],
        transformer_2=parts["transformer_2"], boundary_ratio=BOUNDARY_RATIO,
    )
    i2v.save_pretrained(folder / "i2v")
    t2v = WanPipeline(
        **shared, scheduler=flow_unipc_scheduler(T2V_SHIFT), transformer=parts["t2v_transformer"],
        transformer_2=parts["t2v_transformer_2"], boundary_ratio=T2V_BOUNDARY_RATIO,
    )
    t2v.save_pretrained(folder / "t2v")


def ensure_tiny_model(cache_dir: Path | None = None, seed: int = 0) -> Path:
    """Build the tiny set once and save it; later calls (and processes) reuse the folder.

    Returns `<cache_dir>/tiny-wan-v<version>-s<seed>`, holding `i2v/` and `t2v/` (each a diffusers
    pipeline folder). Only that subfolder is ever written or replaced.
    """
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = root / f"tiny-wan-v{TINY_VERSION}-s{seed}"
    marker = folder / "TINY_VERSION"
    if marker.exists() and marker.read_text().strip() == f"{TINY_VERSION}:{seed}":
        return folder
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tiny-", dir=root))
    try:
        _save(staging, seed)
        (staging / "TINY_VERSION").write_text(f"{TINY_VERSION}:{seed}\n")
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
