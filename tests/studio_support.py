"""`storymem studio` started for a test: a real process serving real HTTP on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

from gate import python_held

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def studio_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "director.frontends.cli", "studio", *args]


def studio_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


@contextmanager
def running_studio(root: Path, token: str, log: Path, hold: Path | None = None):
    """The studio on 127.0.0.1 over `root` with `token`; yields its base URL; stopped afterwards.
    With `hold`, a test can hold its generation in that folder (`gate.hold_when_armed`)."""
    port = free_port()
    with open(log, "wb") as out:
        arguments = ["studio", "--root", str(root), "--port", str(port), "--token", token]
        command = python_held(f"hold_when_armed({str(hold)!r})", *arguments) if hold else studio_command(*arguments[1:])
        process = subprocess.Popen(command, env=studio_env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:  # until it answers (a studio that never does fails on the test's timeout)
            assert process.poll() is None, f"the studio exited with {process.returncode}:\n{log.read_text()}"
            try:
                if httpx.get(f"{url}/config", headers={"X-Storymem-Token": token}, timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        yield url
    finally:
        stop_group(process)


def stop_group(process: subprocess.Popen) -> None:
    """Stop a server started in its own process group: politely, then for good."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
