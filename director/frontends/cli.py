"""`storymem`: turn a one-line idea into a multi-shot film.

The command line parses and dispatches; everything it runs is `director.api`. The `make` options
are generated from `RunSettings`, so a setting added there is a flag here. Errors a user can fix
print one line on stderr and exit with status 2, before anything on disk is touched.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import typing
from collections.abc import Callable
from pathlib import Path


def _interrupted_while_loading(signum: int, frame: object) -> typing.NoReturn:
    """Ctrl-C while the modules below import (seconds, before `main` can catch anything): one
    line and status 130, not a KeyboardInterrupt traceback."""
    print("storymem: interrupted", file=sys.stderr)
    raise SystemExit(130)


_LOADING = threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is signal.default_int_handler
if _LOADING:
    signal.signal(signal.SIGINT, _interrupted_while_loading)

from director import api
from director.api import USER_ERRORS
from director.frontends import batch as batch_command, evaluate as eval_command, studio as studio_command, train as train_command
from director.frontends.options import UsageError, add_settings_options, settings_from
from director.settings import MAX_SEED

if _LOADING:  # loaded: Ctrl-C is a KeyboardInterrupt again, which `main` says in one line
    signal.signal(signal.SIGINT, signal.default_int_handler)

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

class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, allow_abbrev=False, **kwargs)

    def error(self, message: str) -> typing.NoReturn:  # one line instead of usage + message
        raise UsageError(f"{message} (see {self.prog} --help)")


def _seed(text: str) -> int:
    """A shot seed, as the story model takes it (0 to 2^32-1)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid seed {text!r}: give a whole number") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"a seed is 0 to {MAX_SEED}, got {value}")
    return value


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
    make.add_argument("--review", action="store_true", help="stop after planning: read or edit script.json, then run make --out FOLDER to film it")
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
    redo.add_argument("--seed", type=_seed, action="append", metavar="N", help="the new seed of each shot, in order (default: a fresh one)")

    revise = commands.add_parser(
        "revise",
        help="change a finished film in words; only what must change is made again",
        description="Read an instruction, show which shots it changes and which later shots depend on them (from the "
        "memory each shot was made with), then make a new version. `storymem undo` goes back.",
        epilog="instructions:\n  \"make shot 3 at night\"        \"make scene 2 in the rain\"\n  \"change shot 2 to: ...\"       "
        "\"regenerate shot 4\"\n  \"cut between shots 2 and 3\"    \"continue shot 2 into 3\"\n  \"remove shot 5\"               "
        "\"add a shot after 3: ...\"\n  \"swap shots 2 and 3\"          \"move shot 5 before shot 4\"\n  \"give Mara a red scarf\"       (several, separated by ';')\n\nexamples:\n"
        "  storymem revise runs/keeper \"make shot 3 at night\" --dry-run\n  storymem revise runs/keeper \"give the keeper a red scarf\" --only",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    revise.add_argument("folder", type=Path, help="a story folder made by storymem make")
    revise.add_argument("instruction", help="what to change, in words (see the forms below)")
    policy = revise.add_mutually_exclusive_group()
    policy.add_argument("--only", dest="policy", action="store_const", const="only", help="make only the changed shots again; dependents keep their takes")
    policy.add_argument("--cascade", dest="policy", action="store_const", const="cascade", help="also make again every later shot that depends on a changed one")
    revise.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    revise.add_argument("--json", action="store_true", help="print the plan as JSON and stop")

    shots = commands.add_parser("shots", help="list a story's shots with their film numbers", description="The current version's shots, numbered as the film shows them (the numbers revise and redo take).")
    shots.add_argument("folder", type=Path, help="a story folder")
    chat = commands.add_parser(
        "chat",
        help="revise a film in a conversation: plan, confirm, undo",
        description="Type a change; see its plan; answer yes, no, only or cascade. Also: undo, history, shots, quit.",
    )
    chat.add_argument("folder", type=Path, help="a story folder made by storymem make")

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
    for command in (batch_command, eval_command, train_command, studio_command):
        command.add_parser(commands)
    from director.frontends import mcp_server, serve  # FastAPI and the MCP SDK load only for their commands

    serve.add_parser(commands, add_settings_options)
    mcp_server.add_parser(commands, add_settings_options)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="storymem: warning: %(message)s")
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except USER_ERRORS as error:
        print(f"storymem: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`| head`): nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt as interrupt:
        where = getattr(interrupt, "storymem_note", None) or "finished shots are kept, run the same command again to resume"
        print(f"storymem: interrupted; {where}", file=sys.stderr)
        return 130


# --- commands --------------------------------------------------------------------------------------


def make(args: argparse.Namespace) -> int:
    if args.logline is None and args.script is None and args.out is None:
        raise UsageError("give a logline, --script FILE, or --out FOLDER to resume")
    settings = settings_from(args)
    return _with_progress(args.out, lambda progress: api.make_story(args.out, logline=args.logline, script=args.script, settings=settings, on_event=progress, force=args.force, review=args.review))


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
    if result is not None:  # None: a --parallel follower rank, which made no story of its own
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


def revise(args: argparse.Namespace) -> int:
    plan = api.plan_revision(args.folder, args.instruction, policy=args.policy)
    if args.json:
        print(json.dumps(plan.model_dump(mode="json", exclude={"script"}), indent=2, ensure_ascii=False))
        return 0
    print(plan.describe())
    if args.dry_run:
        return 0
    return _with_progress(args.folder, lambda progress: api.revise_story(args.folder, args.instruction, plan=plan, on_event=progress))


def shots(args: argparse.Namespace) -> int:
    story = api.current_script(args.folder)
    for number, shot in enumerate(story.shots, start=1):
        print(f"{number:>3}  {shot.id:<8} scene {shot.scene:<3} {shot.transition:<9} {shot.prompt}")
    return 0


def chat(args: argparse.Namespace) -> int:
    """A terminal conversation over the revision graph; each instruction is one interrupted run."""
    import uuid

    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.types import Command

    from director.revision.impact import ImpactPlan
    from director.revision.session import ANSWERS, TurnContext, build_turn

    api.check_finished(args.folder)
    story = api.current_script(args.folder)
    turn = build_turn(InMemorySaver())
    print(f"{story.title}: {len(story.shots)} shots. Say what to change (e.g. \"make shot 2 at night\"); also undo, history, shots, quit.")
    while True:
        line = _ask("> ")
        if line is None or line.strip().lower() in ("quit", "exit", "q"):
            return 0
        command = line.strip()
        if not command:
            continue
        if command.lower() in ("undo", "history", "shots"):
            try:
                COMMANDS[command.lower()](argparse.Namespace(folder=args.folder))
            except USER_ERRORS as error:
                print(f"storymem: {error}")
            continue
        with _Progress() as progress:
            context = TurnContext(folder=str(args.folder), revise=api.revise_story, on_event=progress)
            config = {"configurable": {"thread_id": uuid.uuid4().hex}}
            state = turn.invoke({"instruction": command}, config, context=context)
            if "__interrupt__" in state:
                progress.bar.write(ImpactPlan.model_validate(state["__interrupt__"][0].value).describe())
                answer = _ask("apply? [yes/no/only/cascade] ")
                while answer is not None and answer.strip().lower() not in ANSWERS:
                    answer = _ask("please answer yes, no, only or cascade: ")
                state = turn.invoke(Command(resume=answer or "no"), config, context=context)
        print(state.get("message") or "cancelled: nothing changed")


def _ask(prompt: str) -> str | None:
    try:
        return input(prompt)
    except EOFError:
        return None


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


def studio(args: argparse.Namespace) -> int:
    studio_command.check_studio(args.host, args.port, args.token, args.root)
    from director.frontends.studio_page import run  # gradio loads only for this command, once its arguments pass

    return run(args)


def serve(args: argparse.Namespace) -> int:
    from director.frontends.serve import run

    return run(args, settings_from(args))


def mcp(args: argparse.Namespace) -> int:
    from director.frontends.mcp_server import run

    return run(args, settings_from(args))


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "make": make,
    "redo": redo,
    "history": history,
    "revise": revise,
    "shots": shots,
    "chat": chat,
    "undo": undo,
    "checkout": checkout,
    "memory": memory,
    "batch": batch_command.run,
    "eval": eval_command.run,
    "train": train_command.run,
    "studio": studio,
    "serve": serve,
    "mcp": mcp,
}


