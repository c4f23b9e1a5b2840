"""Reading and writing video files: H.264 at 16 fps, frame-exact.

moviepy's `VideoFileClip` can misread a clip's length by a frame, so files are decoded with
imageio-ffmpeg; writing goes through moviepy, atomically.
"""

from __future__ import annotations

from pathlib import Path

import imageio_ffmpeg
import numpy as np
from moviepy import ImageSequenceClip

from director.folder.files import atomic_path

CODEC = "libx264"
#: CRF 18 rather than x264's default 23: at 23, frames next to a dissolve show faint ghosts of it.
FFMPEG_PARAMS = ["-pix_fmt", "yuv420p", "-crf", "18"]


def write_video(frames: np.ndarray, fps: int, path: Path) -> None:
    """Encode uint8 (T, H, W, 3) frames as H.264, atomically."""
    clip = ImageSequenceClip(list(frames), fps=fps)
    with atomic_path(path) as temp:
        clip.write_videofile(str(temp), codec=CODEC, fps=fps, audio=False, logger=None, preset="veryfast", ffmpeg_params=FFMPEG_PARAMS)


def read_video(path: Path) -> np.ndarray:
    """Every frame of a video file, exactly, as uint8 (T, H, W, 3)."""
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    width, height = meta["size"]
    frames = [np.frombuffer(buffer, dtype=np.uint8).reshape(height, width, 3) for buffer in reader]
    return np.stack(frames)


def count_frames(path: Path) -> int:
    return imageio_ffmpeg.count_frames_and_secs(str(path))[0]
