"""The director as a LangGraph `StateGraph`.

```
plan -> prepare_shot -> generate -> remember -> critique --accept/keep_best--> commit -> prepare_shot ...
              |            ^  ^  ^                  |                                     |
              |            |  |  +---regenerate-----+                     (all shots done) v
              |            |  +--- refine_prompt <--+ (LLM rewrites the prompt)
              |            +------ edit_memory <----+ (drop a misleading keyframe)
              +-------------------------------------------------------------------> assemble -> END
```
State is JSON-native (the script, a cursor, attempt records); the generator, memory bank, vision
models and critic travel in the run context. Frames never enter the state: each attempt is
written under `shots/attempts/` and read back by the next node, so a resumed run finds them.
Every loop is bounded: the cursor only moves forward and attempts stop at `max_attempts`.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

import numpy as np
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from typing_extensions import TypedDict

from director.run.context import Components, DirectorContext
from director.run.critic import Levers, ShotScores
from director.planning.planner import DEFAULT_SHOTS
from director.story import Story
from director.run.files import atomic_path
from director.run.workspace import Workspace
from generator.base import CONTEXT_FRAMES, ShotMode, ShotRequest
from memory.remember import bank_embeddings
from memory.scores import consistency, misleading_entries, prompt_following
from memory.select import FrameAnalysis, Keyframe, analyse_frames

#: Seeds of successive attempts at one shot differ by this prime, so retries never repeat a seed.
RETRY_SEED_STEP = 100_003


class DirectorState(TypedDict, total=False):
    logline: str
    shots_wanted: int
    seed: int
    references: list[str]  # extra reference image files for the initial memory (MR2V)
    story: dict[str, Any]
    cursor: int  # index in story.shots of the shot being made
    attempt: int  # attempts made on that shot so far
    attempts: list[dict[str, Any]]  # one record per attempt: seed, mode, memory, scores, decision
    decision: str
    film: dict[str, Any]


def _logged(node: Callable) -> Callable:
    """Write each node's duration to events.jsonl and stream it as a progress event."""

    @wraps(node)
    def run(state: DirectorState, runtime: Runtime[DirectorContext]) -> dict[str, Any]:
        workspace = runtime.context.resolve().workspace
        started = time.perf_counter()
        update = node(state, runtime)
        event = {"node": node.__name__, "cursor": state.get("cursor"), "seconds": round(time.perf_counter() - started, 4)}
        workspace.log("node", **event)
        runtime.stream_writer(event)
        return update

    return run


def _story(state: DirectorState) -> Story:
    return Story.model_validate(state["story"])


def _attempt_frames(workspace: Workspace, shot_id: str, number: int):
    return workspace.inside(f"shots/attempts/{shot_id}_{number}.npy")


def _attempt_analysis(workspace: Workspace, shot_id: str, number: int):
    return workspace.inside(f"shots/attempts/{shot_id}_{number}.analysis.npz")


# --- nodes -------------------------------------------------------------------------------------


@_logged
def plan(state: DirectorState, runtime: Runtime[DirectorContext]) -> dict[str, Any]:
    """Use the folder's script when there is one (a resume), else ask the planner for one."""
    ctx = runtime.context.resolve()
    _remove_partial_files(ctx.workspace)
    if ctx.workspace.exists():
        story = ctx.workspace.load_script()
    elif state.get("story"):
        story = Story.model_validate(state["story"])
        ctx.workspace.save_script(story)
    else:
        if ctx.planner is None:
            raise ValueError("no script in the story folder and no planner to write one")
        story = ctx.planner.plan(state["logline"], state.get("shots_wanted", DEFAULT_SHOTS), state.get("seed", 0))
        ctx.workspace.save_script(story)
    ctx.workspace.log("plan", title=story.title, shots=len(story.shots), scenes=len(story.scenes), fingerprint=story.fingerprint())
    if not ctx.bank.entries:
        _seed_memory(ctx, story, state.get("references", []))
    return {"story": story.model_dump(mode="json"), "cursor": 0}


def _remove_partial_files(workspace: Workspace) -> None:
    """A run starts by removing temporary files a killed run left behind."""
    for stale in workspace.remove_partial_files():
        workspace.log("cleanup", removed=str(stale.relative_to(workspace.root)))


