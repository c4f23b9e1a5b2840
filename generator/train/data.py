"""Training data for M2V LoRAs: clips in groups, and the samples drawn from them (design.md 2.3).

A data set is a manifest (`manifest.jsonl`, one `{"clip", "group", "caption"}` per line, paths
relative to the manifest) or a folder of groups (`DATA/<group>/<clip>.mp4`, captions in
`<clip>.txt` beside each clip). Each sample is a target window of one clip plus 1..M memory
frames from other clips of its group (from the same clip when the group has one clip), MI2V
conditioning half of the time and an empty caption some of the time.

Sample `k` of a run depends only on (seed, k), so a resumed run sees exactly the samples the
uninterrupted run would have seen. Video files are read through the `read_video` function the
caller passes (the project's reader), so this package does not depend on the director.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import PIL.Image
import torch

from generator.train.config import TrainInputError

MANIFEST = "manifest.jsonl"
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi")

VideoReader = Callable[[Path], np.ndarray]


@dataclass(frozen=True)
class Clip:
    path: Path
    group: str
    caption: str = ""


@dataclass
class SampleOptions:
    """How samples are drawn: the video size, memory count, conditioning and caption dropout."""

    width: int
    height: int
    num_frames: int
    max_memory: int = 10
    mi2v_probability: float = 0.5
    caption_dropout: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.num_frames % 4 != 1:
            raise TrainInputError(f"--frames must be 4k+1 (Wan's VAE stride), got {self.num_frames}")
        if self.max_memory < 1:
            raise TrainInputError(f"--max-memory must be at least 1, got {self.max_memory}")
        for name in ("mi2v_probability", "caption_dropout"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise TrainInputError(f"{name.replace('_', ' ')} must be between 0 and 1, got {getattr(self, name)}")


@dataclass
class Sample:
    """One training example in pixels: what the pipeline would be given for one shot, plus the shot."""

    index: int
    clip: str
    target: np.ndarray  # uint8 (F, H, W, 3)
    memory: list[np.ndarray]  # uint8 (H, W, 3) each, oldest first
    context: list[np.ndarray]  # [] for M2V, [first target frame] for MI2V
    caption: str
    skipped: list[str] = field(default_factory=list)  # clips that failed to decode and were replaced


# ---- the clip list --------------------------------------------------------------------------------


def read_manifest(path: Path) -> list[Clip]:
    """Clips of a JSONL manifest; a relative clip path is relative to the manifest's folder."""
    clips = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            clip = Path(entry["clip"])
            clips.append(Clip(clip if clip.is_absolute() else path.parent / clip, str(entry["group"]), str(entry.get("caption", ""))))
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise TrainInputError(f"{path}:{number}: expected {{\"clip\", \"group\", \"caption\"}}, got {line[:80]!r} ({error})") from None
    return clips


def scan_groups(folder: Path) -> list[Clip]:
    """A folder of groups: each subfolder's videos form a group; a video directly in `folder` is its own group."""
    clips = []
    for video in sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()):
        relative = video.relative_to(folder)
        group = relative.parts[0] if len(relative.parts) > 1 else video.stem
        sidecar = video.with_suffix(".txt")
        clips.append(Clip(video, group, sidecar.read_text().strip() if sidecar.is_file() else ""))
    return clips


def load_clips(data: str | Path, probe: Callable[[Path], int] | None = None, min_frames: int = 1) -> list[Clip]:
    """The clips of a data set (manifest file, folder with a manifest, or folder of groups), checked.

    Every clip must exist and, when `probe` (a frame counter) is given, decode with at least
    `min_frames` frames; the first problem raises `TrainInputError` before anything is trained.
    """
    data = Path(data)
    if not data.exists():
        raise TrainInputError(f"training data not found: {data}")
    if data.is_file():
        clips = read_manifest(data)
    elif (data / MANIFEST).is_file():
        clips = read_manifest(data / MANIFEST)
    else:
        clips = scan_groups(data)
    if not clips:
        raise TrainInputError(f"no clips in {data}: give a {MANIFEST} or a folder of group folders with videos ({', '.join(VIDEO_SUFFIXES)})")
    for clip in clips:
        if not clip.path.is_file():
            raise TrainInputError(f"clip not found: {clip.path}")
        if probe is None:
            continue
        try:
            frames = probe(clip.path)
        except Exception as error:  # ffmpeg reports unreadable files in many ways
            raise TrainInputError(f"cannot read video {clip.path}: {' '.join(str(error).split())[:200]}") from None
        if frames < min_frames:
            raise TrainInputError(f"clip {clip.path} has {frames} frame(s); training needs at least {min_frames}")
    return clips


