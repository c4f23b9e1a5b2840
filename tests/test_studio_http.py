"""`storymem studio` over real HTTP: the token on every request, paths confined to the root in every
parameter that names a file, uploads checked by size and content before anything is written, a
non-local bind refused without a token; and the queue that runs one generation at a time."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from director import api
from director.frontends.studio import Job, Queue, StudioError, check_bind, is_loopback
from director.planning.offline import OfflinePlanner
from director.settings import RunSettings
from studio_support import running_studio, studio_command, studio_env

TOKEN = "http-test-token"
SETTINGS = RunSettings(backend="preview", planner="offline", embedder="colour-structure", quality_scorer="heuristic", shots=3, size="64x48", frames=9)
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    folder = tmp_path_factory.mktemp("studio-http")
    root = folder / "runs"
    api.make_story(root / "keeper", logline="A lighthouse keeper befriends a stray fox.", settings=SETTINGS)
    (folder / "outside.txt").write_text("not the studio's")
    with running_studio(root, TOKEN, tmp_path_factory.mktemp("studio-http-log") / "studio.log") as url:
        yield url, root


@pytest.fixture(scope="module")
def client(studio):
    from gradio_client import Client

    return Client(f"{studio[0]}/", headers={"X-Storymem-Token": TOKEN}, verbose=False)


def _tree(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def _top_level(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in [*root.iterdir(), *root.glob(".uploads/**/*")])


def _refused(client, *args, api_name: str, **kwargs) -> str:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as raised:
        client.predict(*args, api_name=api_name, **kwargs)
    return str(raised.value)


def _make_args(client, **given) -> dict:
    """Every input of make_story by its label (RunSettings' field names for the form), defaults for the rest."""
    parameters = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/make_story"]["parameters"]
    args = {p["parameter_name"]: p.get("parameter_default") for p in parameters}
    names = {p["label"]: p["parameter_name"] for p in parameters}
    settings = {"shots": 3, "size": "64x48", "frames": "9", "backend": "preview", "planner": "offline", "embedder": "colour-structure", "quality_scorer": "heuristic"}
    for label, value in {**settings, **given}.items():
        args[names.get(label, label)] = value
    return args


# --- the token ---------------------------------------------------------------------------------


def test_every_request_needs_the_token(studio):
    url, root = studio
    film = f"/gradio_api/file={root / 'keeper' / 'story.mp4'}"
    gets = ["/", "/config", "/gradio_api/info", film, "/gradio_api/queue/data?session_hash=x", "/theme.css"]
    posts = ["/gradio_api/upload", "/gradio_api/call/undo", "/gradio_api/queue/join", "/gradio_api/run/predict"]
    for wrong in ({}, {"headers": {"X-Storymem-Token": "nope"}}, {"params": {"token": "nope"}}, {"cookies": {"storymem-studio-token": "nope"}},
                  {"headers": {"Authorization": "Bearer nope"}}):
        for path in gets:
            answer = httpx.get(url + path, timeout=10, **wrong)
            assert answer.status_code == 401 and "needs its token" in answer.text, (path, wrong)
        for path in posts:
            assert httpx.post(url + path, json={"data": ["keeper"]}, timeout=10, **wrong).status_code == 401, (path, wrong)
    right = [{"headers": {"X-Storymem-Token": TOKEN}}, {"headers": {"Authorization": f"Bearer {TOKEN}"}}, {"cookies": {"storymem-studio-token": TOKEN}}]
    for given in right:
        assert httpx.get(url + "/config", timeout=10, **given).status_code == 200
        answer = httpx.get(url + film, timeout=10, **given)
        assert answer.status_code == 200 and answer.content == (root / "keeper" / "story.mp4").read_bytes()
    visit = httpx.get(url + "/", params={"token": TOKEN}, timeout=10)
    assert visit.status_code == 200 and visit.cookies.get("storymem-studio-token") == TOKEN  # the page's own requests carry it


def test_a_non_local_bind_without_a_token_is_refused(tmp_path):
    for host in ("0.0.0.0", "192.168.1.20"):
        done = subprocess.run(studio_command("--host", host, "--root", str(tmp_path / "runs")), env={**studio_env(), "STORYMEM_STUDIO_TOKEN": ""},
                              capture_output=True, text=True)
        assert done.returncode == 2 and done.stdout == "" and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert f"--host {host} is reachable from other machines: give --token" in done.stderr
    assert not (tmp_path / "runs").exists()  # refused before the first write
    # the token may come from the environment: the same bind then passes the check (and the next one speaks)
    done = subprocess.run(studio_command("--host", "0.0.0.0", "--port", "70000"), env={**studio_env(), "STORYMEM_STUDIO_TOKEN": "t"}, capture_output=True, text=True)
    assert done.returncode == 2 and "--port must be between 0 and 65535" in done.stderr
    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        assert is_loopback(host)
        check_bind(host, None)
    check_bind("0.0.0.0", "t")


# --- paths -------------------------------------------------------------------------------------

BAD_NAMES = ["..", ".", "../keeper", "../../etc", "/etc", "keeper/../keeper", "keeper/..", "..\\keeper", ".uploads", "keeper\x00"]


def test_every_story_parameter_stays_in_the_root(studio, client):
    url, root = studio
    elsewhere = root.parent / "elsewhere"
    (elsewhere / "versions").mkdir(parents=True, exist_ok=True)
    (root / "link").symlink_to(elsewhere)  # a name without a slash can still lead out, through a link
    before = _tree(root.parent)
    assert "is not a story name" in _refused(client, str(root / "keeper"), api_name="/undo")  # an absolute path, even to a story, is not a name
    for args, endpoint in (((), "/undo"), ((), "/resume"), (("v1",), "/checkout"), (("make shot 2 at night", []), "/plan_revision"), (("m0001",), "/memory_pin")):
        assert "leaves the studio's root folder" in _refused(client, "link", *args, api_name=endpoint)
    assert "leaves the studio's root folder" in _refused(client, **_make_args(client, name_value="link", logline_value="A fox."), api_name="/make_story")
    for name in BAD_NAMES:
        calls = [((name,), "/undo"), ((name,), "/resume"), ((name, "v1"), "/checkout"), ((name, "make shot 2 at night", []), "/plan_revision"),
                 ((name, []), "/answer_yes"), ((name, "m0001"), "/memory_pin"), ((name, "m0001"), "/memory_drop")]
        for args, endpoint in calls:
            message = _refused(client, *args, api_name=endpoint)
            assert "is not a story name" in message or "there is no story" in message, (name, endpoint, message)
        message = _refused(client, **_make_args(client, name_value=name, logline_value="A fox and a gull."), api_name="/make_story")
        assert "is not a story name" in message or "already exists" in message, (name, message)
    # settings that name server files (by their metavar in RunSettings): under the root only
    for field, value in (("lora", "/etc/passwd"), ("lora", "../../outside.txt:0.5"), ("clip_checkpoint", "../outside.txt"), ("hpsv3_checkpoint", "/etc"),
                         ("model", "/tmp"), ("t2v_model", "../elsewhere"), ("lora", "keeper/../../outside.txt"),
                         ("lora", "../outside.txt:0.5,1"), ("distill_lora", "/etc"), ("mag_ratios", "../ratios.json")):
        message = _refused(client, **_make_args(client, name_value="files", logline_value="A fox.", **{field: value}), api_name="/make_story")
        assert f"{field}: " in message and "is outside the studio's root folder" in message, (field, value, message)
    # names inside a story: a version, a memory entry
    for version in ("../v1", "v1/../../v1", "/etc/passwd", "v9"):
        assert "no finished version" in _refused(client, "keeper", version, api_name="/checkout")
    for entry in ("../../etc/passwd", "m0001/../m0002", "/tmp/x.png", "m9999"):
        assert "no memory entry" in _refused(client, "keeper", entry, api_name="/memory_pin")
    assert _tree(root.parent) == before  # nothing written anywhere, inside or outside the root


def test_file_urls_stay_in_the_root(studio):
    url, root = studio
    headers = {"X-Storymem-Token": TOKEN}
    outside = root.parent / "outside.txt"
    for path in (outside, f"{root}/../outside.txt", "/etc/passwd", f"{root}/keeper/../../outside.txt", f"{root}/.uploads/x/y.png"):
        answer = httpx.get(f"{url}/gradio_api/file={path}", headers=headers, timeout=10)
        assert answer.status_code in (403, 404) and "not the studio's" not in answer.text, (path, answer.status_code)
    assert httpx.get(f"{url}/gradio_api/file={root}/keeper/script.json", headers=headers, timeout=10).json()["title"]


def test_a_script_names_no_server_file(studio, client, tmp_path):
    from gradio_client import handle_file

    url, root = studio
    script = api.current_script(root / "keeper").model_dump(mode="json")
    for reference in ("../../outside.txt", str(root.parent / "outside.txt"), "/etc/passwd"):
        script["characters"][0]["reference_images"] = [reference]
        path = tmp_path / "with-reference.json"
        path.write_text(json.dumps(script))
        before = _tree(root.parent)
        message = _refused(client, **_make_args(client, name_value="scripted", logline_value="", script_value=handle_file(str(path))), api_name="/make_story")
        assert "must be uploaded with the script" in message and _tree(root.parent) == before
    # a file the server holds, named as the script itself: gradio refuses a path it did not receive
    before = _tree(root.parent)
    _refused(client, **_make_args(client, name_value="scripted", logline_value="", script_value={"path": str(root.parent / "outside.txt"), "meta": {"_type": "gradio.FileData"}}), api_name="/make_story")
    assert _tree(root.parent) == before


def test_memory_and_versions_through_the_page_api(studio, client):
    url, root = studio
    story = root / "keeper"
    bank = lambda: json.loads((story / "memory" / "bank.json").read_text())["entries"]  # noqa: E731
    assert not bank()["m0002"]["pinned"]
    assert "`m0002` shot 01_01 frame" in client.predict("keeper", "m0002", api_name="/memory_pin") and bank()["m0002"]["pinned"]
    assert "pinned" not in client.predict("keeper", "m0002", api_name="/memory_unpin") and not bank()["m0002"]["pinned"]
    api.redo_shots(story, [2])
    film_v2 = (story / "story.mp4").read_bytes()
    client.predict("keeper", "v1", api_name="/checkout")
    assert api.current_version(story) == 1 and (story / "story.mp4").read_bytes() == (story / "versions" / "v001" / "story.mp4").read_bytes() != film_v2
    client.predict("keeper", api_name="/select_story")
    client.predict("keeper", "2", api_name="/checkout")
    assert api.current_version(story) == 2 and (story / "story.mp4").read_bytes() == film_v2
    client.predict("keeper", api_name="/undo")
    assert api.current_version(story) == 1
    assert "nothing to undo" in _refused(client, "keeper", api_name="/undo")


def test_an_interrupted_version_is_resumed_once_nothing_makes_it(studio, client):
    from helpers import RecordingGenerator, make_context

    url, root = studio
    story = root / "broken"
    api.make_story(story, logline="A fox crosses a frozen river.", settings=SETTINGS)
    with pytest.raises(RuntimeError, match="simulated crash"):
        api.redo_shots(story, [2], components=make_context(story, RecordingGenerator(64, 48, 9, fail_at="01_02")))
    assert api.current_version(story) == 1 and [v.done for v in api.history(story)] == [True, False]
    # its last event is recent: another process may still be making it
    for args, endpoint in (((), "/resume"), (("m0001",), "/memory_pin")):
        assert "is being made right now" in _refused(client, "broken", *args, api_name=endpoint)
    stopped = time.time() - 120
    os.utime(story / "events.jsonl", (stopped, stopped))  # two minutes without an event: nothing is making it
    client.predict("broken", api_name="/resume")
    while api.current_version(story) != 2:  # a resume that never finishes fails on the test's timeout
        time.sleep(0.3)
    assert api.history(story)[1].note == "regenerate shot 2 with a new seed" and api.history(story)[1].shots["01_02"].take == 2


# --- uploads -----------------------------------------------------------------------------------


def test_uploads_are_checked_by_size_and_content(studio, client, tmp_path):
    from gradio_client import handle_file

    url, root = studio
    before = _top_level(root)
    fake = tmp_path / "face.png"
    fake.write_text("<html>not a picture</html>")
    gif = tmp_path / "face2.png"
    Image.new("RGB", (16, 16)).save(gif, format="GIF")
    for image, why in ((fake, "face.png is not an image"), (gif, "face2.png is a GIF image")):
        message = _refused(client, **_make_args(client, name_value="refs", logline_value="A fox.", references_value=[handle_file(str(image))]), api_name="/make_story")
        assert why in message
    big_script = tmp_path / "big.json"
    big_script.write_text(json.dumps(json.loads((FIXTURES / "two_scenes.storymem.json").read_text())) + " " * (1 << 20))
    assert "larger than 1024 kB" in _refused(client, **_make_args(client, name_value="big", logline_value="", script_value=handle_file(str(big_script))), api_name="/make_story")
    not_json = tmp_path / "script.json"
    Image.new("RGB", (16, 16)).save(not_json, format="PNG")
    assert "script.json is not a script: not valid JSON" in _refused(client, **_make_args(client, name_value="nj", logline_value="", script_value=handle_file(str(not_json))), api_name="/make_story")
    assert _top_level(root) == before  # no story folder, no upload kept
    # past gradio's own limit the upload itself is refused (413), before any handler runs
    huge = tmp_path / "huge.png"
    with open(huge, "wb") as f:
        Image.new("RGB", (8, 8)).save(f, format="PNG")
        f.write(b"\0" * (21 << 20))
    with open(huge, "rb") as f:
        answer = httpx.post(f"{url}/gradio_api/upload", headers={"X-Storymem-Token": TOKEN}, files={"files": ("huge.png", f, "image/png")}, timeout=60)
    assert answer.status_code == 413
    # a real PNG reference and a StoryMem script are taken, kept under the root
    good = tmp_path / "fox.png"
    Image.new("RGB", (32, 32), (200, 90, 30)).save(good)
    assert client.predict(**_make_args(client, name_value="fox", logline_value="A fox.", references_value=[handle_file(str(good))]), api_name="/make_story")[0]
    assert client.predict(**_make_args(client, name_value="two", logline_value="", script_value=handle_file(str(FIXTURES / "two_scenes.storymem.json"))), api_name="/make_story")[0]
    while not all((root / n / "versions" / "current").is_file() for n in ("fox", "two")):  # or the test's timeout
        time.sleep(0.5)
    references = json.loads((root / "fox" / "run.json").read_text())["source"]["references"]
    assert len(references) == 1 and Path(references[0]).is_relative_to(root / ".uploads") and Path(references[0]).read_bytes() == good.read_bytes()


# --- the queue ---------------------------------------------------------------------------------


@pytest.mark.timeout(60)  # a queue that never runs b hangs here
def test_the_queue_runs_one_job_at_a_time():
    queue, started, release, order = Queue(), threading.Event(), threading.Event(), []

    def slow(note):
        started.set()
        order.append("a-start")
        release.wait()
        order.append("a-end")
        return "a done"

    def quick(note):
        order.append("b")
        return "b done"

    a = queue.submit(Job("a", "make a", slow))
    started.wait()
    b = queue.submit(Job("b", "make b", quick))
    time.sleep(0.3)
    assert (a.state, b.state) == ("running", "queued") and queue.waiting_before(b) == 1 and queue.busy() is a
    with pytest.raises(StudioError, match="already has work queued or running"):
        queue.submit(Job("a", "make a again", quick))
    release.set()
    while b.state != "done":
        time.sleep(0.05)
    assert order == ["a-start", "a-end", "b"] and (a.message, b.message) == ("a done", "b done")
    failing = queue.submit(Job("a", "make a", lambda note: 1 / 0))
    while failing.state == "queued" or failing.state == "running":
        time.sleep(0.05)
    assert failing.state == "failed" and failing.message == "ZeroDivisionError: division by zero"


def test_studio_help_teaches():
    done = subprocess.run(studio_command("--help"), env=studio_env(), capture_output=True, text=True)
    assert done.returncode == 0 and "--token" in done.stdout and "STORYMEM_STUDIO_TOKEN" in done.stdout


def test_file_settings_resolve_under_the_root(tmp_path):
    from director.frontends.studio import Root, confine_paths

    root = Root(tmp_path)
    assert confine_paths("lora", ["loras/a.safetensors:0.5", "b.safetensors"], root) == [f"{tmp_path}/loras/a.safetensors:0.5", f"{tmp_path}/b.safetensors"]
    assert confine_paths("model", "Wan-AI/Wan2.2-I2V-A14B-Diffusers", root) == "Wan-AI/Wan2.2-I2V-A14B-Diffusers"  # a hub id
    (tmp_path / "models" / "wan").mkdir(parents=True)
    assert confine_paths("model", "models/wan", root) == f"{tmp_path}/models/wan"  # a folder under the root, not a hub id
    assert confine_paths("shots", 4, root) == 4 and confine_paths("llm_base_url", "http://127.0.0.1:8080/v1", root) == "http://127.0.0.1:8080/v1"
    with pytest.raises(StudioError, match="outside the studio's root"):
        confine_paths("clip_checkpoint", f"{tmp_path}/../x.pt", root)


def test_a_refusal_is_one_line_in_the_studio_log(studio, client, tmp_path_factory):
    log = next(tmp_path_factory.getbasetemp().glob("studio-http-log*/studio.log"))
    before = len(log.read_text().splitlines())  # earlier tests' requests are logged above
    assert "is not a story name" in _refused(client, "../keeper", api_name="/undo")
    lines = log.read_text().splitlines()[before:]  # the handler logs before the page gets its answer
    refused = [line for line in lines if "refused:" in line]
    assert refused and refused[-1].startswith("storymem: warning: undo_story refused: ") and "is not a story name" in refused[-1]
    assert not [line for line in lines if "Traceback" in line]


def test_only_user_mistakes_lose_their_traceback():
    import gradio as gr

    from director.frontends.studio_page import _user

    class Mistake(ValueError):
        pass

    def refuse(error):
        def handler():
            raise error
        return _user(handler)

    with pytest.raises(gr.Error) as raised:
        refuse(Mistake("a fox is not a story name"))()
    assert raised.value.message == "a fox is not a story name" and raised.value.print_exception is False
    for bug in (ValueError("bad"), ZeroDivisionError("division by zero"), Mistake("two\nlines")):
        with pytest.raises(type(bug)):  # a bug reaches Gradio as it is: its traceback is logged
            refuse(bug)()


def test_the_token_must_match_whole_not_a_prefix_or_a_truncation():
    """The gate alone (ASGI): near misses of the token are refused like any wrong one."""
    import asyncio

    from director.frontends.studio import TokenGate

    reached = []

    async def app(scope, receive, send):
        reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    def status(header: str) -> int:
        sent = []

        async def send(message):
            sent.append(message)

        async def receive():
            return {"type": "http.request", "body": b""}

        scope = {"type": "http", "path": "/config", "query_string": b"", "headers": [(b"x-storymem-token", header.encode())]}
        asyncio.run(TokenGate(app, TOKEN)(scope, receive, send))
        return sent[0]["status"]

    for near in (TOKEN[:-1], TOKEN[:4], TOKEN[1:], TOKEN + "x", TOKEN.upper(), " " + TOKEN):
        assert status(near) == 401, near
    assert reached == [] and status(TOKEN) == 200 and reached == ["/config"]


def test_a_script_reference_is_the_upload_itself_not_a_server_path_of_the_same_name(tmp_path):
    from director.frontends.studio import check_script

    face = tmp_path / "uploads" / "face.png"
    face.parent.mkdir()
    Image.new("RGB", (32, 24), (200, 10, 10)).save(face)
    server = tmp_path / "server" / "face.png"  # a file of the server's, named like the upload
    server.parent.mkdir()
    Image.new("RGB", (32, 24), (10, 200, 10)).save(server)
    script = OfflinePlanner().plan("A lighthouse keeper befriends a stray fox.", 2, 0).model_dump(mode="json")
    path = tmp_path / "script.json"
    for reference in (str(server), "../server/face.png", "server/face.png"):
        script["characters"][0]["reference_images"] = [reference]
        path.write_text(json.dumps(script))
        with pytest.raises(StudioError, match=rf"reference image {re.escape(repr(reference))} must be uploaded with the script"):
            check_script(path, [face])
    script["characters"][0]["reference_images"] = ["face.png"]
    path.write_text(json.dumps(script))
    assert check_script(path, [face]).characters[0].reference_images == ["face.png"]


def test_stories_queued_before_their_folder_exists_stay_listed(tmp_path):
    """The page's timer lists the stories: one that listed only folders took a just-queued story
    off the radio, and the page's next event with it selected was refused."""
    import threading

    from director.frontends.studio import Studio

    studio = Studio(tmp_path / "runs")
    (tmp_path / "runs" / "older" / "versions").mkdir(parents=True)
    release = threading.Event()
    studio.queue.submit(Job("first", "make first", lambda note: str(release.wait())))
    studio.queue.submit(Job("second", "make second", lambda note: "made"))
    assert studio.stories() == ["older", "first", "second"]  # running, queued: neither has a folder yet
    release.set()
    studio.queue._worker.shutdown(wait=True)
    assert [j.state for j in studio.queue.jobs] == ["done", "done"] and studio.stories() == ["older"]


def test_the_page_refreshes_when_the_film_appears_after_its_version(tmp_path):
    """A made version becomes current a moment before its film is linked at the top level; a page
    that refreshed in between must refresh again when the film appears (it showed no film: seen
    in the browser test under load)."""
    from director.folder.workspace import Workspace
    from director.frontends.studio import stamp_of

    root = tmp_path / "keeper"
    api.make_story(root, logline="A lighthouse keeper befriends a stray fox.", settings=SETTINGS.model_copy(update={"shots": 2}))
    shown = stamp_of(root)
    (root / "story.mp4").unlink()  # the moment between the pointer and the film's link
    assert stamp_of(root) != shown
    Workspace(root).show(Workspace(root).current())
    assert stamp_of(root) == shown
