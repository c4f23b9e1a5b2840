"""One table of the costs that matter, every ratio measured within this run (CPU, tiny models).

1. Per-shot generation time vs story length (1..30 shots): the tiny Wan2.2 M2V pipeline with
   StoryMem's bounded memory (3 keyframes a shot, at most 10) against generating all shots jointly in
   one sequence (the quadratic alternative), both as the same tiny transformer's forward passes at the
   token counts each needs, at 192x112 (its rotary table widened so a 30-shot sequence fits). The
   pipeline column is the real tiny pipeline at 64x48, where fixed costs hide attention.
2. Director overhead per shot: wall time of a preview story minus the generator's own seconds.
3. Frames scored per shot: what memory's analysis embeds and scores (every frame once per attempt).
4. Model loads per story: generator and vision models built while 3 stories are made in one process.

Run: python benchmarks/run_all.py [--lengths 1,5,10,20,30 --steps 4]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


FORWARD_SIZE = (112, 192)  # height, width of the forward-pass comparison


def _transformer_seconds(transformer, latent_frames: int, steps: int, height: int, width: int, repeats: int = 3) -> float:
    import torch

    config = transformer.config
    x = torch.randn(1, config.in_channels, latent_frames, height // 8, width // 8)
    text = torch.randn(1, 16, config.text_dim)
    times = []
    with torch.inference_mode():
        for _ in range(repeats):
            start = time.perf_counter()
            for step in range(steps):
                transformer(hidden_states=x, timestep=torch.tensor([999 - step]), encoder_hidden_states=text, return_dict=False)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def generation_vs_length(lengths: list[int], steps: int) -> list[dict]:
    from diffusers import WanTransformer3DModel

    from generator.base import ShotMode, ShotRequest
    from generator.pipeline import latent_frame_count
    from generator.wan import WanGenerator

    gen = WanGenerator.tiny(steps=steps)
    rng = np.random.default_rng(0)
    memory = [rng.integers(0, 256, (gen.height, gen.width, 3), dtype=np.uint8) for _ in range(10)]
    gen.generate(ShotRequest("warm", "warm up", ShotMode.M2V, 0, memory=memory[:1], num_frames=gen.num_frames, width=gen.width, height=gen.height))
    per_shot_latents = latent_frame_count(gen.num_frames)
    config = dict(gen.pipe.transformer.config)
    config = {k: v for k, v in config.items() if not k.startswith("_")}
    config["rope_max_seq_len"] = max(1024, per_shot_latents * max(lengths) + 16)
    transformer = WanTransformer3DModel(**config).eval()
    # the forward passes at a size where attention is not lost in fixed costs: 84 tokens a latent frame
    forward = {held: _transformer_seconds(transformer, held + per_shot_latents, steps, *FORWARD_SIZE) for held in sorted({min(3 * k, 10) for k in range(max(lengths))})}
    rows = []
    for length in lengths:
        pipeline_times = []
        for shot in range(length):
            held = min(3 * shot, 10)  # StoryMem: up to 3 keyframes a shot, a bank of 10
            request = ShotRequest(f"s{shot}", "a fox in the snow", ShotMode.M2V if held else ShotMode.T2V, shot, memory=memory[:held],
                                  num_frames=gen.num_frames, width=gen.width, height=gen.height)
            start = time.perf_counter()
            gen.generate(request)
            pipeline_times.append(time.perf_counter() - start)
        bounded = statistics.mean(forward[min(3 * shot, 10)] for shot in range(length))
        joint = _transformer_seconds(transformer, per_shot_latents * length, steps, *FORWARD_SIZE, 1 if length > 10 else 3) / length
        rows.append({"shots": length, "pipeline_s_per_shot": statistics.mean(pipeline_times), "m2v_forward_s_per_shot": bounded, "joint_forward_s_per_shot": joint})
    return rows


def director_costs(stories: int = 3, shots: int = 6) -> dict:
    """Overhead, frames scored and model loads over `stories` preview stories made in one process."""
    from director.api import RunSettings, make_story
    from director.folder.workspace import Workspace
    from generator import backends
    from memory import vision
    from memory.select import FrameAnalysis

    settings = RunSettings(backend="preview", planner="offline", embedder="colour-structure", quality_scorer="brisque", shots=shots, size="416x240", frames=33)
    loads = []
    overheads, scored = [], []
    with tempfile.TemporaryDirectory() as root:
        for k in range(stories):
            before = len(backends._LOADED) + len(vision._CACHE)
            start = time.perf_counter()
            result = make_story(Path(root) / f"s{k}", logline=f"A lighthouse keeper befriends a stray fox, night {k}.", settings=settings)
            wall = time.perf_counter() - start
            loads.append(len(backends._LOADED) + len(vision._CACHE) - before)
            workspace = Workspace(result.folder)
            version = workspace.current()
            takes = [workspace.load_take(shot_id, n) for shot_id, entry in version.shots.items() for n in entry.attempts]
            overheads.append((wall - sum(t.seconds for t in takes)) / len(version.shots))
            for take in takes:
                scored.append(len(FrameAnalysis.load(workspace.take_path(take.shot_id, take.number, ".analysis.npz")).indices) / take.frames)
    return {"overhead_s_per_shot": overheads, "frames_scored_share": statistics.mean(scored), "frames_per_shot": 33, "model_loads": loads}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", default="1,5,10,20,30")
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()
    lengths = [int(n) for n in args.lengths.split(",")]
    rows = generation_vs_length(lengths, args.steps)
    base = rows[0]
    print(f"1. generation per shot vs story length (tiny Wan2.2, 64x48x17, {args.steps} steps, CPU)")
    print("   pipeline: the real tiny M2V pipeline at 64x48; forward: the tiny transformer's passes at 192x112 (84 tokens a latent frame)")
    print(f"{'shots':>6} {'M2V pipeline s/shot':>20} {'ratio':>6} {'M2V forward s/shot':>19} {'ratio':>6} {'joint forward s/shot':>21} {'ratio':>6} {'joint/M2V':>9}")
    for row in rows:
        print(f"{row['shots']:>6} {row['pipeline_s_per_shot']:>20.3f} {row['pipeline_s_per_shot'] / base['pipeline_s_per_shot']:>6.2f} "
              f"{row['m2v_forward_s_per_shot']:>19.4f} {row['m2v_forward_s_per_shot'] / base['m2v_forward_s_per_shot']:>6.2f} "
              f"{row['joint_forward_s_per_shot']:>21.4f} {row['joint_forward_s_per_shot'] / base['joint_forward_s_per_shot']:>6.2f} "
              f"{row['joint_forward_s_per_shot'] / row['m2v_forward_s_per_shot']:>9.2f}")
    costs = director_costs()
    print("\n2-4. director costs over 3 preview stories of 6 shots (416x240, 33 frames a clip, BRISQUE, one process)")
    print(f"  director overhead per shot (everything but the generator): {', '.join(f'{s:.2f}' for s in costs['overhead_s_per_shot'])} s "
          f"(story 1 includes model loads)")
    print(f"  frames analysed per shot: {costs['frames_scored_share'] * 100:.0f}% of the shot's frames, each embedded and scored once "
          "(BRISQUE itself scores every 8th and interpolates)")
    print(f"  models built per story: {', '.join(map(str, costs['model_loads']))} (later stories reuse the process's models)")


if __name__ == "__main__":
    main()
