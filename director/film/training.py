"""LoRA training from the command line's side: a data set of clip groups, and a training run.

The trainer lives in `generator/train/`, which never imports director; these functions give it
the video reader and writer, and turn its input errors into the one `UsageError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from director.errors import UsageError
from director.folder.video import count_frames, read_video, write_video


def prepare_data(out: str | Path, videos: str | Path | None = None, *, synthetic: int | None = None,
                 cache_model: str | None = None, **options: Any):
    """A LoRA training data set in `out`: the manifest of a folder of `videos` (one subfolder per
    group, captions in .txt beside the clips), or `synthetic` procedurally drawn clip groups
    (options: clips_per_group, num_frames, width, height, seed); with `cache_model`, also its cache
    of VAE latents and text embeddings made with that model. Returns the clips."""
    from generator.train.config import TrainInputError
    from generator.train.data import MANIFEST, load_clips, write_manifest
    from generator.train.synthetic import make_synthetic
    from generator.train.trainer import cache_latents, check_model

    out = Path(out)
    if (videos is None) == (synthetic is None):
        raise UsageError("give either a folder of videos or --synthetic N")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file")
    try:
        if cache_model is not None:
            check_model(cache_model)
        if synthetic is not None:
            if synthetic < 1:
                raise UsageError(f"--synthetic must be at least 1, got {synthetic}")
            clips = make_synthetic(out, synthetic, write_video, **options)
        else:
            clips = load_clips(videos, probe=count_frames)
            out.mkdir(parents=True, exist_ok=True)
            write_manifest(clips, out / MANIFEST)
        if cache_model is not None:
            size = {k: options[k] for k in ("width", "height", "num_frames") if k in options}
            cache_latents(out, cache_model, read_video, **size)
    except TrainInputError as error:
        raise UsageError(str(error)) from None
    return clips


def train(data: str | Path, out: str | Path, **options: Any):
    """Train (or resume) an M2V LoRA on a data set (manifest or folder of groups) into `out`, which
    `make --lora out` then loads. Options: `generator.train.config.TrainConfig`; returns a `generator.train.trainer.TrainSummary`."""
    from generator.train.config import TrainConfig, TrainInputError
    from generator.train.trainer import train_lora

    try:
        return train_lora(TrainConfig(data=str(data), out=str(out), **options), read_video, write_video, count_frames)
    except TrainInputError as error:
        raise UsageError(str(error)) from None
