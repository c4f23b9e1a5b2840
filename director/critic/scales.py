"""Scores people can read: each critic score with its model, its scale, and what counts as good.

A shot record's scores are bare numbers ("quality 43.364"); this module says what they mean.
`gates(components)` is recorded in run.json when a story is made (the models and the gates the
critic judged against); `describe(name, value, gates)` and `summary_lines(workspace)` turn
numbers into sentences for the console and the report.

`overall`, in take records and a shot record's `history`, is the mean of one attempt's scores. Its
parts are on different scales, so it means nothing on its own: it only ranks attempts of the same
shot against each other (the best one is kept when none passes).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median
from typing import Any

OVERALL_MEANING = "overall (in shot records) is only a ranking of one shot's attempts: the mean of their scores, on mixed scales"

#: Quality scorers by name: (what it measures, its scale).
QUALITY_SCALES = {
    "heuristic-sharpness-exposure": ("sharpness, exposure and colour heuristic", "0 to 10"),
    "brisque-quality": ("100 minus BRISQUE (no-reference naturalness)", "0 to 100"),
    "hpsv3": ("HPSv3 human-preference reward", "about -5 to 15"),
}


@dataclass
class Reading:
    label: str
    value: float
    model: str
    scale: str
    good: str  # what counts as good, or why nothing is judged
    passed: bool | None  # None: not gated


def gates(components: Any) -> dict[str, Any]:
    """The models and gates a run's critic judges with (recorded in run.json as "scores")."""
    critic, scorer, embedder = components.critic, components.scorer, components.embedder
    semantic = callable(getattr(embedder, "embed_texts", None))
    return {
        "quality": {"model": scorer.name, "gate": critic.quality_threshold},
        "consistency": {"model": embedder.name, "margin": critic.consistency_margin},
        "continuity": {"model": embedder.name, "margin": None},
        "prompt_following": {"model": embedder.name if semantic else None, "margin": critic.prompt_margin},
    }


def _quality_scale(model: str) -> tuple[str, str]:
    for name, (what, scale) in QUALITY_SCALES.items():
        if model.lower().startswith(name):
            return what, scale
    return "frame quality", "the scorer's own scale"


def describe(key: str, value: float, scores: dict[str, Any], recorded: dict[str, Any] | None, story_values: list[float]) -> Reading:
    """One score in words. `scores` is the shot's score dict (it names its models); `recorded` is
    run.json's "scores" (gates), None for folders made before it was recorded; `story_values` are
    this score over the story's shots (a relative gate compares with their median)."""
    recorded = recorded or {}
    gate = recorded.get(key, {})
    if key == "quality":
        model = scores.get("quality_scorer") or gate.get("model") or "?"
        what, scale = _quality_scale(model)
        threshold = gate.get("gate")
        if threshold is None:
            good = "higher is better; not gated in this run (the preview's cards and the toy's shapes are not natural images)" if recorded else "higher is better"
            return Reading("quality", value, f"{model}: {what}", scale, good, None)
        return Reading("quality", value, f"{model}: {what}", scale, f"higher is better; good at {threshold:g} or more", value >= threshold)
    model = scores.get("prompt_scorer" if key == "prompt_following" else "consistency_scorer") or gate.get("model") or "?"
    label = {"consistency": "consistency with memory", "continuity": "continuity with the previous shot", "prompt_following": "prompt following"}[key]
    kind = "image-text cosine similarity" if key == "prompt_following" else "cosine similarity of frame embeddings"
    margin = gate.get("margin")
    if key == "continuity":
        return Reading(label, value, f"{model}: {kind}", "-1 to 1", "higher is better; measured, not gated", None)
    if margin is None:
        reason = "not gated with an embedder that sees only colour and layout" if recorded else "higher is better"
        return Reading(label, value, f"{model}: {kind}", "-1 to 1", f"higher is better; {reason}", None)
    values = [v for v in story_values if v is not None]
    if len(values) < 2:
        return Reading(label, value, f"{model}: {kind}", "-1 to 1", f"higher is better; good within {margin:g} of the story's median", None)
    floor = median(values) - margin
    return Reading(label, value, f"{model}: {kind}", "-1 to 1", f"higher is better; good at {floor:.3f} or more (story median - {margin:g})", value >= floor)


SCORE_KEYS = ("quality", "consistency", "continuity", "prompt_following")


def readings(records: list[dict[str, Any]], recorded: dict[str, Any] | None) -> list[list[Reading]]:
    """Each shot record's scores in words, in order."""
    columns = {key: [r.get("scores", {}).get(key) for r in records] for key in SCORE_KEYS}
    result = []
    for record in records:
        scores = record.get("scores", {}) or {}
        result.append([describe(key, float(scores[key]), scores, recorded, columns[key]) for key in SCORE_KEYS if scores.get(key) is not None])
    return result


def summary_lines(records: list[dict[str, Any]], recorded: dict[str, Any] | None) -> list[str]:
    """One line per kind of score over the story: model, scale, what is good, and how the shots did."""
    per_shot = readings(records, recorded)
    lines = []
    for key in SCORE_KEYS:
        found = [r for shot in per_shot for r in shot if r.label.startswith(key.split("_")[0])]
        if not found:
            continue
        first = found[0]
        values = [r.value for r in found]
        judged = [r for r in found if r.passed is not None]
        verdict = f"; {sum(r.passed for r in judged)} of {len(judged)} shots good" if judged else ""
        lines.append(f"{first.label}: {first.model}, scale {first.scale}, {first.good} -> median {median(values):.3f}, lowest {min(values):.3f}{verdict}")
    if lines:
        lines.append(OVERALL_MEANING)
    return lines


def folder_summary(folder: Any) -> list[str]:
    """`summary_lines` for the current version of a story folder (empty when it cannot be read)."""
    from director.folder.workspace import Workspace

    workspace = Workspace(folder)
    try:
        story = workspace.load_script()
        records = [workspace.load_shot_record(shot.id) for shot in story.shots]
        return summary_lines(records, workspace.load_run().get("scores"))
    except (OSError, ValueError, KeyError):
        return []
