"""Wan LoRAs users download (lightx2v / Lightning, kohya): read through diffusers' converter,
image-branch keys skipped with one warning, effect equal to the hand-merged update, stacking
with a StoryMem LoRA at per-expert weights, one-line shape errors."""

import logging
import math

import pytest
import torch
from safetensors.torch import save_file

from generator.lora import LoraFormatError, apply_loras, load_lora_file
from generator.models import load_m2v_pipeline
from generator.tiny import ensure_tiny_model, tiny_transformer

DIM, FFN, LAYERS, RANK, ALPHA = 24, 32, 2, 4, 2.0
#: original Wan module -> (diffusers module, in, out); k_img / v_img exist only in Wan2.1-I2V.
MODULES = {
    "self_attn.q": ("attn1.to_q", DIM, DIM), "self_attn.k": ("attn1.to_k", DIM, DIM),
    "self_attn.v": ("attn1.to_v", DIM, DIM), "self_attn.o": ("attn1.to_out.0", DIM, DIM),
    "cross_attn.q": ("attn2.to_q", DIM, DIM), "cross_attn.k": ("attn2.to_k", DIM, DIM),
    "cross_attn.v": ("attn2.to_v", DIM, DIM), "cross_attn.o": ("attn2.to_out.0", DIM, DIM),
    "ffn.0": ("ffn.net.0.proj", DIM, FFN), "ffn.2": ("ffn.net.2", FFN, DIM),
}
IMAGE_ONLY = ("cross_attn.k_img", "cross_attn.v_img")


