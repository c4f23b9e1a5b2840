"""What the director asks of a video generator, and what it gets back.

Every backend (the `preview` animatic, the `tiny` random Wan, the real `wan` M2V) takes a
`ShotRequest` and returns a `ShotResult`. Requests carry the memory images with them, so a
generator can be loaded once per process (or once per Ray worker) and serve any story.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol, runtime_checkable

import numpy as np


class ShotMode(str, Enum):
    """How a shot is conditioned (design.md section 2.1)."""

    T2V = "t2v"  # first shot, no memory: plain text-to-video
    M2V = "m2v"  # hard cut: memory keyframes only
    MI2V = "mi2v"  # continuation: memory + previous shot's last frame
    MM2V = "mm2v"  # continuation with motion: memory + previous shot's last 5 frames


#: Frames copied from the previous shot that condition a continuation, per mode.
CONTEXT_FRAMES = {ShotMode.T2V: 0, ShotMode.M2V: 0, ShotMode.MI2V: 1, ShotMode.MM2V: 5}


def output_frame_count(mode: ShotMode, num_frames: int) -> int:
    """Frames a shot contributes: the generated clip minus the frames copied from the last shot."""
    return num_frames - CONTEXT_FRAMES[ShotMode(mode)]


@dataclass
class ShotRequest:
    """One shot to generate.

    `memory` holds RGB uint8 images (H, W, 3), oldest first; `previous_frames` holds the previous
    shot's last frames for MI2V (1) / MM2V (5). `info` carries display-only facts (scene and
    shot numbers, camera, setting, time of day) that the preview renderer draws; model
    backends ignore it.
    """

    shot_id: str
    prompt: str
    mode: ShotMode
    seed: int
    memory: list[np.ndarray] = field(default_factory=list)
    previous_frames: list[np.ndarray] = field(default_factory=list)
    num_frames: int = 81
    width: int = 832
    height: int = 480
    fps: int = 16
    negative_prompt: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.mode = ShotMode(self.mode)
        need = CONTEXT_FRAMES[self.mode]
        if len(self.previous_frames) < need:
            raise ValueError(f"{self.mode.value} needs {need} context frame(s), got {len(self.previous_frames)}")


@dataclass
class ShotResult:
    """The shot's new frames, uint8 (T, H, W, 3), already without the copied context frames.

    So T is 81 for T2V/M2V, 80 for MI2V and 76 for MM2V at the default 81-frame length, and a
    film is the plain concatenation of its shots.
    """

    frames: np.ndarray
    fps: int
    metadata: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Generator(Protocol):
    """A video backend. Load heavy weights in the constructor, never in `generate`.

    `width`, `height`, `num_frames` and `fps` are the backend's native clip format; the director
    builds every request with them.
    """

    name: str
    width: int
    height: int
    num_frames: int
    fps: int

    def generate(self, request: ShotRequest) -> ShotResult: ...
