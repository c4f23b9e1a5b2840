"""`storymem`: turn a one-line idea into a multi-shot film.

Errors a user can fix (bad logline, bad script, folder holding another story, unknown names)
print one line on stderr and exit with status 2, before anything on disk is touched.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import sys
from pathlib import Path

from director.planning.planner import DEFAULT_SHOTS, PLANNERS, PlanError, check_logline, check_shot_count, make_planner
from director.story import ScriptError, Story, load_script, slugify
from director.run.workspace import Workspace
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
    make.add_argument("--script", type=Path, metavar="FILE", help="a script file instead of a logline: storymem JSON or StoryMem's format")
    make.add_argument("--out", type=Path, metavar="FOLDER", help="story folder (default: runs/<slug>); re-running on it resumes")
    make.add_argument("--shots", type=int, metavar="N", default=DEFAULT_SHOTS, help=f"number of shots to plan (default {DEFAULT_SHOTS})")
    make.add_argument("--seed", type=int, metavar="N", default=0, help="base seed: same logline and seed, same script and film (default 0)")
    make.add_argument("--planner", metavar="NAME", default="auto", help=f"{' | '.join(PLANNERS)}: auto uses an LLM when one is configured, else offline")
    make.add_argument("--llm-model", metavar="NAME", help="LLM model name for --planner openai/auto (or STORYMEM_LLM_MODEL)")
    make.add_argument("--llm-base-url", metavar="URL", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1 (or OPENAI_BASE_URL)")
    make.add_argument("--backend", metavar="NAME", default="auto", help=f"{' | '.join(BACKENDS)}: auto picks wan on a CUDA GPU, else the preview animatic")
    make.add_argument("--size", metavar="WxH", help="frame size WxH (default: the backend's own, 832x480 for preview and wan)")
    make.add_argument("--frames", type=int, metavar="N", help="frames per generated clip (default: the backend's own, 81 = 5 s at 16 fps)")
    make.add_argument("--continuation", metavar="MODE", default="mi2v", help="how a 'continue' shot is conditioned: mi2v (last frame) or mm2v (last 5 frames)")
    make.add_argument("--max-attempts", type=int, metavar="N", default=3, help="attempts per shot before the best one is kept (default 3)")
    make.add_argument("--reference", type=Path, metavar="IMAGE", action="append", default=[], help="a reference image for the initial memory (repeatable); in a script, give characters reference_images instead")
    make.add_argument("--embedder", metavar="NAME", default="auto", help="memory image embedder: auto (CLIP ViT-B-32 when its weights are local), clip, clip:MODEL[@TAG], colour-structure")
    make.add_argument("--clip-checkpoint", metavar="FILE", help="a local open_clip checkpoint file for --embedder clip")
    make.add_argument("--quality-scorer", metavar="NAME", default="auto", help="frame quality scorer: auto (HPSv3 when its weights are local), hpsv3, brisque, heuristic")
    make.add_argument("--quality-threshold", type=float, metavar="X", help="quality gate for keyframes and the critic (default: the scorer's own, 3.0 for HPSv3)")
    make.add_argument("--hpsv3-checkpoint", metavar="PATH", help="HPSv3.safetensors (or its folder) for --quality-scorer hpsv3")
    wan = make.add_argument_group("wan and tiny backends")
    wan.add_argument("--model", metavar="ID_OR_FOLDER", default="Wan-AI/Wan2.2-I2V-A14B-Diffusers", help="Wan I2V model: hub id or local diffusers folder")
    wan.add_argument("--t2v-model", metavar="ID_OR_FOLDER", default="Wan-AI/Wan2.2-T2V-A14B-Diffusers", help="Wan T2V model for first shots, or 'none' (first shot by M2V with empty memory)")
    wan.add_argument("--lora", metavar="PATH[:WEIGHT]", action="append", default=[], help="LoRA file (StoryMem's or our format), optionally PATH:WEIGHT; repeatable to stack")
    wan.add_argument("--steps", type=int, metavar="N", help="sampling steps (default: 40 for wan, 4 for tiny)")
    wan.add_argument("--dtype", metavar="TYPE", default="bfloat16", help="bfloat16 | float16 | float32")
    wan.add_argument("--offload", metavar="MODE", default="model", help="none | model | group: CPU offload so 14B experts fit 24-48 GB cards")
    wan.add_argument("--attention", metavar="NAME", help="diffusers attention backend, e.g. flash or sage")
    wan.add_argument("--compile", action="store_true", help="torch.compile the repeated transformer blocks")
    make.add_argument("--force", action="store_true", help="replace a different story already in --out")

    memory = commands.add_parser(
        "memory",
        help="show or edit a story's memory bank",
        description="Show the keyframes that condition the next shots, or edit them. Edits are logged in events.jsonl "
        "and shape every shot made afterwards (a resumed run, a revision).",
        epilog="examples:\n  storymem memory runs/keeper\n  storymem memory runs/keeper pin m0002\n"
        "  storymem memory runs/keeper tag m0001 \"the keeper\"\n  storymem memory runs/keeper add face.png --character \"the keeper\"",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    memory.add_argument("folder", type=Path, help="a story folder made by storymem make")
    memory.add_argument("action", nargs="?", default="list", help="list | pin | unpin | drop | tag | add | replace")
    memory.add_argument("target", nargs="?", help="entry id (m0001...) or, for add, an image file")
    memory.add_argument("values", nargs="*", help="tag: character names; replace: the new image file")
    memory.add_argument("--character", metavar="NAME", action="append", default=[], help="for add: the character(s) the image shows")
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="storymem: warning: %(message)s")
    try:
        args = build_parser().parse_args(argv)
        return make(args) if args.command == "make" else edit_memory(args)
    except (UsageError, PlanError, ScriptError, BackendError) as error:
        print(f"storymem: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("storymem: interrupted; finished shots are kept, run the same command again to resume", file=sys.stderr)
        return 130


def _source(args: argparse.Namespace, script: Story | None) -> dict:
    """What the user asked for; a folder made from a different source holds a different story."""
    if script is not None:
        return {"script": script.fingerprint(), **({"references": [str(p.resolve()) for p in args.reference]} if args.reference else {})}
    source = {"logline": args.logline, "shots": args.shots, "seed": args.seed}
    if args.reference:
        source["references"] = [str(p.resolve()) for p in args.reference]
    return source


def _check_folder(workspace: Workspace, source: dict | None, force: bool) -> tuple[dict, bool]:
    """The source to run, and whether the folder must be cleared first (--force on another story).

    Reads only: a refusal leaves the folder exactly as it was.
    """
    existing = workspace.load_run().get("source")
    if source is None:
        if existing is None:
            raise UsageError(f"{workspace.root} holds no story to resume; give a logline or --script")
        return existing, False
    if existing == source or (existing is None and workspace.is_empty()):
        return source, False
    if not force:
        what = f"a different story ({workspace.load_script().title!r})" if workspace.exists() else "files that are not this story"
        raise UsageError(f"{workspace.root} holds {what}; use --force to replace it or --out to choose another folder")
    return source, True


def _clear(workspace: Workspace) -> None:
    """Remove what storymem wrote in a folder, and nothing else."""
    for name in OWNED:
        path = workspace.root / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def _generator_options(backend: str, args: argparse.Namespace) -> dict:
    if backend == "preview":
        return {}
    options = {"steps": args.steps} if args.steps else {}
    if backend == "wan":
        loras = []
        for spec in args.lora:
            path, _, weight = (spec, "", "") if Path(spec).exists() or ":" not in spec else spec.rpartition(":")
            try:
                loras.append((path, float(weight) if weight else 1.0))
            except ValueError:
                raise UsageError(f"--lora takes PATH or PATH:WEIGHT, got {spec!r}") from None
            if not Path(path).exists():
                raise UsageError(f"--lora file not found: {path}")
        options.update(
            model=args.model,
            t2v_model=None if args.t2v_model == "none" else args.t2v_model,
            loras=loras,
            dtype=args.dtype,
            offload=args.offload,
            attention=args.attention,
            compile=args.compile,
        )
    return options


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
    for image in args.reference:
        if not image.is_file():
            raise UsageError(f"--reference image not found: {image}")
    clip_format = _clip_format(args.size, args.frames)
    script = load_script(args.script) if args.script is not None else None
    if args.logline is None and script is None and args.out is None:
        raise UsageError("give a logline, --script FILE, or --out FOLDER to resume")
    backend, backend_note = resolve_backend(args.backend)
    planner, planner_note = make_planner(args.planner, args.llm_model, args.llm_base_url)
    if script is not None:  # nothing to plan; a configured LLM still refines prompts the critic rejects
        refines = callable(getattr(planner, "refine_prompt", None))
        planner_note = "planner: none (script given)" + ("; the LLM refines prompts the critic rejects" if refines else "")

    out = args.out or Path("runs") / slugify(script.title if script else args.logline)
    workspace = Workspace(out)
    asked = _source(args, script) if (script or args.logline) else None
    source, clear = _check_folder(workspace, asked, args.force)
    if asked is None:
        args.logline, args.shots, args.seed = source.get("logline"), source.get("shots", args.shots), source.get("seed", args.seed)
        args.reference = [Path(p) for p in source.get("references", [])]
    print(planner_note, file=sys.stderr)
    print(backend_note, file=sys.stderr)
    components = _load_components(backend, clip_format, args)  # slow and fallible: before any write
    generator = components["generator"]
    render = {"backend": backend, "size": f"{generator.width}x{generator.height}", "frames": generator.num_frames, "fps": generator.fps}
    made = workspace.load_run().get("render")
    if made and made != render and not clear:
        raise UsageError(
            f"{workspace.root} was made with {made['backend']} at {made['size']}, {made['frames']} frames a clip; "
            f"this run asks for {backend} at {render['size']}, {render['frames']}: use the same settings to resume, "
            "--force to start over, or --out for a new folder"
        )

    if clear:
        _clear(workspace)
    story_id = f"{workspace.root.name}-{hashlib.sha256(json.dumps(source, sort_keys=True).encode()).hexdigest()[:8]}"
    workspace.root.mkdir(parents=True, exist_ok=True)
    workspace.save_run({"story_id": story_id, "source": source, "render": render, "planner": getattr(planner, "name", None)})
    if script is not None and not workspace.exists():
        workspace.save_script(script)
    return run_story(workspace, story_id, backend, planner, components, args)


def _load_components(backend: str, clip_format: dict[str, int], args: argparse.Namespace) -> dict:
    """The generator and vision models, loaded once for the whole run."""
    from generator.backends import load_generator
    from memory.vision import load_embedder, load_quality_scorer

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "storymem"
    try:
        embedder = load_embedder(args.embedder, checkpoint=args.clip_checkpoint)
        scorer = load_quality_scorer(args.quality_scorer, checkpoint=args.hpsv3_checkpoint)
    except ValueError as error:
        raise UsageError(str(error)) from None
    generator = load_generator(backend, cache_dir=cache, clip_format=clip_format, **_generator_options(backend, args))
    return {"generator": generator, "embedder": embedder, "scorer": scorer}


MEMORY_ACTIONS = ("list", "pin", "unpin", "drop", "tag", "add", "replace")


def edit_memory(args: argparse.Namespace) -> int:
    import numpy as np
    from PIL import Image

    from memory.bank import MemoryBank

    workspace = Workspace(args.folder)
    if not (workspace.memory_dir / "bank.json").is_file():
        raise UsageError(f"{args.folder} has no memory bank (make a story there first)")
    if args.action not in MEMORY_ACTIONS:
        raise UsageError(f"unknown memory action {args.action!r}; choose one of: {', '.join(MEMORY_ACTIONS)}")
    bank = MemoryBank.load(workspace.memory_dir, on_event=lambda event: workspace.log(event.pop("event"), source="user", **event))

    def image(path: str | None) -> np.ndarray:
        if path is None or not Path(path).is_file():
            raise UsageError(f"image not found: {path}")
        return np.asarray(Image.open(path).convert("RGB"))

    if args.action != "list":
        if args.target is None:
            raise UsageError(f"memory {args.action} needs {'an image file' if args.action == 'add' else 'an entry id'}")
        if args.action != "add" and args.target not in bank.entries:
            raise UsageError(f"no memory entry {args.target!r} in {args.folder}")
        try:
            if args.action == "add":
                bank.add_reference(image(args.target), characters=args.character)
            elif args.action == "replace":
                bank.replace(args.target, image(args.values[0] if args.values else None))
            elif args.action == "tag":
                bank.tag(args.target, args.values)
            else:
                getattr(bank, args.action)(args.target)
        except (KeyError, ValueError) as error:
            raise UsageError(str(error).strip("'\"")) from None
        bank.save()
    print(f"memory of {workspace.root} ({len(bank.active())} of {bank.capacity} active, first {bank.sink} are the sink):")
    for position, entry in enumerate(bank.active()):
        score = f"{entry.score:.2f} ({entry.scorer})" if entry.score is not None else "-"
        origin = f"shot {entry.shot_id} frame {entry.frame_index}" if entry.kind == "keyframe" else "reference"
        flags = " pinned" if entry.pinned else ""
        tags = f" [{', '.join(entry.characters)}]" if entry.characters else ""
        print(f"  {entry.id}  {origin:<22} quality {score}{flags}{tags}  {workspace.memory_dir / entry.image}")
    return 0


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


def run_story(workspace: Workspace, story_id: str, backend: str, planner, components: dict, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from director.run.context import Components, make_critic, open_bank
    from director.graph import run_director
    from generator.base import ShotMode
    from memory.select import SelectionConfig

    generator, embedder, scorer = components["generator"], components["embedder"], components["scorer"]
    critic = make_critic(backend, scorer, embedder, args.max_attempts, args.quality_threshold)

    progress = tqdm(total=None, unit="shot", desc="shots", file=sys.stderr, dynamic_ncols=True)

    def on_event(event: dict) -> None:
        if "shot_done" not in event:
            return
        if progress.total is None:
            progress.reset(total=event["total"])
            progress.update(event["index"])  # shots already made by an earlier run
        progress.set_postfix_str(f"{event['shot_done']}: {event['frames']} frames", refresh=False)
        progress.update(1)

    parts = Components(
        workspace=workspace,
        generator=generator,
        bank=open_bank(workspace),
        embedder=embedder,
        scorer=scorer,
        critic=critic,
        planner=planner,
        continuation=ShotMode(args.continuation),
        selection=SelectionConfig(quality_threshold=args.quality_threshold),
    )
    shots = len(workspace.load_script().shots) if workspace.exists() else args.shots
    inputs = {"logline": args.logline or "", "shots_wanted": args.shots, "seed": args.seed, "references": [str(p.resolve()) for p in args.reference]}
    try:
        result = run_director(parts, story_id, inputs, shots, args.max_attempts, on_event=on_event)
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
