"""`storymem`: turn a one-line idea into a multi-shot film.

Errors a user can fix (bad logline, bad script, folder holding another story, unknown names)
print one line on stderr and exit with status 2, before anything on disk is touched.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import sys
from pathlib import Path

from director.planner import DEFAULT_SHOTS, PLANNERS, PlanError, check_logline, check_shot_count, make_planner
from director.story import ScriptError, Story, load_script, slugify
from director.workspace import Workspace
from generator.backends import BACKENDS, BackendError, resolve_backend

EXAMPLES = """\
examples:
  storymem make "A lighthouse keeper befriends a stray fox during a winter storm."
      plan 8 shots offline and render an animatic (no GPU needed) into runs/<slug>/
  storymem make "..." --shots 12 --backend wan --planner openai --llm-model gpt-4o-mini
      plan with an LLM and generate with Wan2.2 M2V on a CUDA GPU
  storymem make --script story.storymem.json --out runs/keeper
      make a film from your own script (storymem JSON or StoryMem/ST-Bench format)
  storymem make --out runs/keeper
      resume an interrupted run: finished shots are kept, the rest is made

The story folder holds script.json, shots/<scene>_<shot>.mp4, memory/, story.mp4, story.srt,
events.jsonl and state.sqlite. Re-running the same command on it resumes.
"""

#: What a story folder may contain; --force removes these and nothing else.
OWNED = ("script.json", "run.json", "shots", "memory", "story.mp4", "story.srt", "events.jsonl", "state.sqlite", "state.sqlite-shm", "state.sqlite-wal", "report.html", "report")


class UsageError(Exception):
    """A problem the user can fix; printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + message
        raise UsageError(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="storymem", description="An agentic story director for multi-shot video.", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    make = commands.add_parser(
        "make",
        help="plan a story and make its film (or resume one)",
        description="Plan a story from a logline (or read a script), generate every shot with memory, and assemble the film.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    make.add_argument("logline", nargs="?", help="the story in one line (up to 2,000 characters)")
    make.add_argument("--script", type=Path, help="a script file instead of a logline: storymem JSON or StoryMem's format")
    make.add_argument("--out", type=Path, help="story folder (default: runs/<slug>); re-running on it resumes")
    make.add_argument("--shots", type=int, default=DEFAULT_SHOTS, help=f"number of shots to plan (default {DEFAULT_SHOTS})")
    make.add_argument("--seed", type=int, default=0, help="base seed: same logline and seed, same script and film (default 0)")
    make.add_argument("--planner", default="auto", help=f"{' | '.join(PLANNERS)}: auto uses an LLM when one is configured, else offline")
    make.add_argument("--llm-model", help="LLM model name for --planner openai/auto (or STORYMEM_LLM_MODEL)")
    make.add_argument("--llm-base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1 (or OPENAI_BASE_URL)")
    make.add_argument("--backend", default="auto", help=f"{' | '.join(BACKENDS)}: auto picks wan on a CUDA GPU, else the preview animatic")
    make.add_argument("--size", help="frame size WxH (default: the backend's own, 832x480 for preview and wan)")
    make.add_argument("--frames", type=int, help="frames per generated clip (default: the backend's own, 81 = 5 s at 16 fps)")
    make.add_argument("--continuation", default="mi2v", help="how a 'continue' shot is conditioned: mi2v (last frame) or mm2v (last 5 frames)")
    make.add_argument("--max-attempts", type=int, default=3, help="attempts per shot before the best one is kept (default 3)")
    make.add_argument("--embedder", default="auto", help="memory image embedder: auto (CLIP when its weights are local), clip, colour-structure")
    make.add_argument("--quality-scorer", default="auto", help="frame quality scorer: auto (HPSv3 when its weights are local), hpsv3, brisque, heuristic")
    make.add_argument("--force", action="store_true", help="replace a different story already in --out")
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="storymem: warning: %(message)s")
    try:
        args = build_parser().parse_args(argv)
        return make(args)
    except (UsageError, PlanError, ScriptError, BackendError) as error:
        print(f"storymem: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("storymem: interrupted; finished shots are kept, run the same command again to resume", file=sys.stderr)
        return 130


def _source(args: argparse.Namespace, script: Story | None) -> dict:
    """What the user asked for; a folder made from a different source holds a different story."""
    if script is not None:
        return {"script": script.fingerprint()}
    return {"logline": args.logline, "shots": args.shots, "seed": args.seed}


def _check_folder(workspace: Workspace, source: dict | None, force: bool) -> dict:
    """Refuse (or with --force, clear) a folder holding another story; returns the source to use."""
    existing = workspace.load_run().get("source")
    if source is None:
        if existing is None:
            raise UsageError(f"{workspace.root} holds no story to resume; give a logline or --script")
        return existing
    if existing is None and workspace.is_empty():
        return source
    if existing == source:
        return source
    if not force:
        what = f"a different story ({workspace.load_script().title!r})" if workspace.exists() else "files that are not this story"
        raise UsageError(f"{workspace.root} holds {what}; use --force to replace it or --out to choose another folder")
    for name in OWNED:
        path = workspace.root / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    return source


def make(args: argparse.Namespace) -> int:
    if args.logline is not None and args.script is not None:
        raise UsageError("give a logline or --script, not both")
    if args.logline is not None:
        args.logline = check_logline(args.logline)
    check_shot_count(args.shots)
    if args.max_attempts < 1:
        raise UsageError(f"--max-attempts must be at least 1, got {args.max_attempts}")
    if args.continuation not in ("mi2v", "mm2v"):
        raise UsageError(f"unknown --continuation {args.continuation!r}; choose mi2v or mm2v")
    clip_format = _clip_format(args.size, args.frames)
    script = load_script(args.script) if args.script is not None else None
    if args.logline is None and script is None and args.out is None:
        raise UsageError("give a logline, --script FILE, or --out FOLDER to resume")
    backend, backend_note = resolve_backend(args.backend)
    planner, planner_note = make_planner(args.planner, args.llm_model, args.llm_base_url) if script is None else (None, "planner: none (script given)")

    out = args.out or Path("runs") / slugify(script.title if script else args.logline)
    workspace = Workspace(out)
    source = _check_folder(workspace, _source(args, script) if (script or args.logline) else None, args.force)
    if args.logline is None and script is None:
        args.logline, args.shots, args.seed = source.get("logline"), source.get("shots", args.shots), source.get("seed", args.seed)
    story_id = f"{workspace.root.name}-{hashlib.sha256(json.dumps(source, sort_keys=True).encode()).hexdigest()[:8]}"
    workspace.root.mkdir(parents=True, exist_ok=True)
    workspace.save_run({"story_id": story_id, "source": source, "backend": backend, "planner": getattr(planner, "name", None)})
    if script is not None and not workspace.exists():
        workspace.save_script(script)

    print(planner_note, file=sys.stderr)
    print(backend_note, file=sys.stderr)
    return run_story(workspace, story_id, backend, planner, clip_format, args)


def _clip_format(size: str | None, frames: int | None) -> dict[str, int]:
    clip_format = {}
    if size is not None:
        try:
            width, height = (int(v) for v in size.lower().split("x"))
        except ValueError:
            raise UsageError(f"--size must look like 832x480, got {size!r}") from None
        if width < 16 or height < 16 or width % 2 or height % 2:
            raise UsageError(f"--size needs even sides of at least 16 pixels, got {size}")
        clip_format.update(width=width, height=height)
    if frames is not None:
        if frames < 6:
            raise UsageError(f"--frames must be at least 6 (a motion continuation copies 5), got {frames}")
        clip_format["num_frames"] = frames
    return clip_format


def run_story(workspace: Workspace, story_id: str, backend: str, planner, clip_format: dict[str, int], args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from director.critic import Critic
    from director.graph import DirectorContext, run_director
    from generator.backends import load_generator
    from generator.base import ShotMode
    from memory.bank import MemoryBank
    from memory.vision import load_embedder, load_quality_scorer

    generator = load_generator(backend, cache_dir=Path(".cache") / "storymem", clip_format=clip_format)
    embedder = load_embedder(args.embedder)
    scorer = load_quality_scorer(args.quality_scorer)
    bank = MemoryBank.load(workspace.memory_dir, on_event=lambda event: workspace.log(event.pop("event"), **event))
    critic = Critic(
        max_attempts=args.max_attempts,
        quality_threshold=None if backend == "preview" else scorer.threshold,
        consistency_margin=0.15 if hasattr(embedder, "embed_texts") else None,
    )

    progress = tqdm(total=None, unit="shot", desc="shots", file=sys.stderr, dynamic_ncols=True)

    def on_shot_done(info: dict) -> None:
        if progress.total is None:
            progress.reset(total=info["total"])
            progress.update(info["index"])  # shots already made by an earlier run
        progress.set_postfix_str(f"{info['shot']}: {info['frames']} frames", refresh=False)
        progress.update(1)

    context = DirectorContext(
        workspace=workspace,
        generator=generator,
        bank=bank,
        embedder=embedder,
        scorer=scorer,
        critic=critic,
        planner=planner,
        continuation=ShotMode(args.continuation),
        on_shot_done=on_shot_done,
    )
    shots = len(workspace.load_script().shots) if workspace.exists() else args.shots
    inputs = {"logline": args.logline or "", "shots_wanted": args.shots, "seed": args.seed}
    try:
        result = run_director(context, story_id, inputs, shots, args.max_attempts)
    except Exception as error:
        progress.close()
        print(f"storymem: error: {type(error).__name__}: {error}", file=sys.stderr)
        print(f"storymem: finished shots are kept in {workspace.root}; run the same command again to resume", file=sys.stderr)
        return 1
    progress.close()
    film = result["film"]
    print(f"film:      {workspace.film_path}  ({film['shots']} shots, {film['frames']} frames at {generator.fps} fps)")
    print(f"report:    {workspace.root / 'report.html'}")
    print(f"subtitles: {workspace.subtitles_path}")
    print(f"script:    {workspace.script_path}")
    print(f"events:    {workspace.events_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
