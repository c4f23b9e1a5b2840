"""HPSv3 frame quality on transformers' own Qwen2-VL classes.

HPSv3 (MizzenAI) is Qwen2-VL-7B-Instruct plus a small "ranknet" MLP read at a special
`<|Reward|>` token; its two outputs are a mean and an uncertainty, and the score is the mean.
The `hpsv3` package pins transformers 4.45, so this module reimplements inference on
transformers 5: the checkpoint's 4.45 key names are mapped to the 5.x module tree, images are
resized to exactly 256*28*28 pixels as in training, and the language model sees plain
sequential positions on all three M-RoPE axes, as HPSv3's own forward (which called the 4.45
text model without position ids) did. StoryMem scores frames with an empty prompt.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

REWARD_TOKEN = "<|Reward|>"
CHECKPOINT_FILE = "HPSv3.safetensors"
BASE_MODEL = "Qwen/Qwen2-VL-7B-Instruct"
BASE_ENV = "STORYMEM_QWEN2VL"
IMAGE_PIXELS = 256 * 28 * 28
PATCH_FACTOR = 28

INSTRUCTION = """
You are tasked with evaluating a generated image based on Visual Quality and Text Alignment and give a overall score to estimate the human preference. Please provide a rating from 0 to 10, with 0 being the worst and 10 being the best. 

**Visual Quality:**  
Evaluate the overall visual quality of the image. The following sub-dimensions should be considered:
- **Reasonableness:** The image should not contain any significant biological or logical errors, such as abnormal body structures or nonsensical environmental setups.
- **Clarity:** Evaluate the sharpness and visibility of the image. The image should be clear and easy to interpret, with no blurring or indistinct areas.
- **Detail Richness:** Consider the level of detail in textures, materials, lighting, and other visual elements (e.g., hair, clothing, shadows).
- **Aesthetic and Creativity:** Assess the artistic aspects of the image, including the color scheme, composition, atmosphere, depth of field, and the overall creative appeal. The scene should convey a sense of harmony and balance.
- **Safety:** The image should not contain harmful or inappropriate content, such as political, violent, or adult material. If such content is present, the image quality and satisfaction score should be the lowest possible. 

**Text Alignment:**  
Assess how well the image matches the textual prompt across the following sub-dimensions:
- **Subject Relevance** Evaluate how accurately the subject(s) in the image (e.g., person, animal, object) align with the textual description. The subject should match the description in terms of number, appearance, and behavior.
- **Style Relevance:** If the prompt specifies a particular artistic or stylistic style, evaluate how well the image adheres to this style.
- **Contextual Consistency**: Assess whether the background, setting, and surrounding elements in the image logically fit the scenario described in the prompt. The environment should support and enhance the subject without contradictions.
- **Attribute Fidelity**: Check if specific attributes mentioned in the prompt (e.g., colors, clothing, accessories, expressions, actions) are faithfully represented in the image. Minor deviations may be acceptable, but critical attributes should be preserved.
- **Semantic Coherence**: Evaluate whether the overall meaning and intent of the prompt are captured in the image. The generated content should not introduce elements that conflict with or distort the original description.
Textual prompt - {text_prompt}


"""

RATING_REQUEST = f"""
Please provide the overall ratings of this image: {REWARD_TOKEN}

END
"""


def chat_text(prompt: str) -> str:
    """The Qwen2-VL chat template's output for one user turn (image, then instruction)."""
    return (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>"
        + INSTRUCTION.format(text_prompt=prompt)
        + RATING_REQUEST
        + "<|im_end|>\n<|im_start|>assistant\n"
    )