# --- output ----------------------------------------------------------------------------------------


class _Progress:
    """Notes on stderr as they come, and a bar of shots that counts the ones already made; when
    stderr is not a terminal (a log file, a pipe), a line per finished shot instead of the bar."""

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
        if self.bar.disable:
            print(f"shot {event['index'] + 1} of {event['total']} done: {event['shot_done']}, {event['frames']} frames", file=sys.stderr, flush=True)
            return
        if self.bar.total is None:
            self.bar.reset(total=event["total"])
            self.bar.update(event["index"])  # shots already made by an earlier run
        self.bar.set_postfix_str(f"{event['shot_done']}: {event['frames']} frames", refresh=False)
        self.bar.update(1)

    def failed(self, error: Exception, folder: Path | None) -> int:
        self.bar.close()
        print(f"storymem: error: {type(error).__name__}: {_one_line(error)}", file=sys.stderr)
        note = getattr(error, "storymem_note", None)  # director.api says what is left: nothing, or where a rerun resumes
        where = f" in {folder}" if folder else ""
        # without a note the failure came before any shot was generated (generation is where notes are made)
        print(f"storymem: {note or f'nothing was generated{where}; fix the cause and run the same command again'}", file=sys.stderr)
        return 1


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 300 else text[:297] + "..."


def _print_result(result: api.StoryResult) -> None:
    if not result.film.is_file():  # planned for review, nothing generated
        print(f"script:    {result.script}  ({result.shots} shots planned, nothing generated yet)")
        print(f"next:      edit it if you like, then: storymem make --out {result.folder}")
        return
    print(f"film:      {result.film}  ({result.shots} shots, {result.frames} frames; version {result.version})")
    print(f"report:    {result.report}")
    print(f"subtitles: {result.subtitles}")
    print(f"script:    {result.script}")
    print(f"events:    {result.events}")
    from director.critic.scales import folder_summary

    for number, line in enumerate(folder_summary(result.folder)):
        print(f"{'scores:' if number == 0 else '':<11}{line}")


def console() -> None:
    """The `storymem` command: `main`, then the exit. After Ctrl-C the process leaves at once: a
    shot still generating in a worker thread (minutes on a GPU) would otherwise hold it until done,
    and that shot is made again on resume anyway (every finished one is on disk)."""
    code = main()
    if code == 130:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    console()
