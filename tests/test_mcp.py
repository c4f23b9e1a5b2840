"""`storymem mcp` as an agent sees it: the official mcp client session over stdio against the command
started as a subprocess (one for the module). Tools listed with their schemas; a script planned with
nothing generated; a preview story made and polled to completion; its storyboard read as an image;
a revision shown, then confirmed (a progress notification per finished shot) and undone; and a bad
argument answered as a tool error of one line, the session alive and no traceback on stderr."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from director import api
from studio_support import studio_env

OPTIONS = ["--planner", "offline", "--embedder", "colour-structure", "--quality-scorer", "heuristic", "--frames", "16", "--size", "64x48"]
LOGLINE = "A lighthouse keeper befriends a stray fox during a winter storm."
TOOLS = {"plan_story", "make_story", "story_status", "revise_story", "undo", "history", "list_stories", "evaluate", "edit_memory"}


class Session:
    """One `storymem mcp` process and its client session, held by a task on an event loop in a thread,
    so that every test of the module talks to the same server."""

    def __init__(self, root: Path, errlog: Path):
        self.root, self.errlog = root, errlog
        self.loop = asyncio.new_event_loop()
        self.ready, self.closing = threading.Event(), None
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.main = asyncio.run_coroutine_threadsafe(self._hold(), self.loop)
        while not self.ready.wait(0.1):
            if self.main.done():
                self.main.result()  # the failure to start, raised here
        assert self.session is not None

    async def _hold(self) -> None:
        from mcp import ClientSession, StdioServerParameters, stdio_client

        self.closing = asyncio.Event()
        params = StdioServerParameters(command=sys.executable, args=["-m", "director.frontends.cli", "mcp", "--root", str(self.root), *OPTIONS], env=studio_env())
        with open(self.errlog, "w") as errors:
            async with stdio_client(params, errlog=errors) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                self.session = session
                self.ready.set()
                await self.closing.wait()

    def run(self, coroutine, timeout: float = 300) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def call(self, name: str, progress: list | None = None, **arguments: Any):
        async def record(done: float, total: float | None, message: str | None) -> None:
            progress.append((done, total, message))

        return self.run(self.session.call_tool(name, arguments, progress_callback=record if progress is not None else None))

    def ok(self, name: str, progress: list | None = None, **arguments: Any) -> dict[str, Any]:
        result = self.call(name, progress, **arguments)
        assert not result.is_error, result.content
        return result.structured_content

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.closing.set)
        self.main.result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def mcp(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mcp")
    session = Session(folder / "runs", folder / "stderr.log")
    yield session
    session.close()
    assert "Traceback" not in (folder / "stderr.log").read_text(), (folder / "stderr.log").read_text()


def _poll(mcp: Session, story: str) -> dict[str, Any]:
    """story_status until the job has ended (the status the server reports, not a timer)."""
    deadline = time.monotonic() + 300
    while (status := mcp.ok("story_status", story=story))["status"] in ("queued", "in_progress"):
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    return status


@pytest.fixture(scope="module")
def keeper(mcp):
    """A three-shot preview story, made by make_story and polled to completion; its shots' bytes then."""
    started = mcp.ok("make_story", logline=LOGLINE, story="keeper", shots=3, model="storymem-preview")
    assert started["status"] in ("queued", "in_progress", "completed") and started["story"] == "keeper"
    status = _poll(mcp, "keeper")
    folder = mcp.root / "keeper"
    return status, folder, {s.id: (folder / "shots" / f"{s.id}.mp4").read_bytes() for s in api.current_script(folder).shots}


def test_the_tools_are_listed_with_typed_schemas(mcp):
    tools = {tool.name: tool for tool in mcp.run(mcp.session.list_tools()).tools}
    assert set(tools) == TOOLS
    revise = tools["revise_story"]
    assert set(revise.input_schema["required"]) == {"story", "instruction"}
    assert revise.input_schema["properties"]["policy"]["anyOf"][0]["enum"] == ["only", "cascade"]
    assert "confirm" in revise.input_schema["properties"] and "regenerate" in revise.output_schema["properties"]
    assert tools["make_story"].input_schema["properties"]["model"]["anyOf"][0]["enum"] == ["storymem-preview", "storymem-tiny", "storymem-wan", "storymem-wan-fast"]
    templates = {t.uri_template for t in mcp.run(mcp.session.list_resource_templates()).resource_templates}
    assert templates == {f"storymem://stories/{{story}}/{name}" for name in ("script.json", "report.html", "storyboard.png")}


