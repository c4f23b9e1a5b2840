"""What memory does on pixels: the trained toy model on held-out toy stories, as a table.

    python benchmarks/toy_memory.py [--stories 10] [--seeds 0,1,2] [--weights DIR] [--json OUT]

Stories are drawn from a seed the training never used: each has a character whose identity
(hue, shape, pattern, backdrop) no prompt states. Shots run through the toy generator with the
project's memory bank, keyframe selection, embedder, consistency score and critic; the revision
rows run whole stories through `director.api` (make, then revise with cascade or only).

Rows, per seed:
- identity: median hue error of the character in shots 2.. (degrees) with memory and with
  --no-memory, and the eval's per-character consistency (colour-structure embedder);
- MI2V: the first frame of a continued shot against the previous last frame (mean absolute
  difference, grey levels), the same for cuts, their ratio, and the ratio the toy world itself
  gives (drawn clips, not generated: a continued shot's first frame is one frame of motion on, so
  even a perfect model is not at 0: its floor);
- drop lever: identity similarity of a shot with one wrong-identity keyframe injected into its
  memory (before shot 2, 3, 4 or 5 in turn), and after the critic's drop_memory (share of the loss
  recovered, pooled over those shots; how often the critic dropped the entry);
- revision: after shot 2 is recoloured, the dependents' hue distance to the new colour under
  cascade and under only (only must leave them byte-identical);
- sink: 12-shot stories, consistency of shots 9-12 with shot 1 with the sink and with --no-sink.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from generator.base import ShotMode
from generator.toy_data import DIRECTIONS, HUES, Identity, clip_hue_error, draw_clip, draw_frame, hue_error, prompt_for, random_identity, start_for

HELD_OUT_SEED = 90_000  # training draws identities from seeds 0..10; stories here from 90_000 + i
#: The drop lever is tried before each shot from the second on (0-based 1): the first has only the
#: reference image in memory, too few entries to tell which one misleads.
LEVER_FROM = 1


@dataclass
class ToyStory:
    identity: Identity
    directions: list[str]
    transitions: list[str]  # "cut" or "continue"; the first is always "cut"

    @property
    def prompts(self) -> list[str]:
        return [prompt_for(d) for d in self.directions]


def held_out_story(index: int, shots: int = 5) -> ToyStory:
    rng = np.random.default_rng(HELD_OUT_SEED + index)
    directions = [str(rng.choice(list(DIRECTIONS))) for _ in range(shots)]
    transitions = ["cut"] + [("continue" if rng.random() < 0.5 else "cut") for _ in range(shots - 1)]
    return ToyStory(random_identity(rng), directions, transitions)


def reference_image(identity: Identity) -> np.ndarray:
    return draw_frame(identity, (16.0, 16.0))


class Harness:
    """The toy generator with the project's memory components, loaded once."""

    def __init__(self, weights: Path | None):
        from director.run.context import TOY_CONSISTENCY_MARGIN
        from director.critic.rules import Critic
        from generator.toy import toy_generator
        from memory.select import SelectionConfig
        from memory.vision import load_embedder, load_quality_scorer

        self.generator = toy_generator(weights)
        self.embedder = load_embedder("colour-structure")
        self.scorer = load_quality_scorer("heuristic")
        self.selection = SelectionConfig.for_embedder(self.embedder, quality_threshold=float("-inf"))
        self.critic = Critic(max_attempts=3, quality_threshold=None, consistency_margin=TOY_CONSISTENCY_MARGIN, prompt_margin=None)

    def shot(self, prompt: str, mode: ShotMode, seed: int, memory: list[np.ndarray], previous: np.ndarray | None) -> np.ndarray:
        from generator.toy import request

        return self.generator.generate(request(prompt, mode, seed, memory, [previous] if previous is not None else [])).frames

    def embedding(self, frames: np.ndarray) -> np.ndarray:
        """A shot's embedding as the eval takes it: the mean of its frames' embeddings, normalised."""
        vectors = np.asarray(self.embedder.embed_images(list(frames)), dtype=np.float32).mean(axis=0)
        return vectors / (np.linalg.norm(vectors) + 1e-12)

    def scores(self, keys: np.ndarray, bank, suspects: list[str]):
        """The critic's consistency scores of a shot's frames against the bank, as the director takes them."""
        from director.critic.rules import ShotScores
        from memory.scores import consistency, stands_apart

        apart = bool(suspects) and stands_apart(bank, self.embedder, suspects[0], self.critic.consistency_margin)
        without = consistency(keys, bank, self.embedder, exclude=suspects[:1]).memory if apart else None
        return ShotScores(consistency=consistency(keys, bank, self.embedder).memory, consistency_without_suspect=without)

    def run(self, story: ToyStory, seed: int, folder: Path, use_memory: bool = True, reference: bool = True,
            sink: int = 3, inject_before: int | None = None) -> dict:
        """One story shot by shot, as the director runs it: memory = the bank's active entries,
        keyframes selected after each shot. `inject_before` (0-based) adds a wrong-identity keyframe
        to memory before that shot; the critic then judges the shot and, when it drops an entry,
        the shot is made again with the same seed (`injected` and `shots` hold both takes)."""
        from director.critic.rules import Levers
        from memory.bank import MemoryBank
        from memory.remember import remember_shot
        from memory.scores import misleading_entries
        from memory.select import Keyframe

        bank = MemoryBank(folder, capacity=10, sink=sink)
        if reference and use_memory:
            bank.add_reference(reference_image(story.identity), characters=["hero"])
        shots, accepted, previous, result = [], [], None, {}
        for k, prompt in enumerate(story.prompts):
            cut = story.transitions[k] == "cut" or previous is None
            if inject_before == k:
                image = reference_image(wrong_identity(story.identity))
                bank.add_keyframes("injected", [Keyframe(0, image, self.embedder.embed_images([image])[0], None, None, self.embedder.name)])
            memory = [bank.image(e.id) for e in bank.active()] if use_memory else []
            mode = ShotMode.M2V if cut else ShotMode.MI2V
            if cut and not memory:
                mode = ShotMode.T2V
            shot_seed = seed * 1000 + k
            frames = self.shot(prompt, mode, shot_seed, memory, None if cut else previous[-1])
            keys = np.asarray(self.embedder.embed_images(list(frames)), dtype=np.float32)
            if inject_before == k:
                result["injected"] = frames
                suspects = misleading_entries(bank, self.embedder)
                decision = self.critic.decide(self.scores(keys, bank, suspects), 1, accepted, Levers(misleading_memory=suspects))
                result["decision"] = decision.action
                if decision.action == "drop_memory":
                    for entry in decision.drop:
                        bank.drop(entry)
                    memory = [bank.image(e.id) for e in bank.active()]
                    frames = self.shot(prompt, mode, shot_seed, memory, None if cut else previous[-1])
                    keys = np.asarray(self.embedder.embed_images(list(frames)), dtype=np.float32)
            if use_memory:
                accepted.append(self.scores(keys, bank, misleading_entries(bank, self.embedder)).to_dict())
                remember_shot(bank, f"s{k + 1}", list(frames), self.embedder, self.scorer, self.selection)
            shots.append(frames)
            previous = frames
        result["shots"] = shots
        return result


