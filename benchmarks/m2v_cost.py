"""Tiny-model cost of memory: seconds per shot and transformer tokens for M = 0, 3, 10.

Prints absolute figures and ratios to M=0. Run: python benchmarks/m2v_cost.py [--steps 4 --repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from generator.base import ShotMode, ShotRequest
from generator.pipeline import latent_frame_count
from generator.wan import WanGenerator


def tokens(gen: WanGenerator, num_memory: int) -> int:
    """Transformer sequence length: (M + F) latent frames x patches per frame."""
    _, p_h, p_w = gen.pipe.transformer.config.patch_size
    per_frame = (gen.height // 8 // p_h) * (gen.width // 8 // p_w)
    return (num_memory + latent_frame_count(gen.num_frames)) * per_frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    gen = WanGenerator.tiny(steps=args.steps)
    rng = np.random.RandomState(0)
    memory = [rng.randint(0, 256, (gen.height, gen.width, 3), dtype=np.uint8) for _ in range(10)]
    warm = ShotRequest("warm", "warm up", ShotMode.M2V, 0, memory=memory[:1],
                       num_frames=gen.num_frames, width=gen.width, height=gen.height)
    gen.generate(warm)  # first call pays one-off costs; memory latents are cached from here on

    print(f"tiny Wan2.2 M2V, {gen.width}x{gen.height}, {gen.num_frames} frames, {args.steps} steps, "
          f"median of {args.repeats}")
    print(f"{'M':>3} {'s/shot':>8} {'ratio':>6} {'tokens':>7} {'ratio':>6}")
    base_time = base_tokens = None
    for num_memory in (0, 3, 10):
        times = []
        for repeat in range(args.repeats):
            request = ShotRequest(f"m{num_memory}", "a fox in the snow", ShotMode.M2V, repeat,
                                  memory=memory[:num_memory], num_frames=gen.num_frames,
                                  width=gen.width, height=gen.height)
            start = time.perf_counter()
            gen.generate(request)
            times.append(time.perf_counter() - start)
        seconds, count = statistics.median(times), tokens(gen, num_memory)
        base_time = base_time or seconds
        base_tokens = base_tokens or count
        print(f"{num_memory:>3} {seconds:>8.3f} {seconds / base_time:>6.2f} {count:>7} {count / base_tokens:>6.2f}")
    full = latent_frame_count(81)
    print(f"full size 832x480x81: tokens M=0 {full * 30 * 52}, M=10 {(full + 10) * 30 * 52} "
          f"(ratio {(full + 10) / full:.2f}; attention cost ratio ~{((full + 10) / full) ** 2:.2f})")


if __name__ == "__main__":
    main()
