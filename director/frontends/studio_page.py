"""The studio's page: a Gradio Blocks app over `director.frontends.studio.Studio`.

Every handler calls the studio (which calls `director.api`); refusals reach the page as one line.
Views are read from the story folder on a one-second timer and redrawn only when the folder's
stamp changes, so a run started anywhere (the queue, the command line) shows up live.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any, Callable

import fastapi
import gradio as gr

from director.api import USER_ERRORS
from director.frontends.studio import (
    FORM_SKIPS, MAX_IMAGE_BYTES, UPLOADS, Studio, StudioError, TokenGate, bank_lines, check_bind, progress_lines, resumable, shot_details,
    stamp_of, storyboard, versions_table,
)
from director.settings import GROUPS, setting_fields
from director.folder.workspace import Workspace

log = logging.getLogger("storymem.studio")


def settings_form() -> dict[str, Any]:
    """One input per `RunSettings` field, grouped as the command line groups its flags; the
    field's description is the help under the input."""
    inputs: dict[str, Any] = {}
    for group, title in GROUPS.items():
        with gr.Accordion((title or group).capitalize(), open=group == "story"):
            for field in setting_fields():
                if field.name in FORM_SKIPS or field.group != group:
                    continue
                name, default = field.name, field.default
                common = {"label": name, "info": field.help, "elem_id": f"setting-{name}"}
                if field.choices is not None:
                    options = list(field.choices)
                    inputs[name] = gr.Radio(["default", *options] if field.optional else options, value=default or "default", **common)
                elif field.kind is bool:
                    inputs[name] = gr.Checkbox(value=default, **common)
                elif field.kind in (int, float) and default is not None:
                    inputs[name] = gr.Number(value=default, precision=0 if field.kind is int else None, **common)
                elif field.kind in (int, float):  # empty means the backend's or scorer's own value, which a number box cannot say
                    inputs[name] = gr.Textbox(value="", placeholder="default", **common)
                elif field.kind is list:
                    inputs[name] = gr.Textbox(value="", placeholder="one per line", lines=1, **common)
                else:
                    inputs[name] = gr.Textbox(value=default or "", **common)
    return inputs


def is_user_mistake(error: BaseException) -> bool:
    """A refusal the user can act on: the studio's and the API's own errors, and any ValueError
    subclass with a one-line message. Anything else is a bug, and keeps its traceback in the log."""
    if isinstance(error, (StudioError, KeyError, *USER_ERRORS)):
        return True
    return isinstance(error, ValueError) and type(error) is not ValueError and "\n" not in str(error).strip()


def _user(call: Callable[..., Any]) -> Callable[..., Any]:
    """A handler whose refusals reach the page as one line (a toast), never a traceback, and the
    studio's log as one line too."""
    @functools.wraps(call)
    def run(*args, **kwargs):
        try:
            return call(*args, **kwargs)
        except Exception as error:
            if not is_user_mistake(error):
                raise
            message = str(error.args[0]) if isinstance(error, KeyError) else str(error).strip()
            log.warning("%s refused: %s", call.__name__, message)
            raise gr.Error(message, print_exception=False) from None

    return run


