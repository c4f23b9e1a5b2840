"""The story folder: everything a run makes, versioned, written so a crash never loses a finished shot.

```
runs/<slug>/
  script.json, story.mp4, story.srt, report.html   the current version's (links to its files)
  shots/<id>.mp4, .json, .tail.npz                  the current version's shots (links to takes)
  takes/<id>/t001.mp4, t001.json, ...               every attempt at every shot, kept or not
  versions/v001.json, v001/story.mp4, story.srt     each version's manifest and film
  versions/current                                  the current version's number
  run.json             how the story was made (source, render settings), to tell a resume from a new story
  memory/              the memory bank (keyframe images + bank.json)
  events.jsonl         every node, decision and timing
  state.sqlite         LangGraph's checkpoints (one thread per version)
```
A version being made is a *draft*. The first one fills the top level as its shots finish, so a
running story can be watched; a later one leaves the top level to the current version until it is
finished, so a kill while it is written leaves the previous film intact and playable.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from director.folder.files import atomic_link, atomic_path, atomic_write_bytes, atomic_write_json
from director.folder.versions import ShotEntry, Take, Version
from director.folder.video import write_video
from director.story import Story, load_script

TAIL_FRAMES = 5

#: What storymem writes at a story folder's top level; --force removes these and nothing else.
OWNED = ("script.json", "run.json", "shots", "takes", "versions", "memory", "story.mp4", "story.srt", "events.jsonl",
         "state.sqlite", "state.sqlite-shm", "state.sqlite-wal", "report.html", "report", "audio-cache")


class FolderError(ValueError):
    """A story folder whose records storymem cannot read; one readable line."""


class Workspace:
    """Paths and safe writes for one story folder."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        self._encoder: ThreadPoolExecutor | None = None  # started by the first take video
        self._encoding: dict[Path, Future] = {}  # take videos being encoded

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
        if not self.run_path.is_file():
            return {}
        try:
            run = json.loads(self.run_path.read_text(encoding="utf-8"))
        except (ValueError, OSError) as error:
            raise FolderError(f"{self.run_path} is damaged ({type(error).__name__}): it is storymem's record of the story; restore it or choose another folder") from None
        if not isinstance(run, dict):
            raise FolderError(f"{self.run_path} is damaged (not an object): it is storymem's record of the story; restore it or choose another folder")
        return run

    def save_run(self, settings: dict[str, Any]) -> None:
        atomic_write_json(self.run_path, settings)

    # --- the current version, as the top level shows it ---

    def load_shot_record(self, shot_id: str) -> dict[str, Any]:
        return json.loads(self.shot_record(shot_id).read_text())

    def load_tail(self, shot_id: str) -> np.ndarray:
        with np.load(self.shot_tail(shot_id)) as data:
            return data["frames"]

    # --- takes ---

    def take_path(self, shot_id: str, number: int, suffix: str) -> Path:
        """takes/<shot>/t003<suffix>: .mp4 (video), .json (record), .tail.npz (last frames, kept takes),
        .analysis.npz (memory's frame analysis), .frames.npy (raw frames while the shot is made)."""
        return self.inside(Path("takes") / shot_id / f"t{number:03d}{suffix}")

    def next_take(self, shot_id: str) -> int:
        folder = self.inside(Path("takes") / shot_id)
        numbers = [int(p.name[1:4]) for p in folder.glob("t[0-9][0-9][0-9].json")] if folder.is_dir() else []
        return max(numbers, default=0) + 1

    def save_take(self, take: Take) -> None:
        atomic_write_json(self.take_path(take.shot_id, take.number, ".json"), take.model_dump(mode="json"))

    def load_take(self, shot_id: str, number: int) -> Take:
        return Take.model_validate_json(self.take_path(shot_id, number, ".json").read_text())

    def take_tail(self, shot_id: str, number: int) -> np.ndarray:
        with np.load(self.take_path(shot_id, number, ".tail.npz")) as data:
            return data["frames"]

    def write_take_video(self, take: Take, frames: np.ndarray) -> None:
        """Encode a take's video in the background: ffmpeg, a process of its own, works while the
        take is scored, so encoding costs the story no wall time. The take's raw frames
        (.frames.npy) must be on disk already: `finish_take_videos` writes from them what a killed
        run left unwritten."""
        if self._encoder is None:
            self._encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="take-video")
        path = self.take_path(take.shot_id, take.number, ".mp4")
        self._encoding[path] = self._encoder.submit(write_video, frames, take.fps, path)

    def finish_take_videos(self, shot_id: str) -> None:
        """Every take of the shot has its video: wait for those being encoded, encode from their raw
        frames those a killed run never wrote. A shot's commit starts with this."""
        folder = self.inside(Path("takes") / shot_id)
        for raw in sorted(folder.glob("t[0-9][0-9][0-9].frames.npy")) if folder.is_dir() else []:
            number = int(raw.name[1:4])
            video = self.take_path(shot_id, number, ".mp4")
            pending = self._encoding.pop(video, None)
            if pending is not None:
                pending.result()  # an encoding error is the commit's error
            elif not video.is_file() and self.take_path(shot_id, number, ".json").is_file():
                write_video(np.load(raw), self.load_take(shot_id, number).fps, video)

    def close(self) -> None:
        """Wait for the take videos still being encoded and end their thread: a run that has
        returned, finished or failed, leaves nothing writing into the folder. A later run starts
        a new thread; a take whose encoding failed is encoded again from its raw frames."""
        if self._encoder is not None:
            self._encoder.shutdown(wait=True)
            self._encoder = None
        self._encoding.clear()

    def remove_scratch(self, shot_id: str) -> None:
        """Raw attempt frames are needed only while a shot is being made; takes keep their video."""
        folder = self.inside(Path("takes") / shot_id)
        for path in folder.glob("t*.frames.npy") if folder.is_dir() else []:
            path.unlink()

    # --- versions ---

    @property
    def versions_dir(self) -> Path:
        return self.root / "versions"

    def versions(self) -> list[Version]:
        paths = sorted(self.versions_dir.glob("v[0-9][0-9][0-9].json")) if self.versions_dir.is_dir() else []
        return [Version.model_validate_json(p.read_text()) for p in paths]

    def version(self, number: int) -> Version:
        path = self.versions_dir / f"v{number:03d}.json"
        if not path.is_file():
            raise KeyError(f"no version {number} in {self.root}")
        return Version.model_validate_json(path.read_text())

    def current(self) -> Version | None:
        """The version the top level shows, or None while the first one is still being made."""
        pointer = self.versions_dir / "current"
        return self.version(int(pointer.read_text())) if pointer.is_file() else None

    def draft(self) -> Version | None:
        """The version being made, if any (there is at most one)."""
        return next((v for v in reversed(self.versions()) if not v.done), None)

    def save_version(self, version: Version) -> None:
        atomic_write_json(self.versions_dir / f"{version.name}.json", version.model_dump(mode="json"))

    def start_version(self, story: Story, note: str, thread: str, parent: Version | None = None, keep: tuple[str, ...] = ()) -> Version:
        """A new draft of `story`, carrying over `parent`'s takes for the shots in `keep`."""
        if self.draft() is not None:
            raise RuntimeError(f"{self.root} already has a version being made")
        number = max((v.number for v in self.versions()), default=0) + 1
        version = Version(
            number=number,
            parent=parent.number if parent else None,
            note=note,
            thread=thread,
            script=story.model_dump(mode="json"),
            shots={shot_id: parent.shots[shot_id] for shot_id in keep} if parent else {},
        )
        self.save_version(version)
        if self.current() is None:
            self.save_script(story)
        return version

    def save_draft_script(self, version: Version, story: Story) -> None:
        version.script = story.model_dump(mode="json")
        self.save_version(version)
        if self.current() is None:
            self.save_script(story)

    def commit_shot(self, version: Version, shot_id: str, entry: ShotEntry, frames: np.ndarray) -> None:
        """Keep a take for a shot: every take's video and the kept one's tail frames, then the
        manifest (which marks the shot done)."""
        self.finish_take_videos(shot_id)
        with atomic_path(self.take_path(shot_id, entry.take, ".tail.npz")) as temp:
            with open(temp, "wb") as f:
                np.savez_compressed(f, frames=frames[-TAIL_FRAMES:])
        version.shots[shot_id] = entry
        self.save_version(version)
        if self.current() is None:  # the first version fills the top level as it goes
            self._show_shot(version, shot_id)
        self.remove_scratch(shot_id)

    def film_of(self, version: Version) -> Path:
        return self.versions_dir / version.name / "story.mp4"

    def subtitles_of(self, version: Version) -> Path:
        return self.versions_dir / version.name / "story.srt"

    def finish_version(self, version: Version, film: dict[str, Any], bank: list[str]) -> None:
        """Make a draft the current version. The pointer moves first: a kill after it leaves a
        current version whose files are all there, and the next run completes the rest."""
        atomic_write_bytes(self.versions_dir / "current", f"{version.number}\n".encode())
        version.film, version.bank, version.finished = film, bank, time.time()
        self.save_version(version)
        self.show(version)

    def show(self, version: Version) -> None:
        """Make the top level this version's: script, shots, film and subtitles (links, no copies)."""
        story = Story.model_validate(version.script)
        self.save_script(story)
        for shot in story.shots:
            self._show_shot(version, shot.id)
        wanted = {s.id for s in story.shots}
        for path in self.shots_dir.glob("*") if self.shots_dir.is_dir() else []:
            shot_id = path.name.split(".")[0]
            if shot_id not in wanted and path.suffix in (".mp4", ".json", ".npz"):
                path.unlink()  # a shot this version does not have
        if version.film is not None:
            atomic_link(self.film_of(version), self.film_path)
            atomic_link(self.subtitles_of(version), self.subtitles_path)

    def _show_shot(self, version: Version, shot_id: str) -> None:
        entry = version.shots[shot_id]
        take = self.load_take(shot_id, entry.take)
        atomic_link(self.take_path(shot_id, entry.take, ".mp4"), self.shot_video(shot_id))
        atomic_link(self.take_path(shot_id, entry.take, ".tail.npz"), self.shot_tail(shot_id))
        record = {
            "shot_id": shot_id,
            "take": take.name,
            "mode": take.mode,
            "seed": take.seed,
            "attempt": take.attempt,
            "attempts": len(entry.attempts),
            "decision": entry.decision,
            "scores": take.scores,
            "prompt": take.prompt,
            "memory": entry.memory,
            "keyframes": entry.keyframes,
            "backend": take.backend,
            "frames": take.frames,
            "fps": take.fps,
            "history": [self._attempt_summary(shot_id, n) for n in entry.attempts],
        }
        atomic_write_json(self.shot_record(shot_id), record)

    def _attempt_summary(self, shot_id: str, number: int) -> dict[str, Any]:
        take = self.load_take(shot_id, number)
        return {"take": take.name, "number": take.attempt, "seed": take.seed, "overall": take.overall, "decision": take.decision}

    def prune_takes(self, keep: int) -> list[Path]:
        """Remove the oldest takes that no version keeps, leaving at most `keep` such takes per shot."""
        kept = {(shot_id, entry.take) for v in self.versions() for shot_id, entry in v.shots.items()}
        removed = []
        for folder in sorted(self.inside("takes").glob("*")) if self.inside("takes").is_dir() else []:
            numbers = sorted(int(p.name[1:4]) for p in folder.glob("t[0-9][0-9][0-9].json"))
            spare = [n for n in numbers if (folder.name, n) not in kept]
            for number in spare[: max(0, len(spare) - keep)]:
                for path in folder.glob(f"t{number:03d}.*"):
                    path.unlink()
                    removed.append(path)
        return removed

    # --- folders made before versions ---

    def is_unversioned(self) -> bool:
        """A folder made by storymem 0.1: shots at the top level, no versions/."""
        return not self.versions_dir.exists() and self.shots_dir.is_dir() and any(self.shots_dir.glob("*.json"))

    def adopt_unversioned(self, thread: str) -> Version:
        """Turn a 0.1 folder into version 1: each finished shot becomes take 1 (linked, not copied).
        A finished story becomes the current version; an unfinished one a draft that resumes."""
        story = self.load_script()
        bank = json.loads((self.memory_dir / "bank.json").read_text()) if (self.memory_dir / "bank.json").is_file() else {}
        version = Version(number=1, note="made before versions; adopted as version 1", thread=thread, script=story.model_dump(mode="json"))
        for shot in story.shots:
            if not self.is_done(shot.id):
                continue
            record = self.load_shot_record(shot.id)
            take = Take(
                shot_id=shot.id, number=1, attempt=record.get("attempt", 1), prompt=record.get("prompt", shot.prompt),
                seed=record.get("seed", shot.seed), mode=record["mode"], memory=record.get("memory", []),
                frames=record["frames"], fps=record.get("fps", 16), seconds=0.0, backend=record.get("backend", ""),
                scores=record.get("scores", {}),
            )
            atomic_link(self.shot_video(shot.id), self.take_path(shot.id, 1, ".mp4"))
            atomic_link(self.shot_tail(shot.id), self.take_path(shot.id, 1, ".tail.npz"))
            self.save_take(take)
            version.shots[shot.id] = ShotEntry(
                take=1, attempts=[1], decision=record.get("decision", "accept"), memory=take.memory, keyframes=record.get("keyframes", [])
            )
        self.save_version(version)
        if len(version.shots) == len(story.shots) and self.film_path.is_file() and self.subtitles_path.is_file():
            atomic_link(self.film_path, self.film_of(version))
            atomic_link(self.subtitles_path, self.subtitles_of(version))
            frames = sum(self.load_take(shot_id, entry.take).frames for shot_id, entry in version.shots.items())
            self.finish_version(version, {"frames": frames, "shots": len(story.shots)}, bank.get("active", []))
        return version

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


# --- frames of takes, read by the nodes and the critic ---


def attempt_frames(workspace: Workspace, take: Take) -> np.ndarray:
    """An attempt's raw frames, kept beside its take while the shot is being made."""
    return np.load(workspace.take_path(take.shot_id, take.number, ".frames.npy"), mmap_mode="r")


def previous_frames(workspace: Workspace, story: Story, index: int, count: int) -> list[np.ndarray]:
    """The last `count` frames of the previous shot's kept take in the version being made (lossless)."""
    if not count:
        return []
    previous = story.shots[index - 1].id
    return list(workspace.take_tail(previous, workspace.draft().shots[previous].take)[-count:])
