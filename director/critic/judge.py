"""The LLM critic: a model decides what to do with a shot attempt, the scores are its evidence.

The model gets the shot's prompt and characters, each score with its model, its scale and the range
the story's accepted shots reached, the memory entries that conditioned the attempt (tags and source
shot) and the attempts so far. When the endpoint takes images (probed once) it also sees the
attempt's keyframes, the previous shot's last frame and the memory thumbnails as small JPEGs, and
answers per aspect (identity of each character, wardrobe, setting, props, continuity, artefacts);
the first failed aspect picks the lever (`lever_for`).

The rule critic (`director.critic.rules`) stays as guard rails and fallback: the attempt bound holds
whatever the model says, memory entries must exist, a lever the run does not have becomes a new
seed, and an answer that does not parse after the client's repair rounds gives the rules' decision,
with the reason recorded in the decision (`fallback`) and in events.jsonl.

Shot prompts and character names are untrusted text: they reach the model only as JSON inside a
`<shot-data>` block whose angle brackets are escaped, so they cannot close it.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from director.llm import LLMConnectionError, LLMError, StructuredLLM
from director.critic.rules import Decision, ShotScores
from director.critic.scales import _quality_scale
from memory.bank import MemoryEntry
from prompts.schema import render

Aspect = Literal["identity", "wardrobe", "setting", "props", "continuity", "artefacts"]
JudgeAction = Literal["accept", "regenerate", "rewrite_prompt", "drop_memory", "pin_memory", "switch_continuation", "keep_best"]

#: Which failed aspect decides the lever when several fail: who is on screen first, artefacts last.
ASPECT_ORDER: tuple[str, ...] = ("identity", "continuity", "wardrobe", "setting", "props", "artefacts")
#: Long side of the JPEGs the judge sees, in pixels.
IMAGE_SIDE = 256
#: Keyframes of one attempt shown to the judge.
KEYFRAMES_SHOWN = 3
#: The vision probe: a plain image of this colour, and the word a seeing model answers.
PROBE_COLOUR, PROBE_WORD = (0, 170, 0), "green"


class AspectVerdict(BaseModel):
    aspect: Aspect = Field(
        description="What is judged: identity (one character's face and build), wardrobe (their clothes), setting (the place and light), "
        "props (key objects the prompt names), continuity (the attempt's first frames carry on from the previous shot's last frame), "
        "artefacts (visual glitches: melting, extra limbs, flicker)."
    )
    character: str = Field("", max_length=80, description="For identity and wardrobe: the character judged, as named in the shot data; else empty.")
    passed: bool = Field(description="true when the attempt gets this aspect right.")
    evidence: str = Field(max_length=300, description="What you saw that decides it, e.g. 'keyframe 2: her coat is red; memory m0003 shows it blue'.")


class Verdict(BaseModel):
    """The judge's answer on one attempt."""

    aspects: list[AspectVerdict] = Field(
        default_factory=list,
        max_length=12,
        description="With images: one verdict per aspect (identity and wardrobe once per character in the shot; continuity only for a continuation). Without images: empty.",
    )
    action: JudgeAction = Field(
        description="accept: keep this attempt. regenerate: same prompt, new seed. rewrite_prompt: change the prompt (say what in `change`). "
        "drop_memory: take the memory entries in `entries` out, they mislead. pin_memory: hold the entries in `entries` in memory "
        "(e.g. a character's reference image). switch_continuation: condition the continuation on more frames of the previous shot. "
        "keep_best: stop trying and keep the best attempt so far."
    )
    entries: list[str] = Field(default_factory=list, max_length=10, description="For drop_memory and pin_memory: memory entry ids exactly as listed in the data, e.g. 'm0003'.")
    change: str = Field("", max_length=300, description="For rewrite_prompt: what the new prompt must change.")
    reasons: str = Field(min_length=1, max_length=600, description="Why, in one or two sentences, citing the scores and what you saw.")


class Preference(BaseModel):
    """The judge's choice between two attempts at one shot."""

    better: Literal["A", "B", "tie"] = Field(description="The attempt that better fits the shot and the story: A, B, or tie when neither is clearly better.")
    reasons: str = Field(min_length=1, max_length=400, description="Why, in one sentence.")


