"""The story folder: everything a run makes, written so a crash never loses a finished shot.

```
runs/<slug>/
  script.json          the Story
  run.json             how it was made (planner, backend, logline), to tell a resume from a new story
  shots/<id>.mp4       each finished shot, written atomically when it is accepted
  shots/<id>.json      its record: frames, mode, attempts, scores, memory snapshot
  shots/<id>.tail.npz  its last frames, lossless, for the next shot's continuation
  memory/              the memory bank (keyframe images + bank.json)
  story.mp4, story.srt the film and its subtitles
  events.jsonl         every node, decision and timing
  state.sqlite         LangGraph's checkpoints (thread id = story id)
```
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from director.run.files import atomic_path, atomic_write_json
from director.story import Story, load_script

TAIL_FRAMES = 5


class Workspace:
    """Paths and safe writes for one story folder."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()

    @property
    def script_path(self) -> Path:
        return self.root / "script.json"

    @property
    def run_path(self) -> Path:
        return self.root / "run.json"

    @property
    def shots_dir(self) -> Path:
        return self.root / "shots"

    @property
    def memory_dir(self) -> Path:
        return self.root / "memory"

    @property
    def film_path(self) -> Path:
        return self.root / "story.mp4"

    @property
    def subtitles_path(self) -> Path:
        return self.root / "story.srt"

    @property
    def events_path(self) -> Path:
        return self.root / "events.jsonl"

    @property
    def state_path(self) -> Path:
        return self.root / "state.sqlite"

    def inside(self, relative: str | Path) -> Path:
        """A path under the folder; refuses anything that would escape it."""
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"path {relative!s} leaves the story folder {self.root}")
        return path

    def shot_video(self, shot_id: str) -> Path:
        return self.inside(Path("shots") / f"{shot_id}.mp4")

    def shot_record(self, shot_id: str) -> Path:
        return self.inside(Path("shots") / f"{shot_id}.json")

    def shot_tail(self, shot_id: str) -> Path:
        return self.inside(Path("shots") / f"{shot_id}.tail.npz")

    def is_done(self, shot_id: str) -> bool:
        """A shot is finished once its record exists: the record is written last."""
        return self.shot_record(shot_id).is_file() and self.shot_video(shot_id).is_file()

    def remove_partial_files(self) -> list[Path]:
        """Temporary files a killed process left behind (never a finished file)."""
        stale = [p for p in self.root.rglob(".*.partial*") if p.is_file()] if self.root.is_dir() else []
        for path in stale:
            path.unlink()
        return stale

    def exists(self) -> bool:
        return self.script_path.is_file()

    def is_empty(self) -> bool:
        return not self.root.exists() or not any(self.root.iterdir())

    # --- script and run settings ---

    def save_script(self, story: Story) -> None:
        atomic_write_json(self.script_path, story.model_dump(mode="json"))

    def load_script(self) -> Story:
        return load_script(self.script_path)

    def load_run(self) -> dict[str, Any]:
        return json.loads(self.run_path.read_text()) if self.run_path.is_file() else {}

    def save_run(self, settings: dict[str, Any]) -> None:
        atomic_write_json(self.run_path, settings)

    # --- shots ---

    def save_shot(self, shot_id: str, frames: np.ndarray, fps: int, record: dict[str, Any]) -> None:
        """Video, tail frames, then the record: a shot counts as done only when all three exist."""
        from director.film.video import write_video

        write_video(frames, fps, self.shot_video(shot_id))
        with atomic_path(self.shot_tail(shot_id)) as temp:
            with open(temp, "wb") as f:
                np.savez_compressed(f, frames=frames[-TAIL_FRAMES:])
        atomic_write_json(self.shot_record(shot_id), {**record, "frames": int(len(frames)), "fps": fps})

    def load_shot_record(self, shot_id: str) -> dict[str, Any]:
        return json.loads(self.shot_record(shot_id).read_text())

    def load_tail(self, shot_id: str) -> np.ndarray:
        with np.load(self.shot_tail(shot_id)) as data:
            return data["frames"]

    # --- events ---

    def log(self, event: str, **fields: Any) -> None:
        """Append one JSON line; each line is written whole so a kill leaves a readable log."""
        self.root.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"time": round(time.time(), 3), "event": event, **fields}, ensure_ascii=False, default=str)
        with open(self.events_path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    def events(self) -> list[dict[str, Any]]:
        if not self.events_path.is_file():
            return []
        return [json.loads(line) for line in self.events_path.read_text(encoding="utf-8").splitlines() if line.strip()]
