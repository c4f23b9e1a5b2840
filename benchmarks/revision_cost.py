"""What a one-shot revision costs: generations with --only and --cascade against remaking the story.

Makes one 12-shot story (tiny backend by default: the real M2V pipeline at toy size, so the memory
and its dependencies are the real ones), then plans 20 random single-shot edits from the recorded
dependencies, and applies a few of them to check that the plan's count is what is generated.
Run: python benchmarks/revision_cost.py [--backend preview] [--shots 12] [--edits 20] [--apply 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from director.api import RunSettings, make_story, plan_revision, revise_story

FORMS = ["make shot {n} at night", "make shot {n} in the rain", "regenerate shot {n}", "change shot {n} to: A quiet empty street at dawn."]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="tiny")
    parser.add_argument("--shots", type=int, default=12)
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--apply", type=int, default=3, help="how many of the edits to apply for real")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quality-threshold", type=float, default=-1e9, help="keyframe gate (default: none, since tiny's noise frames fail every real gate)")
    args = parser.parse_args()

    settings = RunSettings(backend=args.backend, planner="offline", shots=args.shots, embedder="colour-structure", quality_scorer="heuristic",
                           quality_threshold=args.quality_threshold, max_attempts=1)
    folder = Path(tempfile.mkdtemp(prefix="revision-cost-")) / "story"
    started = time.perf_counter()
    made = make_story(folder, logline="A lighthouse keeper befriends a stray fox during a week-long winter storm.", settings=settings)
    per_shot = (time.perf_counter() - started) / made.shots
    print(f"{args.backend} story: {made.shots} shots, {per_shot:.2f} s a shot to make (model load included)")

    rng = random.Random(args.seed)
    rows = []
    for _ in range(args.edits):
        number = rng.randint(1, made.shots)
        instruction = rng.choice(FORMS).format(n=number)
        only = plan_revision(folder, instruction, policy="only")
        cascade = plan_revision(folder, instruction, policy="cascade")
        rows.append((number, instruction, only.generations, cascade.generations, len(cascade.dependents)))

    print(f"\n{'shot':>4}  {'--only':>6}  {'--cascade':>9}  {'remake':>6}  instruction")
    for number, instruction, only, cascade, _ in sorted(rows):
        print(f"{number:>4}  {only:>6}  {cascade:>9}  {made.shots:>6}  {instruction}")
    saved_only = statistics.mean(1 - r[2] / made.shots for r in rows)
    saved_cascade = statistics.mean(1 - r[3] / made.shots for r in rows)
    print(f"\nmean fraction of generations saved against remaking: --only {saved_only:.0%}, --cascade {saved_cascade:.0%}")

    print(f"\n{'edited shot':>11}  {'dependents (cascade)':>20}")
    by_position: dict[int, list[int]] = {}
    for number, _, _, _, dependents in rows:
        by_position.setdefault(number, []).append(dependents)
    for number in sorted(by_position):
        print(f"{number:>11}  {statistics.mean(by_position[number]):>20.1f}")

    print("\napplied (plan vs generated):")
    for number, instruction, only, _, _ in rows[: args.apply]:
        started = time.perf_counter()
        result = revise_story(folder, instruction, policy="only")
        print(f"  {instruction!r}: planned {only}, generated {result.generated}, {time.perf_counter() - started:.1f} s")
        if result.generated != only:
            print("  MISMATCH between the plan and what was generated", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
