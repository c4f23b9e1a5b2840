"""The critique loop with injected scores: memory edits, prompt refinement, bounds, best-of-N."""

from __future__ import annotations

import json

import pytest

import director.graph as graph_module
from director.critic.rules import Critic, Levers, ShotScores
from director.graph import run_director
from director.planning.offline import OfflinePlanner
from director.folder.workspace import Workspace
from helpers import LOGLINE, HashEmbedder, RecordingGenerator, make_context


def scripted(monkeypatch, values: list[dict], suspects: list | None = None) -> list[dict]:
    """Replace the scorer with a script: one dict of ShotScores fields per attempt, in order
    (`suspects` collects the memory entry each attempt was scored without)."""
    queue = list(values)

    def score(ctx, story, index, analysis, attempt, suspect=None):
        if suspects is not None:
            suspects.append(suspect)
        return ShotScores(quality_scorer="script", consistency_scorer="script", prompt_scorer="script", **queue.pop(0))

    monkeypatch.setattr(graph_module, "score_attempt", score)
    return queue


GOOD = [{"quality": 1.0, "consistency": c, "prompt_following": p} for c, p in ((0.9, 0.30), (0.88, 0.31), (0.92, 0.29))]


class RefiningPlanner(OfflinePlanner):
    def __init__(self):
        self.calls = []

    def refine_prompt(self, shot, story, critique):
        self.calls.append(critique)
        return shot.prompt + " Warm light on both faces."


def _context(tmp_path, generator, critic, planner=None):
    context = make_context(tmp_path, generator, critic=critic)
    context.embedder = HashEmbedder()
    context.planner = planner or OfflinePlanner()
    return context


def _events(root, name):
    return [e for e in Workspace(root).events() if e["event"] == name]


def test_low_consistency_drops_a_misleading_memory_entry_then_regenerates(tmp_path, monkeypatch):
    queue = scripted(monkeypatch, [*GOOD, {"quality": 1.0, "consistency": 0.5, "prompt_following": 0.3}, {"quality": 1.0, "consistency": 0.91, "prompt_following": 0.3}])
    generator = RecordingGenerator(num_frames=17)
    critic = Critic(max_attempts=3, quality_threshold=0.5)
    run_director(_context(tmp_path, generator, critic), "s", {"logline": LOGLINE, "shots_wanted": 4, "seed": 0}, 4)
    assert queue == []

    actions = [e["action"] for e in _events(tmp_path, "critique")]
    assert actions == ["accept", "accept", "accept", "drop_memory", "accept"]
    edit = _events(tmp_path, "critique")[3]
    dropped = edit["drop"]
    assert len(dropped) == 1 and "consistency 0.500 < story median - margin 0.750" in edit["reason"]
    assert [e["entry_id"] for e in _events(tmp_path, "memory.drop")] == dropped

    workspace = Workspace(tmp_path)
    last = workspace.load_script().shots[3]
    record = workspace.load_shot_record(last.id)
    retry = generator.requests[-1]
    assert record["attempt"] == 2 and record["attempts"] == 2
    assert dropped[0] not in record["memory"] and len(retry.memory) == len(record["memory"])
    assert len(generator.requests[-2].memory) == len(retry.memory) + 1  # the first attempt still had it
    bank = json.loads((workspace.memory_dir / "bank.json").read_text())
    assert bank["snapshots"][last.id] == record["memory"]


def test_a_shot_that_follows_one_suspect_entry_gets_it_dropped_before_any_story_median(tmp_path, monkeypatch):
    """Shot 2 agrees with its memory (0.9) but only through the entry least like the rest (0.6
    without it), an entry that stands apart (said so here; `stands_apart` itself is measured in
    test_memory_scores): no story median exists yet, and the critic drops that entry and regenerates."""
    suspects: list = []
    asked: list = []
    monkeypatch.setattr(graph_module, "stands_apart", lambda bank, embedder, entry, margin, characters: asked.append((entry, margin)) or True)
    follows = {"quality": 1.0, "consistency": 0.9, "consistency_without_suspect": 0.6, "prompt_following": 0.3}
    steady = {"quality": 1.0, "consistency": 0.9, "consistency_without_suspect": 0.86, "prompt_following": 0.3}  # 0.04: within the margin
    queue = scripted(monkeypatch, [GOOD[0], follows, steady], suspects)
    generator = RecordingGenerator(num_frames=17)
    context = _context(tmp_path, generator, Critic(max_attempts=3, consistency_margin=0.05))
    run_director(context, "s", {"logline": LOGLINE, "shots_wanted": 2, "seed": 0}, 2)
    assert queue == []
    events = _events(tmp_path, "critique")
    assert [e["action"] for e in events] == ["accept", "drop_memory", "accept"]
    assert suspects[0] is None and suspects[1] is not None  # shot 1: memory too small to name one
    assert asked[0] == (suspects[1], 0.05)  # the entry misleading_entries puts first, against the critic's margin
    assert events[1]["drop"] == [suspects[1]] and "consistency without memory entry " + suspects[1] + " 0.600 < with it 0.900 - margin 0.050" in events[1]["reason"]
    assert suspects[2] != suspects[1]  # the retry is scored against the edited memory
    record = Workspace(tmp_path).load_shot_record(Workspace(tmp_path).load_script().shots[1].id)
    assert record["attempt"] == 2 and suspects[1] not in record["memory"]
    assert len(generator.requests[-2].memory) == len(generator.requests[-1].memory) + 1  # the first attempt still had it


