"""`storymem mcp`: the director as Model Context Protocol tools, so an agent (a desktop assistant, an
IDE) plans, makes, watches and revises stories, and looks at the films it directs.

Tools take and return pydantic models (their field descriptions are the schema the agent reads):
`plan_story` (the script, nothing generated), `make_story` (queues a job, returns at once),
`story_status` (with `wait`, a progress notification per finished shot until the job ends),
`revise_story` (the impact plan; again with `confirm` to spend), `undo`, `history`, `list_stories`,
`evaluate`, `edit_memory`. Each story's `script.json`, `report.html` and `storyboard.png` (an image)
are resources. A bad argument is a tool error with one line, never a protocol error or a traceback.
Stdio by default; `--http` serves streamable HTTP under the studio's token and loopback rules.
"""

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from director import api
from director.frontends.service import MODELS, Service, Work
from director.frontends.studio import TOKEN_ENV, StudioError, TokenGate
from director.settings import RunSettings
from director.story import slugify

POLL_SECONDS = 0.1  # how often a waiting call looks at the job (in memory: no disk reads)

Model = Literal[tuple(MODELS)]  # type: ignore[valid-type]


# --- what the tools return ---------------------------------------------------------------------


class ShotLine(BaseModel):
    number: int = Field(description="The shot's film number (1 = the first), as revisions name it.")
    id: str = Field(description="The shot's id, scene_shot.")
    transition: str = Field(description="cut or continue: how the shot follows the previous one.")
    prompt: str = Field(description="What the shot shows.")


class Script(BaseModel):
    story: str = Field(description="The story's name: its folder under the server's root; give it to the other tools.")
    title: str
    shots: list[ShotLine]


class Status(BaseModel):
    story: str = Field(description="The story's name.")
    status: Literal["planned", "queued", "in_progress", "completed", "failed", "interrupted"] = Field(
        description="planned: a script, nothing generated (make_story films it); queued/in_progress: a job; completed: a film; "
        "failed: the last job failed (message says why); interrupted: a version was left unfinished (make_story or the same revise_story resumes it)."
    )
    shots_done: int = Field(description="Shots made so far by the current job (or the whole film when completed).")
    shots_total: int = Field(description="Shots the current job makes (or the film's shots when completed).")
    version: int | None = Field(description="The version the story shows now.")
    message: str = Field(description="What the last job did or why it failed.")
    film: str | None = Field(description="The film's path on the server, when there is one.")


class Revision(BaseModel):
    plan: str = Field(description="What the instruction changes and what it costs: shots regenerated and kept.")
    regenerate: list[int] = Field(description="Film numbers of the shots that would be (or are being) generated.")
    confirmed: bool = Field(description="False: only the plan, nothing spent (call again with confirm=true); true: the job is queued.")
    status: Status | None = Field(description="The queued job's status, when confirmed.")


class VersionLine(BaseModel):
    number: int
    parent: int | None = Field(description="The version it was made from.")
    note: str = Field(description="What made it: the logline or the change asked for.")
    shots: int
    done: bool
    current: bool


class History(BaseModel):
    story: str
    versions: list[VersionLine]


class Stories(BaseModel):
    stories: list[Status]


class MemoryEntry(BaseModel):
    id: str
    origin: str = Field(description="The shot and frame it was taken from, or reference.")
    pinned: bool
    characters: list[str]
    active: bool = Field(description="Whether it conditions the next shots.")


class Memory(BaseModel):
    story: str
    entries: list[MemoryEntry]


# --- the server --------------------------------------------------------------------------------


