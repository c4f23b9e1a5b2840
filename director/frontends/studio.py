"""`storymem studio`: make and revise stories in the browser, on the same `director.api` as the CLI.

The page shows the story folders under one root: the film, a storyboard of its shots (click one to
play it alone and read its prompt, scores, memory and the critic's reasons), the memory bank with
pin/drop, the versions with undo/checkout, and a chat whose instruction shows the impact plan before
anything is generated (the LangGraph turn graph of `director.revision.session`, paused at its
confirmation). Generating work goes to a queue that runs one job at a time and outlives the page;
progress is read from the story folder, so a reload, or a run started from the command line, shows
live. Every request carries the token when one is set; every path stays inside the root.

This module holds what the page stands on (the checks, the root, the queue, what is read from a
story folder, the handlers) and the command line; `studio_page` is the Gradio page itself, imported
only when the studio starts (Gradio takes seconds to import).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import secrets
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs

from pydantic import ValidationError

from director import api
from director.folder.files import atomic_write_bytes
from director.settings import RunSettings, describe_settings_error, setting_fields
from director.folder.workspace import Workspace
from director.story import ScriptError, Story, load_script, parse_script, slugify

TOKEN_ENV = "STORYMEM_STUDIO_TOKEN"
TOKEN_HEADER = "x-storymem-token"
TOKEN_COOKIE = "storymem-studio-token"
MAX_SCRIPT_BYTES = 1 << 20  # a 60-shot script is a few tens of kB
MAX_IMAGE_BYTES = 20 << 20
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP")
UPLOADS = ".uploads"  # under the root: uploaded scripts and reference images, by content hash


class StudioError(ValueError):
    """A request the studio refuses; shown to the user as one line."""


def check_bind(host: str, token: str | None) -> None:
    """Loopback needs nothing; any other address needs a token, or anyone on the network could spend the GPU."""
    if not token and not is_loopback(host):
        raise api.UsageError(f"--host {host} is reachable from other machines: give --token T (or set {TOKEN_ENV}) so every request must carry it")


def check_studio(host: str, port: int, token: str | None, root: Path) -> None:
    """What `storymem studio` refuses, checked before gradio loads (seconds), so a refusal is instant."""
    if not 0 <= port <= 65535:
        raise api.UsageError(f"--port must be between 0 and 65535, got {port}")
    check_bind(host, token)
    if root.exists() and not root.is_dir():
        raise api.UsageError(f"--root {root} is a file, not a folder")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- the root folder ---------------------------------------------------------------------------


class Root:
    """The folder whose subfolders are the stories; every name a request gives is checked here."""

    def __init__(self, path: str | Path):
        self.path = Path(path).resolve()

    def story(self, name: Any) -> Path:
        """The story folder `name`: one folder name directly under the root, never a path."""
        if not isinstance(name, str) or not name or name in (".", "..") or name.startswith(".") or any(c in name for c in "/\\\0"):
            raise StudioError(f"{name!r} is not a story name: give the name of a folder under {self.path}")
        path = (self.path / name).resolve()
        if path.parent != self.path:
            raise StudioError(f"{name!r} leaves the studio's root folder")
        return path

    def existing(self, name: Any) -> Path:
        path = self.story(name)
        if not (path / "versions").is_dir() and not (path / "run.json").is_file():
            raise StudioError(f"there is no story {name!r} under {self.path}")
        return path

    def stories(self) -> list[str]:
        """Story folders, most recently changed first."""
        found = [p for p in self.path.iterdir() if p.is_dir() and not p.name.startswith(".") and p.resolve().parent == self.path
                 and ((p / "versions").is_dir() or (p / "run.json").is_file())] if self.path.is_dir() else []
        return [p.name for p in sorted(found, key=_changed, reverse=True)]

    def keep_uploads(self, files: list[Path]) -> list[Path]:
        """Copies of checked uploads under the root (.uploads/<hash of them all>/<name>), so a story's
        records point inside the root and a script finds its reference images beside it."""
        digest = hashlib.sha256(b"".join(hashlib.sha256(p.read_bytes()).digest() for p in files)).hexdigest()[:16]
        kept = []
        for source in files:
            target = self.path / UPLOADS / digest / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(target, source.read_bytes())
            kept.append(target)
        return kept


def _changed(folder: Path) -> float:
    events = folder / "events.jsonl"
    return (events if events.is_file() else folder).stat().st_mtime


def check_image(path: str | Path) -> str:
    """The format of an uploaded reference image, read from its content (a name proves nothing)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if path.stat().st_size > MAX_IMAGE_BYTES:
        raise StudioError(f"{path.name} is larger than {MAX_IMAGE_BYTES >> 20} MB")
    try:
        with Image.open(path) as picture:
            kind = picture.format
            picture.verify()
    except (UnidentifiedImageError, OSError, SyntaxError):
        raise StudioError(f"{path.name} is not an image (PNG, JPEG or WebP)") from None
    if kind not in IMAGE_FORMATS:
        raise StudioError(f"{path.name} is a {kind} image; give PNG, JPEG or WebP")
    return kind


