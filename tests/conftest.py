"""What the whole suite shares, once per test process (`make test` runs several with pytest-xdist):
the real small language model's server, and the tiny Wan models built before any test reads them.

Each xdist worker is its own process with its own temporary folders and free loopback ports; the
only thing workers share on disk is storymem's model cache, which is built under a lock."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Several workers on few cores: torch and its OpenMP pool take an equal share each (subprocesses
# inherit it), instead of every worker spinning a thread per core.
_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _workers > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _workers)))

# Every film the suite makes has its soundtrack: piper's neural voice costs about three times
# espeak-ng's a film, so films speak with espeak-ng (subprocesses inherit it), except in
# test_sound.py, where piper is what is tested.
os.environ.setdefault("STORYMEM_VOICE", "espeak")


@pytest.fixture(scope="session", autouse=True)
def tiny_models() -> None:
    """Under xdist, the tiny Wan models in the default cache are built by one worker while the
    others wait (two builders would replace the folder under each other's readers)."""
    if _workers < 2:
        return
    import fcntl

    from generator.options import default_cache_dir
    from generator.tiny import ensure_tiny_model

    cache = default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".tiny-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        ensure_tiny_model(cache)


@pytest.fixture(scope="session")
def llama_base_url() -> Iterator[str]:
    """llama.cpp's server with the bundled SmolLM2-135M, the server `--planner local` runs, on a free
    loopback port: started once per test process, for every test that talks to a real model."""
    from director.planning.local import LocalServer, bundled_model

    with LocalServer(bundled_model(), threads=1) as server:
        yield server.base_url


#: The slowest files, slowest first (measured with `--durations`). xdist hands files out in collection
#: order, so starting these first keeps one long file from running alone at the end (the batch
#: runner's longest-first policy, for the same reason).
SLOWEST_FIRST = (
    "test_train_distributed.py", "test_batch.py", "test_train.py", "test_api_versions.py", "test_sound.py", "test_local_planner.py",
    "test_critic_llm.py", "test_studio_http.py", "test_checkpoint_postgres.py", "test_studio_browser.py",
    "test_gpu_check.py", "test_cli.py", "test_director_run.py", "test_mcp.py", "test_serve.py", "test_cli_console.py", "test_batch_ray.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file keeps its own order