@dataclass
class Attempt:
    """One attempt as the judge sees it: its take number, scores and frames (for the images)."""

    take: int
    attempt: int
    seed: int
    scores: dict[str, Any]
    frames: Any = None  # (T, H, W, 3) uint8, read lazily (a memory map)
    keyframes: list[int] = field(default_factory=list)
    decision: dict[str, Any] | None = None


@dataclass
class Case:
    """Everything the critique of one attempt rests on; the graph builds it from the story folder."""

    shot_id: str
    number: int  # the shot's number in the film, from 1
    total: int
    prompt: str
    characters: list[str]
    transition: str
    mode: str
    attempt: Attempt
    earlier: list[Attempt]  # this shot's earlier attempts, oldest first
    max_attempts: int
    accepted: list[dict[str, Any]]  # score dicts of the story's accepted shots
    memory: list[MemoryEntry]  # the entries that conditioned the attempt, in order
    bank: dict[str, MemoryEntry]  # every entry the bank holds (what may be pinned)
    memory_images: dict[str, np.ndarray] = field(default_factory=dict)
    previous_last: np.ndarray | None = None  # the previous shot's last frame
    can_rewrite: bool = False
    can_switch_continuation: bool = False


def jpeg_data_url(image: np.ndarray, side: int = IMAGE_SIDE) -> str:
    """A small JPEG of an RGB frame as a data URL (what chat endpoints take as image_url)."""
    from PIL import Image

    picture = Image.fromarray(np.ascontiguousarray(image[..., :3]).astype(np.uint8))
    picture.thumbnail((side, side))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def data_block(data: Any) -> str:
    """Untrusted text as JSON, with `<` and `>` escaped so nothing in it can close the block."""
    text = json.dumps(data, ensure_ascii=False, indent=1)
    return text.replace("<", "\\u003c").replace(">", "\\u003e")


#: (endpoint, model) -> what the vision probe found, for the rest of the process (batch workers make many stories).
_probed: dict[tuple[str, str], tuple[bool, str]] = {}


def probe_vision(client: Any) -> tuple[bool, str]:
    """Whether the endpoint's model sees images: one plain green picture, and the colour asked
    for. An HTTP error or a wrong answer means text only; returns (sees, why not). Asked once per
    endpoint and model in a process."""
    key = (client.settings.endpoint, client.settings.model)
    if key not in _probed:
        _probed[key] = _probe(client)
    return _probed[key][:2]


def reachable(client: Any) -> bool:
    """Whether the vision probe reached the endpoint at all (False: nothing answered)."""
    return _probed.get((client.settings.endpoint, client.settings.model), (False, "", True))[2]


def _probe(client: Any) -> tuple[bool, str, bool]:
    image = np.zeros((32, 32, 3), np.uint8) + np.array(PROBE_COLOUR, np.uint8)
    question = [{"role": "user", "content": [
        {"type": "text", "text": "What colour fills this image? Answer with one word."},
        {"type": "image_url", "image_url": {"url": jpeg_data_url(image)}},
    ]}]  # fmt: skip
    try:
        answer = client.probe_text(question)
    except LLMConnectionError as error:
        return False, str(error), False
    except LLMError as error:
        return False, str(error), True
    if PROBE_WORD in answer.lower():
        return True, "", True
    return False, f"asked the colour of a {PROBE_WORD} image, it answered {answer.strip()[:40]!r}", True


def _score_lines(scores: ShotScores, accepted: list[dict[str, Any]]) -> dict[str, Any]:
    """Each score with its model, its scale and the range of the story's accepted shots."""
    models = {
        "quality": scores.quality_scorer,
        "consistency": scores.consistency_scorer,
        "consistency_without_suspect": scores.consistency_scorer,
        "continuity": scores.consistency_scorer,
        "prompt_following": scores.prompt_scorer,
    }
    lines = {}
    for key, model in models.items():
        value = getattr(scores, key)
        if value is None:
            continue
        if key == "quality":
            what, scale = _quality_scale(model or "")
        elif key == "consistency_without_suspect":  # far under consistency: the shot follows that one entry
            what, scale = "consistency without the memory entry least like the rest (the first to drop)", "-1 to 1"
        else:
            what, scale = ("image-text cosine similarity" if key == "prompt_following" else "cosine similarity of frame embeddings"), "-1 to 1"
        seen = [float(a[key]) for a in accepted if a.get(key) is not None]
        story = {"min": round(min(seen), 4), "median": round(float(np.median(seen)), 4), "max": round(max(seen), 4), "shots": len(seen)} if seen else None
        lines[key] = {"value": round(float(value), 4), "model": model, "measures": what, "scale": scale, "higher_is_better": True, "accepted_shots_range": story}
    return lines


