"""What the director itself does per shot and at the end: the film is the shots' files joined (no
re-encoding), the report is rewritten incrementally (a shot's pictures once, from the frames in
memory; the story-wide pictures with the film), and views are not synced to disk."""

from __future__ import annotations

import json
import os
import sqlite3
import threading

import imageio_ffmpeg
import numpy as np
import pytest

from director import api
from director.film import report
from director.film.assemble import assemble
from director.folder.video import count_frames, join_videos, read_video, stream_config, write_video
from director.settings import RunSettings
from director.folder.workspace import Workspace
from helpers import LOGLINE, RecordingGenerator, make_context

SETTINGS = RunSettings(backend="preview", planner="offline", embedder="colour-structure", quality_scorer="heuristic", shots=3, size="64x48", frames=17)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A 3-shot story, watched at every shot: which story-wide pictures existed then."""
    root = tmp_path_factory.mktemp("cost") / "story"
    seen = []

    def watch(event):
        if "shot_done" in event:
            charts = [p.name for p in (root / "report").glob("chart_*.png")]
            seen.append(((root / "storyboard.png").exists(), len(charts), (root / "report.html").read_text().count('<svg class="chart"')))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(report, "REWRITE_EVERY_S", 0.0)  # every shot rewrites the page
        api.make_story(root, logline=LOGLINE, settings=SETTINGS, on_event=watch)
    return root, seen


def _shots(root) -> list[np.ndarray]:
    story = Workspace(root).load_script()
    return [read_video(root / "shots" / f"{shot.id}.mp4") for shot in story.shots]


def test_the_film_is_the_shots_files_joined_frame_for_frame(made):
    root, _ = made
    shots = _shots(root)
    film = read_video(root / "story.mp4")
    assert film.shape == (sum(len(s) for s in shots), 48, 64, 3)
    assert np.array_equal(film, np.concatenate(shots))  # no second encoding: not even one value differs
    assert stream_config(root / "story.mp4") == stream_config(root / "shots" / f"{Workspace(root).load_script().shots[0].id}.mp4")


def test_takes_with_another_encoding_are_encoded_again_with_exact_frames(made, tmp_path):
    root, _ = made
    workspace = Workspace(root)
    version, story = workspace.current(), workspace.load_script()
    takes = [workspace.take_path(s.id, version.shots[s.id].take, ".mp4") for s in story.shots]
    frames = read_video(takes[1])
    other = tmp_path / "baseline.mp4"  # the same frames from another encoder setting: another stream configuration
    writer = imageio_ffmpeg.write_frames(str(other), (64, 48), fps=16, codec="libx264", quality=None, macro_block_size=1,
                                         output_params=["-profile:v", "baseline", "-crf", "18"])
    writer.send(None)
    for frame in frames:
        writer.send(np.ascontiguousarray(frame))
    writer.close()
    assert stream_config(other) != stream_config(takes[1])
    os.replace(other, takes[1])
    shots = [read_video(path) for path in takes]
    assert not join_videos(takes, tmp_path / "joined.mp4", sum(len(s) for s in shots))
    assert not (tmp_path / "joined.mp4").exists()
    result = assemble(workspace, version, story, 16)
    film = read_video(workspace.film_of(version))
    assert result["frames"] == len(film) == sum(len(s) for s in shots) == count_frames(workspace.film_of(version))
    assert np.abs(film.astype(int) - np.concatenate(shots).astype(int)).mean() < 6  # decoded and encoded again, frame for frame


def test_join_refuses_a_frame_count_it_cannot_give(tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, (9, 48, 64, 3), dtype=np.uint8)
    write_video(frames, 16, tmp_path / "a.mp4")
    write_video(frames[:5], 16, tmp_path / "b.mp4")
    assert not join_videos([tmp_path / "a.mp4", tmp_path / "b.mp4"], tmp_path / "film.mp4", 15)
    assert not (tmp_path / "film.mp4").exists() and not list(tmp_path.glob(".*partial*"))
    assert join_videos([tmp_path / "a.mp4", tmp_path / "b.mp4"], tmp_path / "film.mp4", 14)
    assert count_frames(tmp_path / "film.mp4") == 14


def test_the_report_draws_the_story_pictures_once_with_the_film(made):
    root, seen = made
    # while the story ran: no storyboard.png and no chart over the story, an inline chart per finished shot
    assert seen == [(False, 0, k) for k in range(1, 4)]
    assert (root / "storyboard.png").is_file() and len(list((root / "report").glob("chart_story_*.png"))) == 1
    page = (root / "report.html").read_text()
    assert page.count("<section>") == 3 and 'alt="scores over the story"' in page


def test_a_committed_shot_s_thumbnails_come_from_its_frames_not_its_video(tmp_path, monkeypatch):
    def no_decoding(*args, **kwargs):
        raise AssertionError("a committed shot's video was decoded for its thumbnails")

    monkeypatch.setattr(report, "frames_of", no_decoding)
    root = tmp_path / "story"
    api.make_story(root, logline=LOGLINE, settings=SETTINGS)
    events = [json.loads(line) for line in (root / "events.jsonl").read_text().splitlines()]
    assert [e for e in events if e["event"] == "report"] == []  # update_report logs a failure instead of raising
    story = Workspace(root).load_script()
    assert sorted(p.name for p in (root / "report").glob("*.jpg")) == sorted(f"{s.id}_{label}.jpg" for s in story.shots for label in ("first", "middle", "last"))


def test_views_skip_the_disk_sync_and_records_keep_it(tmp_path, monkeypatch):
    from director.folder import files

    synced = []
    real = os.fsync
    monkeypatch.setattr(files.os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    files.atomic_write_bytes(tmp_path / "report.html", b"<p>view</p>", durable=False)
    assert synced == [] and (tmp_path / "report.html").read_bytes() == b"<p>view</p>"
    files.atomic_write_json(tmp_path / "record.json", {"take": 1})
    assert len(synced) == 1


def test_a_take_s_video_is_encoded_while_the_take_is_scored(tmp_path, monkeypatch):
    """Encoding overlaps the scoring: each take's encoder waits until the take has been scored
    (`critique`, the node before `commit`), which an encode inside `generate` would never see; the
    commit then waits for the video."""
    import threading

    from director.folder import workspace as folder_workspace

    scored, released = threading.Event(), []
    real = folder_workspace.write_video

    def after_scoring(frames, fps, path):
        released.append(scored.wait(timeout=60))
        scored.clear()
        real(frames, fps, path)

    def watch(event):
        if event.get("node") == "critique":
            scored.set()

    monkeypatch.setattr(folder_workspace, "write_video", after_scoring)
    root = tmp_path / "story"
    api.make_story(root, logline=LOGLINE, settings=SETTINGS, on_event=watch)
    assert released == [True, True, True]
    for shot in _shots(root):
        assert shot.shape == (17, 48, 64, 3)  # each shot's commit waited for its video


def test_commit_waits_for_the_take_videos_and_writes_those_a_kill_left_unwritten(tmp_path, monkeypatch):
    from director.folder import workspace as folder_workspace
    from director.folder.versions import Take

    workspace = Workspace(tmp_path)
    frames = np.random.default_rng(1).integers(0, 255, (9, 48, 64, 3), dtype=np.uint8)
    for number in (1, 2):
        take = Take(shot_id="01_01", number=number, attempt=number, prompt="p", seed=number, mode="t2v", memory=[], frames=9, fps=16, seconds=0.1, backend="preview")
        workspace.take_path("01_01", number, ".frames.npy").parent.mkdir(parents=True, exist_ok=True)
        np.save(workspace.take_path("01_01", number, ".frames.npy"), frames)
        workspace.save_take(take)
    # take 1's video is being encoded, and fails; take 2's was never started (its run was killed)
    monkeypatch.setattr(folder_workspace, "write_video", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    workspace.write_take_video(workspace.load_take("01_01", 1), frames)
    with pytest.raises(OSError, match="disk full"):
        workspace.finish_take_videos("01_01")
    assert not workspace.take_path("01_01", 1, ".mp4").exists()
    monkeypatch.setattr(folder_workspace, "write_video", write_video)
    workspace.finish_take_videos("01_01")  # the rerun (a resume) writes both from their raw frames
    for number in (1, 2):
        assert read_video(workspace.take_path("01_01", number, ".mp4")).shape == (9, 48, 64, 3)


def test_a_failing_progress_callback_stops_the_story_after_the_node_in_flight(tmp_path):
    """`on_event` runs in the caller's thread; when it raises, the graph's own thread finishes the
    node in flight, and only then does the caller get the exception: nothing goes on making shots
    behind its back, and the checkpoints are closed after their last write (closing them under
    that write crashed the process), so a rerun resumes."""
    root = tmp_path / "story"
    in_second_shot, gave_up = threading.Event(), threading.Event()

    class Gated(RecordingGenerator):
        def generate(self, request):  # the second shot is generated while the caller gives up
            if self.requests and request.shot_id != self.requests[0].shot_id:
                in_second_shot.set()
                gave_up.wait(timeout=60)
            return super().generate(request)

    def give_up_in_the_second_shot(event):
        if "shot_done" in event:
            assert in_second_shot.wait(timeout=60)
            gave_up.set()
            raise RuntimeError("the caller gave up")

    before = set(threading.enumerate())
    with pytest.raises(RuntimeError, match="the caller gave up"):
        api.make_story(root, logline=LOGLINE, settings=SETTINGS, components=make_context(root, Gated(64, 48, 17)), on_event=give_up_in_the_second_shot)
    assert [t.name for t in set(threading.enumerate()) - before if t.name.startswith(("storymem-graph", "take-video")) and t.is_alive()] == []
    generated = [e["shot"] for e in Workspace(root).events() if e.get("event") == "generate"]
    assert len(generated) == 2 and len(set(generated)) == 2 and not (root / "story.mp4").exists()
    api.make_story(root, logline=LOGLINE, settings=SETTINGS)  # resumes after the node in flight: its take is kept
    again = [e["shot"] for e in Workspace(root).events() if e.get("event") == "generate"]
    assert again[:2] == generated and len(again) == len(set(again)) == 3 and count_frames(root / "story.mp4") == 3 * 17

def test_ctrl_c_in_the_callers_thread_is_raised_at_once_and_the_graph_stops_quietly(tmp_path):
    """Ctrl-C does not wait for a shot still generating (minutes on a GPU): the interrupt reaches
    the caller while the graph's thread is in the node. That node's checkpoint then meets a closed
    file: an error in that thread, not a crash; the rerun makes the lost shot again."""
    root = tmp_path / "story"
    in_second_shot, interrupted = threading.Event(), threading.Event()

    class Gated(RecordingGenerator):
        def generate(self, request):
            if self.requests and request.shot_id != self.requests[0].shot_id:
                in_second_shot.set()
                assert interrupted.wait(timeout=60)  # the caller's Ctrl-C came while this shot was in flight
            return super().generate(request)

    def ctrl_c_in_the_second_shot(event):
        if "shot_done" in event:
            assert in_second_shot.wait(timeout=60)
            raise KeyboardInterrupt

    before = set(threading.enumerate())
    with pytest.raises(KeyboardInterrupt):
        api.make_story(root, logline=LOGLINE, settings=SETTINGS, components=make_context(root, Gated(64, 48, 17)), on_event=ctrl_c_in_the_second_shot)
    interrupted.set()
    (graph,) = [t for t in set(threading.enumerate()) - before if t.name == "storymem-graph"]
    graph.join(timeout=60)
    assert not graph.is_alive()
    api.make_story(root, logline=LOGLINE, settings=SETTINGS)
    assert count_frames(root / "story.mp4") == 3 * 17


def test_the_checkpoints_close_between_two_writes_never_during_one(tmp_path):
    """After Ctrl-C the graph's thread may be writing its last checkpoint as the caller closes
    the file; closing under that write crashed the process (a segmentation fault in SQLite).
    The close takes the lock every write of LangGraph's saver holds."""
    from director.folder.checkpoints import open_checkpointer

    seen = []

    class Watched:
        def __init__(self, lock, connection):
            self.lock, self.connection = lock, connection

        def __enter__(self):
            self.lock.acquire()
            seen.append(("held", self.connection.execute("select 1").fetchone()))

        def __exit__(self, *exc):
            seen.append("released")
            self.lock.release()

    with open_checkpointer(None, tmp_path / "state.sqlite") as saver:
        saver.lock = Watched(saver.lock, saver.conn)
    assert seen == [("held", (1,)), "released"]
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        saver.conn.execute("select 1")
