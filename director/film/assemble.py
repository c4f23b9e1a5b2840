"""A version's takes in, its film and subtitles out (H.264, 16 fps, exact frame counts).

Shots already come without the frames they copied from the previous shot (see
`generator.base.ShotResult`), so the film is a plain concatenation and a continuation's first
frame is never shown twice. Takes written by one encoder share their stream configuration, so
the film is their files joined without decoding (`video.join_videos`: fractions of a second
for any length, and the film's frames are the shots' frames exactly). Otherwise (takes made
with other encoder settings) the film is encoded again through moviepy; moviepy's
`VideoFileClip` can misread a clip's length by a frame, so shot files are decoded with
imageio-ffmpeg and handed to moviepy as clips of exact duration.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from moviepy import VideoClip, concatenate_videoclips

from director.story import Story
from director.folder.video import CODEC, FFMPEG_PARAMS, join_videos, read_video
from director.folder.files import atomic_path, atomic_write_bytes
from director.folder.versions import Version
from director.folder.workspace import Workspace
from director.sound.lines import srt_text

class _Reel:
    """The shot files as moviepy clips of exact length; one shot is held decoded at a time."""

    def __init__(self, fps: int):
        self.fps = fps
        self._current: tuple[Path, np.ndarray] | None = None

    def _frames(self, path: Path) -> np.ndarray:
        if self._current is None or self._current[0] != path:
            self._current = (path, read_video(path))
        return self._current[1]

    def clip(self, path: Path, count: int) -> VideoClip:
        def frame(t: float) -> np.ndarray:
            frames = self._frames(path)
            return frames[min(int(round(t * self.fps)), len(frames) - 1)]

        return VideoClip(frame_function=frame, duration=count / self.fps)


def assemble(workspace: Workspace, version: Version, story: Story, fps: int) -> dict[str, int | str]:
    """Write a version's film and subtitles from its kept takes; returns frame counts."""
    takes = [workspace.load_take(shot.id, version.shots[shot.id].take) for shot in story.shots]
    counts = [take.frames for take in takes]
    files = [workspace.take_path(t.shot_id, t.number, ".mp4") for t in takes]
    if not join_videos(files, workspace.film_of(version), sum(counts)):
        reel = _Reel(fps)
        film = concatenate_videoclips([reel.clip(path, count) for path, count in zip(files, counts)], method="chain")
        with atomic_path(workspace.film_of(version)) as temp:
            film.write_videofile(str(temp), codec=CODEC, fps=fps, audio=False, logger=None, preset="veryfast", ffmpeg_params=FFMPEG_PARAMS)
    atomic_write_bytes(workspace.subtitles_of(version), subtitles(story, counts, fps).encode())
    return {"frames": sum(counts), "shots": len(counts)}


def subtitles(story: Story, frame_counts: list[int], fps: int) -> str:
    """SubRip text: one cue per shot, spanning exactly that shot's frames in the film."""
    cues, start = [], 0
    for shot, count in zip(story.shots, frame_counts):
        cues.append((start / fps, (start + count) / fps, f"[{shot.id}] {shot.prompt}"))
        start += count
    return srt_text(cues)

