"""Shared test builders: a director context on the weight-free models, and generator wrappers."""

from __future__ import annotations

import importlib.util
import shutil
import signal
import sys
from pathlib import Path
from types import ModuleType

from director.run.context import Components, load_components
from director.critic.rules import Critic
from director.settings import RunSettings
from director.folder.workspace import Workspace
from generator.base import ShotRequest, ShotResult
from generator.preview import PreviewGenerator

LOGLINE = "A lighthouse keeper befriends a stray fox during a week-long winter storm."


def chromium() -> str:
    """Debian's Chromium, which the browser tests drive through Playwright (no browser downloads)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "Debian's chromium is needed for the browser tests: apt-get install chromium (.ci/run installs it)"
    return found


def toy_benchmark() -> ModuleType:
    """`benchmarks/toy_memory.py` as a module: the toy tests measure with the benchmark's own harness."""
    if "toy_memory" not in sys.modules:
        spec = importlib.util.spec_from_file_location("toy_memory", Path(__file__).resolve().parents[1] / "benchmarks" / "toy_memory.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["toy_memory"] = module
        spec.loader.exec_module(module)
    return sys.modules["toy_memory"]


def terminal_sigint() -> None:
    """A `preexec_fn`: the child takes SIGINT as from a terminal's Ctrl-C, whatever the test runner
    inherited (a job started in the background of a script has SIGINT ignored, and a Python
    started so never raises KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class CrashAt:
    """A preview generator that raises when asked for one shot."""

    def __init__(self, inner, shot_id: str):
        self.inner, self.shot_id = inner, shot_id
        self.name, self.width, self.height, self.num_frames, self.fps = inner.name, inner.width, inner.height, inner.num_frames, inner.fps

    def generate(self, request):
        if request.shot_id == self.shot_id:
            raise RuntimeError(f"crash at {request.shot_id}")
        return self.inner.generate(request)


class RecordingGenerator:
    """Preview frames, remembering every request; raises at `fail_at` (a shot id) if given."""

    def __init__(self, width: int = 128, height: int = 80, num_frames: int = 81, fail_at: str | None = None):
        self._inner = PreviewGenerator(width, height, num_frames)
        self.name, self.width, self.height, self.num_frames, self.fps = "preview", width, height, num_frames, 16
        self.requests: list[ShotRequest] = []
        self.fail_at = fail_at

    def generate(self, request: ShotRequest) -> ShotResult:
        if request.shot_id == self.fail_at:
            raise RuntimeError(f"simulated crash at shot {request.shot_id}")
        self.requests.append(request)
        return self._inner.generate(request)


#: The weight-free models, as a user without weights gets them.
SETTINGS = RunSettings(backend="preview", planner="offline", embedder="colour-structure", quality_scorer="heuristic")


def make_context(root: Path, generator, critic: Critic | None = None, scorer=None) -> Components:
    """The components a real run builds (`load_components`), with a test's generator, scorer or critic."""
    components = load_components(SETTINGS, Workspace(root))
    components.generator = generator
    components.scorer = scorer or components.scorer
    components.critic = critic or components.critic
    return components


class HashEmbedder:
    """Deterministic pseudo-random unit vectors per image: frames look unlike each other, so
    keyframe selection keeps several per shot and the memory fills up quickly."""

    name = "hash-embedder"

    def embed_images(self, images):
        import hashlib

        import numpy as np

        rows = []
        for image in images:
            seed = int.from_bytes(hashlib.sha256(np.ascontiguousarray(image).tobytes()).digest()[:8], "big")
            vector = np.random.default_rng(seed).normal(size=32)
            rows.append(vector / np.linalg.norm(vector))
        return np.asarray(rows, dtype=np.float32)
