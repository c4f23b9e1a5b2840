"""The vision models the memory needs, loaded lazily and once per process, with fallbacks.

Names accepted by `load_embedder`:
  "auto"                      CLIP ViT-B-32 (openai) when its weights are cached, else colour-structure
  "clip"                      the same CLIP, or the fallback with a warning
  "clip:MODEL[@TAG]"          any open_clip model and pretrained tag (checkpoint=PATH for a local file)
  "colour-structure-v1"       the weight-free fallback, on purpose (no warning)
Names accepted by `load_quality_scorer`:
  "auto"                      HPSv3 when its weights are found, else BRISQUE, else the heuristic
  "hpsv3"                     HPSv3 (checkpoint=PATH to HPSv3.safetensors or a folder holding it)
  "brisque"                   the BRISQUE model shipped inside the `brisque` PyPI package
  "heuristic-sharpness-exposure"
A model that cannot be loaded gives one warning per process naming what is missing and how to
provide it, then the fallback; every embedder and scorer carries its real `name`, so score
records always say which model produced them.
"""

from __future__ import annotations

import logging
import os
from typing import Protocol, runtime_checkable

import numpy as np

from memory.fallbacks import ColourStructureEmbedder, HeuristicQualityScorer

logger = logging.getLogger("storymem.memory")

_CACHE: dict[tuple, object] = {}
_WARNED: set[str] = set()

HPSV3_ENV = "STORYMEM_HPSV3"


@runtime_checkable
class ImageEmbedder(Protocol):
    name: str

    def embed_images(self, images: list[np.ndarray]) -> np.ndarray:
        """(N, D) float32, L2-normalised rows."""
        ...


@runtime_checkable
class TextImageEmbedder(ImageEmbedder, Protocol):
    def embed_texts(self, texts: list[str]) -> np.ndarray: ...


@runtime_checkable
class QualityScorer(Protocol):
    name: str
    threshold: float

    def score(self, images: list[np.ndarray]) -> np.ndarray:
        """(N,) quality scores; a frame passes at >= threshold."""
        ...


def warn_once(key: str, message: str) -> None:
    """Log a missing-model message once per process, however often the model is requested."""
    if key in _WARNED:
        return
    _WARNED.add(key)
    logger.warning(message)


def clear_cache() -> None:
    """Forget loaded models and given warnings (tests, or freeing memory)."""
    _CACHE.clear()
    _WARNED.clear()


def _cached(key: tuple, factory):
    if key not in _CACHE:
        _CACHE[key] = factory()
    return _CACHE[key]


def _parse_clip_name(name: str) -> tuple[str, str | None]:
    from memory.clip import DEFAULT_MODEL, DEFAULT_PRETRAINED

    if name in ("auto", "clip"):
        return DEFAULT_MODEL, DEFAULT_PRETRAINED
    spec = name.removeprefix("clip:")
    model, _, tag = spec.partition("@")
    return model, (tag or None)


def load_embedder(name: str = "auto", checkpoint: str | os.PathLike | None = None) -> ImageEmbedder:
    """The image embedder for `name`, loaded once per process (see the module docstring)."""
    checkpoint = str(checkpoint) if checkpoint is not None else None
    if name in ("colour-structure", ColourStructureEmbedder.name):
        return _cached(("embedder", ColourStructureEmbedder.name), ColourStructureEmbedder)
    if not (name in ("auto", "clip") or name.startswith("clip:")):
        raise ValueError(f"unknown embedder {name!r}: use auto, clip, clip:MODEL[@TAG] or colour-structure-v1")
    model, tag = _parse_clip_name(name)
    if checkpoint is None and tag is None:
        tag = "openai"
    key = ("embedder", "clip", model, tag, checkpoint)
    if key in _CACHE:
        return _CACHE[key]
    from memory.clip import ClipEmbedder, WeightsUnavailable

    try:
        embedder = ClipEmbedder(model, pretrained=tag, checkpoint=checkpoint)
    except (WeightsUnavailable, RuntimeError, OSError, ValueError) as error:
        warn_once(
            f"embedder:{model}:{tag}:{checkpoint}",
            f"CLIP embedder unavailable ({error}). Using the weight-free '{ColourStructureEmbedder.name}' "
            "embedder instead: keyframe similarity is colour and layout only, and prompt following "
            "cannot be scored.",
        )
        return load_embedder(ColourStructureEmbedder.name)
    _CACHE[key] = embedder
    return embedder


def _hpsv3_checkpoint(checkpoint: str | None) -> str | None:
    """An explicit path, else $STORYMEM_HPSV3, else the Hugging Face cache; never the network."""
    if checkpoint:
        return checkpoint
    if os.environ.get(HPSV3_ENV):
        return os.environ[HPSV3_ENV]
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache("MizzenAI/HPSv3", "HPSv3.safetensors")
    except Exception:
        return None
    return found if isinstance(found, str) else None


def _packaged_scorer() -> QualityScorer:
    """BRISQUE when its package is installed, else the heuristic (which needs nothing)."""
    from memory.brisque import BrisqueScorer, brisque_available

    if brisque_available():
        return _cached(("scorer", "brisque"), BrisqueScorer)
    warn_once(
        "scorer:brisque",
        "The 'brisque' package (with opencv-python-headless) is not installed; quality is scored with "
        f"the '{HeuristicQualityScorer.name}' heuristic. Install it with `pip install brisque`.",
    )
    return _cached(("scorer", HeuristicQualityScorer.name), HeuristicQualityScorer)


def load_quality_scorer(name: str = "auto", checkpoint: str | os.PathLike | None = None) -> QualityScorer:
    """The frame quality scorer for `name`, loaded once per process (see the module docstring)."""
    checkpoint = str(checkpoint) if checkpoint is not None else None
    if name in ("heuristic", HeuristicQualityScorer.name):
        return _cached(("scorer", HeuristicQualityScorer.name), HeuristicQualityScorer)
    if name == "brisque":
        return _packaged_scorer()
    if name not in ("auto", "hpsv3"):
        raise ValueError(f"unknown quality scorer {name!r}: use auto, hpsv3, brisque or {HeuristicQualityScorer.name}")
    path = _hpsv3_checkpoint(checkpoint)
    if path is None:
        warn_once(
            "scorer:hpsv3:none",
            "HPSv3 weights not found (MizzenAI/HPSv3 HPSv3.safetensors plus Qwen/Qwen2-VL-7B-Instruct). "
            f"Pass checkpoint=PATH, set ${HPSV3_ENV}, or place them in the Hugging Face cache. "
            "Falling back to a packaged no-reference quality model.",
        )
        return _packaged_scorer()
    key = ("scorer", "hpsv3", path)
    if key in _CACHE:
        return _CACHE[key]
    try:
        from memory.hpsv3 import HPSv3Scorer

        scorer = HPSv3Scorer.from_checkpoint(path)
    except (OSError, RuntimeError, ValueError, KeyError, ImportError) as error:
        warn_once(
            f"scorer:hpsv3:{path}",
            f"HPSv3 could not be loaded from {path} ({error}). Falling back to a packaged no-reference quality model.",
        )
        return _packaged_scorer()
    _CACHE[key] = scorer
    return scorer
