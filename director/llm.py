"""Structured output from any OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, llama.cpp).

`LLMClient.generate(schema, messages)` returns a validated pydantic object. Servers speak different
amounts of OpenAI's structured-output API, so the client tries, in order: strict `json_schema`; then
`json_object` with the schema inlined (llama.cpp compiles that into a grammar, but only without
`$ref`s, and answers HTTP 500 to `json_schema`); then plain prompting. The first mode a server
accepts is remembered for the rest of the process. An answer that fails validation gets a bounded
number of repair rounds that quote the error back to the model. Every failure is one `LLMError`
with a one-line message; the API key never appears in logs, reprs or messages.
"""

from __future__ import annotations

import json
import logging
import os
import re
from typing import Any, Literal, Protocol, TypeVar

import httpx2
import openai
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from prompts.schema import model_schema, render, strict_schema

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)
Mode = Literal["json_schema", "json_object", "prompt"]
MODES: tuple[Mode, ...] = ("json_schema", "json_object", "prompt")

DEFAULT_MODEL = "gpt-4o-mini"
OPENAI_URL = "https://api.openai.com/v1"
# Local servers (llama.cpp, Ollama, vLLM) need no key, but the SDK insists on one.
PLACEHOLDER_KEY = "not-needed"
# Status codes with which servers turn down a response_format they do not implement.
_UNSUPPORTED = {400, 422, 500, 501}

# (base_url, model) -> the mode that server accepted, for the rest of the process.
_working_modes: dict[tuple[str, str], Mode] = {}


class LLMError(Exception):
    """An LLM call that failed; the message is one readable line."""


class LLMAuthError(LLMError):
    """The endpoint refused the API key (HTTP 401/403)."""


class LLMConnectionError(LLMError):
    """The endpoint could not be reached or timed out, after retries."""


class LLMServerError(LLMError):
    """The endpoint answered with an HTTP error other than an auth error, after retries."""


class LLMRefusalError(LLMError):
    """The model refused to answer (a refusal message or a content filter)."""


class LLMLengthError(LLMError):
    """The answer was cut off at max_tokens (finish_reason=length)."""


class LLMInvalidOutputError(LLMError):
    """The answer still did not validate after the repair rounds."""


class StructuredLLM(Protocol):
    """What planners need from an LLM: one validated object per call (LLMClient, or a test fake)."""

    def generate(self, schema: type[T], messages: list[dict[str, Any]]) -> T: ...


