"""LLMClient over HTTP with httpx2's MockTransport: modes, fallbacks, retries, repairs and errors."""

from __future__ import annotations

import json

import httpx2
import pytest
from llm_server import ScriptedEndpoint, completion, status
from pydantic import BaseModel, Field, SecretStr

from director.llm import (
    PLACEHOLDER_KEY,
    LLMAuthError,
    LLMConnectionError,
    LLMInvalidOutputError,
    LLMLengthError,
    LLMRefusalError,
    LLMServerError,
    LLMSettings,
)
from director.story import Story
from prompts.schema import inline_refs, strict_schema

#: Pure computation: a hang (a loop that never ends) fails here in a minute, not at the suite default.
pytestmark = pytest.mark.timeout(60)


class Pet(BaseModel):
    name: str = Field(min_length=1, description="The pet's name.")
    legs: int = Field(ge=0)


class Owner(BaseModel):
    person: str
    pets: list[Pet]


MESSAGES = [{"role": "system", "content": "You name pets."}, {"role": "user", "content": "A dog."}]
DOG = {"name": "Rex", "legs": 4}


def test_strict_json_schema_first_and_remembered() -> None:
    endpoint = ScriptedEndpoint(DOG, DOG)
    client = endpoint.client()
    assert client.generate(Pet, MESSAGES) == Pet(name="Rex", legs=4)
    assert client.mode == "json_schema"
    first = endpoint.requests[0]
    response_format = first["response_format"]
    assert response_format["type"] == "json_schema" and response_format["json_schema"]["strict"] is True
    schema = response_format["json_schema"]["schema"]
    assert schema["additionalProperties"] is False and schema["required"] == ["name", "legs"]
    assert first["messages"] == MESSAGES  # strict mode needs no schema in the prompt
    client.generate(Pet, MESSAGES)
    assert endpoint.requests[1]["response_format"]["type"] == "json_schema"


def test_json_schema_rejected_falls_back_to_json_object_with_inlined_schema() -> None:
    owner = {"person": "Ana", "pets": [DOG]}
    endpoint = ScriptedEndpoint(status(500, "json_schema not supported"), owner, owner)
    client = endpoint.client()
    assert client.generate(Owner, MESSAGES).pets[0].name == "Rex"
    assert client.mode == "json_object"
    sent = endpoint.requests[1]
    assert sent["response_format"]["type"] == "json_object"
    schema = sent["response_format"]["schema"]
    assert "$ref" not in json.dumps(sent) and "$defs" not in json.dumps(sent)
    assert schema["properties"]["pets"]["items"]["properties"]["name"]["description"] == "The pet's name."
    assert '"person"' in sent["messages"][0]["content"]  # the schema is shown in the system message
    # Remembered for the process: the next call goes straight to json_object.
    client.generate(Owner, MESSAGES)
    assert len(endpoint.requests) == 3 and endpoint.requests[2]["response_format"]["type"] == "json_object"


def test_both_formats_rejected_falls_back_to_prompted_json_in_a_fence() -> None:
    endpoint = ScriptedEndpoint(status(400), status(400), "Here you go:\n```json\n" + json.dumps(DOG) + "\n```")
    client = endpoint.client()
    assert client.generate(Pet, MESSAGES).name == "Rex"
    assert client.mode == "prompt"
    assert "response_format" not in endpoint.requests[2]
    assert "JSON schema" in endpoint.requests[2]["messages"][0]["content"]