def check_script(path: str | Path, images: list[Path]) -> Story:
    """An uploaded script, checked before anything is written: small, valid, and naming as
    reference images only files uploaded with it (never a file of the server's)."""
    path = Path(path)
    if path.stat().st_size > MAX_SCRIPT_BYTES:
        raise StudioError(f"{path.name} is larger than {MAX_SCRIPT_BYTES >> 10} kB: a script is a small JSON file")
    try:
        story = parse_script(json.loads(path.read_bytes()))
    except (ValueError, RecursionError) as error:
        raise StudioError(f"{path.name} is not a script: {str(error).splitlines()[0] if isinstance(error, ScriptError) else 'not valid JSON'}") from None
    uploaded = {image.name for image in images}
    for character in story.characters:
        for image in character.reference_images:
            if image not in uploaded:
                raise StudioError(f"{character.name}'s reference image {image!r} must be uploaded with the script (by that file name)")
    return story


# --- the settings form, from RunSettings -------------------------------------------------------


#: Set by the reference-image upload beside the form, not typed.
FORM_SKIPS = ("reference",)


#: A weight after a file-naming setting's path: `PATH:W` or `PATH:HIGH,LOW` (LoRAs).
WEIGHTS = re.compile(r"-?[\d.]+(,-?[\d.]+)?")


def confine_paths(name: str, value: Any, root: Root) -> Any:
    """A setting that names files (`files` in its RunSettings field), with its paths resolved under
    the root (relative ones from it); a hub id (`org/model`, not a local path) is left as it is."""
    field = next(f for f in setting_fields() if f.name == name)
    if not field.files or value is None:
        return value
    if isinstance(value, list):
        return [confine_paths(name, item, root) for item in value]
    text, weight = str(value), ""
    if ":" in text and WEIGHTS.fullmatch(text.rpartition(":")[2]):
        text, _, weight = text.rpartition(":")
    if field.metavar == "ID_OR_FOLDER" and not text.startswith(("/", ".", "~")) and text.count("/") == 1 and not any(p.exists() for p in (Path(text), root.path / text)):
        return value  # a model hub id
    path = (root.path / text).resolve()
    if not path.is_relative_to(root.path):
        raise StudioError(f"{name}: {text!r} is outside the studio's root folder {root.path}; put the file there and name it from there")
    return str(path) + (f":{weight}" if weight else "")


def settings_from_form(values: dict[str, Any], root: Root) -> RunSettings:
    """The form's values over the defaults; an empty input or `default` means the field's default.
    Settings that name files must name them under the root."""
    kinds = {field.name: field.kind for field in setting_fields()}
    given: dict[str, Any] = {}
    for name, value in values.items():
        if value is None or value == "" or value == "default":
            continue
        if kinds[name] is list:
            value = [line.strip() for line in str(value).splitlines() if line.strip()]
        elif kinds[name] is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        given[name] = confine_paths(name, value, root)
    try:
        return RunSettings(**given)
    except ValidationError as error:
        raise StudioError(describe_settings_error(error)) from None


# --- the work queue ----------------------------------------------------------------------------


@dataclass
class Job:
    """One generating call: made on the page, run by the queue, watched by any page."""

    story: str
    what: str
    run: Callable[[Callable[[dict[str, Any]], None]], str]
    state: str = "queued"  # queued, running, done, failed
    message: str = ""
    notes: list[str] = field(default_factory=list)
    started: float | None = None


