"""`storymem eval`: ST-Bench's metrics and the ones users care about, for any folder of shots.

A story is a storymem folder (its current version's shots, with takes, decisions and timings) or any
folder of mp4 files beside a script (storymem JSON or StoryMem/ST-Bench's format): videos named by
shot id, else taken in natural file order. Per story and overall (the mean over stories, as
ST-Bench averages):

- aesthetic: the LAION aesthetic predictor (its MLP or linear head on CLIP ViT-L/14 image
  embeddings) over sampled frames, divided by 10 as ST-Bench reports it; without its weights, the
  project's frame quality model (BRISQUE), named with its own scale.
- prompt following: video-text cosine similarity, global (the film against the story overview) and
  per shot (each shot against its prompt). The video side is ViCLIP when given, else CLIP image
  embeddings averaged over sampled frames. The weight-free colour-structure embedder has no text
  side: prompt following is then reported as unavailable, with the reason.
- cross-shot consistency: cosine similarity of shot embeddings over all shot pairs and over the 10
  most similar pairs (all pairs when there are fewer), also within a scene and across scenes.
- cut/continuation fidelity: a continuation's first frame must match the previous shot's last frame
  (pixel similarity at 64x36, 1 = identical), a cut must differ; the ones that do not are flagged.
- per-character consistency: shot pairs that show the same character (the script's characters, or
  names found in the prompts).
- critic statistics (storymem folders): attempts per shot, first-attempt acceptances, memory edits
  and prompt rewrites tried and how often the kept take came after them; seconds per shot.

Encoders are pluggable (`Encoders`) and named in every result. No model is downloaded.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from director.run.backend_limits import comparison_note
from director.story import Story, ScriptError, load_script

#: Pixel similarity (1 - mean absolute difference at 64x36) a continuation's first frame must reach
#: against the previous shot's last frame; consecutive frames of one video sit above 0.95.
CONTINUATION_MIN = 0.9
#: A cut whose first frame is this close to the previous last frame looks like no cut at all.
CUT_MAX = 0.97
DEFAULT_FRAMES = 8
PUBLISHED = {  # ST-Bench, as published with StoryMem (arXiv 2512.19539)
    "StoryMem (published)": {"aesthetic": 0.6133, "prompt_global": 0.2289, "prompt_shot": 0.2313, "consistency_all": 0.5065, "consistency_top10": 0.5337},
    "independent Wan2.2 shots (published)": {"consistency_all": 0.3934},
    "HoloCine (published)": {"consistency_all": 0.463},
}


class EvalError(ValueError):
    """Input eval cannot use; one readable line."""


# --- encoders ---------------------------------------------------------------------------------------


class AestheticModel(Protocol):
    name: str
    scale: str

    def score(self, images: list[np.ndarray]) -> np.ndarray: ...


class VideoTextEncoder(Protocol):
    name: str

    def embed_videos(self, clips: list[list[np.ndarray]]) -> np.ndarray: ...

    def embed_texts(self, texts: list[str]) -> np.ndarray: ...


class LaionAesthetic:
    """The LAION aesthetic predictor: a head on L2-normalised CLIP image embeddings (ViT-L/14, 768-d).

    Takes the released weights as they are: the MLP (`layers.0/2/4/6/7` of
    sac+logos+ava1-l14-linearMSE.pth) or the linear head (`weight`, `bias`). Scores are the
    predictor's 1-10 rating divided by 10, ST-Bench's scale."""

    scale = "LAION rating / 10 (about 0.3 to 0.8)"

    def __init__(self, embedder: Any, head: str | Path):
        import torch

        try:
            state = torch.load(str(head), map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, ValueError) as error:
            raise EvalError(f"--aesthetic-head {head}: cannot read it ({type(error).__name__})") from None
        state = state.get("state_dict", state) if isinstance(state, dict) else state
        if "weight" in state:
            self.layers = [(state["weight"].float(), state["bias"].float())]
        elif "layers.0.weight" in state:
            self.layers = [(state[f"layers.{i}.weight"].float(), state[f"layers.{i}.bias"].float()) for i in (0, 2, 4, 6, 7)]
        else:
            raise EvalError(f"--aesthetic-head {head}: not a LAION aesthetic head (expected weight/bias or layers.0..7)")
        width = self.layers[0][0].shape[1]
        probe = embedder.embed_images([np.zeros((8, 8, 3), dtype=np.uint8)])
        if probe.shape[1] != width:
            raise EvalError(f"--aesthetic-head {head} takes {width}-d embeddings; {embedder.name} gives {probe.shape[1]} (use CLIP ViT-L-14)")
        self.embedder = embedder
        self.name = f"laion-aesthetic:{Path(head).name} on {embedder.name}"

    def score(self, images: list[np.ndarray]) -> np.ndarray:
        import torch

        x = torch.from_numpy(np.asarray(self.embedder.embed_images(images), dtype=np.float32))
        x = x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        for weight, bias in self.layers:  # the released MLP has no activations between its layers
            x = x @ weight.T + bias
        return (x[:, 0] / 10.0).numpy()


class QualityAsAesthetic:
    """The fallback: the project's frame quality model, on its own scale (not comparable to LAION's)."""

    def __init__(self, scorer: Any):
        from director.critic.scales import QUALITY_SCALES

        self.scorer = scorer
        self.name = f"{scorer.name} (fallback: no LAION aesthetic head given)"
        self.scale = next((scale for key, (_, scale) in QUALITY_SCALES.items() if scorer.name.startswith(key)), "the scorer's own scale")

    def score(self, images: list[np.ndarray]) -> np.ndarray:
        return np.asarray(self.scorer.score(images), dtype=np.float32)


class ViclipEncoder:
    """ViCLIP (InternVid) through InternVideo's own `viclip` module, which the user puts on
    PYTHONPATH with its checkpoint (ViClip-InternVid-10M-FLT.pth). 8 frames at 224x224, as ST-Bench."""

    def __init__(self, checkpoint: str | Path):
        if not Path(checkpoint).is_file():
            raise EvalError(f"--viclip checkpoint not found: {checkpoint}")
        try:
            import viclip  # InternVideo/Data/InternVid/viclip
        except ImportError:
            raise EvalError("--viclip needs InternVideo's viclip module on PYTHONPATH (InternVideo/Data/InternVid/viclip)") from None
        loaded = viclip.get_viclip("l", str(checkpoint))
        self.model, self.tokenizer = loaded["viclip"].eval(), loaded["tokenizer"]
        self.name = f"viclip:{Path(checkpoint).name}"

    def embed_videos(self, clips: list[list[np.ndarray]]) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 1, 3, 1, 1)
        rows = []
        with torch.inference_mode():
            for frames in clips:
                picks = [frames[i] for i in np.linspace(0, len(frames) - 1, 8).round().astype(int)]
                x = torch.from_numpy(np.stack(picks)).permute(0, 3, 1, 2).float() / 255.0
                x = F.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False).unsqueeze(0)
                rows.append(F.normalize(self.model.get_vid_features((x - mean) / std).float(), dim=-1)[0].numpy())
        return np.stack(rows).astype(np.float32)

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        with torch.inference_mode():
            rows = [F.normalize(self.model.get_text_features(t, self.tokenizer, {}).float(), dim=-1)[0].numpy() for t in texts]
        return np.stack(rows).astype(np.float32)


@dataclass
class Encoders:
    """The models eval measures with; every result names them."""

    image: Any  # memory.vision.ImageEmbedder; a text side (`embed_texts`) enables prompt following
    aesthetic: Any  # AestheticModel
    video: Any = None  # VideoTextEncoder (ViCLIP) or None: CLIP averaged over frames
    frames: int = DEFAULT_FRAMES

    @property
    def text(self) -> Any:
        if self.video is not None:
            return self.video
        return self.image if callable(getattr(self.image, "embed_texts", None)) else None

    def describe(self) -> dict[str, Any]:
        return {
            "image": self.image.name,
            "video_text": self.video.name if self.video is not None else (f"{self.image.name}, mean over {self.frames} frames" if self.text is not None else None),
            "aesthetic": {"model": self.aesthetic.name, "scale": self.aesthetic.scale},
            "frames_per_shot": self.frames,
        }


def load_encoders(
    embedder: str = "auto",
    clip_checkpoint: str | None = None,
    aesthetic_head: str | None = None,
    aesthetic_clip_checkpoint: str | None = None,
    viclip: str | None = None,
    quality_scorer: str = "auto",
    frames: int = DEFAULT_FRAMES,
) -> Encoders:
    """Local models only: a missing one is named in a warning and its documented fallback runs
    (CLIP -> colour-structure, LAION aesthetic -> the quality scorer), except ViCLIP and the
    aesthetic head, which are used only when given and fail in one line when they cannot load."""
    from memory.vision import load_embedder, load_quality_scorer

    if frames < 2:
        raise EvalError("--frames-per-shot must be at least 2 (the first and the last frame)")
    try:
        image = load_embedder(embedder, checkpoint=clip_checkpoint)
        if aesthetic_head:
            if not Path(aesthetic_head).is_file():
                raise EvalError(f"--aesthetic-head file not found: {aesthetic_head}")
            head_clip = load_embedder("clip:ViT-L-14" + ("" if aesthetic_clip_checkpoint else "@openai"), checkpoint=aesthetic_clip_checkpoint)
            aesthetic: Any = LaionAesthetic(head_clip, aesthetic_head)
        else:
            aesthetic = QualityAsAesthetic(load_quality_scorer(quality_scorer))
    except EvalError:
        raise
    except ValueError as error:
        raise EvalError(str(error)) from None
    return Encoders(image=image, aesthetic=aesthetic, video=ViclipEncoder(viclip) if viclip else None, frames=frames)


# --- stories ------------------------------------------------------------------------------------------


@dataclass
class ShotInput:
    id: str
    number: int  # in the film, from 1
    scene: int
    transition: str
    prompt: str
    characters: list[str]
    video: Path


@dataclass
class StoryInput:
    folder: Path
    story: Story
    shots: list[ShotInput]
    kind: str  # "storymem" or "videos"
    settings: dict[str, Any] = field(default_factory=dict)
    backend: str = ""  # what rendered it (run.json), "" for another tool's videos


def _natural(path: Path) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def _characters(story: Story, shot: Any) -> list[str]:
    if shot.characters:
        return list(shot.characters)
    text = shot.prompt.lower()
    return [c.name for c in story.characters if c.name.lower() in text]


def read_story(folder: str | Path) -> StoryInput:
    """The shots to evaluate in `folder`, with the script they were made from."""
    from director.folder.workspace import Workspace

    root = Path(folder)
    if not root.is_dir():
        raise EvalError(f"{root} is not a folder")
    workspace = Workspace(root)
    if workspace.run_path.is_file() or workspace.versions_dir.is_dir():
        try:
            version = workspace.current() or workspace.draft()
            story = Story.model_validate(version.script) if version is not None else workspace.load_script()
        except (ValueError, OSError) as error:
            raise EvalError(f"{root}: its records cannot be read ({type(error).__name__})") from None
        done = [s for s in story.shots if workspace.is_done(s.id) and (version is None or s.id in version.shots)]
        shots = [_shot(story, s, workspace.shot_video(s.id)) for s in done]
        kind, settings = "storymem", workspace.load_run().get("settings", {})
        backend = str(workspace.load_run().get("render", {}).get("backend", ""))
    else:
        story = _find_script(root)
        videos = sorted(root.glob("*.mp4"), key=_natural)
        by_id = {p.stem: p for p in videos}
        if all(s.id in by_id for s in story.shots):
            paths = [by_id[s.id] for s in story.shots]
        elif len(videos) == len(story.shots):
            paths = videos
        elif not videos:
            paths = []
        else:
            raise EvalError(f"{root} holds {len(videos)} mp4 files for a {len(story.shots)}-shot script; name them by shot id (01_01.mp4, ...) or give one per shot")
        shots = [_shot(story, s, p) for s, p in zip(story.shots, paths)]
        kind, settings, backend = "videos", {}, ""
    if not shots:
        raise EvalError(f"{root} has no finished shots to evaluate")
    numbers = {s.id: i + 1 for i, s in enumerate(story.shots)}
    for shot in shots:
        shot.number = numbers[shot.id]
    return StoryInput(root, story, shots, kind, settings, backend)


def _shot(story: Story, shot: Any, video: Path) -> ShotInput:
    return ShotInput(shot.id, 0, shot.scene, shot.transition, shot.prompt, _characters(story, shot), video)


def _find_script(root: Path) -> Story:
    candidates = [root / "script.json"] if (root / "script.json").is_file() else sorted(root.glob("*.json"))
    for path in candidates:
        try:
            return load_script(path)
        except ScriptError:
            continue
    raise EvalError(f"{root} is not a story: no storymem records (run.json, versions/) and no script (*.json) beside its videos")


# --- per-shot features --------------------------------------------------------------------------------


@dataclass
class ShotFeatures:
    embedding: np.ndarray  # the shot's mean frame embedding, L2-normalised
    first: np.ndarray  # first frame at 64x36, float in [0, 1]
    last: np.ndarray
    first_embedding: np.ndarray
    last_embedding: np.ndarray
    aesthetic: float
    frames: int  # frames in the video
    sampled: list[np.ndarray]  # the sampled frames (for a film-level video embedding)
    video_embedding: np.ndarray | None = None


def sample_indices(count: int, wanted: int) -> list[int]:
    """`wanted` frame indices spread evenly over `count` frames, first and last included."""
    return sorted({int(i) for i in np.linspace(0, count - 1, min(wanted, count)).round()})


def _small(frame: np.ndarray) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(np.ascontiguousarray(frame[..., :3])).resize((64, 36), Image.BILINEAR), dtype=np.float32) / 255.0


def _normalise(vector: np.ndarray) -> np.ndarray:
    return (vector / (np.linalg.norm(vector) + 1e-12)).astype(np.float32)


def shot_features(video: Path, encoders: Encoders) -> ShotFeatures:
    from director.folder.video import read_video

    frames = read_video(video)
    picks = [frames[i] for i in sample_indices(len(frames), encoders.frames)]
    embeddings = np.asarray(encoders.image.embed_images(picks), dtype=np.float32)
    features = ShotFeatures(
        embedding=_normalise(embeddings.mean(axis=0)),
        first=_small(frames[0]),
        last=_small(frames[-1]),
        first_embedding=embeddings[0],
        last_embedding=embeddings[-1],
        aesthetic=float(np.mean(encoders.aesthetic.score(picks))),
        frames=len(frames),
        sampled=picks if encoders.video is not None else [],  # only ViCLIP's film embedding needs them
    )
    if encoders.video is not None:
        features.video_embedding = encoders.video.embed_videos([list(frames)])[0]
    return features


# --- metrics ------------------------------------------------------------------------------------------


def pair_similarities(embeddings: np.ndarray) -> list[tuple[int, int, float]]:
    vectors = np.asarray(embeddings, dtype=np.float32)
    similarity = vectors @ vectors.T
    return [(i, j, float(similarity[i, j])) for i in range(len(vectors)) for j in range(i + 1, len(vectors))]


def consistency(embeddings: np.ndarray, scenes: Sequence[int], top: int = 10) -> dict[str, float | None]:
    """ST-Bench's cross-shot consistency: the mean cosine similarity over all shot pairs and over the
    `top` most similar pairs (all of them when there are fewer), plus within and across scenes."""
    pairs = pair_similarities(embeddings)
    values = sorted((v for _, _, v in pairs), reverse=True)
    within = [v for i, j, v in pairs if scenes[i] == scenes[j]]
    across = [v for i, j, v in pairs if scenes[i] != scenes[j]]
    mean = lambda xs: float(np.mean(xs)) if xs else None  # noqa: E731
    return {
        "consistency_all": mean(values),
        "consistency_top10": mean(values[:top]),
        "consistency_within_scene": mean(within),
        "consistency_across_scenes": mean(across),
        "pairs": len(pairs),
    }


def pixel_match(a: np.ndarray, b: np.ndarray) -> float:
    """1 - mean absolute difference of two small frames in [0, 1]: 1 for identical frames."""
    return float(1.0 - np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean())


def transitions(shots: Sequence[ShotInput], features: Sequence[ShotFeatures]) -> dict[str, Any]:
    """Each shot's first frame against the previous shot's last: continuations must match, cuts differ."""
    rows = []
    for k in range(1, len(shots)):
        if shots[k].number != shots[k - 1].number + 1:
            continue  # the previous shot is not finished: nothing to compare with
        match = pixel_match(features[k].first, features[k - 1].last)
        similarity = float(features[k].first_embedding @ features[k - 1].last_embedding)
        kind = "continue" if shots[k].transition == "continue" else "cut"
        flagged = match < CONTINUATION_MIN if kind == "continue" else match >= CUT_MAX
        rows.append({"shot": shots[k].number, "id": shots[k].id, "transition": kind, "pixel_match": round(match, 4), "embedding_similarity": round(similarity, 4), "flagged": flagged})
    continuations = [r for r in rows if r["transition"] == "continue"]
    cuts = [r for r in rows if r["transition"] == "cut"]
    return {
        "continuation_fidelity": float(np.mean([r["pixel_match"] for r in continuations])) if continuations else None,
        "continuations_flagged": sum(r["flagged"] for r in continuations) if continuations else None,
        "cut_distinctness": float(np.mean([1 - r["pixel_match"] for r in cuts])) if cuts else None,
        "cuts_flagged": sum(r["flagged"] for r in cuts) if cuts else None,
        "rows": rows,
        "rule": f"a continuation is flagged below pixel match {CONTINUATION_MIN} with the previous last frame, a cut at {CUT_MAX} or more",
    }


def character_consistency(shots: Sequence[ShotInput], embeddings: np.ndarray) -> dict[str, Any]:
    """Mean shot-pair similarity per character, over the pairs of shots that both show it."""
    similarity = np.asarray(embeddings, np.float32) @ np.asarray(embeddings, np.float32).T
    per: dict[str, Any] = {}
    for name in dict.fromkeys(c for s in shots for c in s.characters):
        rows = [k for k, s in enumerate(shots) if name in s.characters]
        pairs = [float(similarity[i, j]) for a, i in enumerate(rows) for j in rows[a + 1 :]]
        if pairs:
            per[name] = {"shots": len(rows), "pairs": len(pairs), "mean": float(np.mean(pairs))}
    return {"character_consistency": float(np.mean([v["mean"] for v in per.values()])) if per else None, "characters": per}


def critic_statistics(folder: Path, shots: Sequence[ShotInput]) -> dict[str, Any]:
    """Attempts, decisions, memory edits and prompt rewrites (kept when the chosen take came after
    them), generation and director seconds per shot, from a storymem folder's records."""
    from director.folder.workspace import Workspace

    workspace = Workspace(folder)
    version = workspace.current() or workspace.draft()
    if version is None:
        return {}
    attempts, first_accepted, generation = [], 0, []
    edits = {"drop_memory": [0, 0], "refine_prompt": [0, 0]}  # tried, kept
    for shot in shots:
        entry = version.shots[shot.id]
        takes = [workspace.load_take(shot.id, n) for n in entry.attempts if workspace.take_path(shot.id, n, ".json").is_file()]
        attempts.append(len(entry.attempts))
        first_accepted += entry.decision == "accept" and len(entry.attempts) == 1
        generation.append(sum(t.seconds for t in takes))
        for action, counts in edits.items():
            tried = [t.number for t in takes if (t.decision or {}).get("action") == action]
            if tried:
                counts[0] += 1
                counts[1] += entry.take > min(tried)
    judged = {"llm": 0, "rules": 0, "fallback": 0, "compared": 0}  # decisions on this version's takes, by judge
    for shot in shots:
        for number in version.shots[shot.id].attempts:
            if workspace.take_path(shot.id, number, ".json").is_file():
                decision = workspace.load_take(shot.id, number).decision or {}
                judged[decision.get("judge", "rules")] = judged.get(decision.get("judge", "rules"), 0) + 1
                judged["fallback"] += bool(decision.get("fallback"))
                judged["compared"] += len(decision.get("comparisons", []))
    director = [e["seconds"] for e in workspace.events() if e.get("event") == "node" and e.get("node") not in ("plan", "assemble")]
    commits = sum(1 for e in workspace.events() if e.get("event") == "commit")
    return {
        "attempts_per_shot": float(np.mean(attempts)),
        "max_attempts_used": int(max(attempts)),
        "first_attempt_accepted": first_accepted / len(shots),
        "memory_edits_tried": edits["drop_memory"][0],
        "memory_edits_kept": edits["drop_memory"][1],
        "prompt_rewrites_tried": edits["refine_prompt"][0],
        "prompt_rewrites_kept": edits["refine_prompt"][1],
        "generation_seconds_per_shot": float(np.mean(generation)),
        "seconds_per_shot": float(np.sum(director) / commits) if commits else None,
        "judge": "llm" if judged["llm"] or judged["fallback"] else "rules",
        "decisions_by_llm": judged["llm"],
        "decisions_by_rules": judged["rules"],
        "judge_fallbacks": judged["fallback"],
        "pairwise_comparisons": judged["compared"],
    }


