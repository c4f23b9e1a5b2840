"""Context parallelism (diffusers' ContextParallelConfig / enable_parallelism) with memory frames,
two gloo CPU processes under torchrun.

diffusers 0.42.1 cannot start context parallelism on a host without an accelerator: it picks each
rank's device as `rank % torch.accelerator.device_count()`, a division by zero on CPU. The first
assertion below pins that down (when diffusers fixes it, it fails and this note goes). With that one
count set to 1, Ulysses runs on CPU with gloo, and the shot must equal the single-process shot;
ring attention needs an attention backend that returns log-sum-exp (flash, _native_cudnn, sage:
CUDA only), so on CPU it stops with diffusers' own message, and benchmarks/m2v_gpu.py --parallel
covers it on GPUs.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from generator.tiny import ensure_tiny_model

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def launched(tmp_path_factory) -> Path:
    """One torchrun of two gloo processes for every check here (the Ulysses and ring shots, then the
    follower): what each rank saw, saved in a folder the tests read."""
    out = tmp_path_factory.mktemp("parallel")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(free_port()), str(ROOT / "tests" / "parallel_worker.py"), str(ensure_tiny_model(out / "tiny") / "i2v"), str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)  # a hang fails on the test's timeout
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def launch(out: Path, mode: str) -> list[dict]:
    return [torch.load(out / f"{mode}-rank{r}.pt") for r in range(2)]


def test_ulysses_over_two_processes_equals_one_process_with_the_memory_rotary_split_with_the_tokens(launched):
    ranks = launch(launched, "ulysses")
    for rank, seen in enumerate(ranks):
        assert seen["errors"]["enable"].startswith("ZeroDivisionError")  # diffusers' CPU limit (module docstring)
        assert "run" not in seen["errors"]
        # (2 memory + 3 video latent frames) x 3 x 4 patches = 60 tokens, 30 per rank: rank 0 holds the
        # 24 memory tokens and the first 6 video tokens, and the rotary cos of exactly those tokens.
        assert seen["tokens"] == 30
        assert torch.equal(seen["cos"], seen["full_rope"][:, 30 * rank: 30 * (rank + 1)])
        assert (seen["parallel"] - seen["single"]).abs().max().item() <= 1e-5
    assert torch.equal(ranks[0]["parallel"], ranks[1]["parallel"])


def test_ring_needs_an_attention_backend_with_log_sum_exp(launched):
    ranks = launch(launched, "ring")
    assert [r["errors"].get("run") for r in ranks] == ["Native attention does not support return_lse=True"] * 2


def test_follower_ranks_run_every_shot_rank_0_sends_until_it_stops(launched):
    leader, follower = (torch.load(launched / f"follow{r}.pt") for r in range(2))
    assert leader == []
    assert [shot[:4] for shot in follower] == [("s1", "a fox", "m2v", 1), ("s2", "a hare", "t2v", 2)]
    assert follower[0][4] == [[[[7, 7, 7]] * 64] * 48] and follower[1][4] == []
