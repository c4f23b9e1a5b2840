"""Keyframe selection speed on CPU for one 81-frame 832x480 shot, per available embedder and scorer.

Also counts model calls (images through each model) against StoryMem's reference code, which
rescored and re-embedded every frame on every tau step. Run:
    python benchmarks/memory_select.py [--frames 81] [--embedders auto colour-structure-v1]
        [--scorers heuristic brisque auto] [--clip-checkpoint PATH] [--hpsv3 PATH]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from memory import vision
from memory.select import SelectionConfig, analyse_frames, scan, select_keyframes


class Counting:
    """Wraps a model and counts the images it sees."""

    def __init__(self, model) -> None:
        self.model = model
        self.name = model.name
        self.threshold = getattr(model, "threshold", 0.0)
        self.images = 0

    def embed_images(self, images):
        self.images += len(images)
        return self.model.embed_images(images)

    def score(self, images):
        self.images += len(images)
        return self.model.score(images)


def panning_shot(frames: int, width: int = 832, height: int = 480) -> list[np.ndarray]:
    """A camera pan over a wide textured landscape: neighbouring frames alike, ends different."""
    rng = np.random.default_rng(0)
    world_w = width * 3
    y, x = np.mgrid[0:height, 0:world_w]
    sky = np.stack([90 + 60 * y / height, 140 + 40 * y / height, 220 - 40 * y / height], axis=-1)
    ground = np.stack([60 + 80 * np.sin(x / 57.0) ** 2, 120 + 50 * np.cos(x / 91.0), 50 + 30 * np.sin(x / 23.0)], axis=-1)
    world = np.where((y > height * (0.5 + 0.1 * np.sin(x / 150.0)))[..., None], ground, sky)
    for _ in range(40):
        cx, cy, r = rng.integers(0, world_w), rng.integers(0, height), rng.integers(15, 60)
        world[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = rng.integers(0, 255, 3)
    world = np.clip(world + rng.normal(0, 6, world.shape), 0, 255).astype(np.uint8)
    step = (world_w - width) / max(1, frames - 1)
    return [np.ascontiguousarray(world[:, int(i * step) : int(i * step) + width]) for i in range(frames)]


def tau_scans(embeddings: np.ndarray, scores: np.ndarray, threshold: float, config: SelectionConfig) -> int:
    """How many scans the adaptive-tau loop runs (the reference code's model passes)."""
    step = 0
    while len(scan(embeddings, scores >= threshold, config.tau_start - step * config.tau_step)) > config.max_keyframes:
        step += 1
    return step + 1


def run(frames: list[np.ndarray], embedder, scorer, config: SelectionConfig) -> dict:
    embedder, scorer = Counting(embedder), Counting(scorer)
    start = time.perf_counter()
    analysis = analyse_frames(frames, embedder, scorer, stride=config.stride)
    analysed = time.perf_counter()
    chosen = select_keyframes(analysis.embeddings, analysis.scores, scorer.threshold, None, config)
    done = time.perf_counter()
    scans = tau_scans(analysis.embeddings, analysis.scores, scorer.threshold, config)
    return {
        "embedder": embedder.name,
        "scorer": scorer.name,
        "frames_per_s": len(frames) / (done - start),
        "select_ms": 1000 * (done - analysed),
        "keyframes": [analysis.indices[i] for i in chosen],
        "passing": int((analysis.scores >= scorer.threshold).sum()),
        "tau_scans": scans,
        "calls": embedder.images + scorer.images,
        "reference_calls": scans * len(analysis.indices) * 2,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--stride", type=int, default=1)
    parser.add_argument("--embedders", nargs="+", default=["auto", "colour-structure-v1"])
    parser.add_argument("--scorers", nargs="+", default=["heuristic", "brisque", "auto"])
    parser.add_argument("--clip-checkpoint", default=None)
    parser.add_argument("--hpsv3", default=None, help="HPSv3 checkpoint file or folder")
    args = parser.parse_args()
    config = SelectionConfig(stride=args.stride)
    frames = panning_shot(args.frames)
    embedders = {vision.load_embedder(n, checkpoint=args.clip_checkpoint if n.startswith(("clip", "auto")) else None) for n in args.embedders}
    scorers = {vision.load_quality_scorer(n, checkpoint=args.hpsv3 if n in ("auto", "hpsv3") else None) for n in args.scorers}
    print(f"{len(frames)} frames {frames[0].shape[1]}x{frames[0].shape[0]}, stride {args.stride}")
    header = f"{'embedder':28} {'scorer':30} {'frames/s':>9} {'select ms':>9} {'pass':>5} {'scans':>5} {'calls':>6} {'ref calls':>9}  keyframes"
    print(header)
    for embedder in sorted(embedders, key=lambda m: m.name):
        for scorer in sorted(scorers, key=lambda m: m.name):
            r = run(frames, embedder, scorer, config)
            print(
                f"{r['embedder']:28} {r['scorer']:30} {r['frames_per_s']:9.1f} {r['select_ms']:9.2f} {r['passing']:5d} "
                f"{r['tau_scans']:5d} {r['calls']:6d} {r['reference_calls']:9d}  {r['keyframes']}"
            )


if __name__ == "__main__":
    main()
