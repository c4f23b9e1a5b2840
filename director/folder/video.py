"""Reading and writing video files: H.264 at 16 fps, frame-exact.

moviepy's `VideoFileClip` can misread a clip's length by a frame, so files are decoded with
imageio-ffmpeg; writing goes through moviepy, atomically. Files with one stream configuration are
joined by ffmpeg's concat demuxer without decoding them (`join_videos`).
"""

from __future__ import annotations

import subprocess
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


def stream_config(path: Path) -> bytes | None:
    """The H.264 decoder configuration of an mp4 file (its `avcC` box: profile, level, size, SPS
    and PPS); None when it has none. Files that share one can be joined without re-encoding."""
    data = Path(path).read_bytes()
    at = data.rfind(b"avcC")  # the last: ffmpeg writes the header boxes after the frames
    return data[at - 4 : at - 4 + int.from_bytes(data[at - 4 : at], "big")] if at >= 4 else None


class _NotJoined(Exception):
    """ffmpeg could not join the parts frame for frame."""


def join_videos(parts: list[Path], path: Path, frames: int) -> bool:
    """Write `parts` one after another into `path` without decoding them (ffmpeg's concat demuxer,
    stream copy), atomically, when they share one stream configuration and the result holds
    exactly `frames` frames; else write nothing and return False, for the caller to re-encode."""
    configs = {stream_config(p) for p in parts}
    if len(configs) != 1 or None in configs:
        return False
    listing = "".join("file 'file:" + str(Path(p).resolve()).replace("'", "'\\''") + "'\n" for p in parts)
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-v", "error", "-f", "concat", "-safe", "0", "-protocol_whitelist", "file,pipe",
               "-i", "pipe:0", "-map", "0:v", "-c", "copy", "-map_metadata", "-1", "-fflags", "+bitexact"]
    try:
        with atomic_path(path) as temp:
            done = subprocess.run([*command, str(temp)], input=listing.encode(), capture_output=True)
            if done.returncode != 0 or count_frames(temp) != frames:
                raise _NotJoined
    except _NotJoined:
        return False
    return True
