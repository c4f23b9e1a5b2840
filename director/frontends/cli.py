"""`storymem`: turn a one-line idea into a multi-shot film.

The command line parses and dispatches; everything it runs is `director.api`. The `make` options
are generated from `RunSettings`, so a setting added there is a flag here. Errors a user can fix
print one line on stderr and exit with status 2, before anything on disk is touched.
"""

from __future__ import annotations

import argparse
import logging
import sys
import types
import typing
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from director import api
from director.planning.planner import PlanError
from director.batch.jobs import BatchInputError
from director.run.checkpoints import CheckpointDBError
from director.run.context import SettingsError
from director.run.settings import RunSettings
from director.story import ScriptError
from generator.backends import BackendError

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
  storymem redo runs/keeper 3          a new version with shot 3 regenerated (new seed)
  storymem history runs/keeper         the versions; `undo` and `checkout v1` move between them

The story folder holds script.json, shots/<scene>_<shot>.mp4, story.mp4, story.srt and
report.html (the current version's), takes/ and versions/ (every attempt and every version),
memory/, events.jsonl and state.sqlite. Re-running the same command on it resumes.
"""

GROUPS = {"story": None, "critic": "critic", "memory": "memory models and reference images", "wan": "wan and tiny backends"}
USER_ERRORS = (api.UsageError, PlanError, ScriptError, BackendError, SettingsError, CheckpointDBError, BatchInputError)


class UsageError(Exception):
    """A command line that cannot be run; printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, allow_abbrev=False, **kwargs)

    def error(self, message: str) -> typing.NoReturn:  # one line instead of usage + message
        raise UsageError(f"{message} (see {self.prog} --help)")


def _is_list(annotation) -> bool:
    return typing.get_origin(annotation) is list


def _scalar(annotation) -> type:
    """The Python type argparse converts to: int and float, else str (pydantic checks the rest)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)] if isinstance(annotation, types.UnionType) else [annotation]
    return args[0] if args and args[0] in (int, float) else str


def add_settings_options(parser: argparse.ArgumentParser) -> None:
    """One `--long-option` per `RunSettings` field, in the field's group, with its help."""
    groups = {key: parser.add_argument_group(title) if title else parser for key, title in GROUPS.items()}
    for name, field in RunSettings.model_fields.items():
        extra = field.json_schema_extra or {}
        flag = "--" + name.replace("_", "-")
        target = groups[extra.get("group", "story")]
        if field.annotation is bool:
            target.add_argument(flag, dest=name, action="store_true", default=None, help=field.description)
        elif _is_list(field.annotation):
            target.add_argument(flag, dest=name, action="append", metavar=extra.get("metavar"), help=field.description)
        else:
            target.add_argument(flag, dest=name, type=_scalar(field.annotation), metavar=extra.get("metavar"), help=field.description)


def settings_from(args: argparse.Namespace) -> RunSettings:
    """The options given on the command line, over the defaults."""
    given = {name: getattr(args, name) for name in RunSettings.model_fields if getattr(args, name, None) is not None}
    try:
        return RunSettings(**given)
    except ValidationError as error:
        raise UsageError(describe_settings_error(error)) from None


