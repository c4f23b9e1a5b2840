"""A real model over real HTTP: llama.cpp's OpenAI-compatible server serving SmolLM2-135M on loopback.

The prose of a 135M model is weak; what must hold is the contract: the client finds a mode the
server takes (llama.cpp answers 500 to json_schema, so json_object with an inlined schema), and the
planner returns a valid Story with exactly the requested shots or says in one line which plan check
the model failed (under --planner auto the offline planner then takes over). The planner's own run
against the server, with the mode the client settles on, is `test_local_planner`'s (the same path).
"""

from __future__ import annotations

import json
from pathlib import Path

from director.story import Story


def test_cli_plans_with_the_llm_and_makes_the_film(llama_base_url: str, tmp_path: Path, capsys, monkeypatch) -> None:
    """The user's path: `storymem make --planner openai --llm-base-url ...` against a real server."""
    from director.folder.video import count_frames
    from director.frontends.cli import main

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out = tmp_path / "llm-story"
    fast = ["--backend", "preview", "--size", "64x48", "--frames", "9", "--embedder", "colour-structure", "--quality-scorer", "heuristic", "--critic-judge", "rules"]  # the LLM judge: test_critic_llm
    argv = ["make", "A baker and a cat share a rainy night.", "--shots", "2", "--planner", "auto"]
    assert main([*argv, "--llm-base-url", llama_base_url, "--llm-model", "smollm2-135m", "--out", str(out), *fast]) == 0
    err = capsys.readouterr().err
    assert "planner: openai-compatible LLM smollm2-135m at " + llama_base_url in err
    assert "(offline if its plan fails the plan check)" in err  # a 135M model's plan often does: auto then plans offline
    story = Story.model_validate(json.loads((out / "script.json").read_text()))
    assert len(story.shots) == 2 and story.shots[0].transition == "cut"
    continued = story.shots[1].transition == "continue" and story.shots[1].scene == story.shots[0].scene
    assert count_frames(out / "story.mp4") == (9 + 8 if continued else 18)