def _keyframes(attempt: Attempt) -> list[tuple[int, np.ndarray]]:
    frames = attempt.frames
    if frames is None or not len(frames):
        return []
    indices = [i for i in attempt.keyframes if 0 <= i < len(frames)] or sorted({0, len(frames) // 2, len(frames) - 1})
    step = max(1, len(indices) // KEYFRAMES_SHOWN)
    return [(i, np.asarray(frames[i])) for i in indices[::step][:KEYFRAMES_SHOWN]]


def lever_for(verdict: Verdict, case: Case) -> tuple[str, list[str], str, AspectVerdict | None]:
    """The move a verdict asks for: the first failed aspect (in `ASPECT_ORDER`) picks it, else the
    model's own action. Returns (action, entries, change, the aspect that decided).

    identity -> the memory of that character: the entries the model named (drop or pin), else the
    character's entries (reference images first) that did not condition the attempt, pinned;
    continuity -> a continuation on more of the previous shot; wardrobe, setting, props -> a prompt
    rewrite saying what was seen; artefacts -> a new seed."""
    failed = sorted((a for a in verdict.aspects if not a.passed), key=lambda a: ASPECT_ORDER.index(a.aspect))
    if not failed:
        return verdict.action, list(verdict.entries), verdict.change, None
    aspect = failed[0]
    if aspect.aspect == "identity":
        if verdict.action in ("drop_memory", "pin_memory") and verdict.entries:
            return verdict.action, list(verdict.entries), "", aspect
        used = {e.id for e in case.memory}
        theirs = [e for e in case.bank.values() if aspect.character and aspect.character in e.characters and e.id not in used]
        theirs.sort(key=lambda e: (e.kind != "reference", e.id))
        if theirs:
            return "pin_memory", [theirs[0].id], "", aspect
        return "regenerate", [], "", aspect
    if aspect.aspect == "continuity":
        return "switch_continuation", [], "", aspect
    if aspect.aspect in ("wardrobe", "setting", "props"):
        return "rewrite_prompt", [], verdict.change or f"{aspect.aspect}{' of ' + aspect.character if aspect.character else ''}: {aspect.evidence}", aspect
    return "regenerate", [], "", aspect


class LLMJudge:
    """Decides on attempts (and compares two when attempts run out) through a structured-output LLM."""

    name = "llm"

    def __init__(self, client: StructuredLLM, vision: bool = False) -> None:
        self.client = client
        self.vision = vision

    # --- one attempt ---

    def messages(self, case: Case, scores: ShotScores) -> list[dict[str, Any]]:
        """The conversation for one attempt: the task (system), then the case as delimited data
        (and, with vision, the labelled images)."""
        data = {
            "shot": {"id": case.shot_id, "prompt": case.prompt, "characters": case.characters, "transition": case.transition, "mode": case.mode},
            "scores": _score_lines(scores, case.accepted),
            "memory": [{"id": e.id, "kind": e.kind, "source_shot": e.shot_id, "characters": e.characters, "pinned": e.pinned} for e in case.memory],
            "other_memory_entries": [{"id": e.id, "kind": e.kind, "source_shot": e.shot_id, "characters": e.characters} for e in case.bank.values() if e.id not in {m.id for m in case.memory}],
            "attempts_so_far": [
                {"take": a.take, "attempt": a.attempt, "seed": a.seed, "decision": (a.decision or {}).get("action"), "reason": (a.decision or {}).get("reason", "")}
                for a in case.earlier
            ],
            "levers": {"rewrite_prompt": case.can_rewrite, "switch_continuation": case.can_switch_continuation},
        }
        text = render("critic_case.md", number=case.number, total=case.total, attempt=case.attempt.attempt, max_attempts=case.max_attempts, data=data_block(data))
        system = render("critic.md", seeing=render("critic_vision.md" if self.vision else "critic_text.md"))
        if not self.vision:
            return [{"role": "system", "content": system}, {"role": "user", "content": text}]
        parts: list[dict[str, Any]] = [{"type": "text", "text": text}]
        for index, frame in _keyframes(case.attempt):
            parts += _image(f"attempt {case.attempt.attempt}, keyframe at frame {index}", frame)
        if case.previous_last is not None:
            parts += _image("the previous shot's last frame", case.previous_last)
        for entry in case.memory:
            if entry.id in case.memory_images:
                parts += _image(f"memory entry {entry.id} ({entry.kind}, from shot {entry.shot_id or 'none: reference image'})", case.memory_images[entry.id])
        return [{"role": "system", "content": system}, {"role": "user", "content": parts}]

    def decide(self, case: Case, scores: ShotScores, rules: Decision) -> Decision:
        """The model's decision within the guard rails, or the rules' decision with the reason."""
        try:
            verdict = self.client.generate(Verdict, self.messages(case, scores))
        except Exception as error:  # an unusable answer or an LLM outage must not end the story
            return replace(rules, fallback=f"the judge's answer was not usable: {error if isinstance(error, LLMError) else type(error).__name__ + ': ' + str(error)}")
        action, entries, change, aspect = lever_for(verdict, case)
        evidence = [a.model_dump() for a in verdict.aspects]
        reason = verdict.reasons.strip() + (f" (lever from the failed {aspect.aspect} verdict{' for ' + aspect.character if aspect.character else ''})" if aspect else "")
        if action in ("drop_memory", "pin_memory"):
            pool = {e.id for e in case.memory} if action == "drop_memory" else set(case.bank)
            unknown = [e for e in entries if e not in pool]
            if unknown or not entries:
                where = "that conditioned this attempt" if action == "drop_memory" else "in the memory bank"
                why = f"the judge asked to {action.replace('_', ' ')} {', '.join(unknown) or '(no entry named)'}, not an entry {where}"
                return replace(rules, fallback=why, evidence=evidence)
        notes = []
        if action == "rewrite_prompt" and not case.can_rewrite:
            action, notes = "regenerate", ["no LLM planner to rewrite the prompt: a new seed instead"]
        if action == "switch_continuation" and not case.can_switch_continuation:
            action, notes = "regenerate", ["the shot cannot switch its continuation: a new seed instead"]
        if action not in ("accept", "keep_best") and case.attempt.attempt >= case.max_attempts:
            action, notes = "keep_best", [f"attempt bound: {case.max_attempts} attempts made, the judge asked for {verdict.action}"]
        decided = Decision(
            "refine_prompt" if action == "rewrite_prompt" else action,
            reason + "".join(f"; {n}" for n in notes),
            scores.to_dict(),
            drop=entries if action == "drop_memory" else [],
            pin=entries if action == "pin_memory" else [],
            judge="llm",
            change=change if action == "rewrite_prompt" else "",
            evidence=evidence,
        )
        return decided

    # --- keep the best ---

    def compare(self, case: Case, a: Attempt, b: Attempt) -> Preference:
        """Which of two attempts is better; raises LLMError when the answer is not usable."""
        data = {
            "shot": {"id": case.shot_id, "prompt": case.prompt, "characters": case.characters, "transition": case.transition},
            "A": {"take": a.take, "scores": a.scores},
            "B": {"take": b.take, "scores": b.scores},
        }
        text = render("critic_compare.md", data=data_block(data), seeing="You see both attempts' keyframes, labelled A and B." if self.vision else "You see no images: compare the scores.")
        system = render("critic.md", seeing=render("critic_vision.md" if self.vision else "critic_text.md"))
        if not self.vision:
            content: Any = text
        else:
            content = [{"type": "text", "text": text}]
            for label, attempt in (("A", a), ("B", b)):
                for index, frame in _keyframes(attempt):
                    content += _image(f"attempt {label} (take {attempt.take}), keyframe at frame {index}", frame)
        return self.client.generate(Preference, [{"role": "system", "content": system}, {"role": "user", "content": content}])


def _image(label: str, image: np.ndarray) -> list[dict[str, Any]]:
    return [{"type": "text", "text": label + ":"}, {"type": "image_url", "image_url": {"url": jpeg_data_url(image)}}]


def tournament(judge: LLMJudge | None, case: Case, attempts: list[Attempt]) -> tuple[int, list[dict[str, Any]]]:
    """The take to keep when attempts ran out: with a judge, the attempts meet in pairs (the
    winner of each meets the next; a tie, or an unusable answer, goes to the higher overall
    score); without one, the highest overall score. Returns (take number, comparisons)."""

    def overall(attempt: Attempt) -> float:
        return ShotScores(**{k: attempt.scores.get(k) for k in ("quality", "consistency", "prompt_following")}).overall()

    if judge is None:
        return max(attempts, key=overall).take, []
    best, comparisons = attempts[0], []
    for challenger in attempts[1:]:
        by_scores = challenger if overall(challenger) > overall(best) else best
        try:
            preference = judge.compare(case, best, challenger)
        except Exception as error:  # as in `decide`: the scores pick instead
            winner, said, reasons = by_scores, "unusable", f"{error}; the higher overall score wins"
        else:
            said, reasons = preference.better, preference.reasons
            winner = {"A": best, "B": challenger}.get(preference.better, by_scores)
            if preference.better == "tie":
                reasons += "; a tie: the higher overall score wins"
        comparisons.append({"a": best.take, "b": challenger.take, "better": said, "kept": winner.take, "reasons": reasons})
        best = winner
    return best.take, comparisons


def make_judge(settings: Any) -> tuple[LLMJudge | None, str]:
    """The judge `--critic-judge` and `--critic-vision` ask for, and a note saying which one runs.

    Raises ValueError (one line, before anything is written) for `llm` without an endpoint and
    for `--critic-vision on` with an endpoint that does not take images."""
    from director.llm import LLMClient, LLMSettings

    if settings.critic != "on" or settings.critic_judge == "rules":
        why = "" if settings.critic_judge == "rules" else f" (--critic {settings.critic}: nothing to decide)"
        return None, f"critic: rules{why}"
    if settings.critic_judge == "auto" and settings.planner not in ("auto", "openai"):
        return None, f"critic: rules (--planner {settings.planner} uses no LLM; --critic-judge llm asks for one)"
    llm = LLMSettings.resolve(settings.llm_model, settings.llm_base_url)
    if settings.critic_judge == "auto" and llm is None:
        return None, "critic: rules (no LLM endpoint for --planner auto/openai; --critic-judge llm asks for one)"
    if llm is None:
        raise ValueError("--critic-judge llm needs an endpoint: set OPENAI_API_KEY or OPENAI_BASE_URL, or pass --llm-base-url")
    try:
        client = LLMClient(llm.model_copy(update={"max_tokens": 1024}))
    except Exception as error:  # a URL the HTTP client cannot parse
        if settings.critic_judge == "auto":
            return None, f"critic: rules (auto: the LLM endpoint {llm.endpoint} is not a usable URL)"
        raise ValueError(f"--critic-judge llm: the LLM endpoint {llm.endpoint} is not a usable URL ({type(error).__name__})") from None
    where = f"{llm.model} at {llm.base_url or 'the OpenAI API'}"
    if settings.critic_vision == "off":
        return LLMJudge(client, vision=False), f"critic: LLM judge {where}, text only (--critic-vision off); the rules are its guard rails and fallback"
    sees, why = probe_vision(client)
    if not reachable(client):
        if settings.critic_judge == "auto":
            return None, f"critic: rules (auto: the LLM endpoint does not answer: {why})"
        if settings.critic_vision == "auto":
            return LLMJudge(client, vision=False), f"critic: LLM judge {where}, but the endpoint does not answer ({why}): the rules decide while it does not"
    if sees:
        return LLMJudge(client, vision=True), f"critic: LLM judge {where}, seeing keyframes and memory; the rules are its guard rails and fallback"
    if settings.critic_vision == "on":
        raise ValueError(f"--critic-vision on, but {llm.endpoint} does not take images ({why}); use a vision model, or --critic-vision auto or off")
    return LLMJudge(client, vision=False), f"critic: LLM judge {where}, text only (the endpoint does not take images: {why})"