def evaluate_story(story: StoryInput, encoders: Encoders, cache: dict | None = None) -> dict[str, Any]:
    """Every metric for one story; `cache` shares shot features between calls (a baseline run)."""
    cache = {} if cache is None else cache
    features = []
    for shot in story.shots:
        stat = shot.video.stat()
        key = (str(shot.video.resolve()), stat.st_size, stat.st_mtime_ns)
        if key not in cache:
            cache[key] = shot_features(shot.video, encoders)
        features.append(cache[key])
    video_side = encoders.video is not None
    embeddings = np.stack([f.embedding for f in features])
    metrics: dict[str, Any] = {"aesthetic": float(np.mean([f.aesthetic for f in features]))}
    unavailable: dict[str, str] = {}
    text = encoders.text
    if text is None:
        reason = f"{encoders.image.name} has no text side (give a CLIP checkpoint or ViCLIP)"
        metrics["prompt_global"] = metrics["prompt_shot"] = None
        unavailable["prompt_global"] = unavailable["prompt_shot"] = reason
    else:
        vectors = np.stack([f.video_embedding for f in features]) if video_side else embeddings
        prompts = np.asarray(text.embed_texts([s.prompt for s in story.shots] + [story.story.overview or story.story.logline or story.story.title]), np.float32)
        metrics["prompt_shot"] = float(np.mean(np.sum(vectors * prompts[:-1], axis=1)))
        if video_side:
            film = [frame for f in features for frame in f.sampled]
            whole = encoders.video.embed_videos([film])[0]
        else:
            whole = _normalise(embeddings.mean(axis=0))
        metrics["prompt_global"] = float(whole @ prompts[-1])
    consistency_vectors = np.stack([f.video_embedding for f in features]) if video_side else embeddings
    cons = consistency(consistency_vectors, [s.scene for s in story.shots])
    metrics.update({k: v for k, v in cons.items() if k != "pairs"})
    if len(story.shots) < 2:
        unavailable["consistency_all"] = "one shot: no pairs"
    trans = transitions(story.shots, features)
    metrics.update({k: trans[k] for k in ("continuation_fidelity", "continuations_flagged", "cut_distinctness", "cuts_flagged")})
    chars = character_consistency(story.shots, consistency_vectors)
    metrics["character_consistency"] = chars["character_consistency"]
    if chars["character_consistency"] is None:
        unavailable["character_consistency"] = "no character appears in two finished shots (the script names none, or each once)"
    critic = critic_statistics(story.folder, story.shots) if story.kind == "storymem" else {}
    if not critic:
        unavailable["critic"] = "not a storymem folder: no takes, decisions or timings recorded"
    metrics.update(critic)
    from director.sound.summary import soundtrack_metrics

    sound = soundtrack_metrics(story.folder, [s.id for s in story.story.shots]) if story.kind == "storymem" else None
    metrics.update(sound["metrics"] if sound else {})
    from director.run.ablations import names, recorded_settings

    return {
        "folder": str(story.folder),
        "title": story.story.title,
        "kind": story.kind,
        "shots": len(story.shots),
        "script_shots": len(story.story.shots),
        "prompts": [s.prompt for s in story.story.shots],
        "ablations": names(recorded_settings(story.settings)),
        "metrics": metrics,
        "unavailable": unavailable,
        "transitions": trans["rows"],
        "characters": chars["characters"],
        "pairs": cons["pairs"],
        "speech_seconds": sound["speech_seconds"] if sound else None,
    }


