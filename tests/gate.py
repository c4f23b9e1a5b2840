"""Hold a run at a chosen shot generation until the test kills or interrupts it.

The held process writes a marker file and then waits; the test waits for the marker, so its kill or
Ctrl-C always lands mid-run, however loaded the machine (no deadline, no race with a fast run).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from director.batch.worker import WrappedGenerator

TESTS = str(Path(__file__).resolve().parent)


def _hold(marker: str, release: str | None = None) -> None:
    """Say where the run is (the marker holds this process's id), then wait for the signal, or for
    the `release` file (both files are then removed, so the next hold starts clean)."""
    partial = Path(marker + ".partial")
    partial.write_text(str(os.getpid()))
    partial.replace(marker)  # the test sees the marker whole or not at all
    while release is None or not Path(release).exists():
        time.sleep(0.05)
    Path(marker).unlink()
    Path(release).unlink()


def hold_preview(call: int, marker: str, release: str | None = None) -> None:
    """Patch the preview generator of this process: its `call`-th generation (from 1) holds."""
    from generator.preview import PreviewGenerator

    real, calls = PreviewGenerator.generate, []

    def generate(self, request):
        calls.append(request.shot_id)
        if len(calls) == call:
            _hold(marker, release)
        return real(self, request)

    PreviewGenerator.generate = generate


def hold_when_armed(folder: str) -> None:
    """Patch the preview generator of this long-lived process (a studio): once the test writes N
    into `folder/arm`, the N-th generation from then on holds (writing `folder/held`) until the test
    writes `folder/release`. The arm is used up by its hold."""
    from generator.preview import PreviewGenerator

    real, calls = PreviewGenerator.generate, []
    arm = Path(folder) / "arm"

    def generate(self, request):
        if arm.exists():
            calls.append(request.shot_id)
            if len(calls) == int(arm.read_text()):
                arm.unlink()
                calls.clear()
                _hold(str(Path(folder) / "held"), str(Path(folder) / "release"))
        return real(self, request)

    PreviewGenerator.generate = generate


def python_held(patch: str, *argv: str) -> list[str]:
    """The command line of `storymem ARGV` in a process patched first by `patch` (a call into this module)."""
    code = (f"import sys; sys.path.insert(0, {TESTS!r}); import gate; gate.{patch}; "
            "from director.frontends.cli import main; sys.exit(main(sys.argv[1:]))")
    return [sys.executable, "-c", code, *argv]


def storymem_held_at(call: int, marker: Path, *argv: str, release: Path | None = None) -> list[str]:
    """The command line of `storymem ARGV` run by a process whose `call`-th shot generation holds
    (until killed, or until `release` appears)."""
    return python_held(f"hold_preview({call}, {str(marker)!r}, {str(release) if release else None!r})", *argv)


def wait_for(marker: Path, process) -> None:
    """Until the held process writes its marker; a process that ends first fails the test at once."""
    while not marker.exists():
        assert process.poll() is None, f"the run ended (exit {process.returncode}) before reaching its hold"
        time.sleep(0.02)


class HoldAt:
    """A batch generator wrapper (picklable): the `call`-th generation of a story holds, in the
    first story that gets there (the marker says one already did)."""

    def __init__(self, call: int, marker: str):
        self.call, self.marker = call, marker

    def __call__(self, generator, job):
        calls = []

        def held(inner, request):
            calls.append(request.shot_id)
            if len(calls) == self.call and not Path(self.marker).exists():
                _hold(self.marker)
            return inner.generate(request)

        return WrappedGenerator(generator, held)


def wait_for_file(path: Path) -> None:
    """Until a held process (one the test did not start itself, e.g. a studio's job) writes `path`."""
    while not path.exists():
        time.sleep(0.02)
