"""LoRA training step: seconds per optimiser step and peak memory, with and without gradient checkpointing.

Tiny size on CPU: the trainer's whole step (pixels through the tiny VAE and text encoder, the
condition built as inference builds it, forward and backward through the LoRA'd tiny expert, AdamW),
M memory frames, 64x48, 17 frames. Peak memory is the process's peak RSS, so each setting runs
in a fresh process.
Full size on a CUDA GPU, when there is one: a Wan2.2-I2V-A14B expert with random weights in bf16
(as benchmarks/m2v_gpu.py builds it), the paper's LoRA (rank 128, rsLoRA, attention q/k/v/o and
both FFN linears of all 40 blocks), 480p, 81 frames (21 latent frames) + M memory frames, random
latents and text embeddings (no VAE or text encoder: what training from a latent cache costs).
Peak memory is torch's peak allocation.
Run: python benchmarks/train_step.py [--steps 5 --memory 10]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def lora_config(rank: int, checkpointing: bool):
    from generator.train.trainer import TrainConfig

    return TrainConfig(data="", out="", rank=rank, gradient_checkpointing=checkpointing)


def tiny_step(steps: int, num_memory: int, checkpointing: bool) -> dict:
    """The trainer's step at tiny size, on CPU."""
    from generator.models import load_m2v_pipeline
    from generator.tiny import TINY_FRAMES, TINY_HEIGHT, TINY_WIDTH, ensure_tiny_model
    from generator.train.objective import HIGH, encode_batch, sample_timestep, step_loss
    from generator.train.trainer import add_lora

    torch.manual_seed(0)
    pipe = load_m2v_pipeline(str(ensure_tiny_model() / "i2v"), dtype="float32", offload="none", device="cpu")
    model = pipe.transformer
    add_lora(model, lora_config(16, checkpointing))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    rng = np.random.default_rng(0)
    times = []
    for step in range(steps + 1):  # the first step warms up
        target = rng.integers(0, 256, (TINY_FRAMES, TINY_HEIGHT, TINY_WIDTH, 3), dtype=np.uint8)
        memory = [rng.integers(0, 256, (TINY_HEIGHT, TINY_WIDTH, 3), dtype=np.uint8) for _ in range(num_memory)]
        generator = torch.Generator().manual_seed(step)
        start = time.perf_counter()
        batch = encode_batch(pipe, target, memory, [target[0]], "a red circle moving left", torch.device("cpu"), torch.float32)
        loss = step_loss(lambda **kw: model(**kw), model, batch, sample_timestep(HIGH, 0.9, 4.0, generator), generator)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if step:
            times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    return {"seconds": float(np.median(times)), "peak_gib": peak, "threads": torch.get_num_threads()}


def full_step(steps: int, num_memory: int, checkpointing: bool) -> dict:
    """A full-size A14B expert's LoRA step on CUDA, random weights and inputs."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from m2v_gpu import FRAMES, HEIGHT, TEXT_TOKENS, WIDTH, build_transformer

    from generator.train.objective import HIGH, Batch, sample_timestep, step_loss
    from generator.train.trainer import add_lora

    device = torch.device("cuda")
    model = build_transformer(device)
    add_lora(model, lora_config(128, checkpointing))
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-5)
    frames = (FRAMES - 1) // 4 + 1 + num_memory
    g = torch.Generator(device=device).manual_seed(0)
    condition = torch.randn(1, 20, frames, HEIGHT // 8, WIDTH // 8, generator=g, device=device).to(torch.bfloat16)
    batch = Batch(x0=torch.randn(1, 16, frames, HEIGHT // 8, WIDTH // 8, generator=g, device=device), condition=condition,
                  prompt_embeds=torch.randn(1, TEXT_TOKENS, 4096, generator=g, device=device).to(torch.bfloat16),
                  image_embeds=None, num_memory=num_memory)
    torch.cuda.reset_peak_memory_stats(device)
    times = []
    for step in range(steps + 1):
        generator = torch.Generator().manual_seed(step)
        torch.cuda.synchronize(device)
        start = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = step_loss(lambda **kw: model(**kw), model, batch, sample_timestep(HIGH, 0.9, 4.0, generator), generator)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        torch.cuda.synchronize(device)
        if step:
            times.append(time.perf_counter() - start)
    return {"seconds": float(np.median(times)), "peak_gib": torch.cuda.max_memory_allocated(device) / 2**30,
            "device": torch.cuda.get_device_name(device), "lora_params_m": sum(p.numel() for p in trainable) / 1e6}


def measure(size: str, steps: int, num_memory: int, checkpointing: bool) -> dict:
    """One setting in a fresh process (so peak memory is its own); an out-of-memory is a result."""
    command = [sys.executable, __file__, "--one", size, "--steps", str(steps), "--memory", str(num_memory),
               "--checkpointing", "on" if checkpointing else "off"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode or not lines:
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": "out of memory" if "OutOfMemory" in result.stderr else tail[:160]}
    return json.loads(lines[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per setting (after one warm-up step)")
    parser.add_argument("--memory", type=int, default=None, help="memory frames (default: 3 tiny, 10 full)")
    parser.add_argument("--one", choices=("tiny", "full"), help=argparse.SUPPRESS)
    parser.add_argument("--checkpointing", choices=("on", "off"), default="on", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run = tiny_step if args.one == "tiny" else full_step
        memory = args.memory if args.memory is not None else (3 if args.one == "tiny" else 10)
        print(json.dumps(run(args.steps, memory, args.checkpointing == "on")))
        return 0

    sizes = ["tiny"] + (["full"] if torch.cuda.is_available() else [])
    print(f"{'size':<5} {'device':<26} {'M':>3} {'checkpointing':>13} {'s/step':>8} {'peak GiB':>9}")
    for size in sizes:
        memory = args.memory if args.memory is not None else (3 if size == "tiny" else 10)
        for checkpointing in (True, False):
            r = measure(size, args.steps, memory, checkpointing)
            device = r.get("device", f"cpu ({r.get('threads', '?')} threads)")
            if "error" in r:
                print(f"{size:<5} {device:<26} {memory:>3} {'on' if checkpointing else 'off':>13} {r['error']}")
                continue
            print(f"{size:<5} {device:<26} {memory:>3} {'on' if checkpointing else 'off':>13} {r['seconds']:>8.3f} {r['peak_gib']:>9.2f}")
    if "full" not in sizes:
        print("full size: needs a CUDA GPU (Wan2.2-I2V-A14B expert, random weights); not measured here.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
