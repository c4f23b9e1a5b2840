"""HPSv3 on transformers 5 Qwen2-VL classes, with a tiny random model in the 4.45 key layout."""

import logging
import re

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from memory import vision
from memory.hpsv3 import (
    INSTRUCTION,
    REWARD_TOKEN,
    HPSv3Scorer,
    RankNetHead,
    chat_text,
    fixed_pixel_size,
    split_hpsv3_state_dict,
)

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]


def write_tiny_hpsv3(folder, extra=None, drop=None):
    """Config, processor and an HPSv3.safetensors as the 4.45 reward model would have saved it."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        PreTrainedTokenizerFast,
        Qwen2VLConfig,
        Qwen2VLImageProcessor,
        Qwen2VLModel,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    words = sorted(set(chat_text("").split()) - set(SPECIALS) - {REWARD_TOKEN} | {"[UNK]"})
    vocab = {token: i for i, token in enumerate(SPECIALS + words)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<|endoftext|>", unk_token="[UNK]", additional_special_tokens=SPECIALS[1:]
    )
    Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(), tokenizer=tokenizer, video_processor=Qwen2VLVideoProcessor()
    ).save_pretrained(folder)
    config = Qwen2VLConfig(
        text_config=dict(
            vocab_size=len(vocab) + 1, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, pad_token_id=0, bos_token_id=0, eos_token_id=2,
            rope_scaling={"type": "mrope", "mrope_section": [2, 1, 1]},
        ),
        vision_config=dict(depth=2, embed_dim=32, hidden_size=32, num_heads=4, mlp_ratio=2, patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2),
        image_token_id=5, video_token_id=6, vision_start_token_id=3, vision_end_token_id=4,
    )
    config.save_pretrained(folder)
    torch.manual_seed(0)
    model = Qwen2VLModel(config)
    state = {}
    for key, value in model.state_dict().items():
        state["model." + key.removeprefix("language_model.") if key.startswith("language_model.") else key] = value
    state["lm_head.weight"] = torch.randn(len(vocab) + 1, 32)
    head = RankNetHead(32)
    state.update({f"rm_head.{k}": v for k, v in head.state_dict().items()})
    state.update(extra or {})
    for key in drop or ():
        state.pop(key)
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "HPSv3.safetensors"))
    return model, head


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hpsv3")
    model, head = write_tiny_hpsv3(folder)
    return folder, model, head


def frames(n=2):
    rng = np.random.default_rng(3)
    return [rng.integers(0, 255, (96, 160, 3), dtype=np.uint8) for _ in range(n)]


def test_checkpoint_in_the_445_layout_loads_strictly(tiny):
    folder, model, head = tiny
    scorer = HPSv3Scorer.from_checkpoint(folder / "HPSv3.safetensors", base=folder, device="cpu")
    assert scorer.name == "hpsv3" and scorer.threshold == 3.0
    for key, value in model.state_dict().items():
        assert torch.equal(scorer.model.state_dict()[key], value), key
    for key, value in head.state_dict().items():
        assert torch.equal(scorer.head.state_dict()[key], value)
    assert not any(p.is_meta for p in scorer.model.parameters())
    assert scorer.processor.tokenizer.convert_ids_to_tokens(scorer.reward_token_id) == REWARD_TOKEN


def test_score_is_the_heads_first_output_at_the_reward_token(tiny):
    folder, model, head = tiny
    scorer = HPSv3Scorer.from_checkpoint(folder, device="cpu")
    images = frames(2)
    scores = scorer.score(images)
    rewards = scorer.rewards(images)
    assert scores.shape == (2,) and rewards.shape == (2, 2)
    assert np.array_equal(scores, rewards[:, 0])
    batch = scorer._inputs(images[:1])
    ids = batch["input_ids"]
    assert int((ids == scorer.reward_token_id).sum()) == 1
    positions = torch.arange(ids.shape[1]).view(1, 1, -1).expand(3, 1, -1)
    with torch.no_grad():
        hidden = model.eval()(**batch, position_ids=positions).last_hidden_state
        at = int((ids[0] == scorer.reward_token_id).nonzero())
        expected = head.eval()(hidden[0, at])[0].item()
    assert scores[0] == pytest.approx(expected, abs=1e-5)
    assert np.array_equal(scorer.score(images[:1]), scorer.score(images[:1]))
    assert scores[0] == pytest.approx(scorer.score(images[:1])[0], abs=1e-5)


def test_images_are_resized_to_256_tokens_of_28_pixels(tiny):
    folder, _, _ = tiny
    assert fixed_pixel_size(480, 832) == (336, 588)
    assert fixed_pixel_size(96, 160) == (364, 588)
    scorer = HPSv3Scorer.from_checkpoint(folder, device="cpu")
    grid = scorer._inputs([np.zeros((480, 832, 3), dtype=np.uint8)])["image_grid_thw"]
    assert grid.tolist() == [[1, 24, 42]]


def test_prompt_is_hpsv3s_instruction_with_an_empty_prompt():
    text = chat_text("")
    assert INSTRUCTION.format(text_prompt="") in text
    assert text.count(REWARD_TOKEN) == 1 and text.startswith("<|im_start|>system")
    assert text.endswith("<|im_start|>assistant\n")


def test_unexpected_or_missing_keys_are_refused(tmp_path):
    with pytest.raises(KeyError, match=re.escape("unexpected keys in HPSv3 checkpoint: ['other.weight']")):
        split_hpsv3_state_dict({"rm_head.0.weight": torch.zeros(1), "other.weight": torch.zeros(1)})
    write_tiny_hpsv3(tmp_path, drop=["model.norm.weight"])
    with pytest.raises(RuntimeError, match=re.escape('Missing key(s) in state_dict: "language_model.norm.weight"')):
        HPSv3Scorer.from_checkpoint(tmp_path, device="cpu")


def test_loader_uses_hpsv3_when_given_and_falls_back_once_when_not(tiny, tmp_path, caplog, monkeypatch):
    folder, _, _ = tiny
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    vision.clear_cache()
    try:
        scorer = vision.load_quality_scorer("hpsv3", checkpoint=folder)
        assert isinstance(scorer, HPSv3Scorer)
        assert vision.load_quality_scorer("hpsv3", checkpoint=folder) is scorer
        with caplog.at_level(logging.WARNING, logger="storymem.memory"):
            missing = vision.load_quality_scorer("hpsv3", checkpoint=tmp_path / "nothing")
            vision.load_quality_scorer("hpsv3", checkpoint=tmp_path / "nothing")
        assert missing.name != "hpsv3"
        assert sum("HPSv3 could not be loaded" in r.getMessage() for r in caplog.records) == 1
    finally:
        vision.clear_cache()