def write_manifest(clips: Sequence[Clip], path: Path) -> None:
    """Write a manifest with clip paths relative to its folder when they lie inside it."""
    lines = []
    for clip in clips:
        try:
            name = str(clip.path.resolve().relative_to(path.parent.resolve()))
        except ValueError:
            name = str(clip.path.resolve())
        lines.append(json.dumps({"clip": name, "group": clip.group, "caption": clip.caption}, ensure_ascii=False))
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text("\n".join(lines) + "\n")
    os.replace(temp, path)


# ---- samples --------------------------------------------------------------------------------------


def resize_frames(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    """Stretch (T, H, W, 3) uint8 frames to the training size, as the pipeline stretches memory."""
    if frames.shape[1:3] == (height, width):
        return frames
    return np.stack([np.asarray(PIL.Image.fromarray(f).resize((width, height), PIL.Image.BICUBIC)) for f in frames])


class ClipSamples(torch.utils.data.Dataset):
    """`length` samples in a fixed order: sample k uses clip order[k % n] of epoch k // n.

    Each epoch visits every clip once in a permutation seeded by (seed, epoch); the memory
    count, the memory frames, MI2V and caption dropout come from a generator seeded by (seed, k).
    A clip that fails to decode is skipped (the next clip of the order is used) and named in the
    sample's `skipped` list.
    """

    def __init__(self, clips: Sequence[Clip], options: SampleOptions, length: int, read_video: VideoReader):
        self.clips = list(clips)
        self.options = options
        self.length = length
        self.read_video = read_video
        self._groups: dict[str, list[int]] = {}
        for i, clip in enumerate(self.clips):
            self._groups.setdefault(clip.group, []).append(i)

    def __len__(self) -> int:
        return self.length

    def clip_order(self, epoch: int) -> list[int]:
        rng = np.random.default_rng([self.options.seed, epoch, 1])
        return [int(i) for i in rng.permutation(len(self.clips))]

    def __getitem__(self, index: int) -> Sample:
        n = len(self.clips)
        order = self.clip_order(index // n)
        skipped = []
        for attempt in range(n):
            clip_index = order[(index % n + attempt) % n]
            try:
                sample = self._draw(index, clip_index)
            except Exception:  # a clip that cannot be decoded now: count it, train on the next
                skipped.append(str(self.clips[clip_index].path))
                continue
            sample.skipped = skipped + sample.skipped
            return sample
        raise RuntimeError(f"no clip could be decoded (last tried: {skipped[-1]})")

    def _frames(self, clip_index: int) -> np.ndarray:
        o = self.options
        frames = self.read_video(self.clips[clip_index].path)
        if len(frames) == 0:
            raise ValueError("no frames")
        return resize_frames(frames, o.width, o.height)

    def _draw(self, index: int, clip_index: int) -> Sample:
        o = self.options
        rng = np.random.default_rng([o.seed, index, 2])
        clip = self.clips[clip_index]
        frames = self._frames(clip_index)
        if len(frames) < o.num_frames:
            raise ValueError(f"{len(frames)} frames, need {o.num_frames}")
        start = int(rng.integers(0, len(frames) - o.num_frames + 1))
        target = frames[start : start + o.num_frames]

        count = int(rng.integers(1, o.max_memory + 1))
        others = [i for i in self._groups[clip.group] if i != clip_index]
        decoded = {clip_index: frames}  # each source clip is read once per sample
        failed: list[str] = []
        memory = []
        for _ in range(count):
            source = int(rng.choice(others)) if others else clip_index  # a group of one clip: the same clip
            if source not in decoded:
                try:
                    decoded[source] = self._frames(source)
                except Exception:  # a memory clip that cannot be decoded: counted, and the target clip stands in
                    failed.append(str(self.clips[source].path))
                    decoded[source] = frames
            memory.append(decoded[source][int(rng.integers(0, len(decoded[source])))])
        context = [target[0]] if rng.random() < o.mi2v_probability else []
        caption = "" if rng.random() < o.caption_dropout else clip.caption
        return Sample(index, str(clip.path), target, memory, context, caption, failed)


def first_item(batch: list[Sample]) -> Sample:
    """DataLoader collate: one sample per micro-batch (memory counts differ between samples)."""
    return batch[0]


def validation_memory(clips: Sequence[Clip], read_video: VideoReader, width: int, height: int, count: int = 3) -> tuple[list[np.ndarray], str]:
    """A fixed memory set and prompt for validation renders: the middle frames of the first clips
    that decode, all of one group (the first such group), and the caption of the first of them."""
    memory: list[np.ndarray] = []
    caption, group = "", None
    for clip in clips:
        if len(memory) == count or (group is not None and clip.group != group):
            continue
        try:
            frames = read_video(clip.path)
        except Exception:  # counted when training reaches it; validation just uses another clip
            continue
        group, caption = group or clip.group, caption or clip.caption
        memory.append(resize_frames(frames[len(frames) // 2 : len(frames) // 2 + 1], width, height)[0])
    if not memory:
        raise RuntimeError("no clip decodes for the validation memory")
    return memory, caption
