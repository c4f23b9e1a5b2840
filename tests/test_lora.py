"""LoRA: public StoryMem naming onto diffusers modules with rsLoRA scale, own format round trip."""

import math
import re

import pytest
import torch
from safetensors.torch import save_file

from generator.lora import (
    MODULE_MAP, LoraFormatError, apply_loras, convert_original_state_dict, load_lora_file, load_original_lora,
    save_lora, save_pipeline_lora,
)
from generator.models import load_m2v_pipeline
from generator.tiny import ensure_tiny_model, tiny_transformer

DIM, FFN, LAYERS = 24, 32, 2  # tiny transformer: 2 heads x 12, ffn 32, 2 blocks
SHAPES = {m: (DIM, DIM) for m in MODULE_MAP} | {"ffn.0": (DIM, FFN), "ffn.2": (FFN, DIM)}  # (in, out)


def original_lora(rank: int, seed: int) -> dict[str, torch.Tensor]:
    """A LoRA in the public file's key format, at tiny dims."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for block in range(LAYERS):
        for module, (fan_in, fan_out) in SHAPES.items():
            prefix = f"base_model.model.blocks.{block}.{module}"
            state[f"{prefix}.lora_A.weight"] = torch.randn(rank, fan_in, generator=g)
            state[f"{prefix}.lora_B.weight"] = torch.randn(fan_out, rank, generator=g)
    return state


def module(model, name: str):
    return model.get_submodule(name)


def test_name_mapping_covers_attention_and_ffn():
    converted = convert_original_state_dict(original_lora(4, 0))
    assert "blocks.1.attn1.to_out.0.lora_B.weight" in converted
    assert "blocks.0.attn2.to_k.lora_A.weight" in converted
    assert "blocks.0.ffn.net.0.proj.lora_A.weight" in converted
    assert "blocks.1.ffn.net.2.lora_B.weight" in converted
    assert len(converted) == LAYERS * len(MODULE_MAP) * 2
    with pytest.raises(LoraFormatError, match=re.escape("1 key(s) are not StoryMem/Wan LoRA keys, e.g. 'base_model.model.head.head.lora_A.weight'")):
        convert_original_state_dict({"base_model.model.head.head.lora_A.weight": torch.zeros(1)})


@pytest.mark.parametrize("alpha", [None, 8.0])
def test_original_lora_lands_on_the_right_modules_with_rslora_scale(alpha):
    rank = 4
    state = original_lora(rank, seed=1)
    model = tiny_transformer(36, seed=0)
    base = {f"blocks.{b}.{MODULE_MAP[m]}": module(model, f"blocks.{b}.{MODULE_MAP[m]}").weight.detach().clone()
            for b in range(LAYERS) for m in MODULE_MAP}
    load_original_lora(model, state, "storymem", alpha=alpha)
    scale = (alpha if alpha is not None else rank) / math.sqrt(rank)

    x = torch.randn(3, FFN, generator=torch.Generator().manual_seed(2))
    for block in range(LAYERS):
        for original, diffusers_name in MODULE_MAP.items():
            name = f"blocks.{block}.{diffusers_name}"
            layer = module(model, name)
            assert layer.scaling["storymem"] == pytest.approx(scale)
            a = state[f"base_model.model.blocks.{block}.{original}.lora_A.weight"]
            b = state[f"base_model.model.blocks.{block}.{original}.lora_B.weight"]
            assert torch.equal(layer.lora_A["storymem"].weight, a)
            assert torch.equal(layer.lora_B["storymem"].weight, b)
            inputs = x[:, : a.shape[1]]
            effective = base[name] + scale * b @ a  # W + alpha/sqrt(r) * B A, by hand
            with torch.no_grad():
                torch.testing.assert_close(layer(inputs), inputs @ effective.T + layer.base_layer.bias,
                                           atol=1e-4, rtol=1e-5)


def test_public_rank_128_scale():
    model = tiny_transformer(36, seed=0)
    config = load_original_lora(model, original_lora(128, seed=3), "public")
    assert config.lora_alpha == 128 and config.use_rslora
    assert module(model, "blocks.0.attn1.to_q").scaling["public"] == pytest.approx(128 / math.sqrt(128))
    assert 11.31 == round(module(model, "blocks.0.attn1.to_q").scaling["public"], 2)


def test_own_format_round_trips_bit_identically(tmp_path):
    source = tiny_transformer(36, seed=0)
    load_original_lora(source, original_lora(4, seed=4), "mine", alpha=6.0)
    path = save_lora(source, tmp_path / "high_noise_lora.safetensors", "mine")

    target = tiny_transformer(36, seed=0)
    assert load_lora_file(target, path, "again").format == "diffusers"
    assert target.peft_config["again"].r == 4
    assert target.peft_config["again"].lora_alpha == 6.0 and target.peft_config["again"].use_rslora
    saved = {k: v for k, v in source.state_dict().items() if ".mine." in k}
    loaded = {k.replace(".again.", ".mine."): v for k, v in target.state_dict().items() if ".again." in k}
    assert saved.keys() == loaded.keys() and saved
    assert all(torch.equal(saved[k], loaded[k]) for k in saved)
    inputs = dict(hidden_states=torch.randn(1, 36, 2, 4, 4), timestep=torch.tensor([300]),
                  encoder_hidden_states=torch.randn(1, 5, 32), return_dict=False)
    with torch.no_grad():
        assert torch.equal(source(**inputs)[0], target(**inputs)[0])


def test_per_expert_files_and_weighted_stacking(tmp_path):
    pipe = load_m2v_pipeline(str(ensure_tiny_model(tmp_path / "tiny") / "i2v"), dtype="float32",
                             offload="none", device="cpu")
    base = module(pipe.transformer, "blocks.0.ffn.net.2").weight.detach().clone()
    first, second = tmp_path / "story_mi2v", tmp_path / "extra"
    first.mkdir(), second.mkdir()
    high, low, extra = original_lora(4, 10), original_lora(4, 11), original_lora(4, 12)
    save_file(high, str(first / "high_noise_model.safetensors"))
    save_file(low, str(first / "low_noise_model.safetensors"))
    save_file(extra, str(second / "lora.safetensors"))  # no marker: applies to both experts

    names = apply_loras(pipe, [(str(first), 0.5), (str(second), 1.0)]).adapters
    assert [len(names["transformer"]), len(names["transformer_2"])] == [2, 2]
    assert pipe.transformer.active_adapters() == names["transformer"]
    key = "base_model.model.blocks.0.ffn.2"
    layer_high = module(pipe.transformer, "blocks.0.ffn.net.2")
    layer_low = module(pipe.transformer_2, "blocks.0.ffn.net.2")
    assert torch.equal(layer_high.lora_A[names["transformer"][0]].weight, high[f"{key}.lora_A.weight"])
    assert torch.equal(layer_low.lora_A[names["transformer_2"][0]].weight, low[f"{key}.lora_A.weight"])

    scale = 4 / math.sqrt(4)
    delta = lambda sd: sd[f"{key}.lora_B.weight"] @ sd[f"{key}.lora_A.weight"]  # noqa: E731
    x = torch.randn(2, FFN)
    effective = base + scale * (0.5 * delta(high) + 1.0 * delta(extra))
    with torch.no_grad():
        torch.testing.assert_close(layer_high(x), x @ effective.T + layer_high.base_layer.bias, atol=1e-4, rtol=1e-5)

    folder = save_pipeline_lora(pipe, tmp_path / "saved", names["transformer"][0])
    assert sorted(p.name for p in folder.iterdir()) == ["high_noise_lora.safetensors", "low_noise_lora.safetensors"]
