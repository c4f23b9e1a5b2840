"""Choosing a generator backend by name; heavy ones are imported only when asked for."""

from __future__ import annotations

import json
from pathlib import Path

from generator.base import Generator

BACKENDS = ("auto", "preview", "tiny", "toy", "wan")
#: Backends that draw from the prompt alone: memory conditions none of their frames.
MEMORYLESS = ("preview",)


class BackendError(ValueError):
    """An unknown or unusable backend; the message is one readable line."""


def resolve_backend(name: str) -> tuple[str, str]:
    """The concrete backend for a `--backend` name, and a sentence saying why it was picked."""
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose one of: {', '.join(BACKENDS)}")
    if name != "auto":
        return name, f"backend: {name} (as asked)"
    import torch

    if torch.cuda.is_available():
        return "wan", f"backend: wan (auto: CUDA GPU found, {torch.cuda.get_device_name(0)})"
    return "preview", "backend: preview animatic (auto: no CUDA GPU; use --backend tiny to run the real pipeline at toy size)"


_LOADED: dict[str, Generator] = {}


def load_generator(name: str, cache_dir: Path | None = None, clip_format: dict[str, int] | None = None, **options) -> Generator:
    """A concrete backend, loaded once per process for the same name and options (a server or a
    batch worker serves many stories with one model).

    `clip_format` (width, height, num_frames) overrides the backend's native clip format.
    """
    key = json.dumps([name, str(cache_dir), clip_format or {}, options], sort_keys=True, default=str)
    if key not in _LOADED:
        _LOADED[key] = _build(name, cache_dir, clip_format or {}, options)
    return _LOADED[key]


def _build(name: str, cache_dir: Path | None, clip_format: dict[str, int], options: dict) -> Generator:
    if name == "preview":
        from generator.preview import PreviewGenerator

        generator = PreviewGenerator(**options)
    elif name == "tiny":
        from generator.wan import WanGenerator

        generator = WanGenerator.tiny(cache_dir=cache_dir, **options)
    elif name == "toy":
        from generator.toy import ToyWeightsError, toy_generator

        try:
            generator = toy_generator(steps=options.get("steps"))
        except ToyWeightsError as error:
            raise BackendError(str(error)) from None
    elif name == "wan":
        from generator.models import ModelNotFoundError
        from generator.wan import WanGenerator

        try:
            generator = WanGenerator.from_pretrained(**options)
        except ModelNotFoundError as error:
            raise BackendError(str(error)) from None
    else:
        raise BackendError(f"unknown backend {name!r}; choose one of: {', '.join(BACKENDS[1:])}")
    for key, value in clip_format.items():
        setattr(generator, key, value)
    return generator