def _seed_memory(ctx: Components, story: Story, extra: list[str]) -> None:
    """MR2V: the characters' reference images (tagged with their names), then any extra ones,
    become the earliest memory entries, so the first shot is generated by M2V from them."""
    from PIL import Image

    images = [(path, [c.name]) for c in story.characters for path in c.reference_images] + [(path, []) for path in extra]
    for path, characters in images:
        image = np.asarray(Image.open(path).convert("RGB"))
        embedding = ctx.embedder.embed_images([image])[0]
        ctx.bank.add_reference(image, characters=characters, embedding=embedding, embedder=ctx.embedder.name)
    if images:
        ctx.bank.save()


@_logged
def prepare_shot(state: DirectorState, runtime: Runtime[DirectorContext]) -> dict[str, Any]:
    """Move to the first unfinished shot and set the memory to what conditions it."""
    ctx = runtime.context.resolve()
    story = _story(state)
    cursor = state.get("cursor", 0)
    while cursor < len(story.shots) and ctx.workspace.is_done(story.shots[cursor].id):
        cursor += 1
    if cursor == len(story.shots):
        return {"cursor": cursor}
    shot = story.shots[cursor]
    if shot.id in ctx.bank.snapshots:
        ctx.bank.restore(shot.id)  # a redo after a crash: the memory this shot had, nothing added since
    else:
        ctx.bank.record_snapshot(shot.id)
    ctx.bank.save()
    shutil.rmtree(ctx.workspace.shots_dir / "attempts", ignore_errors=True)  # leftovers of a killed run
    return {"cursor": cursor, "attempt": 0, "attempts": []}


def shot_mode(story: Story, index: int, has_memory: bool, continuation: ShotMode) -> ShotMode:
    """Cut -> M2V (T2V when memory is empty); continue -> MI2V or MM2V."""
    if story.shots[index].transition == "continue" and index > 0:
        return continuation
    return ShotMode.M2V if has_memory else ShotMode.T2V


@_logged
def generate(state: DirectorState, runtime: Runtime[DirectorContext]) -> dict[str, Any]:
    ctx = runtime.context.resolve()
    story = _story(state)
    index = state["cursor"]
    shot = story.shots[index]
    number = state.get("attempt", 0) + 1
    memory = ctx.bank.active()
    mode = shot_mode(story, index, bool(memory), ctx.continuation)
    context = list(ctx.workspace.load_tail(story.shots[index - 1].id)[-CONTEXT_FRAMES[mode]:]) if CONTEXT_FRAMES[mode] else []
    scene = story.scene(shot.scene)
    seed = shot.seed + RETRY_SEED_STEP * (number - 1)
    gen = ctx.generator
    request = ShotRequest(
        shot_id=shot.id,
        prompt=shot.prompt,
        mode=mode,
        seed=seed,
        memory=[ctx.bank.image(entry.id) for entry in memory],
        context=context,
        num_frames=gen.num_frames,
        width=gen.width,
        height=gen.height,
        fps=gen.fps,
        info={
            "scene": shot.scene,
            "shot": story.number_in_scene(shot.id),
            "camera": shot.camera,
            "setting": scene.setting,
            "time_of_day": scene.time_of_day,
            "characters": shot.characters,
        },
    )
    started = time.perf_counter()
    result = gen.generate(request)
    seconds = time.perf_counter() - started
    path = _attempt_frames(ctx.workspace, shot.id, number)
    with atomic_path(path) as temp:
        np.save(temp, result.frames)
    record = {
        "number": number,
        "seed": seed,
        "mode": mode.value,
        "prompt": shot.prompt,
        "memory": [e.id for e in memory],
        "frames": int(len(result.frames)),
        "seconds": round(seconds, 3),
    }
    ctx.workspace.log("generate", shot=shot.id, backend=gen.name, generator=result.metadata, **record)
    return {"attempt": number, "attempts": [*state.get("attempts", []), record]}


