"""`storymem serve`: OpenAI's Videos API over `director.api`, so any program with the openai SDK
(`OpenAI(base_url="http://127.0.0.1:8000/v1", api_key=TOKEN).videos.create_and_poll(...)`) makes and
revises stories.

A video is one version of a story folder under the root: `create` makes a story from the prompt (the
logline) into a new folder named by the video id, `remix` makes the next version of the same folder
from an instruction (only the shots it changes are generated) and `extensions` adds shots after the
last one. Each id has a small record in `<root>/.videos/`; status and progress are read from the
story folder. Work runs on the studio's one-job queue, behind the studio's token and loopback rules.
What the API asks for that storymem does not do is answered with a 400 that says so.
"""

import json
import os
import re
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from director import api
from director.folder.files import atomic_write_json
from director.frontends.service import FPS, MODELS, Busy, Service, Work
from director.frontends.studio import MAX_IMAGE_BYTES, TOKEN_ENV, StudioError, TokenGate, check_bind, check_image
from director.planning.base import check_logline
from director.settings import RunSettings

VIDEOS = ".videos"  # under the root: one record per video id (not a story name: names never start with a dot)
VIDEO_ID = re.compile(r"video_[0-9a-f]{32}")
CREATE_FIELDS = {"prompt", "model", "seconds", "size", "input_reference"}
#: What the Videos API offers that storymem does not do, and the answer a client gets instead.
UNSUPPORTED = {
    "edits": "editing an uploaded video is not supported: storymem revises its own stories; use remix with an instruction such as \"make shot 2 at night\"",
}
CHARACTERS = ".characters"  # under the root: one record per character id
CHARACTER_ID = re.compile(r"char_[0-9a-f]{32}")