def wrong_identity(identity: Identity) -> Identity:
    """The same character in the hue farthest from its own."""
    far = max(HUES, key=lambda h: hue_error(HUES[h], HUES[identity.hue]))
    return Identity(far, identity.shape, identity.pattern, identity.background)


def character_consistency(harness: Harness, shots: list[np.ndarray]) -> float:
    """The eval's per-character consistency: mean pairwise similarity of the shots showing the character."""
    from director.film.evaluate import ShotInput, character_consistency as measure

    embeddings = np.stack([harness.embedding(s) for s in shots])
    inputs = [ShotInput(f"s{i}", i + 1, 1, "cut", "", ["hero"], Path("-")) for i in range(len(shots))]
    return float(measure(inputs, embeddings)["character_consistency"])


def identity_similarity(harness: Harness, frames: np.ndarray, identity: Identity) -> float:
    """Cosine similarity of a shot's embedding to the true identity's clip (same motion frame count)."""
    truth = draw_clip(identity, "right", start_for("right", np.random.default_rng(0)))
    return float(harness.embedding(frames) @ harness.embedding(truth))


def mean_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def drawn_mi2v_ratio(stories: list[ToyStory]) -> float:
    """The MI2V ratio of the toy world itself, on drawn clips of each story's character: the frame
    after a shot's first (what a perfect continuation shows first) against that first frame, over
    the next shot's first frame against the shot's last (a cut)."""
    continued, cuts = [], []
    for i, story in enumerate(stories):
        rng = np.random.default_rng(HELD_OUT_SEED + i)
        shots = [draw_clip(story.identity, d, start_for(d, rng)) for d in story.directions]
        continued += [mean_abs(s[1], s[0]) for s in shots]
        cuts += [mean_abs(b[0], a[-1]) for a, b in zip(shots, shots[1:])]
    return float(np.mean(continued) / np.mean(cuts))


