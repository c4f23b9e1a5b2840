"""The director graph end to end on the preview backend: frame counts, memory, resume, bounds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from director.folder.video import count_frames, read_video
from director.critic.rules import Critic
from director.graph import RETRY_SEED_STEP, run_director
from director.story import Story
from director.folder.workspace import Workspace
from helpers import LOGLINE, RecordingGenerator, make_context

INPUTS = {"logline": LOGLINE, "shots_wanted": 8, "seed": 0}
# Offline plan for 8 shots: scenes of 3, 3 and 2 shots; the third shot of scenes 1 and 2 continues.
EXPECTED_MODES = ["t2v", "m2v", "mi2v", "m2v", "m2v", "mi2v", "m2v", "m2v"]
EXPECTED_FRAMES = [81, 81, 80, 81, 81, 80, 81, 81]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("story")
    generator = RecordingGenerator()
    result = run_director(make_context(root, generator), "story", INPUTS, 8)
    return root, generator, result


def test_every_shot_and_the_film_have_exact_frame_counts(finished):
    root, generator, result = finished
    workspace = Workspace(root)
    story = workspace.load_script()
    assert len(story.scenes) == 3 and len(story.shots) == 8
    assert [count_frames(workspace.shot_video(s.id)) for s in story.shots] == EXPECTED_FRAMES
    assert [workspace.load_shot_record(s.id)["frames"] for s in story.shots] == EXPECTED_FRAMES
    assert count_frames(workspace.film_path) == sum(EXPECTED_FRAMES) == 646
    assert result["film"] == {"frames": 646, "shots": 8}


def test_modes_follow_transitions_and_continuations_start_from_the_last_frame(finished):
    root, generator, _ = finished
    workspace = Workspace(root)
    assert [r.mode.value for r in generator.requests] == EXPECTED_MODES
    story = workspace.load_script()
    continuation = next(r for r in generator.requests if r.mode.value == "mi2v")
    previous = story.shots[story.shot_index(continuation.shot_id) - 1]
    tail = workspace.load_tail(previous.id)
    assert np.array_equal(continuation.previous_frames[0], tail[-1])  # lossless tail, exactly the last frame


def test_film_does_not_repeat_a_continuations_first_frame(finished):
    root, _, _ = finished
    workspace = Workspace(root)
    film = read_video(workspace.film_path)
    shot_2 = read_video(workspace.shot_video("01_02"))
    shot_3 = read_video(workspace.shot_video("01_03"))
    # Film frames 162..241 are shot 01_03, right after shot 01_02's 81 frames.
    start = 81 + 81
    assert np.abs(film[start].astype(int) - shot_3[0].astype(int)).mean() < 6
    assert np.abs(film[start - 1].astype(int) - shot_2[-1].astype(int)).mean() < 6


def test_memory_snapshot_recorded_for_every_shot(finished):
    root, generator, _ = finished
    workspace = Workspace(root)
    bank = json.loads((workspace.memory_dir / "bank.json").read_text())
    story = workspace.load_script()
    assert set(bank["snapshots"]) == {s.id for s in story.shots}
    assert bank["snapshots"]["01_01"] == []
    for request, shot in zip(generator.requests, story.shots):
        assert len(request.memory) == len(bank["snapshots"][shot.id]) <= 10
        assert workspace.load_shot_record(shot.id)["memory"] == bank["snapshots"][shot.id]


def test_folder_holds_what_the_issue_promises(finished):
    root, _, _ = finished
    names = {p.name for p in root.iterdir()}
    assert {"script.json", "shots", "memory", "story.mp4", "story.srt", "events.jsonl", "state.sqlite"} <= names
    assert not (root / "shots" / "attempts").exists()
    assert not [p for p in root.rglob("*.partial*")]
    srt = (root / "story.srt").read_text()  # the spoken lines: the narrator over each scene's first shot
    assert srt.count(" --> ") == sum(len(s.lines) for s in Workspace(root).load_script().shots) == 3
    events = Workspace(root).events()
    assert {e["event"] for e in events} >= {"node", "plan", "generate", "remember", "critique", "commit", "assemble"}
    assert sum(1 for e in events if e["event"] == "commit") == 8


#: Resume tests need shots, not long ones: 17 frames a clip (a continuation drops its first: 16).
SHORT = 17
SHORT_FILM = sum(SHORT - (mode == "mi2v") for mode in EXPECTED_MODES)


def test_resume_after_a_crash_keeps_finished_shots_byte_identical(tmp_path):
    crashing = RecordingGenerator(num_frames=SHORT, fail_at="02_02")  # the fifth shot
    with pytest.raises(RuntimeError, match="simulated crash at shot 02_02"):
        run_director(make_context(tmp_path, crashing), "story", INPUTS, 8)
    workspace = Workspace(tmp_path)
    story = workspace.load_script()
    done = [s.id for s in story.shots if workspace.is_done(s.id)]
    assert done == ["01_01", "01_02", "01_03", "02_01"]
    before = {p.relative_to(tmp_path): p.read_bytes() for p in (tmp_path / "shots").iterdir()}
    snapshot_before = json.loads((workspace.memory_dir / "bank.json").read_text())["snapshots"]["02_02"]

    rerun = RecordingGenerator(num_frames=SHORT)
    result = run_director(make_context(tmp_path, rerun), "story", INPUTS, 8)

    assert [r.shot_id for r in rerun.requests] == ["02_02", "02_03", "03_01", "03_02"]
    for relative, data in before.items():
        assert (tmp_path / relative).read_bytes() == data, relative
    assert workspace.load_shot_record("02_02")["memory"] == snapshot_before
    assert result["film"]["frames"] == SHORT_FILM == count_frames(workspace.film_path)
    assert any(e["event"] == "resume" for e in workspace.events())


def test_resume_without_checkpoint_file_still_skips_finished_shots(tmp_path):
    with pytest.raises(RuntimeError, match="simulated crash at shot 01_03"):
        run_director(make_context(tmp_path, RecordingGenerator(num_frames=SHORT, fail_at="01_03")), "story", INPUTS, 8)
    (tmp_path / "state.sqlite").unlink()
    rerun = RecordingGenerator(num_frames=SHORT)
    run_director(make_context(tmp_path, rerun), "story", INPUTS, 8)
    assert [r.shot_id for r in rerun.requests][:1] == ["01_03"] and len(rerun.requests) == 6


class _QueueScorer:
    """Quality scores from a list, one value per analysed shot attempt, below a 0.9 gate."""

    name, threshold = "queue-scorer", 0.9

    def __init__(self, values):
        self.values = list(values)
        self.calls = 0

    def score(self, images):
        value = self.values[self.calls % len(self.values)]
        self.calls += 1
        return np.full(len(images), value, dtype=np.float32)


def test_attempts_are_bounded_and_the_best_attempt_is_kept(tmp_path):
    scorer = _QueueScorer([0.2, 0.6, 0.4])
    generator = RecordingGenerator(num_frames=17)
    critic = Critic(max_attempts=3, quality_threshold=0.9, consistency_margin=None)
    context = make_context(tmp_path, generator, critic=critic, scorer=scorer)
    run_director(context, "story", {"logline": LOGLINE, "shots_wanted": 2, "seed": 5}, 2)
    workspace = Workspace(tmp_path)
    story = Story.model_validate_json(workspace.script_path.read_text())
    assert len(generator.requests) == 6  # never more than 3 attempts per shot
    for shot in story.shots:
        record = workspace.load_shot_record(shot.id)
        assert record["attempts"] == 3 and record["decision"] == "keep_best"
        assert record["attempt"] == 2 and record["seed"] == shot.seed + RETRY_SEED_STEP
        assert [h["decision"]["action"] for h in record["history"]] == ["regenerate", "regenerate", "keep_best"]
    seeds = [r.seed for r in generator.requests[:3]]
    assert seeds == [story.shots[0].seed + RETRY_SEED_STEP * k for k in range(3)]


def test_accept_on_first_attempt_when_scores_pass(tmp_path):
    generator = RecordingGenerator(num_frames=17)
    context = make_context(tmp_path, generator, critic=Critic(max_attempts=3, quality_threshold=0.5), scorer=_QueueScorer([0.95]))
    run_director(context, "story", {"logline": LOGLINE, "shots_wanted": 3, "seed": 0}, 3)
    assert len(generator.requests) == 3
    critiques = [e for e in Workspace(tmp_path).events() if e["event"] == "critique"]
    assert [c["action"] for c in critiques] == ["accept"] * 3
    assert all(c["scores"]["quality_scorer"] == "queue-scorer" for c in critiques)


def test_report_shows_every_shot_with_its_frames_and_memory(finished):
    root, _, _ = finished
    page = (root / "report.html").read_text()
    story = Workspace(root).load_script()
    assert page.count("<section>") == 8 and '<video src="story.mp4"' in page
    for shot in story.shots:
        for label in ("first", "middle", "last"):
            assert (root / "report" / f"{shot.id}_{label}.jpg").is_file()
    for entry_id in json.loads((root / "memory" / "bank.json").read_text())["snapshots"]["03_02"]:
        assert f'src="memory/{entry_id}.png"' in page and (root / "memory" / f"{entry_id}.png").is_file()


def test_progress_streams_one_event_per_node_and_per_committed_shot(tmp_path):
    events = []
    run_director(make_context(tmp_path, RecordingGenerator(num_frames=9)), "s", {"logline": LOGLINE, "shots_wanted": 3, "seed": 0}, 3, on_event=events.append)
    assert [e["shot_done"] for e in events if "shot_done" in e] == ["01_01", "01_02", "02_01"]
    nodes = [e["node"] for e in events if "node" in e]
    assert nodes[:5] == ["plan", "prepare_shot", "generate", "remember", "critique"]
    assert nodes[-2:] == ["prepare_shot", "assemble"] and nodes.count("commit") == 3
    logged = [e for e in Workspace(tmp_path).events() if e["event"] == "node"]
    assert [(e["node"], e["seconds"]) for e in logged] == [(e["node"], e["seconds"]) for e in events if "node" in e]


def _crash_once_in_save_shot(monkeypatch, shot_id: str, after: bool) -> None:
    """Make Workspace.commit_shot raise once for `shot_id`, before or after it writes the files."""
    real = Workspace.commit_shot
    state = {"armed": True}

    def commit_shot(self, version, sid, entry, frames):
        if sid == shot_id and state["armed"]:
            state["armed"] = False
            if after:
                real(self, version, sid, entry, frames)
            raise RuntimeError(f"killed in commit of {sid}")
        return real(self, version, sid, entry, frames)

    monkeypatch.setattr(Workspace, "commit_shot", commit_shot)


@pytest.mark.parametrize("after", [False, True], ids=["before-shot-files", "after-shot-files"])
def test_a_commit_cut_short_is_finished_on_resume_without_duplicate_keyframes(tmp_path, monkeypatch, after):
    inputs = {"logline": LOGLINE, "shots_wanted": 4, "seed": 0}
    _crash_once_in_save_shot(monkeypatch, "01_02", after)
    with pytest.raises(RuntimeError, match="killed in commit of 01_02"):
        run_director(make_context(tmp_path, RecordingGenerator(num_frames=9)), "s", inputs, 4)
    workspace = Workspace(tmp_path)
    assert workspace.is_done("01_02") == after
    before = workspace.shot_record("01_02").read_bytes() if after else None

    stale = [tmp_path / "shots" / ".01_02.tail.abc.partial.npz", tmp_path / ".story.abc.partial.mp4"]
    for path in stale:  # what a SIGKILL inside the atomic writes would leave
        path.write_bytes(b"half")
    rerun = RecordingGenerator(num_frames=9)
    result = run_director(make_context(tmp_path, rerun), "s", inputs, 4)

    assert not any(path.exists() for path in stale)
    assert result["film"]["frames"] == 4 * 9
    assert [r.shot_id for r in rerun.requests] == ["02_01", "02_02"]  # 01_02's attempt was checkpointed
    record = workspace.load_shot_record("01_02")
    if after:
        assert workspace.shot_record("01_02").read_bytes() == before
    bank = json.loads((workspace.memory_dir / "bank.json").read_text())
    from_shot = [i for i in bank["snapshots"]["02_01"] if bank["entries"][i]["shot_id"] == "01_02"]
    assert from_shot == record["keyframes"]  # added once, whatever the first commit had saved