def build_blocks(studio: Studio):
    """The page: stories and the new-story form; film, storyboard, shot and memory; chat and versions."""
    with gr.Blocks(title="storymem studio", analytics_enabled=False) as page:  # nothing leaves the machine
        gr.Markdown("## storymem studio")
        thread = gr.State("")
        stamp = gr.State("")
        listed = gr.State([])
        selected = gr.State(None)  # the storyboard position of the shot shown alone
        with gr.Row():
            with gr.Column(scale=1, min_width=260):
                stories = gr.Radio(studio.stories(), label="Stories", elem_id="stories")
                story = gr.Textbox(visible=False, elem_id="story-name")  # the handlers' story: a name the studio checks, not a choice
                with gr.Accordion("New story", open=False, elem_id="new-story"):
                    name = gr.Textbox(label="Folder name", info="under the root; default: from the logline or title", elem_id="new-name")
                    logline = gr.Textbox(label="Logline", lines=2, elem_id="new-logline")
                    script = gr.File(label="or a script (storymem or StoryMem JSON)", file_types=[".json"], type="filepath", elem_id="new-script")
                    references = gr.File(label="Reference images", file_count="multiple", file_types=["image"], type="filepath", elem_id="new-references")
                    form = settings_form()
                    make = gr.Button("Make story", variant="primary", elem_id="make")
            with gr.Column(scale=3):
                progress = gr.Markdown("", elem_id="progress")
                resume = gr.Button("Resume the unfinished version", size="sm", visible=False, elem_id="resume")
                film = gr.Video(label="Film", elem_id="film", interactive=False)
                board = gr.Gallery(label="Storyboard (click a shot)", columns=6, height=220, allow_preview=False, elem_id="storyboard")
                with gr.Row():
                    shot_video = gr.Video(label="Shot", elem_id="shot-video", interactive=False)
                    shot_info = gr.Markdown(elem_id="shot-info")
                shot_memory = gr.Gallery(label="Memory that conditioned this shot", columns=8, height=150, allow_preview=False, elem_id="shot-memory")
                with gr.Row():
                    entry = gr.Dropdown([], label="Memory entry", allow_custom_value=True, elem_id="memory-entry")
                    pin, unpin, drop = (gr.Button(label, size="sm", elem_id=f"memory-{label}") for label in ("pin", "unpin", "drop"))
                bank = gr.Markdown(elem_id="bank")
            with gr.Column(scale=2, min_width=320):
                chat = gr.Chatbot(label="Revise by chat", elem_id="chat", height=360)
                instruction = gr.Textbox(label="Instruction", placeholder='e.g. "make shot 2 at night"', elem_id="instruction")
                send = gr.Button("Send", elem_id="send")
                with gr.Row(visible=False, elem_id="confirm-row") as confirm_row:
                    answers = {a: gr.Button(label, size="sm", variant="primary" if a == "yes" else "secondary", elem_id=f"answer-{a}")
                               for a, label in (("yes", "Confirm"), ("only", "Only the changed shots"), ("cascade", "Cascade"), ("no", "Cancel"))}
                versions = gr.Markdown(elem_id="versions")
                with gr.Row():
                    undo = gr.Button("Undo", elem_id="undo")
                    target = gr.Textbox(label="Version", placeholder="v1", elem_id="checkout-version", scale=1)
                    checkout = gr.Button("Checkout", elem_id="checkout")

        timer = gr.Timer(1.0)
        views = [film, board, versions, bank, shot_video, shot_info, shot_memory, entry]

        def shot_views(folder: Path, shot: int | None):
            """The selected shot's video, details, memory and entry ids (empty when none is selected or it is gone)."""
            try:
                video, info, memory, ids = shot_details(folder, shot) if shot is not None else (None, "", [], [])
            except StudioError:
                video, info, memory, ids = None, "", [], []
            return video, info, memory, gr.update(choices=ids, value=ids[0] if ids else None)

        def show(name: str | None, shot: int | None = None):
            """Everything the story shows, the selected shot again if it is still there (after a revision: its new take)."""
            if not name:
                return None, [], "", "", *shot_views(Path(), None)
            folder = studio.root.story(name)  # a story just queued has no folder yet
            film_path = Workspace(folder).film_path
            return (str(film_path) if film_path.is_file() else None, storyboard(folder), versions_table(folder),
                    bank_lines(folder) if (folder / "memory" / "bank.json").is_file() else "", *shot_views(folder, shot))

        def tick(name: str | None, seen: str, listed: list[str], shot: int | None):
            names = studio.stories()
            listing = (gr.update(choices=names) if names != listed else gr.skip(), names)  # a story made elsewhere appears
            if not name:
                return ("choose a story, or make a new one", seen, gr.update(visible=False), *listing, *[gr.skip()] * len(views))
            folder, job = studio.root.story(name), studio.queue.of(name)
            now = stamp_of(folder)
            text = progress_lines(folder, job, studio.queue)
            return (text, now, gr.update(visible=resumable(folder, job)), *listing, *(show(name, shot) if now != seen else [gr.skip()] * len(views)))

        def opened(request: gr.Request):
            """On load and reload: the story named in ?story=, else the one with work running, else the latest."""
            names = studio.stories()
            asked = request.query_params.get("story") if request else None
            busy = studio.queue.busy()
            chosen = asked if asked in names else (busy.story if busy else (names[0] if names else None))
            return gr.update(choices=names, value=chosen)

        def select(name: str):
            folder = studio.root.story(name)
            return (name, progress_lines(folder, studio.queue.of(name), studio.queue), stamp_of(folder), None, *show(name))

        def pick_shot(name: str, event: gr.SelectData):
            shot_details(studio.root.existing(name), event.index)  # a shot that is not there is refused, not shown empty
            return event.index, *shot_views(studio.root.existing(name), event.index)

        def make_story(name_value, logline_value, script_value, references_value, *values):
            made = studio.make(name_value, logline_value, script_value, references_value, dict(zip(form, values)))
            return gr.update(choices=studio.stories(), value=made), "queued"

        def ask(name: str, text: str, history: list):
            described, turn = studio.plan(name, text)
            history = [*(history or []), {"role": "user", "content": text},
                       {"role": "assistant", "content": f"```\n{described}\n```\nConfirm, choose only/cascade, or cancel."}]
            return history, turn, gr.update(visible=True), ""

        def reply(answer: str):
            def run(name: str, turn: str, history: list):
                said = studio.answer(name, turn, answer)
                return [*(history or []), {"role": "assistant", "content": said}], "", gr.update(visible=False)
            return run

        def memory_action(action: str):
            def run(name: str, entry_id: str):
                gr.Info(studio.memory(name, action, entry_id))
                return bank_lines(studio.root.existing(name))
            return run

        def undo_story(name: str, shot: int | None):
            gr.Info(studio.undo(name))
            return stamp_of(studio.root.existing(name)), *show(name, shot)

        def checkout_story(name: str, version: str, shot: int | None):
            gr.Info(studio.checkout(name, version))
            return stamp_of(studio.root.existing(name)), *show(name, shot)

        def resume_story(name: str):
            gr.Info(studio.resume(studio.root.existing(name).name))

        page.load(opened, None, stories, api_name=False)
        stories.change(_user(select), stories, [story, progress, stamp, selected, *views], api_name="select_story")
        timer.tick(_user(tick), [story, stamp, listed, selected], [progress, stamp, resume, stories, listed, *views], api_name=False, show_progress="hidden")
        board.select(_user(pick_shot), story, [selected, shot_video, shot_info, shot_memory, entry], api_name="select_shot")
        make.click(_user(make_story), [name, logline, script, references, *form.values()], [stories, progress], api_name="make_story")
        send.click(_user(ask), [story, instruction, chat], [chat, thread, confirm_row, instruction], api_name="plan_revision")
        instruction.submit(_user(ask), [story, instruction, chat], [chat, thread, confirm_row, instruction], api_name=False)
        for answer, button in answers.items():
            button.click(_user(reply(answer)), [story, thread, chat], [chat, thread, confirm_row], api_name=f"answer_{answer}")
        for action, button in (("pin", pin), ("unpin", unpin), ("drop", drop)):
            button.click(_user(memory_action(action)), [story, entry], bank, api_name=f"memory_{action}")
        undo.click(_user(undo_story), [story, selected], [stamp, *views], api_name="undo")
        checkout.click(_user(checkout_story), [story, target, selected], [stamp, *views], api_name="checkout")
        resume.click(_user(resume_story), story, None, api_name="resume")
    return page


