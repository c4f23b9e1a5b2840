"""How batch storytelling scales past this machine: a simulated cluster, checked against real Ray.

Model: G GPU workers, each holding its models (loaded once, `--load` seconds); S stories of 8-12
shots (uniform); a shot costs `--shot` seconds (lognormal jitter, sigma `--jitter`) per attempt,
plus `--overhead` seconds of director time outside the model; each attempt is retried with
probability `--retry-rate` (the critic's rate), up to `--max-attempts`. Scheduling is the Ray
executor's: stories sorted longest first (by shots), handed to the next idle worker (an ActorPool:
greedy list scheduling). Utilisation is generator time over G x makespan.

    python benchmarks/cluster_sim.py                      # 40 s shots (step-distilled 480p), G = 8, 64, 512
    python benchmarks/cluster_sim.py --shot 370           # the published 40-step shot
    python benchmarks/cluster_sim.py --validate           # real Ray executor, 8 sleeping workers, side by side

`--validate` runs `storymem batch` on a local Ray cluster with 8 actors whose generator sleeps the
modelled cost scaled down (`--scale`), and prints the simulated and measured utilisation of the
same stories and costs.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import random
import sys
import tempfile
from pathlib import Path


def story_costs(stories: int, shot: float, jitter: float, retry_rate: float, max_attempts: int, seed: int) -> list[list[float]]:
    """Generator seconds per shot (all its attempts) for each story."""
    rng = random.Random(seed)
    costs = []
    for _ in range(stories):
        shots = rng.randint(8, 12)
        row = []
        for _ in range(shots):
            attempts = 1
            while attempts < max_attempts and rng.random() < retry_rate:
                attempts += 1
            row.append(sum(shot * math.exp(rng.gauss(0, jitter) - jitter**2 / 2) for _ in range(attempts)))
        costs.append(row)
    return costs


def simulate(costs: list[list[float]], gpus: int, overhead: float = 0.0, load: float = 0.0, starts: list[float] | None = None, story_overhead: float = 0.0) -> dict[str, float]:
    """Longest-first greedy list scheduling on `gpus` workers (the ActorPool policy).

    A story costs its shots' generator time, plus `overhead` a shot (the director around each
    call) and `story_overhead` once (planning, the film's assembly, the report, the manifest)."""
    order = sorted(range(len(costs)), key=lambda i: -len(costs[i]))  # stable: same shots keep FILE order
    free = [(starts[w] if starts else 0.0) + load for w in range(gpus)]
    heapq.heapify(free)
    ends, busy = [], 0.0
    for index in order:
        start = heapq.heappop(free)
        work = sum(costs[index]) + overhead * len(costs[index]) + story_overhead
        busy += sum(costs[index])
        ends.append(start + work)
        heapq.heappush(free, start + work)
    makespan = max(ends)
    ends.sort()
    return {
        "utilisation": busy / (gpus * makespan),
        "stories_per_hour": len(costs) / makespan * 3600,
        "makespan": makespan,
        "p50": ends[len(ends) // 2],
        "p95": ends[min(len(ends) - 1, int(len(ends) * 0.95))],
        "max": makespan,
    }


def table(args) -> None:
    print(f"shot {args.shot:.0f} s (jitter {args.jitter}), retry rate {args.retry_rate}, overhead {args.overhead} s a shot and {args.story_overhead} s a story, load {args.load} s; longest-first ActorPool")
    print(f"{'GPUs':>5} {'stories':>8} {'util':>7} {'stories/h':>10} {'latency p50':>12} {'p95':>9} {'max':>9}")
    for gpus in args.gpus:
        for stories in sorted({args.stories, 8 * gpus}):
            costs = story_costs(stories, args.shot, args.jitter, args.retry_rate, args.max_attempts, args.seed)
            r = simulate(costs, gpus, args.overhead, args.load, story_overhead=args.story_overhead)
            print(f"{gpus:>5} {stories:>8} {r['utilisation']:>6.1%} {r['stories_per_hour']:>10.0f} {r['p50'] / 60:>10.1f} m {r['p95'] / 60:>7.1f} m {r['max'] / 60:>7.1f} m")
    ten = [[args.shot] * 10 for _ in range(max(args.stories, 8 * 64))]
    r = simulate(ten, 64, args.overhead, args.load, story_overhead=args.story_overhead)
    print(f"goal check, 64 GPUs, ten-shot stories at {args.shot:.0f} s a shot: {r['stories_per_hour']:.0f} stories/h (goal >= 500 at 40 s)")


def validate(args) -> None:
    """The real Ray executor with 8 sleeping workers against the simulation of the same costs."""
    import ray

    sys.path.insert(0, str(Path(__file__).parent))
    from batch_instruments import TimedGenerator, read_log

    from director.api import RunSettings, run_batch

    workers, scale = 8, args.scale
    costs = story_costs(args.validate_stories, args.shot, args.jitter, args.retry_rate, args.max_attempts, args.seed)
    scaled = [[c * scale for c in row] for row in costs]
    folder = Path(tempfile.mkdtemp(prefix="storymem-sim-"))
    jobs = folder / "jobs.jsonl"
    jobs.write_text("".join(json.dumps({"id": f"s{i:03d}", "logline": f"Story number {i}: a keeper and a fox on an island.", "settings": {"shots": len(row)}}) + "\n" for i, row in enumerate(costs)))
    sleep = {f"s{i:03d}": row for i, row in enumerate(scaled)}
    here = str(Path(__file__).parent)
    ray.init(num_cpus=2, resources={"sim_gpu": workers}, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1", runtime_env={"env_vars": {"PYTHONPATH": here}})
    try:
        settings = RunSettings(backend="preview", planner="offline", size="32x32", frames=6, embedder="colour-structure", quality_scorer="heuristic", max_attempts=1)
        log = str(folder / "calls")
        run_batch(jobs, folder / "out", settings=settings, workers=workers, ray="auto", ray_actor_options={"num_cpus": 0, "resources": {"sim_gpu": 1}}, wrap_generator=TimedGenerator(log, sleep))
    finally:
        ray.shutdown()
    calls = read_log(log)
    begin, end = min(c["start"] for c in calls), max(c["end"] for c in calls)
    busy = sum(c["end"] - c["start"] for c in calls)
    by_pid: dict[int, list[dict]] = {}
    for c in calls:
        by_pid.setdefault(c["pid"], []).append(c)
    gaps = [b["start"] - a["end"] for rows in by_pid.values() for a, b in zip(rows, rows[1:]) if a["story"] == b["story"]]
    between = [b["start"] - a["end"] for rows in by_pid.values() for a, b in zip(rows, rows[1:]) if a["story"] != b["story"]]
    overhead = sum(gaps) / len(gaps)  # a shot: scoring, keyframes, commit, report, checkpoints
    story_overhead = sum(between) / len(between) if between else 0.0  # a story: assembly, report, next plan
    starts = sorted(max(0.0, min(c["start"] for c in rows) - begin - story_overhead) for rows in by_pid.values())
    measured = busy / (workers * (end - begin))
    model = simulate(scaled, workers, overhead, 0.0, starts + [starts[-1]] * (workers - len(starts)), story_overhead)
    shot_only = simulate(scaled, workers, overhead, 0.0, starts + [starts[-1]] * (workers - len(starts)))
    full = simulate(costs, workers, args.overhead, args.load, story_overhead=args.story_overhead)
    print(f"validation: {len(costs)} stories, {sum(map(len, costs))} shots, {workers} Ray actors, shot {args.shot:.0f} s x {scale} = {args.shot * scale:.2f} s")
    print(f"  measured on Ray:   utilisation {measured:6.1%}, makespan {end - begin:7.1f} s (director {overhead:.3f} s a shot and {story_overhead:.2f} s a story, actors ready over {starts[-1]:.1f} s)")
    print(f"  simulated, same costs and measured overheads: {model['utilisation']:6.1%}, makespan {model['makespan']:7.1f} s (ratio to measured {model['makespan'] / (end - begin):.2f})")
    print(f"  simulated without the per-story term:         {shot_only['utilisation']:6.1%}, makespan {shot_only['makespan']:7.1f} s")
    print(f"  the same stories at full scale ({args.shot:.0f} s shots, {args.overhead} s a shot, {args.story_overhead} s a story): {full['utilisation']:.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shot", type=float, default=40.0, help="seconds a shot attempt (40: step-distilled 480p; 370: 40 steps)")
    parser.add_argument("--jitter", type=float, default=0.1)
    parser.add_argument("--retry-rate", type=float, default=0.15, help="chance the critic asks for another attempt")
    parser.add_argument("--max-attempts", type=int, default=3)
    parser.add_argument("--overhead", type=float, default=0.5, help="director seconds a shot outside the model")
    parser.add_argument("--story-overhead", type=float, default=15.0, help="director seconds a story outside the model: plan, film assembly, report")
    parser.add_argument("--load", type=float, default=0.0, help="seconds a worker takes to load its models")
    parser.add_argument("--stories", type=int, default=200)
    parser.add_argument("--gpus", type=int, nargs="+", default=[8, 64, 512])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--validate", action="store_true")
    parser.add_argument("--validate-stories", type=int, default=24)
    parser.add_argument("--scale", type=float, default=0.05, help="the validation's shot cost as a fraction of --shot")
    args = parser.parse_args()
    table(args)
    if args.validate:
        validate(args)


if __name__ == "__main__":
    main()
