"""JSON-schema helpers for asking LLM servers for structured output.

Servers speak different dialects of the same idea: OpenAI's strict `json_schema` mode wants every
property required and rejects some keywords; llama.cpp compiles a schema into a grammar only when it
has no `$ref`/`$defs`. Both start from pydantic's schema with its references inlined.
"""

from __future__ import annotations

import copy
from importlib import resources
from string import Template
from typing import Any

from pydantic import BaseModel

# Keywords OpenAI's strict mode refuses ("... is not permitted"); pydantic still checks them on the answer.
_NOT_STRICT = ("default", "minLength", "maxLength")


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every local `$ref` replaced by its definition, and no `$defs`."""
    defs = schema.get("$defs", {})

    def resolve(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [resolve(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        node = {key: value for key, value in node.items() if key != "$defs"}
        all_of = node.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1 and "$ref" in all_of[0]:
            node = {**all_of[0], **{k: v for k, v in node.items() if k != "allOf"}}
        ref = node.pop("$ref", None)
        if isinstance(ref, str):
            name = ref.removeprefix("#/$defs/")
            if name in seen or name not in defs:
                raise ValueError(f"cannot inline schema reference {ref!r} (recursive or unknown)")
            node = {**resolve(defs[name], (*seen, name)), **node}
        return {key: resolve(value, seen) for key, value in node.items()}

    return resolve(copy.deepcopy(schema), ())


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The inlined schema in the form OpenAI's `strict: true` structured outputs accept."""

    def strict(node: Any) -> Any:
        if isinstance(node, list):
            return [strict(item) for item in node]
        if not isinstance(node, dict):
            return node
        properties = node.get("properties")
        node = {key: strict(value) for key, value in node.items() if key not in (*_NOT_STRICT, "properties")}
        if isinstance(properties, dict):
            node["properties"] = {name: strict(value) for name, value in properties.items()}
        if node.get("type") == "object":
            node["additionalProperties"] = False
            node["required"] = list(node.get("properties", {}))
        return node

    return strict(inline_refs(schema))


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """pydantic's schema of a response model, references inlined."""
    return inline_refs(model.model_json_schema())


def render(template: str, **values: Any) -> str:
    """Fill a prompt template shipped in this package (`$name` placeholders, `$$` for a dollar)."""
    text = resources.files("prompts").joinpath(template).read_text(encoding="utf-8")
    return Template(text).substitute({key: str(value) for key, value in values.items()})
