"""Batch storytelling on a local Ray cluster (CPU only; a custom resource stands in for GPUs)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from batch_support import DieOnce
from director.api import RunSettings, run_batch

TINY = RunSettings(backend="preview", planner="offline", size="64x48", frames=9, embedder="colour-structure", quality_scorer="heuristic", shots=3)
STORIES = [
    "A lighthouse keeper befriends a stray fox during a winter storm.",
    "Two rival bakers bake a wedding cake together overnight.",
    "A robot gardener grows the first flower on a space station.",
    "A jazz singer returns to the club where she first sang.",
]
ACTOR = {"num_cpus": 0, "resources": {"story_gpu": 1}}


@pytest.fixture
def ray_cluster():
    import ray

    tests = str(Path(__file__).parent)
    path = os.pathsep.join([tests, os.environ["PYTHONPATH"]]) if os.environ.get("PYTHONPATH") else tests
    ray.init(num_cpus=2, resources={"story_gpu": 2}, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1", runtime_env={"env_vars": {"PYTHONPATH": path}})
    try:
        yield ray
    finally:
        ray.shutdown()


def shot_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.glob("*/shots/*.mp4"))}


def test_four_stories_on_two_actors_equal_local_and_survive_a_killed_actor(tmp_path, ray_cluster):
    (tmp_path / "l.txt").write_text("\n".join(STORIES) + "\n")
    local = run_batch(tmp_path / "l.txt", tmp_path / "local", settings=TINY, workers=1)
    assert [r["status"] for r in local.stories] == ["done"] * 4

    victim = local.stories[1]["id"]
    marker = tmp_path / "killed"
    result = run_batch(tmp_path / "l.txt", tmp_path / "ray", settings=TINY, workers=2, ray="auto", ray_actor_options=ACTOR, wrap_generator=DieOnce(victim, "01_02", str(marker)))

    assert result.executor == "ray: 2 actors (num_cpus=0, resources={'story_gpu': 1})"
    assert [r["status"] for r in result.stories] == ["done"] * 4, result.stories
    assert marker.is_file()  # the actor did die mid-story
    # the same seeds give byte-identical shots under Ray and locally
    assert shot_files(tmp_path / "ray") == shot_files(tmp_path / "local")
    assert len(shot_files(tmp_path / "ray")) == 12

    # every actor process loaded its generator once; the killed one was replaced by a new process
    pids = {w["pid"] for w in result.workers}
    assert all(w["generators_loaded"] == 1 for w in result.workers)
    assert int(marker.read_text()) not in pids and len(pids) >= 2
    killed = next(r for r in result.stories if r["id"] == victim)
    assert killed["runs"] == 2  # started, died, started again on the new actor

    # the finished shot was not made again; the story resumed at the shot that was in flight
    folder = tmp_path / "ray" / victim
    assert [p.name for p in sorted((folder / "takes" / "01_01").glob("t*.mp4"))] == ["t001.mp4"]
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    assert any(e["event"] == "resume" for e in events)
    for story in result.stories:  # shots in script order within each story
        script = json.loads((tmp_path / "ray" / story["id"] / "script.json").read_text())
        lines = (tmp_path / "ray" / story["id"] / "events.jsonl").read_text().splitlines()
        commits = [e["shot"] for e in map(json.loads, lines) if e["event"] == "commit"]
        assert commits == [s["id"] for s in script["shots"]]