def test_invalid_json_then_valid_repair() -> None:
    endpoint = ScriptedEndpoint('{"name": "Rex", "legs": ', {"name": "", "legs": 4}, DOG)
    client = endpoint.client()
    assert client.generate(Pet, MESSAGES).name == "Rex"
    repair = endpoint.requests[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": '{"name": "Rex", "legs": '}
    assert "not valid JSON" in repair[-1]["content"] or "no JSON object" in repair[-1]["content"]
    assert "name: String should have at least 1 character" in endpoint.requests[2]["messages"][-1]["content"]


def test_repairs_are_bounded() -> None:
    endpoint = ScriptedEndpoint("no json", "still none", "nope")
    client = endpoint.client(repairs=2)
    with pytest.raises(LLMInvalidOutputError, match="no valid Pet after 2 repair rounds") as caught:
        client.generate(Pet, MESSAGES)
    assert "\n" not in str(caught.value) and len(endpoint.requests) == 3


def test_timeout_then_success() -> None:
    endpoint = ScriptedEndpoint(httpx2.ReadTimeout("read timed out"), DOG)
    assert endpoint.client(max_retries=2).generate(Pet, MESSAGES).legs == 4
    assert len(endpoint.requests) == 2


def test_timeouts_exhaust_retries() -> None:
    endpoint = ScriptedEndpoint(*(httpx2.ReadTimeout("read timed out") for _ in range(3)))
    with pytest.raises(LLMConnectionError, match=r"timed out after 5 s after 3 attempts"):
        endpoint.client(max_retries=2, timeout=5).generate(Pet, MESSAGES)


def test_connection_refused_is_a_connection_error() -> None:
    endpoint = ScriptedEndpoint(httpx2.ConnectError("connection refused"))
    with pytest.raises(LLMConnectionError, match="could not connect"):
        endpoint.client(max_retries=0).generate(Pet, MESSAGES)


def test_server_errors_exhaust_retries_with_backoff() -> None:
    # The first call settles the mode; after that a 500 is a server error to retry, not a format probe.
    endpoint = ScriptedEndpoint(DOG, status(500), status(503), status(500))
    client = endpoint.client(max_retries=2)
    client.generate(Pet, MESSAGES)
    with pytest.raises(LLMServerError, match=r"answered HTTP 500 for model 'test-model' after 3 attempts"):
        client.generate(Pet, MESSAGES)
    assert len(endpoint.requests) == 4


def test_rate_limit_is_retried() -> None:
    endpoint = ScriptedEndpoint(DOG, status(429, "slow down"), DOG)
    client = endpoint.client(max_retries=1)
    client.generate(Pet, MESSAGES)
    assert client.generate(Pet, MESSAGES).name == "Rex"


@pytest.mark.parametrize("code", [401, 403])
def test_auth_errors_are_not_retried_and_never_show_the_key(code: int) -> None:
    endpoint = ScriptedEndpoint(status(code, "Incorrect API key provided"))
    client = endpoint.client(api_key=SecretStr("sk-very-secret"), max_retries=3)
    with pytest.raises(LLMAuthError, match=f"HTTP {code}") as caught:
        client.generate(Pet, MESSAGES)
    assert len(endpoint.requests) == 1
    assert "sk-very-secret" not in str(caught.value)
    assert "sk-very-secret" not in repr(client) + repr(client.settings) + str(client.settings.model_dump())


def test_refusal_and_content_filter() -> None:
    refusal = httpx2.Response(200, json=completion(None, refusal="I can't help with that."))
    with pytest.raises(LLMRefusalError, match="refused: I can't help with that."):
        ScriptedEndpoint(refusal).client().generate(Pet, MESSAGES)
    filtered = httpx2.Response(200, json=completion("", finish_reason="content_filter"))
    with pytest.raises(LLMRefusalError, match="content filter"):
        ScriptedEndpoint(filtered).client().generate(Pet, MESSAGES)


def test_length_cut_off() -> None:
    cut = httpx2.Response(200, json=completion('{"name": "Re', finish_reason="length"))
    with pytest.raises(LLMLengthError, match="cut off at max_tokens=50"):
        ScriptedEndpoint(cut).client(max_tokens=50).generate(Pet, MESSAGES)


def test_settings_resolve_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "STORYMEM_LLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    assert LLMSettings.resolve() is None
    assert LLMSettings.resolve(model="gpt-x") is None  # a model alone is no endpoint

    local = LLMSettings.resolve(base_url="http://127.0.0.1:8080/v1")
    assert local is not None and local.api_key.get_secret_value() == PLACEHOLDER_KEY

    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    monkeypatch.setenv("STORYMEM_LLM_MODEL", "env-model")
    hosted = LLMSettings.resolve()
    assert hosted is not None and hosted.base_url is None and hosted.model == "env-model"
    assert hosted.endpoint == "https://api.openai.com/v1"
    assert "sk-from-env" not in repr(hosted) and "sk-from-env" not in hosted.model_dump_json()

    monkeypatch.setenv("OPENAI_BASE_URL", "http://env:1/v1")
    explicit = LLMSettings.resolve(model="arg-model", base_url="http://arg:2/v1")
    assert explicit is not None and (explicit.model, explicit.base_url) == ("arg-model", "http://arg:2/v1")
    from_env = LLMSettings.resolve()
    assert from_env is not None and from_env.base_url == "http://env:1/v1"


def test_schema_helpers_inline_and_strictify_the_story_schema() -> None:
    schema = Story.model_json_schema()
    assert "$defs" in schema
    inlined = inline_refs(schema)
    text = json.dumps(inlined)
    assert "$ref" not in text and "$defs" not in text
    assert inlined["properties"]["shots"]["items"]["properties"]["transition"]["enum"] == ["cut", "continue"]
    strict = strict_schema(schema)
    shot = strict["properties"]["shots"]["items"]
    assert shot["additionalProperties"] is False and set(shot["required"]) == set(shot["properties"])
    assert '"default"' not in json.dumps(strict)
