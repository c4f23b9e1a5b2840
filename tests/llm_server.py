"""LLM endpoints for tests: a scripted chat-completions endpoint on httpx2's MockTransport, and a
free loopback port. The real llama.cpp server is the product's own (`director.planning.local`).

respx cannot intercept openai>=3 (it talks through httpx2), hence MockTransport.
"""

from __future__ import annotations

import itertools
import json
import socket
from collections.abc import Callable
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
