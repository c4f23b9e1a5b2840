"""A real model over real HTTP: llama.cpp's OpenAI-compatible server serving SmolLM2-135M on loopback.

The prose of a 135M model is weak; what must hold is the contract: the client finds a mode the
server takes (llama.cpp answers 500 to json_schema, so json_object with an inlined schema) and the
planner returns a valid Story with exactly the requested shots.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from llm_server import llama_server, smollm2_gguf

from director.llm import LLMClient, LLMSettings
from director.llm_planner import LLMPlanner
from director.story import Story


@pytest.fixture(scope="session")
def llama_base_url() -> Iterator[str]:
    with llama_server(smollm2_gguf()) as base_url:
        yield base_url


def test_real_server_plans_a_valid_story(llama_base_url: str) -> None:
    settings = LLMSettings(model="smollm2-135m", base_url=llama_base_url, temperature=0.0, max_tokens=512, timeout=120)
    client = LLMClient(settings)
    started = time.monotonic()
    story = LLMPlanner(client).plan("A lighthouse keeper befriends a stray fox during a winter storm.", shots=3, seed=5)
    elapsed = time.monotonic() - started

    assert client.mode == "json_object"
    Story.model_validate(story.model_dump())
    assert len(story.shots) == 3 and [s.seed for s in story.shots] == [5, 6, 7]
    assert all(s.prompt.strip() for s in story.shots)
    for shot in story.shots:
        assert shot.id == f"{shot.scene:02d}_{story.number_in_scene(shot.id):02d}"
        if story.number_in_scene(shot.id) == 1:
            assert shot.transition == "cut"
        for name in shot.characters:
            assert story.characters and next(c for c in story.characters if c.name == name).description in shot.prompt
    assert elapsed < 240, f"planning 3 shots took {elapsed:.0f} s"