METRICS = [  # (key, label, higher is better)
    ("aesthetic", "aesthetic", True),
    ("prompt_global", "prompt following, global", True),
    ("prompt_shot", "prompt following, per shot", True),
    ("consistency_all", "consistency, all pairs", True),
    ("consistency_top10", "consistency, top-10 pairs", True),
    ("consistency_within_scene", "consistency, within a scene", True),
    ("consistency_across_scenes", "consistency, across scenes", True),
    ("character_consistency", "consistency, per character", True),
    ("continuation_fidelity", "continuation fidelity (pixel match)", True),
    ("continuations_flagged", "continuations flagged", False),
    ("cut_distinctness", "cut distinctness (1 - pixel match)", True),
    ("cuts_flagged", "cuts flagged", False),
    ("attempts_per_shot", "attempts per shot", False),
    ("first_attempt_accepted", "first attempt accepted (share)", True),
    ("memory_edits_kept", "memory edits kept / tried", True),
    ("prompt_rewrites_kept", "prompt rewrites kept / tried", True),
    ("decisions_by_llm", "critic decisions by the LLM judge", True),
    ("decisions_by_rules", "critic decisions by the rules", False),
    ("judge_fallbacks", "LLM answers unusable (rules decided)", False),
    ("pairwise_comparisons", "keep-best pairwise comparisons", True),
    ("generation_seconds_per_shot", "generation seconds per shot", False),
    ("seconds_per_shot", "director seconds per shot", False),
    ("speech_seconds_per_shot", "speech seconds per shot", True),
    ("lines_cut", "lines cut or shortened to fit", False),
    ("lines_moved", "lines run on over a continuation", False),
    ("loudness_lufs", "integrated loudness (LUFS, goal -16)", True),
    ("true_peak_dbtp", "true peak (dBTP, goal under -1)", False),
    ("ducking_db", "music ducked under speech (dB)", True),
]