def measure_seed(harness: Harness, seed: int, stories: list[ToyStory], work: Path, long_stories: list[ToyStory]) -> dict:
    row: dict[str, float] = {}
    hue_with, hue_without, cons_with, cons_without, continued, cuts = [], [], [], [], [], []
    clean, injected, dropped, acted = [], [], [], []
    for i, story in enumerate(stories):
        wanted = HUES[story.identity.hue]
        with_memory = harness.run(story, seed, work / f"m{seed}-{i}")["shots"]
        without = harness.run(story, seed, work / f"n{seed}-{i}", use_memory=False)["shots"]
        hue_with += [clip_hue_error(s, wanted) for s in with_memory[1:]]
        hue_without += [clip_hue_error(s, wanted) for s in without[1:]]
        cons_with.append(character_consistency(harness, with_memory))
        cons_without.append(character_consistency(harness, without))
        for k in range(1, len(with_memory)):
            (continued if story.transitions[k] == "continue" else cuts).append(mean_abs(with_memory[k][0], with_memory[k - 1][-1]))
        for target in range(LEVER_FROM, len(story.prompts)):
            lever = harness.run(story, seed, work / f"i{seed}-{i}-{target}", inject_before=target)
            clean.append(identity_similarity(harness, with_memory[target], story.identity))
            injected.append(identity_similarity(harness, lever["injected"], story.identity))
            dropped.append(identity_similarity(harness, lever["shots"][target], story.identity))
            acted.append(lever["decision"] == "drop_memory")
    row["hue_error_memory"] = float(np.median(hue_with))
    row["hue_error_no_memory"] = float(np.median(hue_without))
    row["consistency_memory"] = float(np.mean(cons_with))
    row["consistency_no_memory"] = float(np.mean(cons_without))
    row["mi2v_first_vs_last"] = float(np.mean(continued)) if continued else float("nan")
    row["cut_first_vs_last"] = float(np.mean(cuts)) if cuts else float("nan")
    row["mi2v_ratio"] = row["mi2v_first_vs_last"] / row["cut_first_vs_last"]
    row["mi2v_ratio_drawn"] = drawn_mi2v_ratio(stories)
    row["drop_clean"], row["drop_injected"], row["drop_after"] = float(np.mean(clean)), float(np.mean(injected)), float(np.mean(dropped))
    loss = row["drop_clean"] - row["drop_injected"]
    row["drop_recovered"] = (row["drop_after"] - row["drop_injected"]) / loss if loss > 1e-9 else float("nan")
    row["critic_dropped"] = float(np.mean(acted))
    sink, no_sink = [], []
    for i, story in enumerate(long_stories):
        for policy, out in ((3, sink), (0, no_sink)):
            shots = harness.run(story, seed, work / f"l{policy}-{seed}-{i}", reference=False, sink=policy)["shots"]
            first = harness.embedding(shots[0])
            out.append(float(np.mean([harness.embedding(s) @ first for s in shots[8:12]])))
    if long_stories:
        row["late_vs_first_sink"], row["late_vs_first_no_sink"] = float(np.mean(sink)), float(np.mean(no_sink))
    return row


def revision_rows(stories: list[ToyStory], seeds: list[int], work: Path, weights: Path | None) -> dict[int, dict]:
    """Make each story through director.api, recolour shot 2, revise with cascade and with only."""
    import os

    from director import api
    from director.folder.video import read_video
    from director.settings import RunSettings
    from director.folder.workspace import Workspace
    from director.story import Story

    if weights is not None:
        os.environ["STORYMEM_TOY_WEIGHTS"] = str(weights)
    rows = {}
    for seed in seeds:
        moved_cascade, moved_only, identical_only = [], [], []
        for i, story in enumerate(stories):
            new_hue = wrong_identity(story.identity).hue
            script = toy_script(story, work / f"ref{seed}-{i}.png", seed)
            settings = RunSettings(backend="toy", planner="offline", embedder="colour-structure", quality_scorer="heuristic", seed=seed, no_sound=True)
            before = {}
            for policy in ("cascade", "only"):
                out = work / f"rev-{policy}-{seed}-{i}"
                api.make_story(out, script=script, settings=settings, force=True)
                workspace = Workspace(out)
                ids = [s.id for s in Story.model_validate(workspace.current().script).shots]
                before = {sid: read_video(workspace.shot_video(sid)) for sid in ids}
                api.revise_story(out, f"change shot 2 to {prompt_for(story.directions[1], new_hue)}", policy=policy, settings=settings)
                after = {sid: read_video(workspace.shot_video(sid)) for sid in ids}
                dependents = ids[2:]
                distance = lambda shots: float(np.mean([clip_hue_error(shots[sid], HUES[new_hue]) for sid in dependents]))  # noqa: E731
                gain = distance(before) - distance(after)
                if policy == "cascade":
                    moved_cascade.append(gain)
                else:
                    moved_only.append(gain)
                    identical_only.append(all(np.array_equal(before[s], after[s]) for s in dependents))
        rows[seed] = {"cascade_toward_new": float(np.mean(moved_cascade)), "only_toward_new": float(np.mean(moved_only)),
                      "only_identical": float(np.mean(identical_only))}
    return rows