def fixed_pixel_size(height: int, width: int, pixels: int = IMAGE_PIXELS, factor: int = PATCH_FACTOR) -> tuple[int, int]:
    """(height, width): multiples of `factor`, aspect kept, area as close to `pixels` as fits.

    HPSv3 sets min_pixels = max_pixels, so every image is rescaled to that area: down (floored)
    when larger, up (ceiled) when smaller.
    """
    h = max(factor, round(height / factor) * factor)
    w = max(factor, round(width / factor) * factor)
    if h * w > pixels:
        beta = math.sqrt(height * width / pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
    elif h * w < pixels:
        beta = math.sqrt(pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return h, w


class RankNetHead(nn.Sequential):
    """HPSv3's reward head: hidden -> 1024 -> 16 -> 2 (mean, uncertainty); keys 0, 3, 5."""

    def __init__(self, hidden_size: int, output_dim: int = 2) -> None:
        super().__init__(
            nn.Linear(hidden_size, 1024),
            nn.ReLU(),
            nn.Dropout(0.05),
            nn.Linear(1024, 16),
            nn.ReLU(),
            nn.Linear(16, output_dim),
        )


def split_hpsv3_state_dict(state: Mapping[str, torch.Tensor]) -> tuple[dict, dict]:
    """4.45 `Qwen2VLRewardModelBT` keys -> (transformers 5 `Qwen2VLModel` keys, head keys).

    4.45: visual.*, model.* (the text model), lm_head.weight, rm_head.*.
    5.x:  visual.*, language_model.*. The language-model head is not needed for a reward and is
    the only key left out; any other unknown key is an error, so loading stays strict.
    """
    model, head, unknown = {}, {}, []
    for key, value in state.items():
        if key.startswith("visual."):
            model[key] = value
        elif key.startswith("model."):
            model["language_model." + key.removeprefix("model.")] = value
        elif key.startswith("rm_head."):
            head[key.removeprefix("rm_head.")] = value
        elif key != "lm_head.weight":
            unknown.append(key)
    if unknown:
        raise KeyError(f"unexpected keys in HPSv3 checkpoint: {unknown[:5]}{' ...' if len(unknown) > 5 else ''}")
    if not head:
        raise KeyError("HPSv3 checkpoint has no rm_head.* weights")
    return model, head


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("model", state)


def _resolve_paths(checkpoint: str | os.PathLike, base: str | os.PathLike | None) -> tuple[Path, str]:
    """(weights file, folder or hub id of the Qwen2-VL config and processor)."""
    path = Path(checkpoint)
    if path.is_dir():
        weights = path / CHECKPOINT_FILE
        if not weights.is_file():
            found = sorted(path.glob("*.safetensors"))
            if len(found) != 1:
                raise FileNotFoundError(f"no {CHECKPOINT_FILE} in {path}")
            weights = found[0]
        if base is None and (path / "config.json").is_file():
            base = path
    elif path.is_file():
        weights = path
    else:
        raise FileNotFoundError(f"HPSv3 checkpoint {path} does not exist")
    return weights, str(base or os.environ.get(BASE_ENV) or BASE_MODEL)


class HPSv3Scorer:
    """HPSv3 human-preference score of each frame; a frame passes at >= 3.0 (StoryMem)."""

    threshold = 3.0

    def __init__(self, model, head: RankNetHead, processor, reward_token_id: int, name: str = "hpsv3", batch_size: int = 4):
        self.model = model.eval()
        self.head = head.eval()
        self.processor = processor
        self.reward_token_id = reward_token_id
        self.name = name
        self.batch_size = batch_size
        self.prompt = ""

    @classmethod
    def from_checkpoint(
        cls,
        checkpoint: str | os.PathLike,
        base: str | os.PathLike | None = None,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> HPSv3Scorer:
        """Load HPSv3 weights (a file, or a folder holding HPSv3.safetensors) strictly.

        `base` gives the Qwen2-VL config and processor (a folder or a cached hub id; default
        $STORYMEM_QWEN2VL, else Qwen/Qwen2-VL-7B-Instruct); it is never downloaded. The model
        is built without allocating random weights, then the checkpoint tensors are assigned.
        """
        from accelerate import init_empty_weights
        from transformers import AutoConfig, AutoProcessor, Qwen2VLModel

        weights, base = _resolve_paths(checkpoint, base)
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        dtype = dtype or (torch.bfloat16 if device.type == "cuda" else torch.float32)
        processor = AutoProcessor.from_pretrained(base, local_files_only=True)
        processor.tokenizer.add_tokens([REWARD_TOKEN], special_tokens=True)
        reward_id = processor.tokenizer.convert_tokens_to_ids(REWARD_TOKEN)
        model_state, head_state = split_hpsv3_state_dict(_read_state_dict(weights))
        config = AutoConfig.from_pretrained(base, local_files_only=True)
        text_config = getattr(config, "text_config", config)
        text_config.vocab_size = model_state["language_model.embed_tokens.weight"].shape[0]
        if reward_id >= text_config.vocab_size:
            raise ValueError(f"reward token id {reward_id} is outside the checkpoint's vocabulary ({text_config.vocab_size})")
        with init_empty_weights(include_buffers=False):
            model = Qwen2VLModel(config)
        model.load_state_dict({k: v.to(dtype) for k, v in model_state.items()}, strict=True, assign=True)
        head = RankNetHead(text_config.hidden_size, head_state["5.weight"].shape[0])
        head.load_state_dict({k: v.float() for k, v in head_state.items()}, strict=True)
        return cls(model.to(device), head.to(device), processor, reward_id)

    def _inputs(self, images: list[np.ndarray]) -> dict[str, torch.Tensor]:
        pil = []
        for image in images:
            array = np.ascontiguousarray(np.asarray(image)[..., :3]).astype(np.uint8)
            h, w = fixed_pixel_size(*array.shape[:2])
            pil.append(Image.fromarray(array).resize((w, h), Image.BICUBIC))
        text = [chat_text(self.prompt)] * len(pil)
        batch = self.processor(text=text, images=pil, padding=True, return_tensors="pt")
        return {k: batch[k] for k in ("input_ids", "attention_mask", "pixel_values", "image_grid_thw")}

    @torch.inference_mode()
    def score(self, images: list[np.ndarray]) -> np.ndarray:
        """Reward mean per image (the head's first output at the reward token)."""
        return self.rewards(images)[:, 0]

    @torch.inference_mode()
    def rewards(self, images: list[np.ndarray]) -> np.ndarray:
        """(N, 2): mean and uncertainty per image."""
        out = []
        device = next(self.head.parameters()).device
        dtype = next(self.model.parameters()).dtype
        for start in range(0, len(images), self.batch_size):
            batch = {k: v.to(device) for k, v in self._inputs(images[start : start + self.batch_size]).items()}
            batch["pixel_values"] = batch["pixel_values"].to(dtype)
            ids = batch["input_ids"]
            positions = torch.arange(ids.shape[1], device=device).view(1, 1, -1).expand(3, ids.shape[0], -1)
            hidden = self.model(**batch, position_ids=positions, use_cache=False).last_hidden_state
            mask = ids == self.reward_token_id
            if not bool((mask.sum(dim=1) == 1).all()):
                raise RuntimeError("each HPSv3 prompt must hold exactly one reward token")
            out.append(self.head(hidden[mask].float()).cpu())
        if not out:
            return np.zeros((0, 2), dtype=np.float32)
        return torch.cat(out).numpy().astype(np.float32)
