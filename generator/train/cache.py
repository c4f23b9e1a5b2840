"""A cache of VAE latents and text embeddings, so training needs neither the VAE nor the text encoder.

`storymem train prepare ... --cache --model M` encodes, per clip of the manifest (in order): the
first `num_frames` frames (the target window is then fixed), `KEYFRAMES` evenly spaced frames
each encoded alone (the memory candidates other clips draw from), the MI2V condition video (first
frame, then zeros) and the caption's text embedding; and once, the all-zero M2V condition and the
empty caption. Training on a data folder with a cache uses it and drops the VAE and text encoder.
The samples keep `ClipSamples`' order and draws; memory frames are picked among the keyframes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from generator.pipeline import WanM2VPipeline
from generator.train.config import TrainInputError
from generator.train.data import Clip, ClipSamples, SampleOptions, VideoReader, resize_frames
from generator.train.objective import encode_video

CACHE = "cache"
KEYFRAMES = 4


@dataclass
class LatentSample:
    """One training example in cached latents (the counterpart of `data.Sample`)."""

    index: int
    clip: str
    video: torch.Tensor  # (16, F, h, w)
    memory: torch.Tensor  # (16, M, h, w)
    mi2v: bool
    video_condition: torch.Tensor  # (16, F, h, w): the MI2V condition video's latents, or the all-zero M2V one
    prompt_embeds: torch.Tensor  # (L, D)
    skipped: list[str] = field(default_factory=list)


def _save(tensors: dict[str, torch.Tensor], path: Path) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    save_file({k: v.contiguous().cpu() for k, v in tensors.items()}, str(temp))
    os.replace(temp, path)


@torch.no_grad()
def build_cache(pipe: WanM2VPipeline, clips: Sequence[Clip], folder: Path, options: SampleOptions, read_video: VideoReader,
                model: str) -> Path:
    """Encode every clip into `folder/cache/` (one file per clip, in manifest order) and its index."""
    cache = folder / CACHE
    cache.mkdir(parents=True, exist_ok=True)
    device = pipe._execution_device
    w, h, f = options.width, options.height, options.num_frames

    def prompt(text: str) -> torch.Tensor:
        return pipe.encode_prompt(prompt=text, do_classifier_free_guidance=False, max_sequence_length=512, device=device)[0][0]

    _save({"m2v_condition": pipe.encode_condition_video([], f, h, w, device)[0], "empty_prompt": prompt("")}, cache / "shared.safetensors")
    for number, clip in enumerate(clips):
        frames = resize_frames(read_video(clip.path), w, h)
        if len(frames) < f:
            raise TrainInputError(f"clip {clip.path} has {len(frames)} frame(s); training needs at least {f}")
        picks = np.linspace(0, len(frames) - 1, KEYFRAMES).round().astype(int)
        _save({
            "video": encode_video(pipe, frames[:f], device)[0],
            "keyframes": pipe.encode_memory([frames[i] for i in picks], h, w, device)[0],
            "mi2v_condition": pipe.encode_condition_video([frames[0]], f, h, w, device)[0],
            "prompt": prompt(clip.caption),
        }, cache / f"{number:06d}.safetensors")
    index = {"model": model, "width": w, "height": h, "num_frames": f, "clips": [str(c.path) for c in clips]}
    (cache / "index.json").write_text(json.dumps(index, indent=1))
    return cache


def find_cache(data: Path, clips: Sequence[Clip], model: str, options: SampleOptions) -> Path | None:
    """The data set's cache when it has one; a cache made for another model, size or clip list is refused."""
    folder = (data.parent if data.is_file() else data) / CACHE
    if not (folder / "index.json").is_file():
        return None
    index = json.loads((folder / "index.json").read_text())
    wanted = {"model": model, "width": options.width, "height": options.height, "num_frames": options.num_frames,
              "clips": [str(c.path) for c in clips]}
    different = [k for k in wanted if index.get(k) != wanted[k]]
    if different:
        raise TrainInputError(f"the latent cache in {folder} was made with other {', '.join(different)}; "
                              f"run `storymem train prepare ... --cache` again with these options, or delete {folder}")
    return folder


class CachedSamples(ClipSamples):
    """`ClipSamples` over cached latents: the same order, memory counts, MI2V and caption draws."""

    def __init__(self, clips: Sequence[Clip], options: SampleOptions, length: int, folder: Path):
        super().__init__(clips, options, length, read_video=lambda path: np.empty(0))
        self.folder = folder
        self.shared = load_file(str(folder / "shared.safetensors"))

    def _latents(self, clip_index: int) -> dict[str, torch.Tensor]:
        return load_file(str(self.folder / f"{clip_index:06d}.safetensors"))

    def _draw(self, index: int, clip_index: int) -> LatentSample:
        o = self.options
        rng = np.random.default_rng([o.seed, index, 2])
        own = self._latents(clip_index)
        count = int(rng.integers(1, o.max_memory + 1))
        others = [i for i in self._groups[self.clips[clip_index].group] if i != clip_index]
        loaded = {clip_index: own}
        memory = []
        for _ in range(count):
            source = int(rng.choice(others)) if others else clip_index
            if source not in loaded:
                loaded[source] = self._latents(source)
            keyframes = loaded[source]["keyframes"]
            memory.append(keyframes[:, int(rng.integers(0, keyframes.shape[1]))])
        mi2v = bool(rng.random() < o.mi2v_probability)
        drop = rng.random() < o.caption_dropout
        condition = own["mi2v_condition"] if mi2v else self.shared["m2v_condition"]
        return LatentSample(index, str(self.clips[clip_index].path), own["video"], torch.stack(memory, dim=1), mi2v,
                            condition, self.shared["empty_prompt"] if drop else own["prompt"])