@_logged
def remember(state: DirectorState, runtime: Runtime[DirectorContext]) -> dict[str, Any]:
    """Embed and score every frame once, and pick this attempt's keyframe candidates."""
    ctx = runtime.context.resolve()
    shot = _story(state).shots[state["cursor"]]
    number = state["attempt"]
    frames = np.load(_attempt_frames(ctx.workspace, shot.id, number), mmap_mode="r")
    analysis = analyse_frames(frames, ctx.embedder, ctx.scorer, stride=ctx.selection.stride)
    keyframes = analysis.select(frames, bank_embeddings(ctx.bank, ctx.embedder), ctx.selection)
    with atomic_path(_attempt_analysis(ctx.workspace, shot.id, number)) as temp:
        with open(temp, "wb") as f:
            np.savez(f, indices=np.array(analysis.indices), embeddings=analysis.embeddings, scores=analysis.scores)
    attempts = [dict(a) for a in state["attempts"]]
    attempts[-1]["keyframes"] = [k.frame_index for k in keyframes]
    attempts[-1]["analysis"] = {"embedder": analysis.embedder_name, "scorer": analysis.scorer_name, "threshold": analysis.threshold}
    ctx.workspace.log("remember", shot=shot.id, attempt=number, keyframes=attempts[-1]["keyframes"], **attempts[-1]["analysis"])
    return {"attempts": attempts}


def _load_analysis(workspace: Workspace, shot_id: str, number: int, names: dict[str, Any]) -> FrameAnalysis:
    with np.load(_attempt_analysis(workspace, shot_id, number)) as data:
        return FrameAnalysis(
            indices=data["indices"].tolist(),
            embeddings=data["embeddings"],
            scores=data["scores"],
            embedder_name=names["embedder"],
            scorer_name=names["scorer"],
            threshold=names["threshold"],
        )


@_logged
def critique(state: DirectorState, runtime: Runtime[DirectorContext]) -> dict[str, Any]:
    ctx = runtime.context.resolve()
    story = _story(state)
    shot = story.shots[state["cursor"]]
    attempts = [dict(a) for a in state["attempts"]]
    current = attempts[-1]
    analysis = _load_analysis(ctx.workspace, shot.id, current["number"], current["analysis"])
    scores = _score(ctx, story, state["cursor"], analysis, current)
    accepted = [
        ctx.workspace.load_shot_record(s.id).get("scores", {}) for s in story.shots[: state["cursor"]] if ctx.workspace.is_done(s.id)
    ]
    levers = Levers(
        can_refine_prompt=callable(getattr(ctx.planner, "refine_prompt", None)),
        misleading_memory=misleading_entries(ctx.bank, ctx.embedder, shot.characters),
        memory_edited=any(a.get("decision", {}).get("action") == "edit_memory" for a in attempts),
    )
    decision = ctx.critic.decide(scores, current["number"], accepted, levers)
    current["scores"], current["overall"], current["decision"] = scores.to_dict(), scores.overall(), decision.to_dict()
    ctx.workspace.log("critique", shot=shot.id, attempt=current["number"], action=decision.action, reason=decision.reason, drop=decision.drop, scores=scores.to_dict())
    return {"attempts": attempts, "decision": decision.action}


@_logged
def edit_memory(state: DirectorState, runtime: Runtime[DirectorContext]) -> dict[str, Any]:
    """Drop the entries the critic found misleading; the next attempt sees the edited memory."""
    ctx = runtime.context.resolve()
    shot = _story(state).shots[state["cursor"]]
    for entry_id in state["attempts"][-1]["decision"]["drop"]:
        ctx.bank.drop(entry_id)
    ctx.bank.record_snapshot(shot.id)
    ctx.bank.save()
    return {}


@_logged
def refine_prompt(state: DirectorState, runtime: Runtime[DirectorContext]) -> dict[str, Any]:
    """Ask the LLM to rewrite the shot's prompt from the critic's words; on failure keep it."""
    ctx = runtime.context.resolve()
    story = _story(state)
    index = state["cursor"]
    shot = story.shots[index]
    critique = state["attempts"][-1]["decision"]["reason"]
    try:
        prompt = ctx.planner.refine_prompt(shot, story, critique)
    except Exception as error:  # an LLM outage must not end the story: the next attempt reseeds
        ctx.workspace.log("refine_prompt", shot=shot.id, error=f"{type(error).__name__}: {error}")
        return {}
    story.shots[index] = shot.model_copy(update={"prompt": prompt})
    ctx.workspace.save_script(story)
    ctx.workspace.log("refine_prompt", shot=shot.id, before=shot.prompt, after=prompt)
    return {"story": story.model_dump(mode="json")}


