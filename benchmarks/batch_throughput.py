"""Batch throughput on this machine: stories per minute with 1 and 2 local workers (tiny backend),
the scheduling overhead per shot (director time outside the model) locally and under Ray, and
checkpoint bytes per shot.

    python benchmarks/batch_throughput.py [--stories 4] [--shots 3] [--backend tiny]

Stories per minute count from the batch's start (worker start-up and model loading included);
overhead per shot is each story's time minus its generator time, over its shots, leaving out each
worker's first story (its model load).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from batch_instruments import TimedGenerator, read_log  # noqa: E402

from director.api import RunSettings, run_batch  # noqa: E402

LOGLINES = [
    "A lighthouse keeper befriends a stray fox during a winter storm.",
    "Two rival bakers bake a wedding cake together overnight.",
    "A robot gardener grows the first flower on a space station.",
    "A jazz singer returns to the club where she first sang.",
    "An old samurai teaches an apprentice patience with a bonsai tree.",
    "A small drone gets lost in a rainforest and a toucan guides it home.",
]


def one_run(folder: Path, settings: RunSettings, stories: int, workers: int, ray: bool) -> dict:
    (folder / "l.txt").write_text("\n".join(LOGLINES[:stories]) + "\n")
    log = str(folder / "calls")
    options = {}
    if ray:
        import ray as ray_module

        ray_module.init(num_cpus=2, resources={"bench_gpu": workers}, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1", runtime_env={"env_vars": {"PYTHONPATH": str(Path(__file__).parent)}})
        options = {"ray": "auto", "ray_actor_options": {"num_cpus": 0, "resources": {"bench_gpu": 1}}}
    started = time.time()
    try:
        result = run_batch(folder / "l.txt", folder / "out", settings=settings, workers=workers, wrap_generator=TimedGenerator(log), **options)
    finally:
        if ray:
            ray_module.shutdown()
    wall = time.time() - started
    assert all(r["status"] == "done" for r in result.stories), result.stories
    calls = read_log(log)
    first_story = {}
    for c in calls:
        first_story.setdefault(c["pid"], c["story"])
    gen = {}
    for c in calls:
        gen[c["story"]] = gen.get(c["story"], 0.0) + c["end"] - c["start"]
    later = [r for r in result.stories if r["id"] not in first_story.values()]
    overhead = [(r["minutes"] * 60 - gen[r["id"]]) / r["shots"] for r in later]
    shots = sum(r["shots"] for r in result.stories)
    state = [((folder / "out" / r["id"] / "state.sqlite").stat().st_size / r["shots"]) for r in result.stories]
    return {
        "stories_per_minute": len(result.stories) / wall * 60,
        "wall": wall,
        "shots": shots,
        "generator_per_shot": sum(gen.values()) / shots,
        "overhead_per_shot": sum(overhead) / len(overhead) if overhead else float("nan"),
        "checkpoint_bytes_per_shot": sum(state) / len(state),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stories", type=int, default=4)
    parser.add_argument("--shots", type=int, default=3)
    parser.add_argument("--backend", default="tiny")
    parser.add_argument("--size", default="64x48")
    parser.add_argument("--frames", type=int, default=9)
    args = parser.parse_args()
    settings = RunSettings(backend=args.backend, planner="offline", size=args.size, frames=args.frames, embedder="colour-structure", quality_scorer="heuristic", shots=args.shots, max_attempts=1)
    print(f"{args.stories} stories of {args.shots} shots, {args.backend} backend at {args.size}, {args.frames} frames")
    print(f"{'executor':<16} {'stories/min':>11} {'wall s':>7} {'model s/shot':>12} {'overhead s/shot':>15} {'ckpt bytes/shot':>15}")
    for name, workers, ray in (("local, 1 worker", 1, False), ("local, 2 workers", 2, False), ("ray, 2 actors", 2, True)):
        with tempfile.TemporaryDirectory(prefix="storymem-bench-") as folder:
            r = one_run(Path(folder), settings, args.stories, workers, ray)
        print(f"{name:<16} {r['stories_per_minute']:>11.2f} {r['wall']:>7.1f} {r['generator_per_shot']:>12.3f} {r['overhead_per_shot']:>15.3f} {r['checkpoint_bytes_per_shot']:>15.0f}")
        print(json.dumps({"executor": name, **{k: round(v, 4) for k, v in r.items()}}), file=sys.stderr)


if __name__ == "__main__":
    main()
