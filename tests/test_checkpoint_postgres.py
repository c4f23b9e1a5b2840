"""Checkpoints any host can resume: a real PostgreSQL server on loopback, started by the test.

The server is Debian's postgresql (`.ci/run` installs it when missing); the test makes its own
cluster in a temporary folder (initdb; pg_ctl on 127.0.0.1 and a free port) and stops it after.
As root, the cluster runs as the `postgres` user (initdb refuses root)."""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from director.api import RunSettings, make_story
from director.folder.checkpoints import CheckpointDBError, check_checkpoint_db

TINY = dict(backend="preview", planner="offline", size="64x48", frames=9, embedder="colour-structure", quality_scorer="heuristic", shots=3)


def _binary(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or ([shutil.which(name)] if shutil.which(name) else [])
    if not found:
        pytest.fail(f"PostgreSQL's {name} is not installed (apt-get install postgresql; .ci/run does it)")
    return found[-1]


@pytest.fixture(scope="module")
def postgres_url():
    root = os.geteuid() == 0
    folder = Path(tempfile.mkdtemp(prefix="storymem-pg-"))
    data, sockets = folder / "data", folder / "sockets"
    sockets.mkdir()
    if root:
        shutil.chown(folder, "postgres")
        shutil.chown(sockets, "postgres")
    as_owner = ["runuser", "-u", "postgres", "--"] if root else []
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    subprocess.run([*as_owner, _binary("initdb"), "-D", str(data), "-U", "storymem", "--auth=trust", "-E", "UTF8", "--no-sync"], check=True, capture_output=True)
    options = f"-h 127.0.0.1 -p {port} -k {sockets} -F"
    subprocess.run([*as_owner, _binary("pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "-t", "60", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://storymem@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_owner, _binary("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


HOST_A = """
import sys
sys.path.insert(0, {tests!r})
from batch_support import DieOnce
from director.batch.jobs import Job
from director.api import RunSettings, make_story
from director.run.context import load_components
from director.folder.workspace import Workspace
settings = RunSettings(**{settings!r})
components = load_components(settings, Workspace({out!r}))
components.generator = DieOnce("story", "01_02", {marker!r})(components.generator, Job(id="story", line=1))
make_story({out!r}, logline={logline!r}, settings=settings, components=components)
"""


def test_a_story_interrupted_on_one_host_resumes_on_another(tmp_path, postgres_url):
    import psycopg

    logline = "A lighthouse keeper befriends a stray fox during a winter storm."
    settings = {**TINY, "checkpoint_db": postgres_url}
    host_a, host_b = tmp_path / "a" / "story", tmp_path / "b" / "story"
    code = HOST_A.format(tests=str(Path(__file__).parent), settings=settings, out=str(host_a), marker=str(tmp_path / "died"), logline=logline)
    died = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert died.returncode == 17, died.stderr[-2000:]  # the process died generating its second shot
    assert not (host_a / "state.sqlite").exists()  # the checkpoints are in PostgreSQL
    thread = json.loads((host_a / "run.json").read_text())["story_id"]
    assert "checkpoint_db" not in json.loads((host_a / "run.json").read_text())["settings"]
    with psycopg.connect(postgres_url) as connection:
        saved = connection.execute("select count(*) from checkpoints where thread_id = %s", (thread,)).fetchone()[0]
    assert saved >= 5

    first = (host_a / "shots" / "01_01.mp4").read_bytes()
    shutil.copytree(host_a, host_b, symlinks=True)  # the other host sees the folder (shared storage) under its own path
    notes = []
    result = make_story(host_b, logline=logline, settings=RunSettings(**settings), on_event=lambda e: notes.append(e.get("note")))
    assert result.shots == 3 and result.generated == 2
    assert "resuming version 1: 1 of 3 shots already kept" in notes
    events = [json.loads(line) for line in (host_b / "events.jsonl").read_text().splitlines()]
    resumed = [e for e in events if e["event"] == "resume"]
    assert resumed and resumed[-1]["at"] in (["generate"], ["prepare_shot"])  # from the checkpoint the first host left (shot 2)
    assert [e["shot"] for e in events if e["event"] == "commit"] == ["01_01", "01_02", "02_01"]
    assert (host_b / "shots" / "01_01.mp4").read_bytes() == first
    assert [p.name for p in (host_b / "takes" / "01_01").glob("t*.mp4")] == ["t001.mp4"]
    assert not (host_b / "state.sqlite").exists()
    with psycopg.connect(postgres_url) as connection:
        assert connection.execute("select count(*) from checkpoints where thread_id = %s", (thread,)).fetchone()[0] > saved


def test_an_unreachable_database_is_one_line(tmp_path, postgres_url):
    with pytest.raises(CheckpointDBError, match=r"^--checkpoint-db postgresql://storymem@127\.0\.0\.1:1/postgres cannot be used: "):
        check_checkpoint_db("postgresql://storymem@127.0.0.1:1/postgres")
    with pytest.raises(CheckpointDBError, match="cannot be used: .*database \"missing\" does not exist"):
        make_story(tmp_path / "s", logline="A fox meets a keeper.", settings=RunSettings(**{**TINY, "checkpoint_db": postgres_url.rsplit("/", 1)[0] + "/missing"}))
    assert not (tmp_path / "s").exists()


def _threads(connection, folder: Path) -> int:
    thread = json.loads((folder / "run.json").read_text())["story_id"]
    return connection.execute("select count(*) from checkpoints where thread_id = %s", (thread,)).fetchone()[0]


def test_two_batches_share_one_database_and_a_dead_worker_resumes_through_it(tmp_path, postgres_url):
    """Two batches with the same story ids and loglines, one database: every story has a thread of
    its own, and a worker that dies mid-story is resumed by the rerun from PostgreSQL."""
    import psycopg

    from batch_support import DieOnce
    from director.api import run_batch

    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("".join(json.dumps({"id": f"s{i}", "logline": text}) + "\n" for i, text in enumerate(["A keeper meets a fox on an island.", "A baker bakes a cake at night."], 1)))
    settings = RunSettings(**{**TINY, "checkpoint_db": postgres_url})
    first = run_batch(jobs, tmp_path / "one", settings=settings, workers=1)
    assert [r["status"] for r in first.stories] == ["done", "done"]

    second_out = tmp_path / "two"
    died = run_batch(jobs, second_out, settings=settings, workers=1, wrap_generator=DieOnce("s1", "01_02", str(tmp_path / "died")))
    records = {r["id"]: r for r in died.stories}
    assert records["s1"]["status"] == "failed" and records["s1"]["shots"] == 1  # the worker died at s1's second shot
    assert records["s2"]["status"] == "done"
    kept = (second_out / "s1" / "shots" / "01_01.mp4").read_bytes()
    with psycopg.connect(postgres_url) as connection:
        before = _threads(connection, second_out / "s1")
    assert before > 0

    rerun = run_batch(jobs, second_out, settings=settings, workers=1)
    assert rerun.skipped == ["s2"] and [r["status"] for r in rerun.stories] == ["done", "done"]
    assert (second_out / "s1" / "shots" / "01_01.mp4").read_bytes() == kept
    assert [p.name for p in (second_out / "s1" / "takes" / "01_01").glob("t*.mp4")] == ["t001.mp4"]
    events = [json.loads(line) for line in (second_out / "s1" / "events.jsonl").read_text().splitlines()]
    assert [e for e in events if e["event"] == "resume"]  # from the checkpoint, not planned anew
    for batch in ("one", "two"):
        for story in ("s1", "s2"):
            assert not (tmp_path / batch / story / "state.sqlite").exists()
    threads = {json.loads((tmp_path / b / s / "run.json").read_text())["story_id"] for b in ("one", "two") for s in ("s1", "s2")}
    assert len(threads) == 4  # same folder names and sources, four threads
    with psycopg.connect(postgres_url) as connection:
        assert _threads(connection, second_out / "s1") > before
        for batch in ("one", "two"):
            for story in ("s1", "s2"):
                assert _threads(connection, tmp_path / batch / story) >= 3 * 4  # each story's own checkpoints
    for story in ("s1", "s2"):  # the same seeds: the same films in both batches
        assert (tmp_path / "one" / story / "story.mp4").read_bytes() == (second_out / story / "story.mp4").read_bytes()