class LLMSettings(BaseModel):
    """Where and how to call the LLM. The key is a SecretStr so it never shows in a repr or a dump."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = DEFAULT_MODEL
    base_url: str | None = None
    api_key: SecretStr = SecretStr(PLACEHOLDER_KEY)
    timeout: float = Field(default=120.0, gt=0, description="Seconds per HTTP request.")
    max_retries: int = Field(default=2, ge=0, description="Retries after a timeout, connection error, 429 or 5xx.")
    max_tokens: int = Field(default=4096, gt=0)
    temperature: float | None = None
    repairs: int = Field(default=2, ge=0, description="Rounds that send a validation error back to the model.")

    @classmethod
    def resolve(cls, model: str | None = None, base_url: str | None = None) -> LLMSettings | None:
        """Settings from arguments, then OPENAI_API_KEY / OPENAI_BASE_URL / STORYMEM_LLM_MODEL.

        None when no endpoint is configured (neither a key nor a base url): use the offline planner.
        """
        key = os.environ.get("OPENAI_API_KEY", "").strip()
        base_url = (base_url or os.environ.get("OPENAI_BASE_URL", "")).strip() or None
        if not key and not base_url:
            return None
        model = (model or os.environ.get("STORYMEM_LLM_MODEL", "")).strip() or DEFAULT_MODEL
        return cls(model=model, base_url=base_url, api_key=SecretStr(key or PLACEHOLDER_KEY))

    @property
    def endpoint(self) -> str:
        return (self.base_url or OPENAI_URL).rstrip("/")


class LLMClient:
    """Typed answers from a chat-completions endpoint; see the module docstring for the strategy."""

    def __init__(self, settings: LLMSettings, http_client: httpx2.Client | None = None) -> None:
        self.settings = settings
        # The SDK retries timeouts, 429 and 5xx with backoff and honours retry-after. A format probe
        # goes through a client that never retries: a 500 there means "unsupported", not "try again".
        self._openai = openai.OpenAI(
            api_key=settings.api_key.get_secret_value(),
            base_url=settings.endpoint,
            timeout=settings.timeout,
            max_retries=settings.max_retries,
            http_client=http_client,
        )
        self._probe = self._openai.with_options(max_retries=0)

    def __repr__(self) -> str:
        return f"LLMClient(model={self.settings.model!r}, endpoint={self.settings.endpoint!r})"

    @property
    def mode(self) -> Mode | None:
        """The structured-output mode this endpoint accepted, once known."""
        return _working_modes.get((self.settings.endpoint, self.settings.model))

    def generate(self, schema: type[T], messages: list[dict[str, Any]]) -> T:
        """Ask for one JSON object matching `schema` and return it validated."""
        known = self.mode
        modes = (known,) if known else MODES
        for mode in modes:
            try:
                return self._generate(schema, messages, mode, probing=mode != modes[-1])
            except _Unsupported as error:
                log.info("%s does not take response_format %s (%s); trying the next mode", self.settings.endpoint, mode, error)
        raise AssertionError("unreachable: the last mode never probes")

    def probe_text(self, messages: list[dict[str, Any]], max_tokens: int = 16) -> str:
        """One plain answer, sent once without retries (a capability probe: an HTTP error means
        the endpoint does not take what was sent). Raises `LLMError` like `generate`."""
        request = {"model": self.settings.model, "messages": messages, "max_tokens": max_tokens}
        try:
            response = self._probe.chat.completions.create(**request)
        except (openai.AuthenticationError, openai.PermissionDeniedError) as error:
            raise LLMAuthError(f"{self.settings.endpoint} refused the API key (HTTP {error.status_code}): check OPENAI_API_KEY") from None
        except openai.APIStatusError as error:
            raise LLMServerError(f"{self.settings.endpoint} answered HTTP {error.status_code}: {_one_line(error.message)}") from None
        except openai.APIConnectionError:
            raise LLMConnectionError(f"{self.settings.endpoint} could not be reached") from None
        except httpx2.HTTPError as error:  # a URL httpx cannot use (InvalidURL, UnsupportedProtocol)
            raise LLMConnectionError(f"{self.settings.endpoint} is not a usable URL ({type(error).__name__})") from None
        return (response.choices[0].message.content or "") if response.choices else ""

    def _generate(self, schema: type[T], messages: list[dict[str, Any]], mode: Mode, probing: bool) -> T:
        conversation = _with_format_instructions(messages, schema, mode)
        for round_ in range(self.settings.repairs + 1):
            text = self._complete(conversation, schema, mode, probing and round_ == 0)
            _working_modes[(self.settings.endpoint, self.settings.model)] = mode
            try:
                return schema.model_validate(_parse_json(text))
            except (ValidationError, ValueError) as error:
                problem = _describe(error)
            log.info("answer for %s did not validate (%s); repair round %d", schema.__name__, problem, round_ + 1)
            conversation = [
                *conversation,
                {"role": "assistant", "content": text},
                {"role": "user", "content": render("repair.md", error=problem, schema_name=schema.__name__)},
            ]
        raise LLMInvalidOutputError(
            f"{self.settings.model} gave no valid {schema.__name__} after {self.settings.repairs} repair rounds: {problem}"
        )

    def _send(self, request: dict[str, Any], probing: bool):
        """A probe is sent once; if it never reached the server, the rest of the retries follow."""
        if not probing:
            return self._openai.chat.completions.create(**request)
        try:
            return self._probe.chat.completions.create(**request)
        except openai.APIConnectionError:
            if self.settings.max_retries == 0:
                raise
            return self._openai.with_options(max_retries=self.settings.max_retries - 1).chat.completions.create(**request)

    def _complete(self, conversation: list[dict[str, Any]], schema: type[BaseModel], mode: Mode, probing: bool) -> str:
        """One chat completion (the SDK retries what is worth retrying); returns the answer's text."""
        settings = self.settings
        request: dict[str, Any] = {"model": settings.model, "messages": conversation, "max_tokens": settings.max_tokens}
        if settings.temperature is not None:
            request["temperature"] = settings.temperature
        if mode == "json_schema":
            request["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": schema.__name__, "schema": strict_schema(schema.model_json_schema()), "strict": True},
            }
        elif mode == "json_object":
            request["response_format"] = {"type": "json_object", "schema": model_schema(schema)}
        try:
            response = self._send(request, probing)
        except (openai.AuthenticationError, openai.PermissionDeniedError) as error:
            raise LLMAuthError(f"{settings.endpoint} refused the API key (HTTP {error.status_code}): check OPENAI_API_KEY") from None
        except openai.APIStatusError as error:
            if probing and error.status_code in _UNSUPPORTED:
                raise _Unsupported(f"HTTP {error.status_code}") from None
            raise LLMServerError(
                f"{settings.endpoint} answered HTTP {error.status_code} for model {settings.model!r}{_after(settings.max_retries)}: {_one_line(error.message)}"
            ) from None
        except openai.APIConnectionError as error:
            what = f"timed out after {settings.timeout:g} s" if isinstance(error, openai.APITimeoutError) else "could not connect"
            raise LLMConnectionError(f"{settings.endpoint} {what}{_after(settings.max_retries)}") from None
        if not response.choices:
            raise LLMServerError(f"{settings.endpoint} answered with no choices")
        choice = response.choices[0]
        refusal = getattr(choice.message, "refusal", None)
        if refusal:
            raise LLMRefusalError(f"{settings.model} refused: {_one_line(refusal)}")
        if choice.finish_reason == "content_filter":
            raise LLMRefusalError(f"{settings.model}'s answer was stopped by a content filter")
        if choice.finish_reason == "length":
            raise LLMLengthError(
                f"{settings.model}'s answer for {schema.__name__} was cut off at max_tokens={settings.max_tokens}"
            )
        return choice.message.content or ""