class Director:
    """The tools' bodies over a `Service`: one-line `ValueError`s for anything the caller can fix."""

    def __init__(self, service: Service):
        self.service = service
        self.plans: dict[tuple[str, str, str | None], tuple[int | None, Any]] = {}  # the plans shown, so confirm spends exactly that

    def status(self, story: str) -> Status:
        job = self.service.job(story)
        waiting = {"queued": "queued", "running": "in_progress"}.get(job.state) if job is not None else None
        try:
            return self._status(story, job, waiting)
        except ValueError:  # a new story's folder is written while its job starts (models, plan, first version), or never
            if job is None or job.state == "done":
                raise
            return Status(story=story, status=waiting or "failed", shots_done=0, shots_total=0, version=None, message=job.what if waiting else job.message, film=None)

    def _status(self, story: str, job: Work | None, waiting: str | None) -> Status:
        folder = self.service.root.existing(story)
        made = self.service.progress(story)
        current = api.current_version(folder)
        film = str(folder / "story.mp4") if current is not None else None
        message = job.message if job is not None else ""
        if waiting:
            done, total = made or (0, 0)
            return Status(story=story, status=waiting, shots_done=done, shots_total=total, version=current, message=job.what, film=film)
        if job is not None and job.state == "failed":
            done, total = made or (0, 0)
            return Status(story=story, status="failed", shots_done=done, shots_total=total, version=current, message=message, film=film)
        if made is not None:  # a version left unfinished, or a script waiting to be filmed
            planned = current is None and made[0] == 0
            return Status(story=story, status="planned" if planned else "interrupted", shots_done=made[0], shots_total=made[1], version=current, message=message, film=film)
        shots = len(api.current_script(folder).shots)
        return Status(story=story, status="completed", shots_done=shots, shots_total=shots, version=current, message=message, film=film)

    def plan(self, logline: str, story: str | None, shots: int | None, model: str | None) -> Work:
        """Queued like the films: planning loads the story's models (a Wan backend's on the GPU)."""
        name = story or slugify(logline)
        folder = self._new_folder(name)
        settings = self.service.settings(model=model, shots=shots)
        return self.service.submit(name, f"plan {name}", lambda on_event: api.make_story(folder, logline=logline, settings=settings, on_event=on_event, review=True))

    def script(self, story: str) -> Script:
        script = api.current_script(self.service.root.existing(story))
        lines = [ShotLine(number=n, id=s.id, transition=s.transition, prompt=s.prompt) for n, s in enumerate(script.shots, start=1)]
        return Script(story=story, title=script.title, shots=lines)

    def make(self, logline: str | None, story: str | None, shots: int | None, model: str | None, size: str | None) -> Work:
        if logline is None and story is None:
            raise StudioError("give a logline for a new story, or the name of a planned story to film")
        settings = self.service.settings(model=model, shots=shots, size=size)
        if logline is None:  # film a planned script (or finish an interrupted first version)
            folder = self.service.root.existing(story)
            return self.service.submit(story, f"make {story}", lambda on_event: api.make_story(folder, settings=settings, on_event=on_event))
        name = story or slugify(logline)
        folder = self._new_folder(name)
        return self.service.submit(name, f"make {name}", lambda on_event: api.make_story(folder, logline=logline, settings=settings, on_event=on_event))

    def _new_folder(self, name: str) -> Path:
        folder = self.service.root.story(name)
        if folder.exists() and any(folder.iterdir()):
            raise StudioError(f"a story named {name!r} already exists; choose another name, or give story={name!r} without a logline to film it")
        return folder

    def revise(self, story: str, instruction: str, policy: str | None, confirm: bool) -> tuple[Revision, Work | None]:
        folder = self.service.root.existing(story)
        self.service.check_free(story)
        key, version = (story, instruction.strip(), policy), api.current_version(folder)
        shown = self.plans.pop(key, None)
        plan = shown[1] if confirm and shown is not None and shown[0] == version else api.plan_revision(folder, instruction, policy=policy)
        if not confirm:
            self.plans[key] = (version, plan)
        script = api.current_script(folder)
        numbers = [n for n, s in enumerate(script.shots, start=1) if s.id in plan.regenerate]
        revision = Revision(plan=plan.describe(), regenerate=numbers, confirmed=confirm, status=None)
        if not confirm:
            return revision, None
        work = self.service.submit(story, f"revise: {instruction}", lambda on_event: api.revise_story(folder, instruction, plan=plan, on_event=on_event))
        return revision, work

    def history(self, story: str) -> History:
        folder = self.service.root.existing(story)
        current = api.current_version(folder)
        lines = [VersionLine(number=v.number, parent=v.parent, note=v.note, shots=len(v.script["shots"]), done=v.done, current=v.number == current) for v in api.history(folder)]
        return History(story=story, versions=lines)

    def memory(self, story: str, action: str, target: str | None, values: list[str], characters: list[str]) -> Memory:
        folder = self.service.root.existing(story)
        if action != "list":
            self.service.check_free(story)
        if action == "add" and target is not None:
            target = self._inside(target)
        if action == "replace" and values:
            values = [self._inside(values[0]), *values[1:]]
        bank = api.edit_memory(folder, action, target, values, characters)
        active = {entry.id for entry in bank.active()}
        entries = [MemoryEntry(id=e.id, origin=f"shot {e.shot_id} frame {e.frame_index}" if e.kind == "keyframe" else "reference", pinned=e.pinned,
                               characters=list(e.characters), active=e.id in active) for e in bank.entries.values()]
        return Memory(story=story, entries=entries)

    def _inside(self, path: str) -> str:
        """An image the caller names, under the server's root (relative paths from it)."""
        resolved = (self.service.root.path / path).resolve()
        if not resolved.is_relative_to(self.service.root.path):
            raise StudioError(f"{path!r} is outside the server's root folder {self.service.root.path}; put the image there")
        return str(resolved)