def toy_script(story: ToyStory, reference: Path, seed: int):
    """The story as a storymem script: one character with its reference image, shots that never say its look."""
    from PIL import Image

    from director.story import Character, Scene, Shot, Story

    Image.fromarray(reference_image(story.identity)).save(reference)
    shots = [Shot(id=f"01_{k + 1:02d}", scene=1, prompt=p, transition=t, characters=["hero"], seed=seed * 1000 + k)
             for k, (p, t) in enumerate(zip(story.prompts, story.transitions))]
    return Story(title=f"toy story {seed}", characters=[Character(name="hero", description="the hero", reference_images=[str(reference)])],
                 scenes=[Scene(number=1, setting="a grey room")], shots=shots)


def storyboard(shots: list[np.ndarray], path: Path, scale: int = 4) -> None:
    """Every frame of every shot in one row per shot, enlarged (nearest neighbour: the pixels as made)."""
    from PIL import Image

    rows = [np.concatenate(list(frames), axis=1) for frames in shots]
    width = max(r.shape[1] for r in rows)
    sheet = np.full((len(rows) * (rows[0].shape[0] + 2), width, 3), 255, np.uint8)
    for k, row in enumerate(rows):
        sheet[k * (row.shape[0] + 2): k * (row.shape[0] + 2) + row.shape[0], : row.shape[1]] = row
    Image.fromarray(sheet).resize((sheet.shape[1] * scale, sheet.shape[0] * scale), Image.NEAREST).save(path, optimize=True)


def figures(harness: Harness, folder: Path, work: Path) -> None:
    """The same held-out story with memory and with --no-memory (reference image: memory only)."""
    folder.mkdir(parents=True, exist_ok=True)
    story = held_out_story(0)
    reference = reference_image(story.identity)
    storyboard([reference[None]], folder / "toy_reference.png")
    storyboard(harness.run(story, 0, work / "fig-m")["shots"], folder / "toy_with_memory.png")
    storyboard(harness.run(story, 0, work / "fig-n", use_memory=False)["shots"], folder / "toy_no_memory.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=10)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--long-stories", type=int, default=None, metavar="N", help="12-shot stories for the sink rows (default: stories / 3, at least 2)")
    parser.add_argument("--weights", type=Path, help="a toy weights folder (default: the shipped one)")
    parser.add_argument("--revision-stories", type=int, default=None, metavar="N",
                        help="stories for the director.api revision rows, the slowest (default: all; 0 skips them)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--figures", type=Path, metavar="DIR", help="also write the with/without-memory storyboards of story 0 here")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    started, cpu = time.perf_counter(), time.process_time()
    harness = Harness(args.weights)
    stories = [held_out_story(i) for i in range(args.stories)]
    long_count = max(2, args.stories // 3) if args.long_stories is None else args.long_stories
    long_stories = [held_out_story(1000 + i, shots=12) for i in range(long_count)]
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.figures:
            figures(harness, args.figures, Path(tmp))
        for seed in seeds:
            rows[seed] = measure_seed(harness, seed, stories, Path(tmp), long_stories)
            print(f"seed {seed} ({time.perf_counter() - started:.0f}s): {json.dumps(rows[seed])}", file=sys.stderr, flush=True)
        count = args.stories if args.revision_stories is None else args.revision_stories
        if count:
            for seed, extra in revision_rows(stories[:count], seeds, Path(tmp), args.weights).items():
                rows[seed].update(extra)
    names = list(next(iter(rows.values())))
    print(f"toy memory benchmark: {args.stories} held-out stories (5 shots), {len(long_stories)} 12-shot stories, seeds {args.seeds}")
    print(f"{'measure':28s}" + "".join(f"{'seed ' + str(s):>11s}" for s in seeds))
    for name in names:
        print(f"{name:28s}" + "".join(f"{rows[s][name]:11.3f}" for s in seeds))
    print(f"wall {time.perf_counter() - started:.0f}s, CPU {time.process_time() - cpu:.0f}s")
    if args.json:
        args.json.write_text(json.dumps({str(k): v for k, v in rows.items()}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