class Queue:
    """Generating work, one job at a time (one GPU), in a worker that outlives any page."""

    def __init__(self):
        self.jobs: list[Job] = []
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="storymem-studio")

    def submit(self, job: Job) -> Job:
        if any(j.story == job.story and j.state in ("queued", "running") for j in self.jobs):
            raise StudioError(f"{job.story} already has work queued or running; wait for it to finish")
        self.jobs.append(job)
        self._worker.submit(self._run, job)
        return job

    def _run(self, job: Job) -> None:
        job.state, job.started = "running", time.time()

        def note(event: dict[str, Any]) -> None:
            if "note" in event:
                job.notes.append(event["note"])

        try:
            job.message, job.state = job.run(note), "done"
        except Exception as error:  # the page says what failed; finished shots are on disk
            job.message, job.state = f"{type(error).__name__}: {' '.join(str(error).split())}", "failed"

    def of(self, story: str) -> Job | None:
        """The story's latest job."""
        return next((j for j in reversed(self.jobs) if j.story == story), None)

    def waiting_before(self, job: Job) -> int:
        return sum(1 for j in self.jobs[: self.jobs.index(job)] if j.state in ("queued", "running"))

    def busy(self) -> Job | None:
        return next((j for j in self.jobs if j.state == "running"), None)


# --- what the page shows, read from the story folder -------------------------------------------


def progress_lines(folder: Path, job: Job | None, queue: Queue) -> str:
    """The story's state as markdown: the version being made with each shot's state, or the current one."""
    workspace = Workspace(folder)
    lines = []
    if job is not None and job.state == "queued":
        lines.append(f"**queued**: {job.what} ({queue.waiting_before(job)} job(s) before it)")
    draft = workspace.draft()
    if draft is not None:
        parent = workspace.version(draft.parent) if draft.parent else None
        script = Story.model_validate(draft.script)
        making, attempt = _making(workspace)
        made = sum(1 for s in script.shots if s.id in draft.shots)
        lines.append(f"**version {draft.number} being made** ({draft.note}): {made} of {len(script.shots)} shots ready")
        for number, shot in enumerate(script.shots, start=1):
            entry = draft.shots.get(shot.id)
            if entry is not None:
                state = "kept from v%d" % parent.number if parent and parent.shots.get(shot.id) == entry else "made"
            elif shot.id == making:
                state = f"generating (attempt {attempt})"
            else:
                state = "waiting"
            lines.append(f"- shot {number} `{shot.id}`: {state}")
    elif workspace.current() is not None:
        current = workspace.current()
        lines.append(f"version {current.number}: {len(current.shots)} shots, {(current.film or {}).get('frames', 0)} frames")
    if job is not None and job.state in ("done", "failed"):
        lines.append(f"**{'finished' if job.state == 'done' else 'failed'}**: {job.what}: {job.message}")
    return "\n".join(lines) or "nothing made yet"


def _making(workspace: Workspace) -> tuple[str | None, int]:
    """The shot the run is on and its attempt, from the last `generate`/`critique`/`commit` event."""
    if not workspace.events_path.is_file():
        return None, 0
    with open(workspace.events_path, "rb") as f:
        f.seek(max(0, f.seek(0, 2) - 16384))
        tail = f.read().decode("utf-8", "replace").splitlines()[1:]
    for line in reversed(tail):
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "commit":
            return None, 0
        if event.get("event") in ("generate", "critique"):
            return event.get("shot"), int(event.get("attempt", 1)) + (event.get("event") == "critique")
    return None, 0


STALE_SECONDS = 30


def resumable(folder: Path, job: Job | None) -> bool:
    """An unfinished version that nothing is making: no studio job, and no event for a while
    (a run from the command line writes one at least every shot)."""
    workspace = Workspace(folder)
    if workspace.draft() is None or (job is not None and job.state in ("queued", "running")):
        return False
    return not workspace.events_path.is_file() or time.time() - workspace.events_path.stat().st_mtime > STALE_SECONDS