def test_plan_then_make_films_the_planned_script_with_a_progress_notification_per_shot(mcp):
    script = mcp.ok("plan_story", logline="A heron waits by a winter river.", story="heron", shots=3)
    assert script["story"] == "heron" and [s["number"] for s in script["shots"]] == [1, 2, 3]
    folder = mcp.root / "heron"
    assert (folder / "script.json").is_file() and not (folder / "story.mp4").exists() and not any((folder / "shots").glob("*.mp4"))
    assert mcp.ok("story_status", story="heron")["status"] == "planned"

    progress = []
    made = mcp.ok("make_story", progress, story="heron", wait=True)
    assert (made["status"], made["shots_done"], made["version"]) == ("completed", 3, 1)
    assert [(p[0], p[1]) for p in progress] == [(1, 3), (2, 3), (3, 3)]
    assert [p[2].split(" (")[0] for p in progress] == ["shot 1 of 3 done", "shot 2 of 3 done", "shot 3 of 3 done"]
    assert [s.prompt for s in api.current_script(folder).shots] == [s["prompt"] for s in script["shots"]]


def test_a_made_story_is_complete_and_its_resources_are_readable(mcp, keeper):
    status, folder, _ = keeper
    assert (status["status"], status["shots_done"], status["shots_total"], status["version"]) == ("completed", 3, 3, 1)
    board = mcp.run(mcp.session.read_resource("storymem://stories/keeper/storyboard.png")).contents[0]
    assert board.mime_type == "image/png"
    png = base64.b64decode(board.blob)
    assert png == (folder / "storyboard.png").read_bytes()
    with Image.open(io.BytesIO(png)) as picture:
        assert picture.format == "PNG" and picture.width > 64
    script = mcp.run(mcp.session.read_resource("storymem://stories/keeper/script.json")).contents[0]
    assert len(json.loads(script.text)["shots"]) == 3
    report = mcp.run(mcp.session.read_resource("storymem://stories/keeper/report.html")).contents[0]
    assert report.mime_type == "text/html" and "<html" in report.text.lower()
    listed = {s["story"]: s["status"] for s in mcp.ok("list_stories")["stories"]}
    assert listed["keeper"] == "completed"


def test_evaluate_gives_the_stories_own_figures_as_the_api_measures_them(mcp, keeper):
    _, folder, _ = keeper
    result = mcp.call("evaluate", story="keeper")
    assert not result.is_error, result.content
    measured = result.structured_content
    assert measured == json.loads(json.dumps(api.evaluate([folder])))  # the same figures, through JSON as a client gets them
    assert measured["encoders"]["image"] == "colour-structure-v1" and measured["encoders"]["video_text"] is None  # the weight-free fallbacks
    assert measured["encoders"]["aesthetic"]["model"].endswith("(fallback: no LAION aesthetic head given)")
    (story,) = measured["stories"]
    assert (story["shots"], story["script_shots"], story["pairs"]) == (3, 3, 3)
    assert story["prompts"] == [s.prompt for s in api.current_script(folder).shots]
    assert 0 < story["metrics"]["consistency_all"] <= 1 and story["metrics"]["attempts_per_shot"] >= 1
    assert "no text side" in story["unavailable"]["prompt_shot"]
    assert json.loads(result.content[0].text) == measured

    mcp.ok("plan_story", logline="A heron waits by a winter river.", story="unmade", shots=2)  # a script, no shot made
    for arguments, message in [({"story": "nobody"}, "there is no story 'nobody'"), ({"story": "../keeper"}, "is not a story name"),
                               ({"story": "unmade"}, "unmade has no finished shots to evaluate")]:
        failed = mcp.call("evaluate", **arguments)
        text = failed.content[0].text
        assert failed.is_error and len(failed.content) == 1 and message in text and "\n" not in text, (arguments, text)


