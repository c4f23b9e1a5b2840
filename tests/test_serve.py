"""`storymem serve` driven by the real openai SDK over real HTTP on loopback: a preview story made with
create_and_poll and downloaded (its frames counted), remixed so that only the shot the instruction
names is generated again, listed page by page and deleted; and every refusal in the SDK's error shape
with its status (bad token 401, unknown model 400, a path for an id 404, remix of a failed video 400)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest
from PIL import Image

from director import api
from director.folder.video import count_frames
from director.folder.workspace import Workspace
from studio_support import free_port, stop_group, studio_env

TOKEN = "serve-test-token"
# 16 frames at 16 fps: a shot lasts one second, so seconds="3" asks for three shots
OPTIONS = ["--planner", "offline", "--embedder", "colour-structure", "--quality-scorer", "heuristic", "--frames", "16"]
LOGLINE = "A lighthouse keeper befriends a stray fox during a winter storm."

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API is scheduled:DeprecationWarning")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`storymem serve` in its own process on a free loopback port, over a fresh root."""
    root = tmp_path_factory.mktemp("serve") / "runs"
    log = root.parent / "serve.log"
    port = free_port()
    command = [sys.executable, "-m", "director.frontends.cli", "serve", "--root", str(root), "--port", str(port), "--token", TOKEN, *OPTIONS]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, env=studio_env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, f"serve exited with {process.returncode}:\n{log.read_text()}"
            try:
                if httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"serve did not answer in 120 s:\n{log.read_text()}"
            time.sleep(0.2)
        yield url, root
    finally:
        stop_group(process)
    assert "Traceback" not in log.read_text(), log.read_text()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=f"{server[0]}/v1", api_key=TOKEN, max_retries=0)


def _png(colour=(200, 40, 40)) -> bytes:
    picture = io.BytesIO()
    Image.new("RGB", (32, 24), colour).save(picture, format="PNG")
    return picture.getvalue()


def _shot_bytes(folder: Path) -> dict[str, bytes]:
    return {shot.id: (folder / "shots" / f"{shot.id}.mp4").read_bytes() for shot in api.current_script(folder).shots}


@pytest.fixture(scope="module")
def story(client, server):
    """One three-shot preview story, made once; its film and shots as they were when it completed."""
    video = client.videos.create_and_poll(prompt=LOGLINE, model="storymem-preview", seconds="3", size="64x48", poll_interval_ms=100)
    folder = server[1] / video.id
    return video, folder, client.videos.download_content(video.id).read(), _shot_bytes(folder)


@pytest.fixture(scope="module")
def remixed(client, story):
    video = client.videos.remix(story[0].id, prompt="make shot 2 at night")
    return client.videos.poll(video.id, poll_interval_ms=100)


@pytest.fixture(scope="module")
def failed(client):
    """A video whose job fails: the fast Wan preset without the distillation LoRA the server was not given."""
    return client.videos.create_and_poll(prompt="A fox in the snow.", model="storymem-wan-fast", size="64x48", poll_interval_ms=100)


def test_create_and_poll_makes_the_story_and_download_gives_its_film(story, tmp_path):
    video, folder, film, _ = story
    assert (video.object, video.status, video.progress, video.model, video.size, video.error) == ("video", "completed", 100, "storymem-preview", "64x48", None)
    assert video.prompt == LOGLINE and video.completed_at >= video.created_at
    script = api.current_script(folder)
    assert len(script.shots) == 3
    path = tmp_path / "film.mp4"
    path.write_bytes(film)
    assert film == (folder / "story.mp4").read_bytes()
    frames = count_frames(path)
    assert frames == api.history(folder)[-1].film["frames"] == sum(count_frames(folder / "shots" / f"{s.id}.mp4") for s in script.shots)
    assert 3 * 15 <= frames <= 3 * 16  # 16 a shot, a continuation drops the frame it copies
    assert video.seconds == f"{frames / 16:g}"


def test_thumbnail_is_the_first_keyframe(client, story):
    video, folder, _, _ = story
    thumbnail = client.videos.download_content(video.id, variant="thumbnail").read()
    with Image.open(io.BytesIO(thumbnail)) as picture:
        assert picture.size == (64, 48)
    first = api.history(folder)[0].shots[api.history(folder)[0].script["shots"][0]["id"]]
    bank = api.edit_memory(folder, "list")
    assert thumbnail == (bank.folder / bank.entries[first.keyframes[0]].image).read_bytes()