def stamp_of(folder: Path) -> str:
    """Changes whenever what the page shows of the story changes (a shot kept, a version made or
    chosen, its film linked: a version becomes current a moment before its film appears)."""
    workspace = Workspace(folder)
    draft, current = workspace.draft(), workspace.current()
    pointer = workspace.versions_dir / "current"
    film = workspace.film_path.stat() if workspace.film_path.is_file() else None
    return json.dumps([current.number if current else None, draft.number if draft else None, len(draft.shots) if draft else 0,
                       pointer.stat().st_mtime_ns if pointer.is_file() else 0, len(workspace.versions()),
                       [film.st_ino, film.st_mtime_ns] if film else None])


def storyboard(folder: Path) -> list[tuple[str, str]]:
    """The shots the top level shows, a middle frame each, captioned with the film number."""
    from director.film.report import _thumbnails

    workspace = Workspace(folder)
    version = workspace.current() or workspace.draft()
    if version is None:
        return []
    tiles = []
    for number, shot in enumerate(Story.model_validate(version.script).shots, start=1):
        if workspace.is_done(shot.id):
            middle = _thumbnails(workspace, workspace.root / "report", shot.id)[1]
            tiles.append((str(middle), f"{number} · {shot.id} · {shot.transition}"))
    return tiles


def shot_details(folder: Path, index: int) -> tuple[str, str, list[tuple[str, str]], list[str]]:
    """The shot at film position `index` (from 0): its video, a description, its memory, entry ids."""
    workspace = Workspace(folder)
    version = workspace.current() or workspace.draft()
    shots = Story.model_validate(version.script).shots if version else []
    if not isinstance(index, int) or not 0 <= index < len(shots) or not workspace.is_done(shots[index].id):
        raise StudioError(f"there is no finished shot {index + 1 if isinstance(index, int) else index!r}")
    shot = shots[index]
    record = workspace.load_shot_record(shot.id)
    scores = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in (record.get("scores") or {}).items() if v is not None and not isinstance(v, (dict, list)))
    lines = [
        f"### shot {index + 1} · `{shot.id}` · {shot.transition}",
        f"**prompt**: {record['prompt']}",
        *(f"**{line.speaker}** says: {line.text}" for line in shot.lines),  # the shot's planned lines
        f"**take** {record['take']} (seed {record['seed']}, {record['mode']}, {record['frames']} frames), decision **{record['decision']}** after {record['attempts']} attempt(s)",
        f"**scores**: {scores or 'none'}",
        "**critic**:",
    ]
    reasons = []
    for attempt in record.get("history", []):
        decision = attempt.get("decision") or {}
        overall = f"{attempt['overall']:.3g}" if isinstance(attempt.get("overall"), float) else "-"
        reasons.append(f"- attempt {attempt['number']} ({attempt['take']}, seed {attempt['seed']}, overall {overall}): {decision.get('action', '-')}: {decision.get('reason', 'not judged')}")
    bank = api.edit_memory(folder, "list")
    memory = []
    for entry_id in record.get("memory", []):
        entry = bank.entries.get(entry_id)
        if entry is not None:
            origin = f"shot {entry.shot_id} frame {entry.frame_index}" if entry.kind == "keyframe" else "reference"
            memory.append((str(bank.folder / entry.image), f"{entry_id} · {origin}{' · pinned' if entry.pinned else ''}"))
    text = "\n\n".join(lines) + "\n\n" + "\n".join(reasons)
    return str(workspace.shot_video(shot.id)), text, memory, list(record.get("memory", []))


def versions_table(folder: Path) -> str:
    """The versions, newest first, as a markdown table."""
    workspace = Workspace(folder)
    current = workspace.current()
    rows = ["| version | from | state | shots | what |", "|---|---|---|---|---|"]
    for version in reversed(workspace.versions()):
        state = "current" if current and version.number == current.number else ("done" if version.done else "being made")
        note = version.note.replace("|", "\\|")
        rows.append(f"| v{version.number} | {f'v{version.parent}' if version.parent else '-'} | {state} | {len(version.shots)} | {note} |")
    return "\n".join(rows)


def bank_lines(folder: Path) -> str:
    bank = api.edit_memory(folder, "list")
    lines = [f"{len(bank.active())} of {bank.capacity} active (the first {bank.sink} are the sink):"]
    for entry in bank.active():
        origin = f"shot {entry.shot_id} frame {entry.frame_index}" if entry.kind == "keyframe" else "reference"
        lines.append(f"- `{entry.id}` {origin}{' · **pinned**' if entry.pinned else ''}")
    return "\n".join(lines)


