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

from director.llm import LLMClient, LLMSettings

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


# --- A real loopback HTTP endpoint ----------------------------------------------------------------


class LoopbackEndpoint:
    """A chat-completions endpoint on a real loopback HTTP server (http.server in a thread), for
    tests that go through the whole product (settings, probe, graph) rather than a client object.

    `answer(body)` gives each POST its reply: answer text (str), an answer object (dict, sent as
    JSON text), audio (bytes, sent as audio/wav: what /v1/audio/speech answers), or an HTTP status
    code (int) for an error. Every request's JSON body, path and headers (names in lower case) are
    recorded, in order.
    """

    def __init__(self, answer: Callable[[dict[str, Any]], str | dict[str, Any] | bytes | int]) -> None:
        import http.server
        import threading

        self.answer = answer
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._send(200, {"object": "list", "data": [{"id": "stub-model", "object": "model"}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                endpoint.requests.append(body)
                endpoint.paths.append(self.path)
                endpoint.headers.append({k.lower(): v for k, v in self.headers.items()})
                reply = endpoint.answer(body)
                if isinstance(reply, bytes):
                    self.send_response(200)
                    self.send_header("Content-Type", "audio/wav")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                elif isinstance(reply, int):
                    self._send(reply, {"error": {"message": "not supported by this stub", "type": "invalid_request_error", "code": reply}})
                else:
                    self._send(200, completion(reply if isinstance(reply, str) else json.dumps(reply)))

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LoopbackEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