def test_revise_shows_the_plan_then_confirm_remakes_only_that_shot_and_undo_goes_back(mcp, keeper):
    _, folder, before = keeper
    film = (folder / "story.mp4").read_bytes()
    plan = mcp.ok("revise_story", story="keeper", instruction="make shot 2 at night")
    assert (plan["confirmed"], plan["regenerate"], plan["status"]) == (False, [2], None)
    assert "regenerate" in plan["plan"] and len(mcp.ok("history", story="keeper")["versions"]) == 1

    progress = []
    done = mcp.ok("revise_story", progress, story="keeper", instruction="make shot 2 at night", confirm=True, wait=True)
    assert done["confirmed"] and (done["status"]["status"], done["status"]["version"]) == ("completed", 2)
    assert [(p[0], p[1]) for p in progress] == [(1, 1)] and "shot 2 of 3 done" in progress[0][2]
    ids = list(before)
    after = {i: (folder / "shots" / f"{i}.mp4").read_bytes() for i in ids}
    assert after[ids[0]] == before[ids[0]] and after[ids[2]] == before[ids[2]] and after[ids[1]] != before[ids[1]]
    versions = mcp.ok("history", story="keeper")["versions"]
    assert [(v["number"], v["parent"], v["current"]) for v in versions] == [(1, None, False), (2, 1, True)]

    back = mcp.ok("undo", story="keeper")
    assert back["version"] == 1 and (folder / "story.mp4").read_bytes() == film
    assert {i: (folder / "shots" / f"{i}.mp4").read_bytes() for i in ids} == before


def test_a_bad_argument_is_a_tool_error_of_one_line(mcp, keeper):
    cases = [
        ("make_story", {"logline": LOGLINE, "story": "fox", "shots": 1}, "shots"),
        ("make_story", {"logline": LOGLINE, "story": "fox", "shots": "many"}, "shots"),
        ("make_story", {"logline": LOGLINE, "story": "fox", "model": "sora-2"}, "model"),
        ("make_story", {"logline": LOGLINE, "story": "keeper"}, "already exists"),
        ("make_story", {}, "give a logline"),
        ("story_status", {"story": "../keeper"}, "is not a story name"),
        ("story_status", {"story": "nobody"}, "there is no story 'nobody'"),
        ("revise_story", {"story": "keeper", "instruction": "   "}, "the instruction is empty"),
        ("revise_story", {"story": "keeper", "instruction": "make shot 9 at night"}, "shot 9"),
        ("edit_memory", {"story": "keeper", "action": "add", "target": "../../etc/passwd"}, "outside the server's root"),
        ("edit_memory", {"story": "keeper", "action": "pin", "target": "m9999"}, "no memory entry"),
        ("undo", {"story": "nobody"}, "there is no story"),
        ("plan_story", {}, "logline"),
    ]
    for name, arguments, message in cases:
        result = mcp.call(name, **arguments)
        text = result.content[0].text
        assert result.is_error and len(result.content) == 1 and message in text and "\n" not in text, (name, arguments, text)
    assert not (mcp.root / "fox").exists()
    assert mcp.ok("story_status", story="keeper")["status"] == "completed"  # the session goes on


def test_http_needs_the_token_and_a_network_bind_needs_one(tmp_path):
    import subprocess

    import anyio
    import httpx
    import httpx2
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    from studio_support import free_port

    command = [sys.executable, "-m", "director.frontends.cli", "mcp", "--http", "--root", str(tmp_path / "runs")]
    refused = subprocess.run([*command, "--host", "0.0.0.0"], env=studio_env(), capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "--token" in refused.stderr and not (tmp_path / "runs").exists()

    port = free_port()
    process = subprocess.Popen([*command, "--port", str(port), "--token", "mcp-token", *OPTIONS], env=studio_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert process.stdout.readline().decode().startswith(f"storymem mcp: http://127.0.0.1:{port}/mcp")
        url = f"http://127.0.0.1:{port}/mcp"
        for _ in range(600):  # the line is printed just before uvicorn binds
            try:
                response = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert response.status_code == 401

        async def tools() -> set[str]:
            async with httpx2.AsyncClient(headers={"Authorization": "Bearer mcp-token"}) as http:
                async with streamable_http_client(url, http_client=http) as (read, write, *_), ClientSession(read, write) as session:
                    await session.initialize()
                    return {tool.name for tool in (await session.list_tools()).tools}

        assert anyio.run(tools) == TOOLS
    finally:
        process.terminate()
        process.wait(20)


def test_a_client_that_leaves_mid_job_ends_the_server_with_one_line(tmp_path):
    session = Session(tmp_path / "runs", tmp_path / "stderr.log")
    assert session.ok("make_story", logline=LOGLINE, story="left", shots=3, model="storymem-preview")["status"] in ("queued", "in_progress")
    session.close()  # returns once the server process has ended
    errors = (tmp_path / "stderr.log").read_text()
    assert "Traceback" not in errors and "Error" not in errors, errors
    assert errors.count("storymem: the MCP client left with work not finished (make left)") <= 1