# --- the app -----------------------------------------------------------------------------------


class Studio:
    """The page's handlers over one root folder and one queue."""

    def __init__(self, root: str | Path):
        from langgraph.checkpoint.memory import InMemorySaver

        from director.revision.session import build_turn

        self.root = Root(root)
        self.queue = Queue()
        self.turn = build_turn(InMemorySaver())  # the chat's turns, paused at their confirmation

    def stories(self) -> list[str]:
        """What the page lists: the root's story folders, then stories queued here whose folder is
        not made yet (a listing without them would take a just-queued story off the page)."""
        names = self.root.stories()
        return names + [j.story for j in self.queue.jobs if j.state in ("queued", "running") and j.story not in names]

    # each handler raises StudioError / api errors; `_user` turns them into one line on the page

    def make(self, name: str, logline: str, script: str | None, references: list[str] | None, values: dict[str, Any]) -> str:
        """Queue a new story; every input is checked before anything is written."""
        images = [Path(p) for p in references or []]
        for image in images:
            check_image(image)
        story = check_script(script, images) if script else None
        logline = (logline or "").strip() or None
        if story is None and logline is None:
            raise StudioError("give a logline or upload a script")
        if story is not None and logline is not None:
            raise StudioError("give a logline or a script, not both")
        settings = settings_from_form(values, self.root)
        folder_name = (name or "").strip() or slugify(story.title if story else logline)
        folder = self.root.story(folder_name)
        if folder.exists() and any(folder.iterdir()):
            raise StudioError(f"{folder_name} already exists and is not empty; choose another name")
        kept = self.root.keep_uploads([*images, Path(script)] if story else images)
        if story is not None:
            story = load_script(kept[-1])  # its reference images are the copies beside it
        elif kept:
            settings = settings.model_copy(update={"reference": [str(p) for p in kept]})
        self.queue.submit(Job(folder_name, f"make {folder_name}", lambda note: _made(api.make_story(folder, logline=logline, script=story, settings=settings, on_event=note))))
        return folder_name

    def plan(self, name: str, instruction: str) -> tuple[str, str]:
        """Start a chat turn: the plan as text and the turn's thread, paused before anything is generated."""
        folder = self.root.existing(name)
        if not (instruction or "").strip():
            raise StudioError('say what to change, e.g. "make shot 2 at night"')
        from director.revision.impact import ImpactPlan
        from director.revision.session import TurnContext

        thread = uuid.uuid4().hex
        state = self.turn.invoke({"instruction": instruction}, {"configurable": {"thread_id": thread}}, context=TurnContext(folder=str(folder), revise=api.revise_story))
        if "__interrupt__" not in state:
            raise StudioError(state.get("message") or "nothing to change")
        plan = ImpactPlan.model_validate(state["__interrupt__"][0].value)
        return plan.describe(), thread

    def answer(self, name: str, thread: str, answer: str) -> str:
        """Resume a turn with the user's answer: yes/only/cascade queue the revision, no ends it."""
        from langgraph.types import Command

        from director.revision.session import ANSWERS, TurnContext

        folder = self.root.existing(name)
        config = {"configurable": {"thread_id": thread}}
        if answer not in ANSWERS or not thread or not self.turn.get_state(config).next:
            raise StudioError("no plan is waiting for an answer; send the instruction again")
        if ANSWERS[answer] == "no":
            self.turn.invoke(Command(resume="no"), config, context=TurnContext(folder=str(folder), revise=api.revise_story))
            return "cancelled: nothing changed"

        def run(note: Callable[[dict[str, Any]], None]) -> str:
            state = self.turn.invoke(Command(resume=answer), config, context=TurnContext(folder=str(folder), revise=api.revise_story, on_event=note))
            return state.get("message", "")

        instruction = self.turn.get_state(config).values["instruction"]
        self.queue.submit(Job(name, f"revise: {instruction}", run))
        return f"queued ({ANSWERS[answer]}): {instruction}"

    def resume(self, name: str) -> str:
        """Finish an interrupted version: the first by make, a later one by the revision that started it."""
        folder = self._idle(name)
        draft = Workspace(folder).draft()
        if draft is None:
            raise StudioError(f"{name} has no unfinished version")
        run = lambda note: _made(api.resume(folder, on_event=note))  # noqa: E731
        self.queue.submit(Job(name, f"resume v{draft.number}", run))
        return f"queued: resume version {draft.number}"

    def undo(self, name: str) -> str:
        return f"now at version {api.undo(self._idle(name)).version}"

    def checkout(self, name: str, version: str) -> str:
        return f"now at version {api.checkout(self._idle(name), str(version)).version}"

    def memory(self, name: str, action: str, entry: str) -> str:
        if action not in ("pin", "unpin", "drop"):
            raise StudioError(f"unknown memory action {action!r}")
        api.edit_memory(self._idle(name), action, entry)
        return f"{action}: {entry}"

    def _idle(self, name: str) -> Path:
        folder = self.root.existing(name)
        job = self.queue.of(name)
        if job is not None and job.state in ("queued", "running"):
            raise StudioError(f"{name} has work queued or running; wait for it to finish")
        if Workspace(folder).draft() is not None and not resumable(folder, None):
            raise StudioError(f"{name} is being made right now (by another process: its last event is recent); wait for it to finish")
        return folder


