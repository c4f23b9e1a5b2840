"""M2V LoRA training launched on two CPU processes: accelerate's DDP, and FSDP against DDP's result
(its own file so that the test runners share the suite's longest tests out)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from director.frontends.cli import main
from generator.models import load_m2v_pipeline
from generator.tiny import ensure_tiny_model
from generator.train.config import DEFAULT_TARGETS
from generator.train.objective import HIGH
from train_support import ROOT, one_torch_thread, progress_of, synthetic_data


@pytest.fixture(autouse=True)
def one_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return synthetic_data(tmp_path_factory)


def launch(data: Path, out: Path, *args: str, fsdp: bool = False) -> subprocess.CompletedProcess:
    """`accelerate launch` of two CPU processes (gloo) training on `data`; with `fsdp`, through
    tests/fsdp_on_cpu.py, which gives them the FSDP type accelerate 1.15 reserves for GPUs."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "true"}
    entry = [str(ROOT / "tests" / "fsdp_on_cpu.py")] if fsdp else ["-m", "director.frontends.cli"]
    command = [str(Path(sys.executable).parent / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", *entry, "train", str(data), "--out", str(out), "--rank", "4",
               "--workers", "0", "--checkpoint-every", "2", "--max-memory", "2", *args, *(["--fsdp"] if fsdp else [])]
    result = subprocess.run(command, env=env, cwd=out.parent, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


DDP_ARGS = ("--expert", "high", "--validate-every", "4", "--validation-steps", "1")


@pytest.fixture(scope="module")
def ddp(data, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """One DDP run of two CPU processes (4 steps, a validation render at the end): the launch the
    tests check, and the reference FSDP must equal."""
    out = tmp_path_factory.mktemp("ddp") / "ddp"
    return out, launch(data, out, "--steps", "4", *DDP_ARGS)


@pytest.mark.timeout(1200)  # two processes of torch each, twice as slow on a loaded machine
def test_accelerate_launch_two_cpu_processes(ddp):
    out, result = ddp
    # accelerate 1.15's `--cpu` starts one process unless mpirun is set up; torchrun's two processes on
    # CPU (ACCELERATE_USE_CPU) make DDP over gloo, as `--cpu` would with mpirun
    assert "loss=" in result.stdout and "trained 4 steps" in result.stdout
    assert "loss=" in result.stderr and "steps/s" in result.stderr  # the progress line
    assert [p.name for p in out.glob("*.safetensors")] == ["high_noise_lora.safetensors"]
    history = progress_of(out / "checkpoints" / "step-000004")["history"]
    assert [h["samples"] for h in history] == [[0, 1], [2, 3], [4, 5], [6, 7]]  # each step: one sample from each process
    assert "on 2 processes, MULTI_CPU" in result.stdout
    assert sorted(p.name for p in (out / "checkpoints" / "step-000004").glob("random_states_*.pkl")) == ["random_states_0.pkl", "random_states_1.pkl"]


@pytest.mark.timeout(1200)  # two launches of two processes
def test_fsdp_trains_resumes_saves_and_renders_as_ddp_does(data, ddp, tmp_path, capsys):
    args = DDP_ARGS
    ddp, fsdp = ddp[0], tmp_path / "fsdp"
    first = launch(data, fsdp, "--steps", "2", *args, fsdp=True)
    assert "trained 2 steps (2 in this run on 2 processes, FSDP" in first.stdout
    # the checkpoint is accelerate's sharded FSDP state (one shard per process) plus the gathered LoRA
    checkpoint = fsdp / "checkpoints" / "step-000002"
    for folder in ("pytorch_model_fsdp_0", "optimizer_0"):
        assert sorted(p.name for p in (checkpoint / folder).glob("*.distcp")) == ["__0_0.distcp", "__1_0.distcp"]
    torch.testing.assert_close(load_file(checkpoint / "high_noise_lora.safetensors"), load_file(fsdp / "high_noise_lora.safetensors"),
                               rtol=0, atol=0)
    resumed = launch(data, fsdp, "--steps", "4", *args, fsdp=True)  # restores the shards and the optimiser from step 2
    assert "resumed from step 2" in resumed.stdout and "trained 4 steps (2 in this run on 2 processes, FSDP" in resumed.stdout
    assert [h["samples"] for h in progress_of(fsdp / "checkpoints" / "step-000004")["history"]] == [[0, 1], [2, 3], [4, 5], [6, 7]]
    # the same LoRA as DDP's unbroken run: whole tensors gathered from the shards, not one process's shard
    assert [p.name for p in fsdp.glob("*.safetensors")] == ["high_noise_lora.safetensors"]
    saved, expected = load_file(fsdp / "high_noise_lora.safetensors"), load_file(ddp / "high_noise_lora.safetensors")
    assert saved.keys() == expected.keys() and len(saved) == 2 * 2 * len(DEFAULT_TARGETS)  # A and B, 2 blocks
    for key, value in saved.items():
        torch.testing.assert_close(value, expected[key], rtol=0, atol=1e-6)
        assert value.shape == ((4, value.shape[1]) if "lora_A" in key else (value.shape[0], 4))
    assert max(v.abs().max().item() for k, v in saved.items() if "lora_B" in k) > 0  # trained (B starts at zero)
    # the validation render (every process renders; the blocks gather their shards) is DDP's, byte for byte
    render = Path("checkpoints") / "validation" / "step-000004.mp4"
    assert (fsdp / render).read_bytes() == (ddp / render).read_bytes()
    from generator.lora import apply_loras

    pipe = load_m2v_pipeline(str(ensure_tiny_model() / "i2v"), dtype="float32", offload="none", device="cpu")
    assert apply_loras(pipe, [(str(fsdp), 1.0)]).adapters == {"transformer": ["lora0_fsdp"], "transformer_2": []}
    # sharded checkpoints do not resume unsharded: one line, nothing written
    before = sorted(p.relative_to(fsdp) for p in fsdp.rglob("*"))
    same = ["--rank", "4", "--workers", "0", "--checkpoint-every", "2", "--max-memory", "2", *args, "--steps", "6"]
    assert main(["train", str(data), "--out", str(fsdp), *same]) == 2
    assert "holds a run with different fsdp" in capsys.readouterr().err
    assert sorted(p.relative_to(fsdp) for p in fsdp.rglob("*")) == before


@pytest.mark.timeout(1200)  # two launches of two processes
def test_fsdp_resumes_a_checkpoint_taken_before_both_experts_stepped(data, tmp_path):
    out = tmp_path / "both"
    launch(data, out, "--steps", "2", "--expert", "both", "--validate-every", "0", fsdp=True)
    assert {h["expert"] for h in progress_of(out / "checkpoints" / "step-000002")["history"]} == {HIGH}  # low has no Adam step yet
    result = launch(data, out, "--steps", "3", "--expert", "both", "--validate-every", "0", fsdp=True)
    assert "resumed from step 2" in result.stdout and "trained 3 steps" in result.stdout
    assert sorted(p.name for p in out.glob("*.safetensors")) == ["high_noise_lora.safetensors", "low_noise_lora.safetensors"]


def test_fsdp_where_accelerate_would_run_ddp_is_refused_before_any_write(data, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["train", str(data), "--out", str(out), "--steps", "1", "--fsdp"]) == 2  # one process: accelerate would run DDP
    assert not out.exists()
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert lines[-1].startswith("storymem: error: FSDP needs `accelerate launch` on several GPUs"), lines[-3:]