def build_app(root: str | Path, token: str | None = None):
    """The FastAPI app serving the studio for `root`; behind the token gate when a token is given."""
    studio = Studio(root)
    page = build_blocks(studio)
    page.queue(default_concurrency_limit=4)  # page events are quick; generating work has its own queue
    app = fastapi.FastAPI()
    app = gr.mount_gradio_app(app, page, path="", allowed_paths=[str(studio.root.path)], blocked_paths=[str(studio.root.path / UPLOADS)],
                              max_file_size=MAX_IMAGE_BYTES, ssr_mode=False, show_error=True, footer_links=["api"])
    if token:
        app.add_middleware(TokenGate, token=token)
    app.state.studio = studio
    return app


def serve(host: str = "127.0.0.1", port: int = 7860, root: str | Path = "runs", token: str | None = None) -> None:
    """Serve the studio until interrupted."""
    import uvicorn

    check_bind(host, token)
    Path(root).mkdir(parents=True, exist_ok=True)
    app = build_app(root, token)
    print(f"storymem studio: http://{host}:{port}/{'?token=...' if token else ''}  (stories in {Path(root).resolve()})", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=3)  # open event streams do not hold up Ctrl-C


def run(args) -> int:
    serve(args.host, args.port, args.root, args.token)
    return 0