def _made(result: api.StoryResult) -> str:
    return f"version {result.version}: {result.generated} shot{'s' if result.generated != 1 else ''} made"


# --- serving -----------------------------------------------------------------------------------


class TokenGate:
    """ASGI middleware: every HTTP and websocket request must carry the token (header, bearer,
    `?token=`, or the cookie a `?token=` visit sets), or it gets 401 and nothing else."""

    refusal = b"storymem studio: this server needs its token (header X-Storymem-Token, or open the page once with ?token=...)\n"
    refusal_type = b"text/plain; charset=utf-8"  # an API frontend answers in its own error shape

    def __init__(self, app, token: str):
        self.app, self.token = app, token

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        cookies = dict(part.strip().split("=", 1) for part in headers.get("cookie", "").split(";") if "=" in part)
        bearer = headers.get("authorization", "")
        given = [headers.get(TOKEN_HEADER), bearer[7:] if bearer.lower().startswith("bearer ") else None, *query.get("token", []), cookies.get(TOKEN_COOKIE)]
        if not any(g and secrets.compare_digest(g.encode(), self.token.encode()) for g in given):
            if scope["type"] == "websocket":
                return await send({"type": "websocket.close", "code": 1008})
            body = self.refusal
            await send({"type": "http.response.start", "status": 401, "headers": [(b"content-type", self.refusal_type), (b"content-length", str(len(body)).encode())]})
            return await send({"type": "http.response.body", "body": body})
        if not query.get("token"):
            return await self.app(scope, receive, send)

        async def remember(message):  # a visit with ?token= leaves a cookie, so the page's own requests carry it
            if message["type"] == "http.response.start":
                cookie = f"{TOKEN_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie.encode())]}
            await send(message)

        return await self.app(scope, receive, remember)


# --- the command line --------------------------------------------------------------------------

EPILOG = f"""examples:
  storymem studio                                   http://127.0.0.1:7860, stories in runs/
  storymem studio --root my_stories --port 8000
  storymem studio --host 0.0.0.0 --token "$(openssl rand -hex 16)"
      reachable from the network: open http://HOST:7860/?token=T once (a cookie keeps it),
      or send the header X-Storymem-Token: T; the token may come from {TOKEN_ENV}

A story made or resumed from the command line in the root shows up live on the page."""


def add_parser(commands) -> None:
    import argparse
    import os

    parser = commands.add_parser(
        "studio",
        help="make and revise stories in the browser (a Gradio app)",
        description="A web page over a folder of stories: the film, its storyboard, each shot's prompt, scores, memory and the "
        "critic's reasons, the memory bank with pin/drop, the versions with undo/checkout, a new-story form with every make "
        "option, and a chat that shows a revision's impact plan before anything is generated. Generating work runs one job "
        "at a time and survives a page reload.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; any other needs --token)")
    parser.add_argument("--port", type=int, default=7860, metavar="N", help="port (default 7860)")
    parser.add_argument("--root", type=Path, default=Path("runs"), metavar="DIR", help="the folder whose subfolders are the stories (default runs/)")
    parser.add_argument("--token", default=os.environ.get(TOKEN_ENV) or None, metavar="T", help=f"every request must carry it (default: ${TOKEN_ENV})")