class ApiError(Exception):
    """A request refused with an HTTP status and one line, in the OpenAI error shape."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code


class Videos:
    """The Videos API's operations on a `Service`: records, status, content, remixes."""

    def __init__(self, service: Service):
        self.service = service
        self.records = service.root.path / VIDEOS
        self.works: dict[str, Work] = {}

    # --- records ---------------------------------------------------------------------------------

    def _path(self, video_id: Any) -> Path:
        if not isinstance(video_id, str) or not VIDEO_ID.fullmatch(video_id):
            raise ApiError(404, f"no video {video_id!r}", "video_id", "not_found")
        return self.records / f"{video_id}.json"

    def record(self, video_id: Any) -> dict[str, Any]:
        path = self._path(video_id)
        if not path.is_file():
            raise ApiError(404, f"no video {video_id!r}", "video_id", "not_found")
        return json.loads(path.read_text())

    def _save(self, record: dict[str, Any]) -> None:
        atomic_write_json(self._path(record["id"]), record)

    def _new(self, story: str | None, prompt: str, model: str, seconds: str, size: str, remixed_from: str | None = None) -> dict[str, Any]:
        video_id = f"video_{secrets.token_hex(16)}"
        return {"id": video_id, "story": story or video_id, "version": None, "prompt": prompt, "model": model, "seconds": seconds, "size": size,
                "created_at": int(time.time()), "completed_at": None, "remixed_from_video_id": remixed_from, "status": None, "error": None}

    def _queue(self, record: dict[str, Any], what: str, call) -> None:
        """Queue the record's work; the worker writes the outcome into the record when it ends."""

        def finished(result: api.StoryResult | None, error: Exception | None) -> None:
            if result is not None:
                record.update(status="completed", version=result.version, completed_at=int(time.time()), seconds=f"{result.frames / FPS:g}")
            else:
                record.update(status="failed", completed_at=int(time.time()), error={"code": "generation_failed", "message": _one_line(error)})
            self._save(record)

        self.service.check_free(record["story"])  # before the record is written: a refusal leaves nothing
        self._save(record)
        try:
            self.works[record["id"]] = self.service.submit(record["story"], what, call, finished)
        except StudioError:
            self._path(record["id"]).unlink()
            raise

    # --- the API's shapes ------------------------------------------------------------------------

    def video(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record as `openai.types.Video`, its status and progress read now."""
        from openai.types import Video

        work = self.works.get(record["id"])
        if record["status"] is None and work is not None and work.state in ("done", "failed"):
            record = self.record(record["id"])  # read before the job ended: the worker wrote its outcome before the state changed
        status, progress, error = record["status"], 100, record["error"]
        if status is None:
            if work is None:  # made by an earlier run of the server, which stopped before it finished
                status, progress = "failed", 0
                error = {"code": "interrupted", "message": "the server stopped before this video was finished; create it again"}
            elif work.state == "queued":
                status, progress = "queued", 0
            else:
                made = self.service.progress(record["story"])
                status, progress = "in_progress", min(99, int(100 * made[0] / made[1])) if made and made[1] else 0
        elif work is not None and work.state == "running":  # the worker wrote its outcome; its job ends a moment later
            status, progress, error = "in_progress", 99, None  # (until then the story is busy: no delete or remix)
        elif status == "failed":
            progress = 0
        fields = {k: record[k] for k in ("id", "created_at", "completed_at", "model", "prompt", "remixed_from_video_id", "seconds", "size")}
        return Video.construct(**fields, object="video", status=status, progress=progress, error=error).model_dump(mode="json")

    def create(self, form: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(form) - CREATE_FIELDS)
        if unknown:
            reference = next((k for k in unknown if k.startswith("input_reference[")), None)
            if reference:
                raise ApiError(400, "input_reference must be an image file upload (PNG, JPEG or WebP); image_url and file_id are not supported", "input_reference")
            raise ApiError(400, f"unknown parameter {unknown[0]!r}; a video takes: {', '.join(sorted(CREATE_FIELDS))}", unknown[0])
        try:
            prompt = check_logline(_text(form.get("prompt"), "prompt"))
        except ValueError as error:
            raise ApiError(400, str(error), "prompt") from None
        model = form.get("model")
        if model is not None and model not in MODELS:
            raise ApiError(400, f"unknown model {model!r}; choose one of: {', '.join(MODELS)} (GET /v1/models)", "model", "invalid_model")
        service = self.service
        base = service.settings(model=model)
        shots = service.shots_for(form["seconds"], base) if form.get("seconds") is not None else None
        settings = service.settings(model=model, shots=shots, size=form.get("size"))  # checked before an upload is kept
        references = [*self._reference(form.get("input_reference")), *self._cast(prompt)]
        if references:
            settings = settings.model_copy(update={"reference": [str(p) for p in references]})
        record = self._new(None, prompt, model or model_of(settings), f"{settings.shots * service.shot_seconds(settings):g}", settings.size or "default")
        folder = service.root.story(record["story"])
        self._queue(record, f"make {record['story']}", lambda on_event: api.make_story(folder, logline=prompt, settings=settings, on_event=on_event))
        return self.video(record)

    def _reference(self, upload: Any, param: str = "input_reference") -> list[Path]:
        """An uploaded reference image, checked by content and kept under the root."""
        if upload is None:
            return []
        if not isinstance(upload, _upload_type()):  # a JSON body's {"image_url": ...} or {"file_id": ...}
            raise ApiError(400, f"{param} must be an image file upload (PNG, JPEG or WebP); image_url and file_id are not supported", param)
        data = upload.file.read(MAX_IMAGE_BYTES + 1)
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "reference"
            path.write_bytes(data)
            kind = check_image(path)
            named = path.rename(path.with_suffix("." + kind.lower()))
            return self.service.root.keep_uploads([named])

    # --- characters: a name and a reference image, in the initial memory of every story whose prompt names it

    def create_character(self, form: dict[str, Any]) -> dict[str, Any]:
        name = _text(form.get("name"), "name")
        if len(name) > 80:
            raise ApiError(400, f"a character's name has at most 80 characters, got {len(name)}", "name")
        if not isinstance(form.get("video"), _upload_type()):
            raise ApiError(400, "give the character's reference image as the `video` file upload (PNG, JPEG or WebP)", "video")
        image = self._reference(form["video"], "video")[0]
        record = {"id": f"char_{secrets.token_hex(16)}", "name": name, "created_at": int(time.time()), "image": str(image.relative_to(self.service.root.path))}
        atomic_write_json(self._character_path(record["id"]), record)
        return self._character(record)

    def get_character(self, character_id: str) -> dict[str, Any]:
        path = self._character_path(character_id)
        if not path.is_file():
            raise ApiError(404, f"no character {character_id!r}", "character_id", "not_found")
        return self._character(json.loads(path.read_text()))

    def _character_path(self, character_id: Any) -> Path:
        if not isinstance(character_id, str) or not CHARACTER_ID.fullmatch(character_id):
            raise ApiError(404, f"no character {character_id!r}", "character_id", "not_found")
        return self.service.root.path / CHARACTERS / f"{character_id}.json"

    @staticmethod
    def _character(record: dict[str, Any]) -> dict[str, Any]:
        from openai.types import VideoCreateCharacterResponse

        return VideoCreateCharacterResponse.construct(id=record["id"], created_at=record["created_at"], name=record["name"]).model_dump(mode="json")

    def _cast(self, prompt: str) -> list[Path]:
        """The reference images of the characters the prompt names (whole words, any case), oldest first."""
        folder = self.service.root.path / CHARACTERS
        records = sorted((json.loads(p.read_text()) for p in folder.glob("char_*.json")), key=lambda r: (r["created_at"], r["id"])) if folder.is_dir() else []
        named = [r for r in records if re.search(rf"(?<!\w){re.escape(r['name'])}(?!\w)", prompt, re.IGNORECASE)]
        return [self.service.root.path / r["image"] for r in named]

    def remix(self, video_id: str, prompt: Any) -> dict[str, Any]:
        source = self.record(video_id)
        instruction = _text(prompt, "prompt")
        folder = self._revisable(source)
        self.service.check_free(source["story"])
        plan = api.plan_revision(folder, instruction)
        record = self._new(source["story"], instruction, source["model"], source["seconds"], source["size"], remixed_from=source["id"])
        self._queue(record, f"remix: {instruction}", lambda on_event: api.revise_story(folder, instruction, plan=plan, on_event=on_event))
        return self.video(record)

    def extend(self, form: dict[str, Any]) -> dict[str, Any]:
        video = form.get("video")
        video_id = form.get("video[id]") or (video.get("id") if isinstance(video, dict) else None)
        if not isinstance(video_id, str):
            raise ApiError(400, "extend a video made here: give video={\"id\": ...}; an uploaded video is not supported", "video")
        source = self.record(video_id)
        text = _text(form.get("prompt"), "prompt")
        folder = self._revisable(source)
        count = len(api.current_script(folder).shots)
        added = self.service.shots_for(form["seconds"], least=1) if form.get("seconds") is not None else 1
        instruction = "; ".join(f"add a shot after {count}: {text}" for _ in range(added))  # numbers are the film's before the change
        self.service.check_free(source["story"])
        plan = api.plan_revision(folder, instruction)
        record = self._new(source["story"], text, source["model"], source["seconds"], source["size"], remixed_from=source["id"])
        self._queue(record, f"extend: {text}", lambda on_event: api.revise_story(folder, instruction, plan=plan, on_event=on_event))
        return self.video(record)

    def _revisable(self, source: dict[str, Any]) -> Path:
        """The folder of a completed video that is its story's current version (a change starts there)."""
        state = self.video(source)["status"]
        if state != "completed":
            raise ApiError(400, f"video {source['id']} is {state}: only a completed video can be remixed or extended", "video_id")
        folder = self.service.root.existing(source["story"])
        current = api.current_version(folder)
        if current != source["version"]:
            raise ApiError(400, f"video {source['id']} is version {source['version']} of its story, which is now at version {current}: remix the latest video of the story", "video_id")
        return folder

    def retrieve(self, video_id: str) -> dict[str, Any]:
        return self.video(self.record(video_id))

    def list(self, after: str | None, limit: int, order: str) -> dict[str, Any]:
        if order not in ("asc", "desc"):
            raise ApiError(400, f"order must be asc or desc, got {order!r}", "order")
        if not 1 <= limit <= 100:
            raise ApiError(400, f"limit must be between 1 and 100, got {limit}", "limit")
        records = [json.loads(p.read_text()) for p in self.records.glob("video_*.json")] if self.records.is_dir() else []
        records.sort(key=lambda r: (r["created_at"], r["id"]), reverse=order == "desc")
        ids = [r["id"] for r in records]
        if after is not None:
            if after not in ids:
                raise ApiError(400, f"after: no video {after!r}", "after")
            records = records[ids.index(after) + 1 :]
        page = records[:limit]
        data = [self.video(r) for r in page]
        return {"object": "list", "data": data, "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None, "has_more": len(records) > limit}

    def delete(self, video_id: str) -> dict[str, Any]:
        """Forget the video; its story folder goes with the last video of the story."""
        from openai.types import VideoDeleteResponse

        record = self.record(video_id)
        self.service.check_free(record["story"])
        self._path(video_id).unlink()
        self.works.pop(video_id, None)
        others = [p for p in self.records.glob("video_*.json") if json.loads(p.read_text())["story"] == record["story"]]
        folder = self.service.root.story(record["story"])
        if not others and folder.is_dir():
            shutil.rmtree(folder)
        return VideoDeleteResponse.construct(id=video_id, deleted=True, object="video.deleted").model_dump(mode="json")

    def content(self, video_id: str, variant: str) -> tuple[Path, str]:
        """The file a download returns: the version's film, its first keyframe, or the storyboard."""
        record = self.record(video_id)
        if variant not in ("video", "thumbnail", "spritesheet"):
            raise ApiError(400, f"variant must be video, thumbnail or spritesheet, got {variant!r}", "variant")
        state = self.video(record)["status"]
        if state != "completed":
            raise ApiError(400, f"video {video_id} is {state}: its content is ready when it is completed", "video_id")
        folder = self.service.root.existing(record["story"])
        if variant == "video":
            return self.service.film_of(record["story"], record["version"]), "video/mp4"
        if variant == "spritesheet":
            if api.current_version(folder) != record["version"]:
                raise ApiError(400, f"the storyboard shows the story's current version, not version {record['version']} of video {video_id}", "variant")
            return folder / "storyboard.png", "image/png"
        version = next(v for v in api.history(folder) if v.number == record["version"])
        bank = api.edit_memory(folder, "list")
        first = version.shots[version.script["shots"][0]["id"]]
        entry = bank.entries.get(first.keyframes[0]) if first.keyframes else None
        if entry is None:
            raise ApiError(400, f"video {video_id} has no keyframe in memory to show as its thumbnail", "variant")
        return bank.folder / entry.image, "image/png"


def _upload_type() -> type:
    from starlette.datastructures import UploadFile

    return UploadFile


def model_of(settings: RunSettings) -> str:
    """The model name a story's settings stand for ("storymem" when none of the offered ones)."""
    return next((name for name, fields in MODELS.items() if all(getattr(settings, k) == v for k, v in fields.items())), "storymem")


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, f"{name} is required: a non-empty text", name)
    return value.strip()


def _one_line(error: BaseException | None) -> str:
    text = " ".join(f"{type(error).__name__}: {error}".split()) if not isinstance(error, ValueError) else " ".join(str(error).split())
    return text if len(text) <= 300 else text[:297] + "..."


# --- the HTTP app ------------------------------------------------------------------------------


class ApiTokenGate(TokenGate):
    """The studio's token gate, refusing in the OpenAI error shape (the SDK sends its api_key as the bearer token)."""

    refusal = json.dumps({"error": {"message": "this server needs its token: give it as the api_key (Authorization: Bearer TOKEN)", "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}}).encode()
    refusal_type = b"application/json"


def build_app(root: str | Path, token: str | None = None, defaults: RunSettings | None = None):
    """The FastAPI app of the Videos API over `root`; behind the token gate when a token is given."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse
    from starlette.exceptions import HTTPException

    videos = Videos(Service(root, defaults))
    app = FastAPI(title="storymem", docs_url=None, redoc_url=None, openapi_url=None)

    def refuse(status: int, message: str, param: str | None = None, code: str | None = None) -> JSONResponse:
        kind = "invalid_request_error" if status < 500 else "server_error"
        return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": code}}, status_code=status)

    @app.exception_handler(ApiError)
    async def api_error(request, error: ApiError):
        return refuse(error.status, error.message, error.param, error.code)

    @app.exception_handler(Busy)
    async def busy(request, error: Busy):
        return refuse(409, str(error), code="busy")

    @app.exception_handler(ValueError)  # StudioError, api.UsageError and the other one-line user errors
    async def user_error(request, error: ValueError):
        return refuse(400, _one_line(error))

    @app.exception_handler(RequestValidationError)
    async def invalid(request, error: RequestValidationError):
        problem = error.errors()[0]
        return refuse(400, f"{problem['loc'][-1]}: {problem['msg']}", str(problem["loc"][-1]))

    @app.exception_handler(HTTPException)
    async def http_error(request, error: HTTPException):
        return refuse(error.status_code, str(error.detail))

    async def form_of(request: Request) -> dict[str, Any]:
        if request.headers.get("content-type", "").startswith("application/json"):
            body = await request.json()
            if not isinstance(body, dict):
                raise ApiError(400, "the body must be a JSON object")
            return body
        return dict((await request.form()).multi_items())

    @app.get("/v1/models")
    def models():
        return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "storymem"} for name in MODELS]}

    @app.post("/v1/videos")
    async def create(request: Request):
        form = await form_of(request)
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(videos.create, form)

    @app.get("/v1/videos")
    def list_videos(after: str | None = None, limit: int = 20, order: str = "desc"):
        return videos.list(after, limit, order)

    @app.post("/v1/videos/extensions")
    async def extend(request: Request):
        form = await form_of(request)
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(videos.extend, form)

    @app.post("/v1/videos/edits")
    def unsupported(request: Request):
        raise ApiError(400, UNSUPPORTED[request.url.path.split("/")[3]], code="unsupported")

    @app.post("/v1/videos/characters")
    async def create_character(request: Request):
        form = await form_of(request)
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(videos.create_character, form)

    @app.get("/v1/videos/characters/{character_id}")
    def get_character(character_id: str):
        return videos.get_character(character_id)

    @app.get("/v1/videos/{video_id}")
    def retrieve(video_id: str):
        return videos.retrieve(video_id)

    @app.delete("/v1/videos/{video_id}")
    def delete(video_id: str):
        return videos.delete(video_id)

    @app.get("/v1/videos/{video_id}/content")
    def content(video_id: str, variant: str = "video"):
        path, media = videos.content(video_id, variant)
        return FileResponse(path, media_type=media)

    @app.post("/v1/videos/{video_id}/remix")
    async def remix(video_id: str, request: Request):
        form = await form_of(request)
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(videos.remix, video_id, form.get("prompt"))

    if token:
        app.add_middleware(ApiTokenGate, token=token)
    app.state.videos = videos
    return app


def serve(host: str, port: int, root: str | Path, token: str | None, defaults: RunSettings) -> None:
    """Serve the Videos API until interrupted."""
    import uvicorn

    check_bind(host, token)
    app = build_app(root, token, defaults)
    print(f"storymem serve: http://{host}:{port}/v1  (stories in {Path(root).resolve()}; models: {', '.join(MODELS)})", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=3)
    app.state.videos.service.stop("interrupted", 130)


# --- the command line --------------------------------------------------------------------------

EPILOG = f"""examples:
  storymem serve                                   http://127.0.0.1:8000/v1, stories in runs/
  storymem serve --host 0.0.0.0 --token "$(openssl rand -hex 16)" --planner offline
      every request must carry the token as its api_key; the token may come from {TOKEN_ENV}

from Python:
  client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="TOKEN")
  video = client.videos.create_and_poll(prompt="A lighthouse keeper befriends a fox.", model="storymem-preview", seconds="12")
  client.videos.download_content(video.id).write_to_file("story.mp4")
  client.videos.remix(video.id, prompt="make shot 2 at night")

The make options below are every story's defaults; a request's model, seconds and size override them."""


def add_server_options(parser, port: int, token_help: str) -> None:
    """--host, --port, --root, --token: the same for serve, mcp --http and the studio's rules."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; any other needs --token)")
    parser.add_argument("--port", type=int, default=port, metavar="N", help=f"port (default {port})")
    parser.add_argument("--root", type=Path, default=Path("runs"), metavar="DIR", help="the folder whose subfolders are the stories (default runs/)")
    parser.add_argument("--token", default=os.environ.get(TOKEN_ENV) or None, metavar="T", help=token_help)


def add_parser(commands, add_settings_options) -> None:
    import argparse

    parser = commands.add_parser(
        "serve",
        help="serve OpenAI's Videos API (client.videos.*) over the stories in a folder",
        description="An HTTP server speaking OpenAI's Videos API: create a story from a prompt, poll it, download the film, its "
        "first keyframe or its storyboard, remix it with an instruction (only the shots it changes are generated), extend it, "
        "list and delete. One story is generated at a time.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_server_options(parser, 8000, f"every request must carry it as its bearer token (the SDK's api_key; default: ${TOKEN_ENV})")
    add_settings_options(parser)


def check_server_args(args) -> None:
    if not 0 <= args.port <= 65535:
        raise api.UsageError(f"--port must be between 0 and 65535, got {args.port}")
    check_bind(args.host, args.token)
    if args.root.exists() and not args.root.is_dir():
        raise api.UsageError(f"--root {args.root} is a file, not a folder")


def run(args, defaults: RunSettings) -> int:
    check_server_args(args)
    serve(args.host, args.port, args.root, args.token, defaults)
    return 0
