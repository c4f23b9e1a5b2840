"""The paper's ablations as run settings: what reaches the generator, the bank and the critic."""

from __future__ import annotations

import json

import numpy as np
import pytest

from director import api
from director.frontends.cli import build_parser, settings_from
from director.run.ablations import PassiveCritic, bank_policy, selection_config
from director.run.context import load_components
from director.critic.rules import Critic, ShotScores
from director.settings import RunSettings
from director.folder.workspace import Workspace
from helpers import LOGLINE, SETTINGS, RecordingGenerator
from memory.fallbacks import ColourStructureEmbedder
from memory.select import SelectionConfig, select_keyframes


def _make(root, **ablation):
    settings = SETTINGS.model_copy(update={"shots": 5, **ablation})
    components = load_components(settings, Workspace(root))
    generator = RecordingGenerator(num_frames=17)
    components.generator = generator
    api.make_story(root, logline=LOGLINE, settings=settings, components=components)
    return generator, Workspace(root)


def test_no_memory_generates_every_shot_with_empty_memory(tmp_path):
    with_memory, _ = _make(tmp_path / "full")
    assert any(request.memory for request in with_memory.requests)  # the control: memory does reach the generator
    without, workspace = _make(tmp_path / "none", no_memory=True)
    story = workspace.load_script()
    assert [r.shot_id for r in without.requests] == [s.id for s in story.shots]
    assert all(request.memory == [] for request in without.requests)
    assert [r.mode.value for r in without.requests] == ["t2v" if s.transition == "cut" else "mi2v" for s in story.shots]
    assert all(workspace.load_shot_record(s.id)["memory"] == [] for s in story.shots)
    bank = json.loads((workspace.memory_dir / "bank.json").read_text())
    assert bank["entries"]  # keyframes are still chosen and recorded, so eval and the report see them
    assert json.loads(workspace.run_path.read_text())["settings"]["no_memory"] is True


def test_memory_size_and_no_sink_shape_the_bank(tmp_path):
    generator, workspace = _make(tmp_path / "small", memory_size=4, no_sink=True)
    config = json.loads((workspace.memory_dir / "bank.json").read_text())["config"]
    assert config == {"capacity": 4, "sink": 0}
    assert max(len(r.memory) for r in generator.requests) <= 4
    assert bank_policy(RunSettings(memory_size=2)) == {"capacity": 2, "sink": 2}
    assert bank_policy(RunSettings()) == {"capacity": 10, "sink": 3}


def test_selection_ablations():
    embedder = ColourStructureEmbedder()
    config = selection_config(RunSettings(no_quality_gate=True, no_semantic_selection=True), embedder)
    assert config.quality_threshold == float("-inf") and config.semantic is False
    assert selection_config(RunSettings(), embedder) == SelectionConfig.for_embedder(embedder)
    embeddings = np.eye(10, dtype=np.float32)  # every frame novel: the published scan would keep the first 3 after rescans
    scores = np.array([0, 5, 5, 5, 0, 5, 5, 5, 5, 5], dtype=np.float32)
    assert select_keyframes(embeddings, scores, 1.0, None, SelectionConfig(semantic=False)) == [1, 6, 9]  # evenly over the 8 passing frames
    bank = embeddings[[1]]  # frame 1 is already in memory: the semantic path drops it, the ablation does not
    assert 1 not in select_keyframes(embeddings, scores, 1.0, bank, SelectionConfig())
    assert select_keyframes(embeddings, scores, 1.0, bank, SelectionConfig(semantic=False)) == [1, 6, 9]
    assert select_keyframes(embeddings, scores, float("-inf"), None, SelectionConfig(semantic=False)) == [0, 4, 9]


def test_critic_modes():
    critic = Critic(max_attempts=3, quality_threshold=5.0)
    low = ShotScores(quality=1.0, quality_scorer="q")
    assert critic.decide(low, 1, []).action == "regenerate"
    scores_only = PassiveCritic(critic, "scores")
    decision = scores_only.decide(low, 1, [])
    assert scores_only.max_attempts == 1 and decision.action == "accept"
    assert decision.reason.startswith("critic in scores mode: kept the first attempt; the critic would regenerate: quality 1.000 < 5.000")
    off = PassiveCritic(critic, "off").decide(low, 1, [])
    assert off.action == "accept" and off.reason == "critic off: the first attempt is kept unjudged"


def test_ablations_are_make_flags(tmp_path):
    args = build_parser().parse_args(["make", LOGLINE, "--no-memory", "--no-sink", "--no-quality-gate", "--no-semantic-selection", "--memory-size", "6", "--critic", "scores"])
    settings = settings_from(args)
    assert (settings.no_memory, settings.no_sink, settings.no_quality_gate, settings.no_semantic_selection, settings.memory_size, settings.critic) == (True, True, True, True, 6, "scores")
    from director.frontends.cli import main

    with pytest.raises(SystemExit, match="0"):
        main(["make", "--help"])
    assert main(["make", LOGLINE, "--critic", "sometimes", "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()