class _Unsupported(Exception):
    """The server turned down the response_format of the mode being probed."""


def _with_format_instructions(messages: list[dict[str, Any]], schema: type[BaseModel], mode: Mode) -> list[dict[str, Any]]:
    """Outside strict mode the model only knows the schema if the prompt shows it."""
    if mode == "json_schema":
        return list(messages)
    note = render("json_format.md", schema=json.dumps(model_schema(schema), ensure_ascii=False))
    if messages and messages[0].get("role") == "system":
        return [{**messages[0], "content": f"{messages[0]['content'].rstrip()}\n\n{note}"}, *messages[1:]]
    return [{"role": "system", "content": note}, *messages]


def _parse_json(text: str) -> Any:
    """The JSON object in an answer, also when wrapped in a ``` fence or surrounded by prose."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise ValueError("the answer contains no JSON object")
    try:
        return json.loads(text[start : end + 1], strict=False)
    except json.JSONDecodeError as error:
        raise ValueError(f"the answer is not valid JSON: {error.msg} at character {error.pos}") from None


def _describe(error: Exception) -> str:
    if not isinstance(error, ValidationError):
        return str(error)
    parts = []
    for item in error.errors()[:5]:
        where = ".".join(str(part) for part in item["loc"]) or "the object"
        parts.append(f"{where}: {item['msg'].removeprefix('Value error, ')}")
    more = f" (and {error.error_count() - 5} more)" if error.error_count() > 5 else ""
    return "; ".join(parts) + more


def _one_line(text: str, limit: int = 200) -> str:
    text = re.sub(r"\s+", " ", str(text)).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _after(attempt: int) -> str:
    return f" after {attempt + 1} attempts" if attempt else ""
