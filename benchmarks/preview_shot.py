"""Time one preview shot end to end on this machine: render (832x480, 81 frames) + frame analysis
(the colour-structure embedder and the packaged BRISQUE scorer, as on a machine without weights).

    .venv/bin/python benchmarks/preview_shot.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from director.planning.offline import OfflinePlanner
from generator.base import ShotMode, ShotRequest
from generator.preview import PreviewGenerator
from memory.brisque import BrisqueScorer
from memory.fallbacks import ColourStructureEmbedder
from memory.select import analyse_frames


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    story = OfflinePlanner().plan("A lighthouse keeper befriends a stray fox during a week-long winter storm.", 4, 0)
    shot, scene = story.shots[0], story.scenes[0]
    info = {"scene": scene.number, "shot": 1, "setting": scene.setting, "time_of_day": scene.time_of_day, "camera": shot.camera, "characters": shot.characters}
    request = ShotRequest(shot.id, shot.prompt, ShotMode.T2V, shot.seed, info=info)
    generator, embedder, scorer = PreviewGenerator(), ColourStructureEmbedder(), BrisqueScorer()
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        frames = generator.generate(request).frames
        t1 = time.perf_counter()
        embedder.embed_images(list(frames))
        t2 = time.perf_counter()
        scores = scorer.score(list(frames))
        t3 = time.perf_counter()
        analyse_frames(list(frames), embedder, scorer)
        t4 = time.perf_counter()
        print(f"render {t1 - t0:.3f} s | embed {t2 - t1:.3f} s | brisque {t3 - t2:.3f} s ({len(frames)} frames, mean {np.mean(scores):.1f}) | render + analysis {t1 - t0 + t4 - t3:.3f} s")


if __name__ == "__main__":
    main()
