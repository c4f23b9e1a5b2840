"""CLIP image and text embeddings through open_clip, resolved strictly from local files.

open_clip downloads missing weights on its own; on machines without a model hub that hangs or
fails deep inside. So the weights are looked up in the local caches first (the Hugging Face
cache for hub-hosted tags, ~/.cache/clip for URL tags), and a download is attempted only when
the caller allows it and HF_HUB_OFFLINE is not set.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

DEFAULT_MODEL = "ViT-B-32"
DEFAULT_PRETRAINED = "openai"


class WeightsUnavailable(RuntimeError):
    """The requested weights are not on this machine; the message says how to provide them."""


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def cached_pretrained_file(model: str, tag: str) -> str | None:
    """Path of the locally cached weights for an open_clip (model, tag), without any network."""
    import open_clip

    cfg = open_clip.get_pretrained_cfg(model, tag)
    if not cfg:
        return None
    if cfg.get("file") and os.path.isfile(cfg["file"]):
        return cfg["file"]
    hub = cfg.get("hf_hub", "")
    if hub:
        from huggingface_hub import try_to_load_from_cache

        repo, filename = os.path.split(hub)
        names = [filename] if filename else ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
        for name in names:
            found = try_to_load_from_cache(repo, name)
            if isinstance(found, str) and os.path.isfile(found):
                return found
    url = cfg.get("url", "")
    if url:
        candidate = Path(os.path.expanduser("~/.cache/clip")) / os.path.basename(url)
        if candidate.is_file():
            return str(candidate)
    return None


class ClipEmbedder:
    """An open_clip model: image-image and text-image cosine similarity.

    The novelty and deduplication thresholds are StoryMem's, published for CLIP ViT-B/32.

    Frames are squashed to the model's input size without cropping, as StoryMem does, then
    normalised with the model's own mean and std.
    """

    novelty_threshold = 0.9
    dedup_threshold = 0.9

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        pretrained: str | None = DEFAULT_PRETRAINED,
        checkpoint: str | os.PathLike | None = None,
        device: str = "cpu",
        allow_download: bool = False,
        batch_size: int = 32,
    ) -> None:
        import open_clip

        source, label, quick_gelu = self._resolve(model, pretrained, checkpoint, allow_download)
        self.model = open_clip.create_model(
            model, pretrained=source, device=device, force_quick_gelu=quick_gelu, require_pretrained=source is not None
        ).eval()
        self.tokenizer = open_clip.get_tokenizer(model)
        size = self.model.visual.image_size
        self.image_size = (size, size) if isinstance(size, int) else tuple(size)
        preprocess = getattr(self.model.visual, "preprocess_cfg", {}) or {}
        mean = preprocess.get("mean", open_clip.OPENAI_DATASET_MEAN)
        std = preprocess.get("std", open_clip.OPENAI_DATASET_STD)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.name = f"open_clip:{model}/{label}"

    @staticmethod
    def _resolve(model: str, pretrained: str | None, checkpoint, allow_download: bool) -> tuple[str | None, str, bool]:
        """(value for open_clip's `pretrained`, label for the name, quick_gelu)."""
        import open_clip

        if checkpoint is not None:
            path = Path(checkpoint)
            if not path.is_file():
                raise WeightsUnavailable(f"CLIP checkpoint file {path} does not exist")
            quick = bool((open_clip.get_pretrained_cfg(model, pretrained or "") or {}).get("quick_gelu", False))
            return str(path), path.name, quick
        if not pretrained:
            return None, "random-init", False
        cfg = open_clip.get_pretrained_cfg(model, pretrained)
        if not cfg:
            raise WeightsUnavailable(f"open_clip has no pretrained tag {pretrained!r} for {model}")
        quick = bool(cfg.get("quick_gelu", False))
        local = cached_pretrained_file(model, pretrained)
        if local:
            return local, pretrained, quick
        if offline() or not allow_download:
            where = cfg.get("hf_hub") or cfg.get("url")
            raise WeightsUnavailable(
                f"open_clip weights {model}/{pretrained} are not in the local cache ({where}); "
                "download them once on a machine with hub access (open_clip.create_model"
                f"('{model}', pretrained='{pretrained}')) or pass checkpoint=PATH to a local file"
            )
        return pretrained, pretrained, quick

    def _pixels(self, images: list[np.ndarray]) -> torch.Tensor:
        batch = torch.stack([torch.from_numpy(np.ascontiguousarray(np.asarray(i)[..., :3])) for i in images])
        x = batch.permute(0, 3, 1, 2).float() / 255.0
        x = F.interpolate(x, size=self.image_size, mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)
        return ((x - self.mean) / self.std).to(self.device)

    @torch.inference_mode()
    def embed_images(self, images: list[np.ndarray]) -> np.ndarray:
        if not images:
            return np.zeros((0, self.model.visual.output_dim), dtype=np.float32)
        out = []
        for start in range(0, len(images), self.batch_size):
            features = self.model.encode_image(self._pixels(images[start : start + self.batch_size]))
            out.append(F.normalize(features.float(), dim=-1).cpu())
        return torch.cat(out).numpy().astype(np.float32)

    @torch.inference_mode()
    def embed_texts(self, texts: list[str]) -> np.ndarray:
        tokens = self.tokenizer(list(texts)).to(self.device)
        features = self.model.encode_text(tokens)
        return F.normalize(features.float(), dim=-1).cpu().numpy().astype(np.float32)