def describe_settings_error(error: ValidationError) -> str:
    """The first problem as one line in the command line's words (`--max-attempts must be ...`)."""
    problem = error.errors()[0]
    name = str(problem["loc"][0])
    flag, value = "--" + name.replace("_", "-"), problem.get("input")
    field = RunSettings.model_fields.get(name)
    kind, context = problem["type"], problem.get("ctx", {})
    if kind == "literal_error":
        choices = ", ".join(typing.get_args(typing.get_args(field.annotation)[0]) if isinstance(field.annotation, types.UnionType) else typing.get_args(field.annotation))
        return f"unknown {name.replace('_', ' ')} {value!r}; choose one of: {choices}"
    if kind in ("greater_than_equal", "less_than_equal"):
        bounds = {type(m).__name__: m for m in field.metadata}
        if "Ge" in bounds and "Le" in bounds:
            return f"{flag} must be between {bounds['Ge'].ge} and {bounds['Le'].le}, got {value}"
        return f"{flag} must be at least {context.get('ge')}, got {value}" if "ge" in context else f"{flag} must be at most {context.get('le')}, got {value}"
    if kind == "string_pattern_mismatch" and name == "size":
        return f"--size must look like 832x480, got {value!r}"
    return f"{flag} {problem['msg'].removeprefix('Value error, ')}"


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
    make.add_argument("--force", action="store_true", help="replace a different story already in --out (only files storymem wrote)")
    add_settings_options(make)

    redo = commands.add_parser(
        "redo",
        help="make a new version with some shots generated again",
        description="Generate the named shots again, each from the memory it had and with a new seed; every other shot "
        "keeps its take. The result is a new version: `storymem undo` goes back.",
        epilog="examples:\n  storymem redo runs/keeper 3\n  storymem redo runs/keeper 2 5 --seed 7 --seed 8",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    redo.add_argument("folder", type=Path, help="a story folder made by storymem make")
    redo.add_argument("shots", nargs="+", help="film shot numbers (1 = the first shot) or shot ids like 01_02")
    redo.add_argument("--seed", type=int, action="append", metavar="N", help="the new seed of each shot, in order (default: a fresh one)")

    history = commands.add_parser("history", help="list a story's versions", description="Every version of a story: number, what made it, shots, and which is current.")
    history.add_argument("folder", type=Path, help="a story folder")
    undo = commands.add_parser("undo", help="go back to the previous version (nothing is regenerated)", description="Make the version the current one was made from current again; its film comes back byte for byte.")
    undo.add_argument("folder", type=Path, help="a story folder")
    checkout = commands.add_parser("checkout", help="make any version current (nothing is regenerated)", description="Make a finished version current: its film, script and shots come back byte for byte.")
    checkout.add_argument("folder", type=Path, help="a story folder")
    checkout.add_argument("version", help="a version, e.g. v1 or 1")

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
    memory.add_argument("action", nargs="?", default="list", help=" | ".join(api.MEMORY_ACTIONS))
    memory.add_argument("target", nargs="?", help="entry id (m0001...) or, for add, an image file")
    memory.add_argument("values", nargs="*", help="tag: character names; replace: the new image file")
    memory.add_argument("--character", metavar="NAME", action="append", default=[], help="for add: the character(s) the image shows")
    from director.frontends.batch import add_parser as add_batch_parser

    add_batch_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="storymem: warning: %(message)s")
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except (UsageError, *USER_ERRORS) as error:
        print(f"storymem: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("storymem: interrupted; finished shots are kept, run the same command again to resume", file=sys.stderr)
        return 130


# --- commands --------------------------------------------------------------------------------------


def make(args: argparse.Namespace) -> int:
    if args.logline is None and args.script is None and args.out is None:
        raise UsageError("give a logline, --script FILE, or --out FOLDER to resume")
    settings = settings_from(args)
    return _with_progress(args.out, lambda progress: api.make_story(args.out, logline=args.logline, script=args.script, settings=settings, on_event=progress, force=args.force))


def redo(args: argparse.Namespace) -> int:
    return _with_progress(args.folder, lambda progress: api.redo_shots(args.folder, args.shots, seeds=args.seed, on_event=progress))


def _with_progress(folder: Path | None, run: Callable[[_Progress], api.StoryResult]) -> int:
    """Run a generating call with the progress display; a failure that is not the user's says
    what happened and that the finished shots are kept."""
    with _Progress() as progress:
        try:
            result = run(progress)
        except USER_ERRORS:
            raise
        except Exception as error:
            return progress.failed(error, folder)
    _print_result(result)
    return 0


def history(args: argparse.Namespace) -> int:
    versions = api.history(args.folder)
    current = api.current_version(args.folder)
    print(f"{'version':<8} {'made from':<10} {'state':<11} {'shots':>5}  what")
    for version in versions:
        state = "current" if version.number == current else ("done" if version.done else "being made")
        parent = f"v{version.parent}" if version.parent else "-"
        print(f"{'v' + str(version.number):<8} {parent:<10} {state:<11} {len(version.shots):>5}  {version.note}")
    return 0


def undo(args: argparse.Namespace) -> int:
    result = api.undo(args.folder)
    print(f"now at version {result.version}")
    _print_result(result)
    return 0


def checkout(args: argparse.Namespace) -> int:
    result = api.checkout(args.folder, args.version)
    print(f"now at version {result.version}")
    _print_result(result)
    return 0


def memory(args: argparse.Namespace) -> int:
    bank = api.edit_memory(args.folder, args.action, args.target, args.values, args.character)
    print(f"memory of {bank.folder.parent} ({len(bank.active())} of {bank.capacity} active, first {bank.sink} are the sink):")
    for entry in bank.active():
        score = f"{entry.score:.2f} ({entry.scorer})" if entry.score is not None else "-"
        origin = f"shot {entry.shot_id} frame {entry.frame_index}" if entry.kind == "keyframe" else "reference"
        flags = " pinned" if entry.pinned else ""
        tags = f" [{', '.join(entry.characters)}]" if entry.characters else ""
        print(f"  {entry.id}  {origin:<22} quality {score}{flags}{tags}  {bank.folder / entry.image}")
    return 0


def batch(args: argparse.Namespace) -> int:
    from director.frontends.batch import run

    return run(args)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "make": make,
    "redo": redo,
    "history": history,
    "undo": undo,
    "checkout": checkout,
    "memory": memory,
    "batch": batch,
}


# --- output ----------------------------------------------------------------------------------------


class _Progress:
    """Notes on stderr as they come, and a bar of shots that counts the ones already made."""

    def __init__(self):
        from tqdm import tqdm

        self.bar = tqdm(total=None, unit="shot", desc="shots", file=sys.stderr, dynamic_ncols=True, disable=None)

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()

    def __call__(self, event: dict) -> None:
        if "note" in event:
            self.bar.write(event["note"], file=sys.stderr)
        if "shot_done" not in event:
            return
        if self.bar.total is None:
            self.bar.reset(total=event["total"])
            self.bar.update(event["index"])  # shots already made by an earlier run
        self.bar.set_postfix_str(f"{event['shot_done']}: {event['frames']} frames", refresh=False)
        self.bar.update(1)

    def failed(self, error: Exception, folder: Path | None) -> int:
        self.bar.close()
        print(f"storymem: error: {type(error).__name__}: {error}", file=sys.stderr)
        where = f" in {folder}" if folder else ""
        print(f"storymem: finished shots are kept{where}; run the same command again to resume", file=sys.stderr)
        return 1


def _print_result(result: api.StoryResult) -> None:
    print(f"film:      {result.film}  ({result.shots} shots, {result.frames} frames; version {result.version})")
    print(f"report:    {result.report}")
    print(f"subtitles: {result.subtitles}")
    print(f"script:    {result.script}")
    print(f"events:    {result.events}")


if __name__ == "__main__":
    sys.exit(main())
