"""The director as a LangGraph `StateGraph`.

```
plan -> prepare_shot -> generate -> remember -> critique --accept/keep_best--> commit -> prepare_shot ...
              |            ^  ^  ^                  |                                     |
              |            |  |  +---regenerate-----+                     (all shots done) v
              |            |  +--- refine_prompt <--+ (LLM rewrites the prompt)
              |            +------ drop_memory <----+ (drop a misleading keyframe)
              |            +------ pin_memory <-----+ (hold an entry, e.g. a reference, in memory)
              +-------------------------------------------------------------------> assemble -> END
```
State is JSON-native (the script, a cursor, the attempts as `Take` records); the run context is the
live `Components` (generator, memory bank, vision models, critic), or for LangGraph's server and
Studio the JSON settings they are loaded from. The graph makes one version of the
story folder (`director.folder`): every attempt is a take under `takes/<shot>/`, the kept
one goes into the version's manifest, and shots the version already has are skipped. Frames never
enter the state: each attempt's frames are written beside its take and read back by the next
node, so a resumed run finds them. Every loop is bounded: the cursor only moves forward and
attempts stop at `max_attempts`.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

import numpy as np
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from typing_extensions import TypedDict

from director.critic.cases import build_case, score_attempt
from director.critic.judge import tournament
from director.critic.rules import Levers
from director.film.report import update_report
from director.folder.checkpoints import open_checkpointer
from director.folder.files import atomic_path
from director.folder.versions import ShotEntry, Take, Version, rebuilt_memory
from director.folder.workspace import Workspace, attempt_frames, previous_frames
from director.planning.base import DEFAULT_SHOTS, PromptRefiner
from director.run.context import Components, DirectorContext, RunContext, components_of
from director.story import Story
from generator.base import CONTEXT_FRAMES, ShotMode, ShotRequest
from memory.remember import Proposal, keep_keyframes, propose_keyframes, why_empty
from memory.scores import misleading_entries, stands_apart
from memory.select import FrameAnalysis

#: Seeds of successive attempts at one shot differ by this prime, so retries never repeat a seed.
RETRY_SEED_STEP = 100_003


class DirectorState(TypedDict, total=False):
    logline: str
    shots_wanted: int
    seed: int
    references: list[str]  # extra reference image files for the initial memory (MR2V)
    thread: str  # the thread id, recorded in the version this run makes
    note: str  # why the version exists (recorded in it)
    story: dict[str, Any]  # input only: a script to make (Studio); the version's script lives in the folder
    shots_total: int
    cursor: int  # index in story.shots of the shot being made
    attempt: int  # attempts made on that shot so far
    attempts: list[dict[str, Any]]  # one `Take` record per attempt
    decision: str
    continuation: str | None  # the judge switched this shot's continuation mode (mi2v <-> mm2v)
    film: dict[str, Any]


def _logged(node: Callable) -> Callable:
    """Write each node's duration to events.jsonl and stream it as a progress event."""

    @wraps(node)
    def run(state: DirectorState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        workspace = components_of(runtime.context).workspace
        started = time.perf_counter()
        update = node(state, runtime)
        event = {"node": node.__name__, "cursor": state.get("cursor"), "seconds": round(time.perf_counter() - started, 4)}
        workspace.log("node", **event)
        runtime.stream_writer(event)
        return update

    return run


def _story(workspace: Workspace) -> Story:
    """The script of the version being made: it lives in the folder, not in every checkpoint."""
    return Story.model_validate(_draft(workspace).script)


def _takes(state: DirectorState) -> list[Take]:
    return [Take.model_validate(a) for a in state.get("attempts", [])]


def _draft(workspace: Workspace) -> Version:
    version = workspace.draft()
    if version is None:
        raise RuntimeError(f"{workspace.root} has no version being made")
    return version


# --- nodes -------------------------------------------------------------------------------------


@_logged
def plan(state: DirectorState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Use the version being made when there is one (a resume), else start one from the given
    script or from the planner's."""
    ctx = components_of(runtime.context)
    _remove_partial_files(ctx.workspace)
    version = ctx.workspace.draft()
    if version is not None:
        story = Story.model_validate(version.script)
    else:
        if state.get("story"):
            story = Story.model_validate(state["story"])
        elif ctx.planner is None:
            raise ValueError("no script in the story folder and no planner to write one")
        else:
            story = ctx.planner.plan(state["logline"], state.get("shots_wanted", DEFAULT_SHOTS), state.get("seed", 0))
        note = state.get("note") or (f"made from the logline: {state['logline']}" if state.get("logline") else "made from a script")
        ctx.workspace.start_version(story, note=note, thread=state.get("thread", "langgraph"))
    ctx.workspace.log("plan", title=story.title, shots=len(story.shots), scenes=len(story.scenes), fingerprint=story.fingerprint())
    if not ctx.bank.entries:
        _seed_memory(ctx, story, state.get("references", []))
    return {"cursor": 0, "shots_total": len(story.shots)}


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
def prepare_shot(state: DirectorState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Move to the first shot the version does not have yet and set the memory to what conditions it."""
    ctx = components_of(runtime.context)
    story = _story(ctx.workspace)
    done = _draft(ctx.workspace).shots
    cursor = state.get("cursor", 0)
    while cursor < len(story.shots) and story.shots[cursor].id in done:
        cursor += 1
    if cursor == len(story.shots):
        return {"cursor": cursor}
    shot = story.shots[cursor]
    version = _draft(ctx.workspace)
    if shot.id in version.memory_plan:  # a revision: the shot's recorded memory, with remade shots' new keyframes
        ctx.bank.set_active(_rebuilt(ctx, version, version.memory_plan[shot.id]))
        ctx.bank.record_snapshot(shot.id)
    elif shot.id in ctx.bank.snapshots:
        ctx.bank.restore(shot.id)  # a redo after a crash: the memory this shot had, nothing added since
    else:
        ctx.bank.record_snapshot(shot.id)
    ctx.bank.save()
    ctx.workspace.remove_scratch(shot.id)  # leftovers of a killed run
    return {"cursor": cursor, "attempt": 0, "attempts": [], "continuation": None}


def _rebuilt(ctx: Components, version: Version, entry_ids: list[str]) -> list[str]:
    sources = {entry_id: entry.shot_id for entry_id, entry in ctx.bank.entries.items()}
    return rebuilt_memory(version, ctx.workspace.version(version.parent), entry_ids, sources)


def shot_mode(story: Story, index: int, has_memory: bool, continuation: ShotMode) -> ShotMode:
    """Cut -> M2V (T2V when memory is empty); continue -> MI2V or MM2V."""
    if story.shots[index].transition == "continue" and index > 0:
        return continuation
    return ShotMode.M2V if has_memory else ShotMode.T2V


@_logged
def generate(state: DirectorState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Generate one attempt and keep it as a take: its video and record, and its raw frames for
    the nodes that judge it."""
    ctx = components_of(runtime.context)
    story = _story(ctx.workspace)
    index = state["cursor"]
    shot = story.shots[index]
    attempt = state.get("attempt", 0) + 1
    memory = ctx.bank.active() if ctx.use_memory else []  # --no-memory: independent shots
    mode = shot_mode(story, index, bool(memory), ShotMode(state["continuation"]) if state.get("continuation") else ctx.continuation)
    previous = previous_frames(ctx.workspace, story, index, CONTEXT_FRAMES[mode])
    scene = story.scene(shot.scene)
    seed = shot.seed + RETRY_SEED_STEP * (attempt - 1)
    gen = ctx.generator
    request = ShotRequest(
        shot_id=shot.id,
        prompt=shot.prompt,
        mode=mode,
        seed=seed,
        memory=[ctx.bank.image(entry.id) for entry in memory],
        previous_frames=previous,
        num_frames=gen.num_frames,
        width=gen.width,
        height=gen.height,
        fps=gen.fps,
        info={
            "scene": shot.scene,
            "shot": story.number_in_scene(shot.id),
            "camera": shot.camera,
            "setting": scene.setting,
            "time_of_day": story.time_of(shot),
            "characters": shot.characters,
            "descriptions": {c.name: c.description for c in story.characters if c.name in shot.characters},
        },
    )
    started = time.perf_counter()
    result = gen.generate(request)
    seconds = time.perf_counter() - started
    take = Take(
        shot_id=shot.id,
        number=ctx.workspace.next_take(shot.id),
        attempt=attempt,
        prompt=shot.prompt,
        seed=seed,
        mode=mode.value,
        memory=[e.id for e in memory],
        frames=int(len(result.frames)),
        fps=gen.fps,
        seconds=round(seconds, 3),
        backend=gen.name,
        generator=result.metadata,
    )
    with atomic_path(ctx.workspace.take_path(shot.id, take.number, ".frames.npy")) as temp:
        np.save(temp, result.frames)
    ctx.workspace.write_take_video(take, result.frames)  # in the background; the shot's commit waits for it
    ctx.workspace.save_take(take)  # the record last: a take exists once its record does
    ctx.workspace.log("generate", shot=shot.id, take=take.name, **take.model_dump(include={"attempt", "seed", "mode", "memory", "frames", "seconds", "generator"}))
    return {"attempt": attempt, "attempts": [*state.get("attempts", []), take.model_dump(mode="json")]}


def _proposal(workspace: Workspace, take: Take) -> Proposal:
    return Proposal(FrameAnalysis.load(workspace.take_path(take.shot_id, take.number, ".analysis.npz")), take.keyframes)


@_logged
def remember(state: DirectorState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Ask memory to analyse the attempt (every frame once) and propose its keyframes."""
    ctx = components_of(runtime.context)
    takes = _takes(state)
    take = takes[-1]
    proposal = propose_keyframes(attempt_frames(ctx.workspace, take), ctx.bank, ctx.embedder, ctx.scorer, ctx.selection)
    with atomic_path(ctx.workspace.take_path(take.shot_id, take.number, ".analysis.npz")) as temp:
        proposal.analysis.save(temp)
    take.keyframes = proposal.keyframes
    ctx.workspace.save_take(take)
    names = {"embedder": proposal.analysis.embedder_name, "scorer": proposal.analysis.scorer_name, "threshold": proposal.analysis.threshold}
    ctx.workspace.log("remember", shot=take.shot_id, take=take.name, keyframes=take.keyframes, **names)
    return {"attempts": [t.model_dump(mode="json") for t in takes]}


@_logged
def critique(state: DirectorState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Score the attempt and decide: the rules always (they are the guard rails and the fallback),
    then the LLM judge when there is one. When attempts run out, pick the take to keep."""
    ctx = components_of(runtime.context)
    story = _story(ctx.workspace)
    index = state["cursor"]
    shot = story.shots[index]
    takes = _takes(state)
    take = takes[-1]
    suspects = misleading_entries(ctx.bank, ctx.embedder, shot.characters)
    margin = ctx.critic.consistency_margin
    outlier = suspects[0] if suspects and margin is not None and stands_apart(ctx.bank, ctx.embedder, suspects[0], margin, shot.characters) else None
    scores = score_attempt(ctx, story, index, _proposal(ctx.workspace, take).analysis, take, suspect=outlier)
    version = _draft(ctx.workspace)
    accepted = [ctx.workspace.load_take(s.id, version.shots[s.id].take).scores for s in story.shots[:index] if s.id in version.shots]
    levers = Levers(
        can_refine_prompt=isinstance(ctx.planner, PromptRefiner),
        misleading_memory=suspects,
        memory_edited=any((t.decision or {}).get("action") == "drop_memory" for t in takes),
    )
    decision = ctx.critic.decide(scores, take.attempt, accepted, levers)
    take.scores, take.overall = scores.to_dict(), scores.overall()
    case = None
    if ctx.judge is not None:
        case = build_case(ctx, story, index, takes, accepted, levers.can_refine_prompt, state.get("continuation"))
        decision = ctx.judge.decide(case, scores, decision)
        if decision.fallback:
            ctx.workspace.log("critique.fallback", shot=shot.id, take=take.name, reason=decision.fallback)
    if decision.action == "keep_best" or (decision.action != "accept" and take.attempt >= ctx.critic.max_attempts):
        case = case or build_case(ctx, story, index, takes, accepted, False, None, images=False)
        decision.action = "keep_best"
        decision.keep, decision.comparisons = tournament(ctx.judge, case, [*case.earlier, case.attempt])
    take.decision = decision.to_dict()
    ctx.workspace.save_take(take)
    ctx.workspace.log("critique", shot=shot.id, take=take.name, attempt=take.attempt, **{k: v for k, v in take.decision.items() if k != "scores"}, scores=scores.to_dict())
    update: dict[str, Any] = {"attempts": [t.model_dump(mode="json") for t in takes], "decision": decision.action}
    if decision.action == "switch_continuation":
        update["continuation"] = _other_continuation(take.mode)
    return update


def _other_continuation(mode: str) -> str:
    return ShotMode.MI2V.value if mode == ShotMode.MM2V.value else ShotMode.MM2V.value


@_logged
def drop_memory(state: DirectorState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Drop the entries the critic found misleading; the next attempt sees the edited memory."""
    ctx = components_of(runtime.context)
    take = _takes(state)[-1]
    for entry_id in take.decision["drop"]:
        ctx.bank.drop(entry_id)
    ctx.bank.record_snapshot(take.shot_id)
    ctx.bank.save()
    return {}


@_logged
def pin_memory(state: DirectorState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Hold the entries the judge named in the memory of the next attempt (an entry not active,
    such as a character's reference image pushed out of the window, comes back)."""
    ctx = components_of(runtime.context)
    take = _takes(state)[-1]
    pinned = take.decision["pin"]
    ctx.bank.set_active([*pinned, *(i for i in ctx.bank.active_ids if i not in pinned)])
    for entry_id in pinned:
        if entry_id in ctx.bank.active_ids:
            ctx.bank.pin(entry_id)
    ctx.bank.record_snapshot(take.shot_id)
    ctx.bank.save()
    return {}


@_logged
def refine_prompt(state: DirectorState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Ask the LLM to rewrite the shot's prompt from the critic's words; on failure keep it."""
    ctx = components_of(runtime.context)
    story = _story(ctx.workspace)
    index = state["cursor"]
    shot = story.shots[index]
    decision = _takes(state)[-1].decision
    critique = decision["reason"] + (f" Change: {decision['change']}" if decision.get("change") else "")
    try:
        prompt = ctx.planner.refine_prompt(shot, story, critique)
    except Exception as error:  # an LLM outage must not end the story: the next attempt reseeds
        ctx.workspace.log("refine_prompt", shot=shot.id, error=f"{type(error).__name__}: {error}")
        return {}
    story.shots[index] = shot.model_copy(update={"prompt": prompt})
    ctx.workspace.save_draft_script(_draft(ctx.workspace), story)
    ctx.workspace.log("refine_prompt", shot=shot.id, before=shot.prompt, after=prompt)
    return {}


@_logged
def commit(state: DirectorState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Keep the chosen take: memory first, then the version's manifest (which marks the shot done).

    A kill can land anywhere in here, and a resumed run runs the node again. So it is idempotent:
    a shot the version has is finished; otherwise memory starts again from the shot's snapshot,
    dropping keyframes a cut-short commit may have saved.
    """
    ctx = components_of(runtime.context)
    version = _draft(ctx.workspace)
    story = Story.model_validate(version.script)
    shot = story.shots[state["cursor"]]
    done = {"cursor": state["cursor"] + 1, "attempts": [], "attempt": 0}
    if shot.id in version.shots:
        frames_made = ctx.workspace.load_take(shot.id, version.shots[shot.id].take).frames
        runtime.stream_writer({"shot_done": shot.id, "index": state["cursor"], "total": len(story.shots), "frames": frames_made})
        return done
    takes = _takes(state)
    keep = (takes[-1].decision or {}).get("keep")
    chosen = takes[-1] if state["decision"] == "accept" else next((t for t in takes if t.number == keep), None) or max(takes, key=lambda t: t.overall or 0.0)
    frames = np.load(ctx.workspace.take_path(shot.id, chosen.number, ".frames.npy"))
    added = keep_keyframes(ctx.bank, shot.id, frames, _proposal(ctx.workspace, chosen), conditioned_on=chosen.memory)
    if chosen.prompt != shot.prompt:  # the kept take came before a prompt refinement
        story.shots[state["cursor"]] = shot = shot.model_copy(update={"prompt": chosen.prompt})
        ctx.workspace.save_draft_script(version, story)
    entry = ShotEntry(
        take=chosen.number,
        attempts=[t.number for t in takes],
        decision=state["decision"],
        memory=chosen.memory,
        keyframes=[e.id for e in added],
    )
    ctx.workspace.commit_shot(version, shot.id, entry, frames)
    ctx.workspace.log("commit", shot=shot.id, take=chosen.name, attempt=chosen.attempt, decision=state["decision"], frames=chosen.frames, keyframes=entry.keyframes)
    for note in _memory_notes(ctx, story, state["cursor"], "" if added else why_empty(_proposal(ctx.workspace, chosen), ctx.selection)):
        runtime.stream_writer({"note": note})
    update_report(ctx.workspace, shot.id, frames)  # the live report, so a running story can be watched
    runtime.stream_writer({"shot_done": shot.id, "index": state["cursor"], "total": len(story.shots), "frames": chosen.frames})
    return done


def _memory_notes(ctx: Components, story: Story, index: int, why: str) -> list[str]:
    """What the console and the report say about memory after a shot: why it added no keyframe,
    and once, at the end of the first scene, that memory is still empty and why."""
    shot, notes = story.shots[index], []
    if why:
        ctx.workspace.log("memory_note", shot=shot.id, note=why)
        notes.append(f"shot {shot.id} adds no keyframe to memory: {why}")
    scene_ends = index + 1 == len(story.shots) or story.shots[index + 1].scene != shot.scene
    if why and scene_ends and shot.scene == story.shots[0].scene and not ctx.bank.active():
        warning = f"warning: memory is still empty after scene {shot.scene}, so the next shots are made without it: {why} (--quality-threshold sets the gate by hand)"
        ctx.workspace.log("memory_empty", scene=shot.scene, warning=warning)
        notes.append(warning)
    return notes


@_logged
def assemble(state: DirectorState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Join the version's takes into its film, make it the current version, write the report."""
    from director.film.assemble import assemble as assemble_film
    from director.film.report import write_report

    ctx = components_of(runtime.context)
    story = _story(ctx.workspace)
    version = _draft(ctx.workspace)
    started = time.perf_counter()
    film = assemble_film(ctx.workspace, version, story, ctx.generator.fps)
    film_seconds = round(time.perf_counter() - started, 4)
    started = time.perf_counter()
    if ctx.sound is not None:  # the soundtrack, made after the pictures; the voices it cast stay in the script
        from director.sound.soundtrack import add_sound

        add_sound(ctx.workspace, version, story, ctx.generator.fps, ctx.sound)
        ctx.workspace.save_draft_script(version, story)
    sound_seconds = round(time.perf_counter() - started, 4)
    parent = ctx.workspace.version(version.parent) if version.parent else None
    if parent is not None and parent.bank is not None:  # the memory the revised film leaves (as the user edited it)
        ctx.bank.set_active(_rebuilt(ctx, version, (version.bank_edits or {}).get("active", parent.bank)))
        ctx.bank.save()
    if version.bank_edits is None:  # a first version: the memory it leaves is the state undo and checkout come back to
        version.bank_edits = {"entries": ctx.bank.edit_state()}
    ctx.workspace.finish_version(version, film, list(ctx.bank.active_ids))
    write_report(ctx.workspace, story)
    ctx.workspace.log("assemble", version=version.number, film_seconds=film_seconds, sound_seconds=sound_seconds, **film)
    return {"film": film}


# --- routing -----------------------------------------------------------------------------------


def after_prepare(state: DirectorState) -> str:
    return "assemble" if state["cursor"] >= state["shots_total"] else "generate"


def after_critique(state: DirectorState, runtime: Runtime[RunContext]) -> str:
    if state["decision"] in ("accept", "keep_best") or state["attempt"] >= components_of(runtime.context).critic.max_attempts:
        return "commit"
    return {"regenerate": "generate", "switch_continuation": "generate", "refine_prompt": "refine_prompt", "drop_memory": "drop_memory", "pin_memory": "pin_memory"}[state["decision"]]


def build_graph(checkpointer=None):
    builder = StateGraph(DirectorState, context_schema=DirectorContext)
    for node in (plan, prepare_shot, generate, remember, critique, drop_memory, pin_memory, refine_prompt, commit, assemble):
        builder.add_node(node.__name__, node)
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "prepare_shot")
    builder.add_conditional_edges("prepare_shot", after_prepare, ["generate", "assemble"])
    builder.add_edge("generate", "remember")
    builder.add_edge("remember", "critique")
    builder.add_conditional_edges("critique", after_critique, ["generate", "refine_prompt", "drop_memory", "pin_memory", "commit"])
    builder.add_edge("drop_memory", "generate")
    builder.add_edge("pin_memory", "generate")
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
    thread: str,
    inputs: dict[str, Any],
    shots: int,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    checkpointer: Any | None = None,
) -> dict[str, Any]:
    """Run (or resume) the making of one version, with checkpoints under `thread` in `checkpointer`
    (a LangGraph saver, e.g. Postgres from `director.folder.checkpoints`; default: the story folder's
    state.sqlite); returns the final state. `on_event` receives the progress events
    the nodes stream (LangGraph's "custom" stream mode): one per node finished, and one
    `shot_done` per committed shot.

    A run that stopped part-way has pending nodes in its checkpoint: it is resumed from there.
    Otherwise the graph starts from `plan`, which reuses the version being made and skips the
    shots it already has, so even a lost checkpoint file only costs the shot that was in flight.
    """
    if checkpointer is None:
        with open_checkpointer(None, components.workspace.state_path) as saver:
            return run_director(components, thread, inputs, shots, on_event, saver)
    config = {"configurable": {"thread_id": thread}, "recursion_limit": recursion_limit(shots, components.critic.max_attempts)}
    graph = build_graph(checkpointer)
    snapshot = graph.get_state(config)
    # a step whose nodes all finished (their writes saved) before the process died shows no
    # `next`, yet the run is not over: its tasks are still there, and stream(None) goes on from them
    pending = snapshot.next or tuple(task.name for task in snapshot.tasks)
    if pending:  # a resumed run skips `plan`, so it cleans up here
        components.workspace.log("resume", at=list(pending))
        _remove_partial_files(components.workspace)
    _stream(graph, None if pending else {**inputs, "thread": thread}, config, components, on_event)
    return graph.get_state(config).values


def _stream(graph, inputs: dict[str, Any] | None, config: dict[str, Any], components: Components, on_event: Callable[[dict[str, Any]], None] | None) -> None:
    """Stream the graph from a thread of its own and hand its events to `on_event` here. LangGraph
    lets an exception out only once the node in flight has finished, so Ctrl-C (a KeyboardInterrupt
    in this thread) would wait for a shot still generating (minutes on a GPU); here it is raised at
    once, and the graph stops after that node. Any other way out waits for that node and for the
    take videos being encoded: once this returns, nothing writes into the folder or the
    checkpointer (which the caller may close, or a server give to the story's next job)."""
    events: queue.Queue = queue.Queue()
    stop = threading.Event()

    def drive() -> None:
        try:
            for event in graph.stream(inputs, config, context=components, stream_mode="custom"):
                events.put(("event", event))
                if stop.is_set():
                    break
            events.put(("end", None))
        except BaseException as error:  # noqa: BLE001 - raised again in the caller's thread
            events.put(("error", error))

    driver = threading.Thread(target=drive, name="storymem-graph", daemon=True)
    driver.start()
    try:
        while True:
            kind, value = events.get()
            if kind == "error":
                raise value
            if kind == "end":
                break
            if on_event is not None:
                on_event(value)
    except KeyboardInterrupt:  # Ctrl-C: raised now; the graph stops after its node
        stop.set()
        raise
    except BaseException:  # a caller's `on_event` failing, or the graph's own error
        stop.set()
        driver.join()
        components.workspace.close()
        raise
    components.workspace.close()


#: The graph for LangGraph's dev server and Studio (they bring their own checkpointer).
graph = build_graph()