def _score(ctx: Components, story: Story, index: int, analysis: FrameAnalysis, attempt: dict[str, Any]) -> ShotScores:
    """Quality: mean frame score. Consistency: the attempt's keyframes (all analysed frames when
    none passed the gate) against the memory showing the shot's characters. Continuity: first
    frame against the previous shot's last, for continuations. Prompt: text-frame similarity."""
    shot = story.shots[index]
    rows = [analysis.indices.index(i) for i in attempt["keyframes"]] or list(range(len(analysis.indices)))
    previous = ctx.workspace.load_tail(story.shots[index - 1].id)[-1] if attempt["mode"] in ("mi2v", "mm2v") else None
    agreement = consistency(
        analysis.embeddings[rows],
        ctx.bank,
        ctx.embedder,
        characters=shot.characters,
        first_frame_embedding=analysis.embeddings[0],
        previous_last_frame=previous,
    )
    prompt = prompt_following(analysis.embeddings, shot.prompt, ctx.embedder)
    return ShotScores(
        quality=float(np.mean(analysis.scores)),
        quality_scorer=analysis.scorer_name,
        consistency=agreement.memory,
        consistency_scorer=agreement.embedder if agreement.memory is not None else None,
        continuity=agreement.continuity,
        prompt_following=prompt.value,
        prompt_scorer=prompt.embedder if prompt.value is not None else None,
    )


@_logged
def commit(state: DirectorState, runtime: Runtime[DirectorContext]) -> dict[str, Any]:
    """Keep the chosen attempt: memory first, then the shot files (the record last).

    A kill can land anywhere in here, and a resumed run runs the node again. So it is idempotent:
    a shot whose record exists is finished; otherwise the memory is first set back to the shot's
    snapshot, dropping keyframes a cut-short commit may have saved.
    """
    ctx = runtime.context.resolve()
    story = _story(state)
    shot = story.shots[state["cursor"]]
    done = {"cursor": state["cursor"] + 1, "attempts": [], "attempt": 0}
    if ctx.workspace.is_done(shot.id):
        story = ctx.workspace.load_script()  # with the kept attempt's prompt
        frames_made = int(ctx.workspace.load_shot_record(shot.id)["frames"])
        runtime.stream_writer({"shot_done": shot.id, "index": state["cursor"], "total": len(story.shots), "frames": frames_made})
        return {**done, "story": story.model_dump(mode="json")}
    attempts = state["attempts"]
    chosen = attempts[-1] if state["decision"] == "accept" else max(attempts, key=lambda a: a.get("overall", 0.0))
    frames = np.load(_attempt_frames(ctx.workspace, shot.id, chosen["number"]))
    analysis = _load_analysis(ctx.workspace, shot.id, chosen["number"], chosen["analysis"])
    row = {frame: position for position, frame in enumerate(analysis.indices)}
    keyframes = [
        Keyframe(
            frame_index=i,
            image=frames[i],
            embedding=analysis.embeddings[row[i]],
            score=float(analysis.scores[row[i]]),
            scorer=analysis.scorer_name,
            embedder=analysis.embedder_name,
        )
        for i in chosen["keyframes"]
    ]
    ctx.bank.restore(shot.id)
    added = ctx.bank.add_keyframes(shot.id, keyframes)
    ctx.bank.record_snapshot(shot.id, chosen["memory"])  # what conditioned the kept attempt
    ctx.bank.save()  # keyframes and snapshot in one atomic write
    if chosen["prompt"] != shot.prompt:  # the kept attempt came before a prompt refinement
        story.shots[state["cursor"]] = shot = shot.model_copy(update={"prompt": chosen["prompt"]})
        ctx.workspace.save_script(story)
    record = {
        "shot_id": shot.id,
        "mode": chosen["mode"],
        "seed": chosen["seed"],
        "attempt": chosen["number"],
        "attempts": len(attempts),
        "decision": state["decision"],
        "scores": chosen.get("scores", {}),
        "prompt": chosen["prompt"],
        "memory": chosen["memory"],
        "keyframes": [e.id for e in added],
        "backend": ctx.generator.name,
        "history": [{k: a.get(k) for k in ("number", "seed", "overall", "decision")} for a in attempts],
    }
    ctx.workspace.save_shot(shot.id, frames, ctx.generator.fps, record)
    shutil.rmtree(ctx.workspace.shots_dir / "attempts", ignore_errors=True)
    ctx.workspace.log("commit", shot=shot.id, attempt=chosen["number"], decision=state["decision"], frames=int(len(frames)), keyframes=record["keyframes"])
    runtime.stream_writer({"shot_done": shot.id, "index": state["cursor"], "total": len(story.shots), "frames": int(len(frames))})
    return {**done, "story": story.model_dump(mode="json")}