def build_server(root: str | Path, defaults: RunSettings | None = None):
    """The MCP server over the stories under `root`."""
    try:
        from mcp.server.mcpserver import Context, MCPServer
        from mcp.server.mcpserver.exceptions import ResourceError, ToolError
    except ImportError:
        raise api.UsageError("storymem mcp needs the official MCP SDK: pip install 'storymem[serve]' (mcp 2.3)") from None

    director = Director(Service(root, defaults))
    service = director.service

    class Server(MCPServer):
        async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None):
            """A caller's mistake (a bad argument, a refused request) is a tool error of one line."""
            try:
                return await super().call_tool(name, arguments, context)
            except ToolError as error:
                cause = error.__cause__
                if isinstance(cause, ValidationError):
                    problem = cause.errors()[0]
                    where = ".".join(str(part) for part in problem["loc"])
                    raise ToolError(f"{name}: {where}: {problem['msg']} (got {problem.get('input')!r})") from None
                if isinstance(cause, ValueError):
                    raise ToolError(f"{name}: {' '.join(str(cause).split())}") from None
                raise

    server = Server("storymem", instructions="Direct multi-shot video stories: plan_story or make_story, poll story_status "
                    "(wait=true reports each finished shot), look at the storyboard resource, revise_story (read the plan, then "
                    "confirm=true), undo. Stories are named by their folder under the server's root.", log_level="WARNING")

    import anyio

    async def in_thread(function, *args):
        return await anyio.to_thread.run_sync(function, *args)

    async def wait_for(work: Work, context: Context) -> None:
        """Until the job ends: a progress notification per finished shot."""
        sent = 0
        while True:
            ended = work.state in ("done", "failed")
            while sent < len(work.shots):
                event = work.shots[sent]
                sent += 1
                done, total = event["made"] or (sent, None)
                await context.report_progress(done, total, f"shot {event['index'] + 1} of {event['total']} done ({event['shot_done']}, {event['frames']} frames)")
            if ended:
                return
            await anyio.sleep(POLL_SECONDS)  # the job runs in the queue's thread; its shots land in work.shots

    @server.tool()
    async def plan_story(
        context: Context,
        logline: str = Field(description="The story in one line."),
        story: str | None = Field(None, description="A name for the story (its folder); default: made from the logline."),
        shots: int | None = Field(None, description="Number of shots to plan (2-60); default: the server's."),
        model: Model | None = Field(None, description="Which generator will film it; default: the server's."),
    ) -> Script:
        """Plan a story's script from a logline; nothing is generated. make_story(story=...) films it."""
        work = await in_thread(director.plan, logline, story, shots, model)
        await wait_for(work, context)
        if work.state == "failed":
            raise StudioError(work.message)
        return await in_thread(director.script, work.story)

    @server.tool()
    async def make_story(
        context: Context,
        logline: str | None = Field(None, description="The story in one line, for a new story."),
        story: str | None = Field(None, description="The story's name: a new one (with a logline), or a planned story to film (without)."),
        shots: int | None = Field(None, description="Number of shots (2-60); default: the server's."),
        model: Model | None = Field(None, description="Which generator films it; default: the server's."),
        size: str | None = Field(None, description="Frame size WxH, e.g. 832x480; default: the model's."),
        wait: bool = Field(False, description="Return only when the film is made, with a progress notification per finished shot."),
    ) -> Status:
        """Start making a story's film (one job at a time on the server); returns at once unless wait."""
        work = await in_thread(director.make, logline, story, shots, model, size)
        if wait:
            await wait_for(work, context)
        return await in_thread(director.status, work.story)

    @server.tool()
    async def story_status(
        context: Context,
        story: str = Field(description="The story's name."),
        wait: bool = Field(False, description="Return only when its job has ended, with a progress notification per finished shot."),
    ) -> Status:
        """Where a story stands: planned, queued, in_progress (shots done of total), completed or failed."""
        status = await in_thread(director.status, story)
        work = service.job(story)
        if wait and work is not None:
            await wait_for(work, context)
            status = await in_thread(director.status, story)
        return status

    @server.tool()
    async def revise_story(
        context: Context,
        story: str = Field(description="The story's name."),
        instruction: str = Field(description='The change in words: "make shot 3 at night", "remove shot 5", "give Mara a red scarf".'),
        confirm: bool = Field(False, description="False: return the plan only (nothing is generated); true: make the new version."),
        policy: Literal["only", "cascade"] | None = Field(None, description="only: just the changed shots; cascade: also the later shots that remember them."),
        wait: bool = Field(False, description="With confirm: return only when the new version is made, with a progress notification per finished shot."),
    ) -> Revision:
        """Change a finished film in words. Call first without confirm to read what it would regenerate, then with confirm=true."""
        revision, work = await in_thread(director.revise, story, instruction, policy, confirm)
        if work is not None:
            if wait:
                await wait_for(work, context)
            revision.status = await in_thread(director.status, story)
        return revision

    @server.tool()
    async def undo(story: str = Field(description="The story's name.")) -> Status:
        """Make the version the current one was made from current again (nothing is regenerated)."""

        def back() -> Status:
            service.check_free(story)
            api.undo(service.root.existing(story))
            return director.status(story)

        return await in_thread(back)

    @server.tool()
    async def history(story: str = Field(description="The story's name.")) -> History:
        """Every version of a story, oldest first, and which one is current."""
        return await in_thread(director.history, story)

    @server.tool()
    async def list_stories() -> Stories:
        """The stories under the server's root, most recently changed first."""
        return await in_thread(lambda: Stories(stories=[director.status(name) for name in service.root.stories()]))

    @server.tool()
    async def evaluate(story: str = Field(description="The story's name.")) -> dict[str, Any]:
        """ST-Bench's metrics (aesthetic, prompt following, cross-shot consistency) and ours for a finished story."""

        def measure() -> dict[str, Any]:
            service.check_free(story)
            return api.evaluate([service.root.existing(story)])

        return await in_thread(measure)

    @server.tool()
    async def edit_memory(
        story: str = Field(description="The story's name."),
        action: Literal[api.MEMORY_ACTIONS] = Field("list", description="list | pin | unpin | drop | tag | add | replace"),  # type: ignore[valid-type]
        target: str | None = Field(None, description="An entry id (m0001...); for add, an image file under the server's root."),
        values: list[str] = Field(default_factory=list, description="tag: character names; replace: the new image file under the root."),
        characters: list[str] = Field(default_factory=list, description="add: the characters the image shows."),
    ) -> Memory:
        """Show or edit the memory bank that conditions the next shots of a story."""
        return await in_thread(director.memory, story, action, target, values, characters)

    def read(story: str, name: str) -> Path:
        try:
            path = service.root.existing(story) / name
        except StudioError as error:
            raise ResourceError(str(error)) from None
        if not path.is_file():
            raise ResourceError(f"{story} has no {name} yet (it is written when the first version is made)")
        return path

    @server.resource("storymem://stories/{story}/script.json", mime_type="application/json", description="The story's current script.")
    def script_json(story: str) -> str:
        return read(story, "script.json").read_text()

    @server.resource("storymem://stories/{story}/report.html", mime_type="text/html", description="The story's report: shots, scores, memory, critic.")
    def report_html(story: str) -> str:
        return read(story, "report.html").read_text()

    @server.resource("storymem://stories/{story}/storyboard.png", mime_type="image/png", description="The storyboard: a row of keyframes per shot.")
    def storyboard_png(story: str) -> bytes:
        return read(story, "storyboard.png").read_bytes()

    server.service = service
    return server