def test_remix_makes_only_the_named_shot_again(client, story, remixed, server):
    video, folder, film, before = story
    assert (remixed.status, remixed.remixed_from_video_id, remixed.prompt) == ("completed", video.id, "make shot 2 at night")
    after = _shot_bytes(folder)
    ids = [s.id for s in api.current_script(folder).shots]
    assert after[ids[0]] == before[ids[0]] and after[ids[2]] == before[ids[2]]
    assert after[ids[1]] != before[ids[1]]
    assert "night" in api.current_script(folder).shots[1].prompt
    assert client.videos.download_content(video.id).read() == film  # the first video is still its own version
    assert client.videos.download_content(remixed.id).read() == (folder / "versions" / "v002" / "story.mp4").read_bytes() != film
    with pytest.raises(openai.BadRequestError, match="remix the latest video"):
        client.videos.remix(video.id, prompt="make shot 3 at night")


def test_extend_adds_shots_after_the_last_and_keeps_the_others(client, story, remixed, server):
    folder = story[1]
    before = _shot_bytes(folder)
    # the SDK sends `video` only as a file upload, so a video of this server is extended by id in JSON
    video = client.post("/videos/extensions", body={"prompt": "the fox sleeps by the fire", "seconds": "2", "video": {"id": remixed.id}}, cast_to=openai.types.Video)
    video = client.videos.poll(video.id, poll_interval_ms=100)
    assert (video.status, video.remixed_from_video_id) == ("completed", remixed.id)
    shots = api.current_script(folder).shots
    # each added shot is the words asked for, with the fox's look, the scene's place and the film's style
    assert len(shots) == 5 and all("sleeps by the fire" in s.prompt and "stray fox" in s.prompt and "Style:" in s.prompt for s in shots[3:])
    after = _shot_bytes(folder)
    assert {i: after[i] for i in before} == before
    assert count_frames(folder / "story.mp4") == sum(count_frames(folder / "shots" / f"{s.id}.mp4") for s in shots)
    sheet = client.videos.download_content(video.id, variant="spritesheet").read()
    assert sheet == (folder / "storyboard.png").read_bytes()
    with pytest.raises(openai.BadRequestError, match="the storyboard shows the story's current version"):
        client.videos.download_content(remixed.id, variant="spritesheet")