def lightx2v_lora(seed: int, alpha: float | None = ALPHA, dim: int = DIM) -> dict[str, torch.Tensor]:
    """lightx2v's key names (diffusion_model. prefix, lora_down/lora_up, .alpha), plus image-branch keys."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    shapes = {m: (fan_in if dim == DIM else dim, fan_out) for m, (_, fan_in, fan_out) in MODULES.items()}
    shapes |= {m: (DIM, DIM) for m in IMAGE_ONLY}
    for block in range(LAYERS):
        for name, (fan_in, fan_out) in shapes.items():
            prefix = f"diffusion_model.blocks.{block}.{name}"
            state[f"{prefix}.lora_down.weight"] = 0.1 * torch.randn(RANK, fan_in, generator=g)
            state[f"{prefix}.lora_up.weight"] = 0.1 * torch.randn(fan_out, RANK, generator=g)
            if alpha is not None:
                state[f"{prefix}.alpha"] = torch.tensor(alpha)
    state["diffusion_model.img_emb.proj.1.lora_down.weight"] = torch.randn(RANK, DIM, generator=g)
    state["diffusion_model.img_emb.proj.1.lora_up.weight"] = torch.randn(DIM, RANK, generator=g)
    return state


def storymem_lora(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    state = {}
    for block in range(LAYERS):
        for name, (_, fan_in, fan_out) in MODULES.items():
            prefix = f"base_model.model.blocks.{block}.{name}"
            state[f"{prefix}.lora_A.weight"] = 0.1 * torch.randn(RANK, fan_in, generator=g)
            state[f"{prefix}.lora_B.weight"] = 0.1 * torch.randn(fan_out, RANK, generator=g)
    return state


def delta(state: dict, key: str, down: str = "lora_down", up: str = "lora_up") -> torch.Tensor:
    return state[f"{key}.{up}.weight"] @ state[f"{key}.{down}.weight"]


def skipped_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "generator.lora" and r.levelno == logging.WARNING]


def test_lightx2v_file_loads_warns_once_and_equals_the_hand_merged_update(tmp_path, caplog):
    state = lightx2v_lora(seed=1)
    path = tmp_path / "wan22_i2v_lightx2v_4step.safetensors"
    save_file(state, str(path))
    model = tiny_transformer(36, seed=0)
    base = {f"blocks.{b}.{n}": model.get_submodule(f"blocks.{b}.{n}").weight.detach().clone()
            for b in range(LAYERS) for n, *_ in MODULES.values()}
    with caplog.at_level(logging.WARNING):
        loaded = load_lora_file(model, path, "distill")
    # 2 blocks x (k_img, v_img) x (A, B) + img_emb's A and B
    assert skipped_warnings(caplog) == [
        "LoRA wan22_i2v_lightx2v_4step.safetensors: skipped 10 weights for modules this model does not have "
        "(cross_attn.k_img, cross_attn.v_img, img_emb; Wan2.1's image branch, absent from Wan2.2-I2V)"]
    assert (loaded.rank, loaded.alpha, loaded.rslora, loaded.skipped) == (RANK, ALPHA, False, 10)
    assert loaded.scale == ALPHA / RANK

    x = torch.randn(3, FFN, generator=torch.Generator().manual_seed(2))
    worst = 0.0
    for block in range(LAYERS):
        for original, (name, fan_in, _) in MODULES.items():
            layer = model.get_submodule(f"blocks.{block}.{name}")
            merged = base[f"blocks.{block}.{name}"] + ALPHA / RANK * delta(state, f"diffusion_model.blocks.{block}.{original}")
            with torch.no_grad():
                got = layer(x[:, :fan_in])
                want = x[:, :fan_in] @ merged.T + layer.base_layer.bias
            worst = max(worst, (got - want).abs().max().item())
    assert worst <= 1e-5


def test_lightning_file_without_alpha_reports_scale_one(tmp_path, caplog):
    path = tmp_path / "lightning.safetensors"
    save_file({k: v for k, v in lightx2v_lora(3, alpha=None).items() if "img" not in k}, str(path))
    with caplog.at_level(logging.WARNING):
        loaded = load_lora_file(tiny_transformer(36, seed=0), path, "lightning")
    assert skipped_warnings(caplog) == []  # nothing to skip: no warning
    assert loaded.alpha is None and loaded.scale == 1.0
    assert loaded.describe(0.125) == ("LoRA lightning.safetensors (lightx2v/kohya Wan, rank 4): scale 1 = no alpha in "
                                      "the file, B·A as stored; x weight 0.125 = effective 0.125")


def test_stacked_with_storymem_lora_each_at_its_own_per_expert_weight(tmp_path, caplog):
    pipe = load_m2v_pipeline(str(ensure_tiny_model(tmp_path / "tiny") / "i2v"), dtype="float32", offload="none", device="cpu")
    key, name = "blocks.1.cross_attn.o", "blocks.1.attn2.to_out.0"
    bases = {e: getattr(pipe, e).get_submodule(name).weight.detach().clone() for e in ("transformer", "transformer_2")}
    distill = lightx2v_lora(seed=5)
    save_file(distill, str(tmp_path / "distill.safetensors"))  # no high/low marker: both experts
    story = tmp_path / "storymem"
    story.mkdir()
    high, low = storymem_lora(6), storymem_lora(7)
    save_file(high, str(story / "high_noise_model.safetensors"))
    save_file(low, str(story / "low_noise_model.safetensors"))

    with caplog.at_level(logging.WARNING):
        applied = apply_loras(pipe, [(str(tmp_path / "distill.safetensors"), (1.0, 0.5)), (str(story), 0.7)])
    assert len(skipped_warnings(caplog)) == 1  # one file on two experts: said once
    assert [len(applied.adapters["transformer"]), len(applied.adapters["transformer_2"])] == [2, 2]
    assert applied.report == [
        "transformer: LoRA distill.safetensors (lightx2v/kohya Wan, rank 4): scale 0.5 = alpha 2 / rank 4; x weight 1 = effective 0.5",
        "transformer_2: LoRA distill.safetensors (lightx2v/kohya Wan, rank 4): scale 0.5 = alpha 2 / rank 4; x weight 0.5 = effective 0.25",
        "transformer: LoRA high_noise_model.safetensors (StoryMem, rank 4): scale 2 = alpha 4 / sqrt(rank 4) (rsLoRA); x weight 0.7 = effective 1.4",
        "transformer_2: LoRA low_noise_model.safetensors (StoryMem, rank 4): scale 2 = alpha 4 / sqrt(rank 4) (rsLoRA); x weight 0.7 = effective 1.4",
    ]
    rs = RANK / math.sqrt(RANK)
    x = torch.randn(2, DIM, generator=torch.Generator().manual_seed(8))
    for expert, own, w_distill in (("transformer", high, 1.0), ("transformer_2", low, 0.5)):
        layer = getattr(pipe, expert).get_submodule(name)
        merged = (bases[expert] + w_distill * ALPHA / RANK * delta(distill, f"diffusion_model.{key}")
                  + 0.7 * rs * delta(own, f"base_model.model.{key}", "lora_A", "lora_B"))
        with torch.no_grad():
            assert (layer(x) - (x @ merged.T + layer.base_layer.bias)).abs().max().item() <= 1e-5


def test_zero_weight_on_an_expert_leaves_it_without_the_file(tmp_path):
    pipe = load_m2v_pipeline(str(ensure_tiny_model(tmp_path / "tiny") / "i2v"), dtype="float32", offload="none", device="cpu")
    save_file(lightx2v_lora(seed=9), str(tmp_path / "d.safetensors"))
    applied = apply_loras(pipe, [(str(tmp_path / "d.safetensors"), (0.0, 1.0))])
    assert applied.adapters == {"transformer": [], "transformer_2": ["lora0_d"]}
    assert not hasattr(pipe.transformer.get_submodule("blocks.0.attn1.to_q"), "lora_A")


def test_a_lora_of_another_width_names_the_first_module_and_both_shapes(tmp_path):
    path = tmp_path / "wide.safetensors"
    save_file({k: v for k, v in lightx2v_lora(4, dim=40).items() if "img" not in k}, str(path))
    with pytest.raises(LoraFormatError) as error:
        load_lora_file(tiny_transformer(36, seed=0), path, "wide")
    assert str(error.value) == ("wide.safetensors: LoRA does not fit the model: blocks.0.attn1.to_q is 24x24 (out x in) "
                                "in the model, 24x40 in the file")
    assert "\n" not in str(error.value)
