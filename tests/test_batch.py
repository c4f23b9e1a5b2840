"""Batch storytelling on local worker processes: the manifest, failures, resuming, bad input, Ctrl-C."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from batch_support import FailStories
from gate import wait_for
from director.api import RunSettings, run_batch
from director.batch.jobs import BatchInputError, read_jobs
from director.folder.video import count_frames
from director.frontends import cli

TINY = RunSettings(backend="preview", planner="offline", size="64x48", frames=9, embedder="colour-structure", quality_scorer="heuristic", shots=3)
TINY_FLAGS = ["--backend", "preview", "--planner", "offline", "--size", "64x48", "--frames", "9", "--embedder", "colour-structure", "--quality-scorer", "heuristic", "--shots", "3"]
LOGLINES = [
    "A lighthouse keeper befriends a stray fox during a winter storm.",
    "Two rival bakers bake a wedding cake together overnight.",
    "A small drone gets lost in a rainforest and a toucan guides it home.",
    "An old samurai teaches an apprentice patience with a bonsai tree.",
    "A robot gardener grows the first flower on a space station.",
    "A jazz singer returns to the club where she first sang.",
]


def write_jobs(folder: Path) -> Path:
    """Six good stories (one with its own settings) and three bad lines."""
    (folder / "scripts").mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"id": f"s{i}", "logline": text, **({"settings": {"shots": 2, "seed": 5}} if i == 2 else {})}) for i, text in enumerate(LOGLINES, start=1)]
    lines.insert(3, "{this is not json")
    lines.append(json.dumps({"id": "missing", "script": "scripts/nowhere.json"}))
    lines.append(json.dumps({"id": "typo", "logline": "A cat naps.", "settings": {"colour": "red"}}))
    path = folder / "jobs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_two_workers_six_stories_failure_and_rerun(tmp_path):
    jobs = write_jobs(tmp_path)
    out = tmp_path / "batch"
    events = []
    result = run_batch(jobs, out, settings=TINY, workers=2, wrap_generator=FailStories("s4"), on_event=events.append)

    records = {r["id"]: r for r in result.stories}
    assert [r["id"] for r in result.stories] == ["s1", "s2", "s3", "line-4", "s4", "s5", "s6", "missing", "typo"]
    assert {k for k, r in records.items() if r["status"] == "done"} == {"s1", "s2", "s3", "s5", "s6"}
    assert records["s4"]["status"] == "failed"
    assert records["s4"]["error"] == "RuntimeError: simulated generator failure at shot 01_01"
    assert records["line-4"]["error"].startswith("line 4: not JSON (")
    assert records["missing"]["error"].startswith("line 8: script file not found: ")
    assert records["typo"]["error"] == "line 9: unknown option 'colour'"
    for story in ("s1", "s3", "s5", "s6"):
        assert records[story]["shots"] == records[story]["shots_planned"] == 3
        assert records[story]["attempts"] >= 3 and records[story]["minutes"] > 0
        assert set(records[story]["scores"]) >= {"quality", "overall"}
        assert (out / story / "story.mp4").is_file() and records[story]["film"] == str((out / story / "story.mp4").resolve())
    assert records["s2"]["shots"] == 2  # the job's own settings
    assert json.loads((out / "s2" / "run.json").read_text())["settings"]["seed"] == 5
    assert json.loads((out / "batch.json").read_text())["stories"] == result.stories  # the manifest on disk says the same

    # two processes, each loaded its generator once for all the stories it made
    assert len(result.workers) == 2 and sum(w["stories"] for w in result.workers) == 6
    # handed out longest first (s2 has 2 shots, the rest 3), in FILE order among equals
    assert next(e for e in events if e.get("batch") == "start")["to_run"] == ["s1", "s3", "s4", "s5", "s6", "s2"]
    assert all(w["generators_loaded"] == 1 for w in result.workers)
    assert {e["worker"] for e in events if e.get("started")} == {w["worker"] for w in result.workers}
    shots_done = [e for e in events if "shot_done" in e]
    assert len(shots_done) == 3 * 4 + 2

    films = {story: (out / story / "story.mp4").stat().st_mtime_ns for story in ("s1", "s2", "s3", "s5", "s6")}
    again = run_batch(jobs, out, settings=TINY, workers=2)
    assert sorted(again.skipped) == ["s1", "s2", "s3", "s5", "s6"]
    records = {r["id"]: r for r in again.stories}
    assert records["s4"]["status"] == "done" and records["s4"]["shots"] == 3 and records["s4"]["runs"] == 2
    assert all(records[s]["runs"] == 1 for s in films)
    assert films == {story: (out / story / "story.mp4").stat().st_mtime_ns for story in films}  # untouched
    assert again.workers == [] or sum(w["stories"] for w in again.workers) == 1

    kept = run_batch(jobs, out, settings=TINY, retry_failed=False)  # nothing left but the bad lines
    assert sorted(kept.skipped) == ["s1", "s2", "s3", "s4", "s5", "s6"] and kept.workers == []

    # "done" in the manifest is not taken on trust: a finished story whose folder was lost is made again
    shutil.rmtree(out / "s3")
    remade = run_batch(jobs, out, settings=TINY, workers=1)
    assert sorted(remade.skipped) == ["s1", "s2", "s4", "s5", "s6"]
    records = {r["id"]: r for r in remade.stories}
    assert records["s3"]["status"] == "done" and records["s3"]["shots"] == 3 and records["s3"]["runs"] == 2
    assert count_frames(out / "s3" / "story.mp4") == 3 * 9


def test_forms_of_file(tmp_path):
    (tmp_path / "loglines.txt").write_text("# a comment\n\nA fox meets a keeper.\nA fox meets a keeper.\n")
    jobs = read_jobs(tmp_path / "loglines.txt", TINY)
    assert [(j.id, j.line, j.error) for j in jobs] == [("a-fox-meets-a-keeper", 3, None), ("a-fox-meets-a-keeper-2", 4, None)]
    stbench = Path(__file__).parent / "fixtures"
    scripts = read_jobs(stbench, TINY)
    assert scripts and all(j.script and j.error is None for j in scripts)
    assert "three-scenes-string-flags" in {j.id for j in scripts}


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: d / "nothing-here", "does not exist: give a file of loglines, a JSONL file of jobs, or a folder of scripts"),
        (lambda d: (d / "blob.bin").write_bytes(b"\x00\x01\x02") and d / "blob.bin", "is a binary file"),
        (lambda d: (d / "one.json").write_text("{}") and d / "one.json", "is one script, not a batch"),
        (lambda d: (d / "empty.txt").write_text("\n# only a comment\n") and d / "empty.txt", "holds no stories"),
        (lambda d: (d / "scripts").mkdir() or d / "scripts", "holds no stories"),
    ],
)
def test_a_file_of_no_form_is_one_line_and_exit_2(tmp_path, capsys, make, message):
    path = make(tmp_path)
    with pytest.raises(BatchInputError, match=message):
        run_batch(path, tmp_path / "out", settings=TINY)
    assert cli.main(["batch", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "out").exists()


def test_unreachable_ray_and_checkpoint_db_start_nothing(tmp_path, capsys):
    (tmp_path / "l.txt").write_text("A fox meets a keeper.\n")
    assert cli.main(["batch", str(tmp_path / "l.txt"), "--out", str(tmp_path / "out"), "--ray", "127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("storymem: error: --ray 127.0.0.1:1: no Ray cluster answers there") and err.count("\n") == 1
    assert cli.main(["batch", str(tmp_path / "l.txt"), "--out", str(tmp_path / "out"), "--checkpoint-db", "postgresql://nobody:secret@127.0.0.1:1/none"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("storymem: error: --checkpoint-db postgresql://nobody:***@127.0.0.1:1/none cannot be used:") and err.count("\n") == 1
    assert "secret" not in err
    assert cli.main(["batch", str(tmp_path / "l.txt"), "--out", str(tmp_path / "out"), "--checkpoint-db", "mysql://x@127.0.0.1/db"]) == 2
    assert "takes a postgresql://USER@HOST:PORT/DATABASE URL" in capsys.readouterr().err
    assert cli.main(["batch", str(tmp_path / "l.txt"), "--workers", "0"]) == 2
    assert capsys.readouterr().err == "storymem: error: --workers must be at least 1, got 0\n"
    assert not (tmp_path / "out").exists()


DRIVER = """
import signal
import sys
# A terminal's Ctrl-C, whatever the test runner inherited (a background job starts with SIGINT ignored).
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.path.insert(0, {tests!r})
from gate import HoldAt
from director.api import RunSettings, run_batch
settings = RunSettings.model_validate({settings!r})
# The first story holds as it starts its third shot (two are finished) until Ctrl-C.
result = run_batch({file!r}, {out!r}, settings=settings, workers=1, wrap_generator=HoldAt(3, {marker!r}))
print("interrupted" if result.interrupted else "finished", flush=True)
sys.exit(130 if result.interrupted else 0)
"""


@pytest.mark.timeout(300)  # a run that never reaches its hold, or ignores the signal, fails here
def test_ctrl_c_stops_cleanly_and_the_rerun_finishes(tmp_path):
    (tmp_path / "l.txt").write_text("\n".join(LOGLINES[:2]) + "\n")
    out = tmp_path / "out"
    marker = tmp_path / "held"
    code = DRIVER.format(tests=str(Path(__file__).parent), settings=TINY.model_copy(update={"shots": 4}).model_dump(mode="json"), file=str(tmp_path / "l.txt"), out=str(out), marker=str(marker))
    # Its own process group, as a terminal's: Ctrl-C reaches the driver and its workers together.
    driver = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    wait_for(marker, driver)
    assert len(list(out.glob("*/shots/*.mp4"))) == 2
    os.killpg(driver.pid, signal.SIGINT)
    stdout, stderr = driver.communicate()
    assert driver.returncode == 130, stderr[-2000:]
    assert stdout.strip() == "interrupted"
    records = json.loads((out / "batch.json").read_text())["stories"]
    stopped = [r for r in records if r["status"] == "interrupted"]
    assert stopped and all(r["error"] == "interrupted; finished shots are kept" for r in stopped)
    assert all(r["status"] in ("interrupted", "done", "pending") for r in records)
    kept = {p: p.read_bytes() for p in out.glob("*/shots/*.mp4")}
    assert sum(r["shots"] for r in stopped) >= 1 and len(kept) >= 2
    assert "Traceback" not in stderr

    again = run_batch(tmp_path / "l.txt", out, settings=TINY.model_copy(update={"shots": 4}), workers=1)
    assert [r["status"] for r in again.stories] == ["done"] * 2
    for path, data in kept.items():  # finished shots were kept, not made again
        assert path.read_bytes() == data
        assert sorted(p.name for p in (path.parent.parent / "takes" / path.stem).glob("t*.mp4")) == ["t001.mp4"]


def test_a_missing_model_is_said_once_for_the_batch_not_once_per_worker(tmp_path):
    (tmp_path / "l.txt").write_text("\n".join(LOGLINES[:2]) + "\n")  # a story for each worker: both load the models
    flags = [flag if flag != "colour-structure" else "clip" for flag in TINY_FLAGS[:-1]] + ["2"]  # CLIP asked for; no weights here
    command = [str(Path(sys.executable).parent / "storymem"), "batch", str(tmp_path / "l.txt"), "--out", str(tmp_path / "out"), "--workers", "2", *flags]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=600)
    assert done.returncode == 0, done.stderr
    said = [line for line in done.stderr.splitlines() if "CLIP embedder unavailable" in line]
    assert len(said) == 1 and said[0].startswith("storymem: warning: CLIP embedder unavailable"), done.stderr  # the driver's, not a worker's


def test_a_worker_hands_model_warnings_to_the_driver_and_prints_none(caplog):
    import logging

    from director.batch.worker import warnings_to
    from director.run.console import VISION_LOGGER

    events = []
    with warnings_to(events.append):
        logging.getLogger(VISION_LOGGER).warning("CLIP embedder unavailable (no weights)")
    assert events == [{"warning": "CLIP embedder unavailable (no weights)"}]
    assert caplog.records == []  # not printed where the worker runs (a root handler, as Ray's, would)
    logging.getLogger(VISION_LOGGER).warning("after the story")
    assert len(events) == 1 and [r.getMessage() for r in caplog.records] == ["after the story"]