#: Critic counts: summed over stories, like the other counts.
COUNTS = ("decisions_by_llm", "decisions_by_rules", "judge_fallbacks", "pairwise_comparisons", "lines_cut", "lines_moved")


def overall(stories: list[dict[str, Any]]) -> dict[str, Any]:
    """The mean over stories of each metric (stories without it left out); counts are summed."""
    result = {}
    for key, _, _ in METRICS + [("memory_edits_tried", "", True), ("prompt_rewrites_tried", "", True), ("max_attempts_used", "", False)]:
        values = [s["metrics"].get(key) for s in stories if s["metrics"].get(key) is not None]
        if not values:
            result[key] = None
        elif key.endswith(("_flagged", "_kept", "_tried")) or key in COUNTS:
            result[key] = int(sum(values))
        elif key == "max_attempts_used":
            result[key] = int(max(values))
        else:
            result[key] = float(np.mean(values))
    return result


def evaluate(folders: Sequence[str | Path], baseline: Sequence[str | Path] = (), encoders: Encoders | None = None, json_out: str | Path | None = None,
             **encoder_options: Any) -> dict[str, Any]:
    """Evaluate story folders (and their baselines, paired in order); JSON-ready, and written to `json_out` when given."""
    folders, baseline = list(folders), list(baseline)
    if not folders:
        raise EvalError("give at least one story folder")
    if baseline and len(baseline) != len(folders):
        raise EvalError(f"give one --baseline per story folder ({len(folders)} folders, {len(baseline)} baselines)")
    stories = [read_story(f) for f in folders]  # every input checked before any model runs
    bases = [read_story(f) for f in baseline]
    from director.run.ablations import names, recorded_settings

    notes = []
    for story, base in zip(stories, bases):
        if len(story.story.shots) != len(base.story.shots):
            raise EvalError(f"{story.folder} has {len(story.story.shots)} shots and its baseline {base.folder} {len(base.story.shots)}: compare stories of the same script")
        differ = [i + 1 for i, (a, b) in enumerate(zip(story.story.shots, base.story.shots)) if a.prompt != b.prompt]
        if differ:
            notes.append(f"{story.folder} and {base.folder}: prompts differ in shot{'s' if len(differ) > 1 else ''} {', '.join(map(str, differ))} (compared anyway)")
        blind = comparison_note(*((str(s.folder), s.backend, names(recorded_settings(s.settings))) for s in (story, base)))
        if blind:
            notes.append(blind)
    encoders = encoders or load_encoders(**encoder_options)
    cache: dict = {}
    results = [evaluate_story(s, encoders, cache) for s in stories]
    report: dict[str, Any] = {"encoders": encoders.describe(), "stories": results, "overall": overall(results), "notes": notes}
    if bases:
        base_results = [evaluate_story(s, encoders, cache) for s in bases]
        report["baseline"] = {"stories": base_results, "overall": overall(base_results)}
    if json_out is not None:
        write_json(report, json_out)
    return report