# --- the command line --------------------------------------------------------------------------


def add_parser(commands, add_settings_options) -> None:
    from director.frontends.serve import add_server_options

    parser = commands.add_parser(
        "mcp",
        help="serve the director as MCP tools for agents (stdio, or --http)",
        description="A Model Context Protocol server: tools to plan, make, watch, revise and undo stories, and each story's "
        "script, report and storyboard as resources. Stdio by default (an agent starts it); --http serves streamable HTTP "
        "at /mcp. The make options are every story's defaults.",
    )
    parser.add_argument("--http", action="store_true", help="serve streamable HTTP at http://HOST:PORT/mcp instead of stdio")
    add_server_options(parser, 8001, f"with --http, every request must carry it (Authorization: Bearer T; default: ${TOKEN_ENV})")
    add_settings_options(parser)


def run(args, defaults: RunSettings) -> int:
    from director.frontends.serve import check_server_args

    check_server_args(args)
    args.root.mkdir(parents=True, exist_ok=True)
    server = build_server(args.root, defaults)
    if not args.http:
        server.run("stdio")
        server.service.stop("the MCP client left", 0)
        return 0
    import uvicorn

    app = server.streamable_http_app(host=args.host)
    if args.token:
        app.add_middleware(TokenGate, token=args.token)
    print(f"storymem mcp: http://{args.host}:{args.port}/mcp  (stories in {args.root.resolve()})", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", timeout_graceful_shutdown=3)
    server.service.stop("interrupted", 130)
    return 0