def test_list_pages_through_every_video_and_delete_forgets_one(client, story, failed, server):
    pages = client.videos.list(limit=1, order="asc")
    assert len(pages.data) == 1 and pages.has_more
    listed = [v.id for v in client.videos.list(limit=1, order="asc")]  # the SDK follows `after` page by page
    records = [json.loads(p.read_text()) for p in (server[1] / ".videos").glob("*.json")]
    assert sorted(listed) == sorted(r["id"] for r in records) and story[0].id in listed and failed.id in listed
    assert [v.id for v in client.videos.list(order="desc")] == listed[::-1]

    gone = client.videos.create_and_poll(prompt="A heron waits by the river.", model="storymem-preview", seconds="2", size="64x48", poll_interval_ms=100)
    assert (server[1] / gone.id / "story.mp4").is_file()
    deleted = client.videos.delete(gone.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (gone.id, True, "video.deleted")
    assert not (server[1] / gone.id).exists()
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(gone.id)


def test_a_failed_job_is_a_failed_video_and_cannot_be_remixed(client, failed, server):
    assert failed.status == "failed" and failed.error.code == "generation_failed"
    assert "distill-lora" in failed.error.message and "\n" not in failed.error.message
    with pytest.raises(openai.BadRequestError) as refused:
        client.videos.remix(failed.id, prompt="make shot 2 at night")
    assert refused.value.status_code == 400 and "only a completed video can be remixed" in refused.value.message
    with pytest.raises(openai.BadRequestError, match="is failed"):
        client.videos.download_content(failed.id)


def test_every_request_needs_the_token(server):
    url, root = server
    wrong = openai.OpenAI(base_url=f"{url}/v1", api_key="wrong", max_retries=0)
    for call in (lambda: wrong.videos.list(), lambda: wrong.videos.create(prompt=LOGLINE), lambda: wrong.models.list(), lambda: wrong.videos.retrieve("video_" + "0" * 32)):
        with pytest.raises(openai.AuthenticationError) as refused:
            call()
        assert refused.value.status_code == 401 and "token" in refused.value.message
    for path in ("/v1/models", "/v1/videos", "/nothing"):
        response = httpx.get(url + path)
        assert response.status_code == 401 and response.headers["content-type"] == "application/json"
        assert response.json()["error"]["code"] == "invalid_api_key"


def test_bad_input_is_a_400_with_one_line_and_writes_nothing(client, server):
    root = server[1]
    before = sorted(p.name for p in root.iterdir()), sorted(p.name for p in (root / ".videos").iterdir()) if (root / ".videos").is_dir() else []
    cases = [
        (dict(prompt=LOGLINE, model="sora-2"), "unknown model 'sora-2'; choose one of: storymem-preview"),
        (dict(prompt="   "), "prompt is required"),
        (dict(prompt=LOGLINE, size="big"), "size"),
        (dict(prompt=LOGLINE, seconds="0"), "seconds must be more than 0"),
        (dict(prompt=LOGLINE, seconds="500"), "shots"),
        (dict(prompt=LOGLINE, input_reference=("face.png", b"not an image", "image/png")), "is not an image"),
        (dict(prompt=LOGLINE, size="big", input_reference=("face.png", _png(), "image/png")), "size"),
    ]
    for arguments, message in cases:
        with pytest.raises(openai.BadRequestError) as refused:
            client.videos.create(**arguments)
        assert refused.value.status_code == 400 and message in refused.value.message and "\n" not in refused.value.message, refused.value.message
    for body in ({"prompt": LOGLINE, "input_reference": {"image_url": "http://example.com/a.png"}}, {"prompt": LOGLINE, "input_reference": "a.png"}, {"prompt": LOGLINE, "quality": "high"}, ["not", "an", "object"]):
        response = httpx.post(f"{server[0]}/v1/videos", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 400 and "\n" not in response.json()["error"]["message"], response.text
    assert (sorted(p.name for p in root.iterdir()), sorted(p.name for p in (root / ".videos").iterdir()) if (root / ".videos").is_dir() else []) == before
    with pytest.raises(openai.BadRequestError, match="not supported"):
        client.videos.edit(prompt="x", video=b"a video")
    for arguments, message in ((dict(name="Mara", video=("mara.mp4", b"\x00\x00\x00\x18ftypmp42", "video/mp4")), "is not an image"), (dict(name=" ", video=b"x"), "name is required")):
        with pytest.raises(openai.BadRequestError, match=message):
            client.videos.create_character(**arguments)
    assert not (root / ".characters").exists()


def test_an_id_that_is_a_path_is_not_found(client, story, server):
    url, root = server
    (root.parent / "secret.json").write_text("{}")
    for video_id in ("../secret", "video_" + "0" * 32, story[0].id + "x", "..", ".videos", story[0].id.upper()):
        with pytest.raises((openai.NotFoundError, ValueError)):  # the SDK itself refuses a literal `..` segment
            client.videos.retrieve(video_id)
    for body in ({"prompt": "x", "video": {"id": "../../secret"}}, {"prompt": "x", "video": {"id": "../runs/" + story[0].id}}):
        with pytest.raises(openai.NotFoundError):
            client.post("/videos/extensions", body=body, cast_to=openai.types.Video)
    for path in ("/v1/videos/..%2Fsecret", "/v1/videos/%2E%2E%2Fsecret/content", f"/v1/videos/..%2F{story[0].id}/content", "/v1/videos/%2Fetc%2Fpasswd"):
        response = httpx.get(url + path, headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"]["message"]


def test_work_waiting_in_the_queue_is_queued_and_its_story_busy(tmp_path, monkeypatch):
    """The app in this process (real HTTP on loopback), its one worker held by a job that waits for the
    test: a new video stays queued, deleting it is a 409, and a full queue refuses more with a 409."""
    import threading

    import uvicorn

    from director.frontends import service as service_module
    from director.frontends.serve import build_app
    from director.frontends.service import Work
    from director.settings import RunSettings

    defaults = RunSettings(planner="offline", embedder="colour-structure", quality_scorer="heuristic", frames=16, size="64x48")
    app = build_app(tmp_path / "runs", TOKEN, defaults)
    service = app.state.videos.service
    release = threading.Event()
    blocker = service.queue.submit(Work("blocker", "hold the worker", run=lambda note: str(release.wait(120))))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            thread.join(0.05)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{server.config.port}/v1", api_key=TOKEN, max_retries=0)
        waiting = client.videos.create(prompt=LOGLINE, model="storymem-preview", seconds="2")
        assert (client.videos.retrieve(waiting.id).status, client.videos.retrieve(waiting.id).progress) == ("queued", 0)
        with pytest.raises(openai.ConflictError, match="has work queued or running"):
            client.videos.delete(waiting.id)
        with pytest.raises(openai.BadRequestError, match="is queued"):
            client.videos.remix(waiting.id, prompt="make shot 2 at night")
        monkeypatch.setattr(service_module, "MAX_WAITING", 1)
        with pytest.raises(openai.ConflictError, match="1 jobs are already waiting"):
            client.videos.create(prompt=LOGLINE, model="storymem-preview", seconds="2")
        assert [v.id for v in client.videos.list()] == [waiting.id]  # the refused one left no record
        release.set()
        done = client.videos.poll(waiting.id, poll_interval_ms=50)
        assert (done.status, blocker.state) == ("completed", "done")
        assert client.videos.delete(waiting.id).deleted and not (tmp_path / "runs" / waiting.id).exists()
    finally:
        release.set()
        server.should_exit = True
        thread.join(20)


def test_a_character_is_in_the_memory_of_every_story_that_names_it(client, server):
    picture = _png()
    mara = client.videos.create_character(name="Mara", video=("mara.png", picture, "image/png"))
    assert mara.name == "Mara" and mara.id.startswith("char_") and client.videos.get_character(mara.id).model_dump() == mara.model_dump()
    with pytest.raises(openai.NotFoundError):
        client.videos.get_character("char_" + "0" * 32)
    video = client.videos.create_and_poll(prompt="mara walks the cliff path at dawn.", model="storymem-preview", seconds="2", size="64x48", poll_interval_ms=100)
    assert video.status == "completed"
    references = Workspace(server[1] / video.id).load_run()["source"]["references"]
    assert [Path(p).read_bytes() for p in references] == [picture]
    bank = api.edit_memory(server[1] / video.id, "list")
    assert [e.kind for e in bank.entries.values()][0] == "reference"
    from director.frontends.serve import Videos
    from director.frontends.service import Service

    cast = Videos(Service(server[1]))._cast
    assert cast("A Maratho runner crosses the moor.") == [] and [p.read_bytes() for p in cast("MARA, alone.")] == [picture]


def test_progress_is_the_share_of_shots_made_read_from_the_folder(tmp_path):
    """Seen from inside the job at each finished shot, the video is in progress by a third each time."""
    from director.frontends.serve import Videos
    from director.frontends.service import Service
    from director.settings import RunSettings

    videos = Videos(Service(tmp_path / "runs", RunSettings(planner="offline", embedder="colour-structure", quality_scorer="heuristic", frames=16, size="64x48")))
    record = videos._new(None, LOGLINE, "storymem-preview", "3", "64x48")
    seen = []

    def call(on_event):
        def watch(event):
            on_event(event)
            if "shot_done" in event:
                seen.append((videos.retrieve(record["id"])["status"], videos.retrieve(record["id"])["progress"]))

        return api.make_story(videos.service.root.story(record["story"]), logline=LOGLINE, settings=videos.service.settings(model="storymem-preview", shots=3), on_event=watch)

    videos._queue(record, "make", call)
    work = videos.works[record["id"]]
    while work.state in ("queued", "running"):
        time.sleep(0.05)
    assert seen == [("in_progress", 33), ("in_progress", 66), ("in_progress", 99)]
    assert (videos.retrieve(record["id"])["status"], videos.retrieve(record["id"])["progress"]) == ("completed", 100)


def test_a_video_is_completed_only_once_its_job_has_ended(tmp_path, monkeypatch):
    """The worker writes the outcome, then its job ends: in between the video is still in progress (99)
    and its story busy, so a client that polls to "completed" can delete or remix at once."""
    import threading

    from director.frontends.serve import Videos
    from director.frontends.service import Busy, Service
    from director.settings import RunSettings

    videos = Videos(Service(tmp_path / "runs", RunSettings(planner="offline", embedder="colour-structure", quality_scorer="heuristic", frames=16, size="64x48")))
    record = videos._new(None, LOGLINE, "storymem-preview", "2", "64x48")
    written, release = threading.Event(), threading.Event()
    save = videos._save

    def save_then_hold(saved):
        save(saved)
        if saved["status"] is not None:  # the worker's outcome: hold the worker before its job ends
            written.set()
            release.wait(60)

    monkeypatch.setattr(videos, "_save", save_then_hold)
    videos._queue(record, "make", lambda on_event: api.make_story(videos.service.root.story(record["story"]), logline=LOGLINE,
                                                                   settings=videos.service.settings(model="storymem-preview", shots=2), on_event=on_event))
    assert written.wait(120)
    try:
        assert (videos.retrieve(record["id"])["status"], videos.retrieve(record["id"])["progress"]) == ("in_progress", 99)
        with pytest.raises(Busy, match="has work queued or running"):
            videos.delete(record["id"])
    finally:
        release.set()
    work = videos.works[record["id"]]
    while work.state == "running":
        time.sleep(0.05)
    assert videos.retrieve(record["id"])["status"] == "completed"
    assert videos.delete(record["id"])["deleted"]
