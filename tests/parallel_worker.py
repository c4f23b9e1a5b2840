"""One rank of the context-parallel test (tests/test_parallel.py), launched once by torchrun with gloo.

For Ulysses, then ring: runs a tiny M2V shot with memory on one process, then the same shot with
diffusers' context parallelism on both experts, and saves what it saw: outputs, the rotary cos each
rank's attention got, and the errors diffusers raised on this CPU-only host. Then rank 0 sends shot
requests to rank 1 (`follow`).
"""

import sys
from dataclasses import replace

import numpy as np
import torch
import torch.distributed as dist

from generator.models import load_m2v_pipeline
from generator.parallel import context_parallel_config
from generator.speed import PUBLISHED


def main(folder: str, mode: str, out: str) -> None:
    rank = dist.get_rank()
    pipe = load_m2v_pipeline(folder, dtype="float32", offload="none", device="cpu", sampler=replace(PUBLISHED, steps=3))
    memory = [np.random.RandomState(m).randint(0, 256, (48, 64, 3), dtype=np.uint8) for m in range(2)]

    def shot():
        return pipe("a fox", memory=memory, height=48, width=64, num_frames=9, num_inference_steps=3,
                    generator=torch.Generator().manual_seed(1), output_type="latent").frames

    seen = {}

    def grab(module, args):  # Wan's block calls attn1(hidden_states, None, None, rotary_emb)
        seen.setdefault("tokens", args[0].shape[1])
        seen.setdefault("cos", args[3][0].clone())

    single = shot()
    full_rope = pipe.transformer.rope(torch.zeros(1, 36, 5, 6, 8))[0]  # 2 memory + 3 video latent frames
    errors = {}
    try:  # diffusers 0.42.1 picks the rank's device as rank % accelerator count: 0 on a CPU-only host
        pipe.transformer.enable_parallelism(config=context_parallel_config(mode, 2))
    except ZeroDivisionError as error:
        errors["enable"] = f"ZeroDivisionError: {error}"
    device_count, torch.accelerator.device_count = torch.accelerator.device_count, lambda: 1  # the one change that lets it run on CPU with gloo
    for model in (pipe.transformer, pipe.transformer_2):
        model.enable_parallelism(config=context_parallel_config(mode, 2))
    pipe.transformer.blocks[0].attn1.register_forward_pre_hook(grab)
    try:
        parallel = shot()
    except ValueError as error:
        errors["run"] = str(error)
        parallel = None
    torch.accelerator.device_count = device_count  # the next mode meets diffusers' CPU limit afresh
    torch.save({"single": single, "parallel": parallel, "full_rope": full_rope, "errors": errors, **seen},
               f"{out}/{mode}-rank{rank}.pt")


def follow(out: str) -> None:
    """Rank 0 sends two shot requests and the end; rank 1 serves them with a recording generator."""
    from generator.base import ShotMode, ShotRequest
    from generator.parallel import broadcast_request, serve_shots, stop_followers

    memory = [np.full((48, 64, 3), 7, dtype=np.uint8)]
    requests = [ShotRequest("s1", "a fox", ShotMode.M2V, 1, memory=memory), ShotRequest("s2", "a hare", ShotMode.T2V, 2)]
    if dist.get_rank() == 0:
        for request in requests:
            broadcast_request(request)
        stop_followers()
        served = []
    else:
        class Recorder:
            def generate(self, request):
                served.append(request)
        served = []
        assert serve_shots(Recorder()) == 2
    torch.save([(r.shot_id, r.prompt, r.mode.value, r.seed, [m.tolist() for m in r.memory]) for r in served],
               f"{out}/follow{dist.get_rank()}.pt")


if __name__ == "__main__":  # FOLDER OUT: one launch for every check (each costs two processes' start)
    folder, out = sys.argv[1:]
    dist.init_process_group("gloo")
    for mode in ("ulysses", "ring"):
        main(folder, mode, out)
    follow(out)
    dist.destroy_process_group()