# --- tables -------------------------------------------------------------------------------------------


def _value(key: str, metrics: dict[str, Any]) -> str:
    value = metrics.get(key)
    if value is None:
        return "-"
    if key in ("memory_edits_kept", "prompt_rewrites_kept"):
        return f"{value}/{metrics.get(key.replace('_kept', '_tried'), 0)}"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"


def _change(key: str, new: Any, old: Any) -> str:
    if new is None or old is None or key in ("memory_edits_kept", "prompt_rewrites_kept"):
        return ""
    if old == 0:
        return "=" if new == 0 else "n/a"
    return f"{(new - old) / abs(old) * 100:+.1f}%"


def _rows(metrics: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(key, label) for key, label, _ in METRICS if any(m.get(key) is not None for m in metrics)]


def format_report(report: dict[str, Any]) -> str:
    """The plain-text tables: per story and overall, or side by side with the baseline."""
    enc = report["encoders"]
    lines = [
        f"encoders: image {enc['image']}; video-text {enc['video_text'] or 'none (prompt following unavailable)'}; "
        f"aesthetic {enc['aesthetic']['model']} ({enc['aesthetic']['scale']}); {enc['frames_per_shot']} frames a shot"
    ]
    base = report.get("baseline")
    pairs = list(zip(report["stories"], base["stories"])) if base else [(s, None) for s in report["stories"]]
    blocks = [(f"{s['title']} ({s['folder']}; {s['shots']} of {s['script_shots']} shots, {s['kind']}{'; ' + ' '.join(s['ablations']) if s['ablations'] else ''}{'; critic judge ' + s['metrics']['judge'] if s['metrics'].get('judge') else ''})", s["metrics"], b and b["metrics"], b and (b["folder"] + (" (" + " ".join(b["ablations"]) + ")" if b["ablations"] else "")), s["unavailable"]) for s, b in pairs]
    if len(report["stories"]) > 1:
        blocks.append((f"overall ({len(report['stories'])} stories, mean per story)", report["overall"], base and base["overall"], base and "baseline", {}))
    for title, metrics, old, old_name, unavailable in blocks:
        lines += ["", title]
        rows = _rows([metrics] + ([old] if old else []))
        if old is None:
            lines += [f"  {label:<38} {_value(key, metrics):>10}" for key, label in rows]
        else:
            lines.append(f"  {'metric':<38} {'this':>10} {'baseline':>10} {'change':>8}")
            lines += [f"  {label:<38} {_value(key, metrics):>10} {_value(key, old):>10} {_change(key, metrics.get(key), old.get(key)):>8}" for key, label in rows]
            lines.append(f"  baseline: {old_name}")
        for key, reason in unavailable.items():
            lines.append(f"  {key.replace('_', ' ')}: unavailable: {reason}")
    lines += [f"speech seconds per shot, {s['title']}: " + " ".join(f"{v:g}" for v in s["speech_seconds"].values()) for s in report["stories"] if s.get("speech_seconds")]
    lines += [f"note: {n}" for n in report.get("notes", [])]
    return "\n".join(lines)


def write_json(report: dict[str, Any], path: str | Path) -> None:
    from director.folder.files import atomic_write_json

    atomic_write_json(Path(path), report)
