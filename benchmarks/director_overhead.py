"""The director's own cost: seconds a shot outside the generator and the scorers, whether it stays
flat as a story grows, and what assembling the film costs next to reading its shots once.

    nice python benchmarks/director_overhead.py [--backends preview,tiny] [--shots 8,32,60]
        [--preview-size 832x480 --preview-frames 81] [--tiny-size 64x48 --tiny-frames 9]

Per shot, the director's time is the wall time between two `shot_done` events minus the time
spent in the generator's `generate` and the embedder's and quality scorer's calls (the first
shot, which includes planning and the first model calls, is left out). A take's H.264 encoding
runs in the background while the take is scored; only the part its commit waits for counts, and
the encoding's own time is printed beside it ("encode"). "flat" is the mean of shots 25-32 over shots
3-10 (goal: at most 1.2); "assembly" is the `assemble` node (film, subtitles, final report) without the soundtrack,
which is printed on its own ("sound": narration synthesis, music, mix); "film" the film alone;
"read once" decoding every shot file of the film once (goal: assembly at most 2x read once). Stories are planned offline with the weight-free vision models, so the
figures are the director's and not a model's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from director import api
from director.folder import workspace as folder_workspace
from director.folder.video import read_video
from director.run.context import load_components
from director.settings import RunSettings
from director.folder.workspace import Workspace

LOGLINE = "A lighthouse keeper befriends a stray fox during a winter storm."


class Clock:
    """Seconds spent inside the wrapped model calls, in total."""

    def __init__(self) -> None:
        self.seconds = 0.0


class Timed:
    """A component whose named methods add their time to a `Clock`; every other attribute is the inner one's."""

    def __init__(self, inner: Any, clock: Clock, methods: tuple[str, ...]):
        self._inner, self._clock, self._methods = inner, clock, methods

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name not in self._methods:
            return value

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return value(*args, **kwargs)
            finally:
                self._clock.seconds += time.perf_counter() - started

        return timed


def one_story(folder: Path, settings: RunSettings) -> dict[str, Any]:
    models, encoding = Clock(), Clock()
    components = load_components(settings, Workspace(folder))
    components.generator = Timed(components.generator, models, ("generate",))
    components.embedder = Timed(components.embedder, models, ("embed_images", "embed_texts"))
    components.scorer = Timed(components.scorer, models, ("score",))
    write_video = folder_workspace.write_video

    def timed_write(*args: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        write_video(*args, **kwargs)
        encoding.seconds += time.perf_counter() - started

    marks: list[tuple[float, float, float]] = []  # per shot_done: wall clock, model seconds, encoding seconds so far

    def on_event(event: dict[str, Any]) -> None:
        if "shot_done" in event:
            marks.append((time.perf_counter(), models.seconds, encoding.seconds))

    folder_workspace.write_video = timed_write
    try:
        result = api.make_story(folder, logline=LOGLINE, settings=settings, components=components, on_event=on_event)
        ended = time.perf_counter()
    finally:
        folder_workspace.write_video = write_video
    director = [(b[0] - a[0]) - (b[1] - a[1]) for a, b in zip(marks, marks[1:])]  # shots 2..N
    encode = [b[2] - a[2] for a, b in zip(marks, marks[1:])]
    events = Workspace(folder).events()
    assembly = sum(e["seconds"] for e in events if e.get("event") == "node" and e.get("node") == "assemble")
    film = next((e.get("film_seconds") for e in events if e.get("event") == "assemble"), None)
    sound = next((e.get("sound_seconds") for e in events if e.get("event") == "assemble"), 0.0)
    started = time.perf_counter()
    for shot in api.current_script(folder).shots:
        read_video(folder / "shots" / f"{shot.id}.mp4")
    read_once = time.perf_counter() - started

    def mean(first: int, last: int) -> float | None:  # film shot numbers, inclusive (director[0] is shot 2)
        part = director[first - 2 : last - 1]
        return statistics.mean(part) if len(part) == last - first + 1 else None

    early, late = mean(3, 10), mean(25, 32)
    return {
        "shots": result.shots,
        "director_s_per_shot": statistics.mean(director),
        "encode_s_per_shot": statistics.mean(encode),
        "model_s_per_shot": marks[-1][1] / len(marks),
        "flat_25_32_over_3_10": late / early if late is not None and early else None,
        "last_8_over_3_10": statistics.mean(director[-8:]) / early if early and len(director) >= 16 else None,
        "assembly_s": assembly,
        "sound_s": sound,
        "film_s": film,
        "read_once_s": read_once,
        "after_last_shot_s": ended - marks[-1][0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="preview,tiny")
    parser.add_argument("--shots", default="8,32,60")  # 60: the most a story may have
    parser.add_argument("--preview-size", default="832x480")
    parser.add_argument("--preview-frames", type=int, default=81)
    parser.add_argument("--tiny-size", default="64x48")
    parser.add_argument("--tiny-frames", type=int, default=9)
    args = parser.parse_args()
    print(f"{'backend':<8} {'size':>12} {'shots':>5} {'director s/shot':>15} {'(encode)':>8} {'model s/shot':>12} {'flat':>5} {'last8':>5} "
          f"{'assembly s':>10} {'sound s':>7} {'film s':>6} {'read once s':>11} {'assembly/read':>13}")
    for backend in args.backends.split(","):
        size, frames = (args.preview_size, args.preview_frames) if backend == "preview" else (args.tiny_size, args.tiny_frames)
        for shots in (int(n) for n in args.shots.split(",")):
            settings = RunSettings(backend=backend, planner="offline", size=size, frames=frames, embedder="colour-structure",
                                   quality_scorer="heuristic", shots=shots, max_attempts=1)
            with tempfile.TemporaryDirectory(prefix="storymem-overhead-") as folder:
                r = one_story(Path(folder) / "story", settings)
            ratio = lambda x: f"{x:.2f}" if x is not None else "-"  # noqa: E731
            pictures = r["assembly_s"] - (r["sound_s"] or 0.0)
            assembly_read = pictures / r["read_once_s"]
            print(f"{backend:<8} {f'{size}x{frames}':>12} {r['shots']:>5} {r['director_s_per_shot']:>15.3f} {r['encode_s_per_shot']:>8.3f} "
                  f"{r['model_s_per_shot']:>12.3f} {ratio(r['flat_25_32_over_3_10']):>5} {ratio(r['last_8_over_3_10']):>5} {pictures:>10.2f} "
                  f"{r['sound_s'] or 0.0:>7.2f} {ratio(r['film_s']):>6} {r['read_once_s']:>11.2f} {ratio(assembly_read):>13}", flush=True)
            print(json.dumps({"backend": backend, "size": size, "frames": frames, **{k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}}), file=__import__("sys").stderr)


if __name__ == "__main__":
    main()
