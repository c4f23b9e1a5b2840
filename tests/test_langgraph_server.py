"""What LangGraph's dev server and Studio do with `director.graph:graph`: build its schemas, and
run it with a JSON context (no live objects), the components built from the settings."""

from __future__ import annotations

import json
from pathlib import Path

from langgraph.checkpoint.memory import InMemorySaver
from pydantic import TypeAdapter

from director.folder.video import count_frames
from director.run.context import DirectorContext
from director.graph import DirectorState, build_graph, graph
from generator.backends import load_generator

ROOT = Path(__file__).resolve().parents[1]


def test_langgraph_json_points_at_the_graph():
    config = json.loads((ROOT / "langgraph.json").read_text())
    assert config["graphs"]["director"] == "./director/graph.py:graph"
    assert set(graph.get_graph().nodes) >= {"plan", "generate", "remember", "critique", "drop_memory", "refine_prompt", "commit", "assemble"}


def test_state_and_context_have_json_schemas():
    state = TypeAdapter(DirectorState).json_schema()
    assert {"logline", "shots_wanted", "seed"} <= set(state["properties"])
    context = TypeAdapter(DirectorContext).json_schema()
    assert context["properties"]["backend"]["default"] == "preview"
    assert context["properties"]["max_attempts"]["default"] == 3


def test_a_run_with_a_json_context_builds_its_components(tmp_path):
    settings = {"out": str(tmp_path / "studio"), "planner": "offline", "embedder": "colour-structure", "quality_scorer": "heuristic", "size": "64x48"}
    studio = build_graph(InMemorySaver())
    config = {"configurable": {"thread_id": "t"}, "recursion_limit": 100}
    result = studio.invoke({"logline": "A girl and a kite on a windy hill.", "shots_wanted": 2}, config, context=settings)
    assert result["film"] == {"frames": 162, "shots": 2}
    assert count_frames(tmp_path / "studio" / "story.mp4") == 162


def test_generators_load_once_per_process():
    assert load_generator("preview", clip_format={"width": 32, "height": 16}) is load_generator("preview", clip_format={"width": 32, "height": 16})
    assert load_generator("preview") is not load_generator("preview", clip_format={"width": 32, "height": 16})