@_logged
def assemble(state: DirectorState, runtime: Runtime[DirectorContext]) -> dict[str, Any]:
    from director.film.assemble import assemble as assemble_film
    from director.film.report import write_report

    ctx = runtime.context.resolve()
    story = _story(state)
    film = assemble_film(ctx.workspace, story, ctx.generator.fps)
    write_report(ctx.workspace, story)
    ctx.workspace.log("assemble", **film)
    return {"film": film}


# --- routing -----------------------------------------------------------------------------------


def after_prepare(state: DirectorState) -> str:
    return "assemble" if state["cursor"] >= len(state["story"]["shots"]) else "generate"


def after_critique(state: DirectorState, runtime: Runtime[DirectorContext]) -> str:
    if state["decision"] in ("accept", "keep_best") or state["attempt"] >= runtime.context.resolve().critic.max_attempts:
        return "commit"
    return {"regenerate": "generate", "refine_prompt": "refine_prompt", "edit_memory": "edit_memory"}[state["decision"]]


def build_graph(checkpointer=None):
    builder = StateGraph(DirectorState, context_schema=DirectorContext)
    for node in (plan, prepare_shot, generate, remember, critique, edit_memory, refine_prompt, commit, assemble):
        builder.add_node(node.__name__, node)
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "prepare_shot")
    builder.add_conditional_edges("prepare_shot", after_prepare, ["generate", "assemble"])
    builder.add_edge("generate", "remember")
    builder.add_edge("remember", "critique")
    builder.add_conditional_edges("critique", after_critique, ["generate", "refine_prompt", "edit_memory", "commit"])
    builder.add_edge("edit_memory", "generate")
    builder.add_edge("refine_prompt", "generate")
    builder.add_edge("commit", "prepare_shot")
    builder.add_edge("assemble", END)
    return builder.compile(checkpointer=checkpointer)


def recursion_limit(shots: int, max_attempts: int) -> int:
    """Supersteps a whole story can take: per shot a prepare and a commit, plus at most four per
    attempt (generate, remember, critique, and a memory edit or prompt refinement)."""
    return 8 + shots * (2 + 4 * max_attempts)


def run_director(
    components: Components,
    story_id: str,
    inputs: dict[str, Any],
    shots: int,
    max_attempts: int,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run (or resume) one story with checkpoints in the story folder's state.sqlite; returns the
    final state. `on_event` receives the progress events the nodes stream (LangGraph's "custom"
    stream mode): one per node finished, and one `shot_done` per committed shot.

    A run that stopped part-way has pending nodes in its checkpoint: it is resumed from there.
    Otherwise the graph starts from `plan`, which reuses the folder's script and skips the shots
    already on disk, so even a lost checkpoint file only costs the shot that was in flight.
    """
    from langgraph.checkpoint.sqlite import SqliteSaver

    config = {"configurable": {"thread_id": story_id}, "recursion_limit": recursion_limit(shots, max_attempts)}
    context = DirectorContext(max_attempts=max_attempts, components=components)
    connection = sqlite3.connect(components.workspace.state_path, check_same_thread=False)
    try:
        graph = build_graph(SqliteSaver(connection))
        pending = graph.get_state(config).next
        if pending:  # a resumed run skips `plan`, so it cleans up here
            components.workspace.log("resume", at=list(pending))
            _remove_partial_files(components.workspace)
        for event in graph.stream(None if pending else inputs, config, context=context, stream_mode="custom"):
            if on_event is not None:
                on_event(event)
        return graph.get_state(config).values
    finally:
        connection.close()


#: The graph for LangGraph's dev server and Studio (they bring their own checkpointer).
graph = build_graph()