def test_low_prompt_following_asks_the_llm_to_refine_the_prompt(tmp_path, monkeypatch):
    scripted(monkeypatch, [*GOOD, {"quality": 1.0, "consistency": 0.9, "prompt_following": 0.1}, {"quality": 1.0, "consistency": 0.9, "prompt_following": 0.3}])
    generator = RecordingGenerator(num_frames=17)
    planner = RefiningPlanner()
    run_director(_context(tmp_path, generator, Critic(max_attempts=3), planner), "s", {"logline": LOGLINE, "shots_wanted": 4, "seed": 0}, 4)

    assert [e["action"] for e in _events(tmp_path, "critique")][3:] == ["refine_prompt", "accept"]
    assert len(planner.calls) == 1 and "prompt following 0.100 < story median - margin 0.270" in planner.calls[0]
    refined = generator.requests[-1].prompt
    assert refined.endswith(" Warm light on both faces.") and generator.requests[-2].prompt + " Warm light on both faces." == refined
    workspace = Workspace(tmp_path)
    shot = workspace.load_script().shots[3]
    assert shot.prompt == refined == workspace.load_shot_record(shot.id)["prompt"]


def test_every_lever_used_then_the_best_attempt_is_kept_within_the_bound(tmp_path, monkeypatch):
    bad = [{"quality": 0.1, "consistency": 0.4, "prompt_following": 0.1}, {"quality": 0.3, "consistency": 0.45, "prompt_following": 0.12}, {"quality": 0.2, "consistency": 0.41, "prompt_following": 0.1}]
    scripted(monkeypatch, [*GOOD, *bad])
    generator = RecordingGenerator(num_frames=17)
    planner = RefiningPlanner()
    critic = Critic(max_attempts=3, quality_threshold=0.5)
    run_director(_context(tmp_path, generator, critic, planner), "s", {"logline": LOGLINE, "shots_wanted": 4, "seed": 0}, 4)

    assert [e["action"] for e in _events(tmp_path, "critique")][3:] == ["drop_memory", "refine_prompt", "keep_best"]
    assert len(generator.requests) == 3 + 3  # never more than max_attempts for the shot
    workspace = Workspace(tmp_path)
    record = workspace.load_shot_record(workspace.load_script().shots[3].id)
    assert record["attempt"] == 2 and record["decision"] == "keep_best"  # the highest overall score
    assert record["prompt"] == generator.requests[-2].prompt  # the script keeps the kept attempt's prompt
    assert workspace.load_script().shots[3].prompt == record["prompt"]


@pytest.mark.parametrize("max_attempts", [1, 2, 4])
def test_critic_never_asks_past_the_bound(max_attempts):
    critic = Critic(max_attempts=max_attempts, quality_threshold=0.5)
    levers = Levers(can_refine_prompt=True, misleading_memory=["m0001"])
    bad = ShotScores(quality=0.1, quality_scorer="s")
    assert critic.decide(bad, max_attempts, [], levers).action == "keep_best"
    if max_attempts > 1:
        assert critic.decide(bad, max_attempts - 1, [], levers).action in ("regenerate", "refine_prompt")


def test_consistency_and_prompt_gates_are_relative_to_the_story():
    critic = Critic(max_attempts=3)
    accepted = [{"consistency": 0.3, "prompt_following": 0.2}, {"consistency": 0.32, "prompt_following": 0.22}]
    # Low in absolute terms, but in line with this story's own shots: accepted.
    assert critic.decide(ShotScores(consistency=0.29, prompt_following=0.2), 1, accepted).action == "accept"
    assert critic.decide(ShotScores(consistency=0.1, prompt_following=0.2), 1, accepted, Levers(misleading_memory=["m1"])).action == "drop_memory"
    assert critic.decide(ShotScores(consistency=0.1), 1, accepted[:1]).action == "accept"  # too little history to judge
