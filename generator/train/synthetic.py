"""Procedurally drawn clip groups for trying the trainer out and for tests.

Each group has an identity (a shape, its colour, a background colour); each of its clips moves
that shape along its own straight path. Memory drawn from a group's other clips therefore shows
the same identity the target clip must keep, which is what an M2V LoRA learns.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from generator.train.data import MANIFEST, Clip, write_manifest

COLOURS = {
    "red": (220, 40, 40), "green": (40, 190, 70), "blue": (50, 80, 220), "yellow": (235, 210, 40),
    "purple": (150, 60, 200), "orange": (240, 140, 30), "white": (240, 240, 240), "black": (20, 20, 20),
}
SHAPES = ("circle", "square", "diamond")

VideoWriter = Callable[[np.ndarray, int, Path], None]


def draw_clip(shape: str, colour: tuple[int, int, int], background: tuple[int, int, int], start: np.ndarray,
              end: np.ndarray, radius: float, num_frames: int, width: int, height: int) -> np.ndarray:
    """uint8 (T, H, W, 3): the shape moving from `start` to `end` (pixel centres) over a flat background."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    for t in range(num_frames):
        cx, cy = start + (end - start) * (t / max(num_frames - 1, 1))
        dx, dy = xs - cx, ys - cy
        if shape == "circle":
            inside = dx * dx + dy * dy <= radius * radius
        elif shape == "square":
            inside = (np.abs(dx) <= radius) & (np.abs(dy) <= radius)
        else:
            inside = np.abs(dx) + np.abs(dy) <= radius * 1.3
        frames[t] = background
        frames[t][inside] = colour
    return frames


def make_synthetic(out: Path, groups: int, write_video: VideoWriter, clips_per_group: int = 3, num_frames: int = 17,
                   width: int = 64, height: int = 48, fps: int = 16, seed: int = 0) -> list[Clip]:
    """Write `groups` clip groups as mp4 files under `out/clips/` and `out/manifest.jsonl`."""
    rng = np.random.default_rng(seed)
    names = list(COLOURS)
    clips = []
    for g in range(groups):
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        colour, background = rng.choice(names, size=2, replace=False)
        radius = float(rng.uniform(0.12, 0.22) * min(width, height))
        for c in range(clips_per_group):
            start = rng.uniform([radius, radius], [width - radius, height - radius])
            end = rng.uniform([radius, radius], [width - radius, height - radius])
            frames = draw_clip(shape, COLOURS[colour], COLOURS[background], start, end, radius, num_frames, width, height)
            path = out / "clips" / f"g{g:03d}_c{c}.mp4"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_video(frames, fps, path)
            direction = "right" if end[0] > start[0] else "left"
            clips.append(Clip(path, f"g{g:03d}", f"a {colour} {shape} moving {direction} on a {background} background"))
    write_manifest(clips, out / MANIFEST)
    return clips
