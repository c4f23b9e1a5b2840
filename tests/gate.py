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


def _hold(marker: str) -> None:
    """Say where the run is (the marker holds this process's id), then wait for the signal."""
    partial = Path(marker + ".partial")
    partial.write_text(str(os.getpid()))
    partial.replace(marker)  # the test sees the marker whole or not at all
    while True:
        time.sleep(0.05)


def hold_preview(call: int, marker: str) -> None:
    """Patch the preview generator of this process: its `call`-th generation (from 1) holds."""
    from generator.preview import PreviewGenerator

    real, calls = PreviewGenerator.generate, []

    def generate(self, request):
        calls.append(request.shot_id)
        if len(calls) == call:
            _hold(marker)
        return real(self, request)

    PreviewGenerator.generate = generate


def storymem_held_at(call: int, marker: Path, *argv: str) -> list[str]:
    """The command line of `storymem ARGV` run by a process whose `call`-th shot generation holds."""
    code = (f"import sys; sys.path.insert(0, {TESTS!r}); from gate import hold_preview; hold_preview({call}, {str(marker)!r}); "
            "from director.frontends.cli import main; sys.exit(main(sys.argv[1:]))")
    return [sys.executable, "-c", code, *argv]


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
