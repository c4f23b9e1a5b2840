"""Several GPUs on one shot: diffusers' context parallelism (Ulysses or ring) under torchrun.

The transformer's token sequence is (M + F) latent frames x h x w patches, memory frames first,
so memory tokens are split across ranks like any others. diffusers' Wan plan (`_cp_plan`) splits
the output of the module named `rope` along the same sequence axis as the hidden states, and
`MemoryRotaryPosEmbed` replaces that module under the same name with the same output layout
(1, tokens, 1, head_dim): each rank gets the cos/sin of exactly its own tokens, memory included.

Degree limits for Wan2.2-A14B (40 heads of 128): Ulysses splits heads, so its degree must divide
40 (2, 4, 5, 8, 10, 20, 40); both split the sequence, which at 480p is 1560 x (21 + M) tokens,
divisible by 2, 3, 4, 5, 6, 8, 10 and 12 for every M. Ring attention needs an attention backend that
returns log-sum-exp (flash, _native_cudnn, sage); PyTorch's default SDPA backend supports Ulysses only.
"""

from __future__ import annotations

import os

import torch

from generator.options import PARALLEL_MODES

#: Ring attention needs a backend that returns the log-sum-exp; this one ships with PyTorch.
RING_ATTENTION = "_native_cudnn"


class ParallelError(ValueError):
    """Context parallelism cannot run as asked; the message is one line saying how to fix it."""


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def broadcast_request(request):
    """Rank 0 sends a shot request (None: the story is over) to every rank; all return it."""
    import torch.distributed as dist

    box = [request]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def serve_shots(generator) -> int:
    """Ranks > 0 of a --parallel launch: run every shot rank 0 runs (each rank computes its share of
    every attention, so all must call the transformer together) until rank 0 says the story is over.
    Nothing is written here; the story folder is rank 0's. Returns the number of shots served."""
    served = 0
    while (request := broadcast_request(None)) is not None:
        generator.generate(request)
        served += 1
    return served


def stop_followers() -> None:
    """Rank 0, at exit: tell the other ranks that no more shots come."""
    import torch.distributed as dist

    if dist.is_initialized():
        broadcast_request(None)


def check_parallel(mode: str, num_heads: int = 40) -> None:
    """Before any model loads: launched by torchrun with several ranks, one CUDA GPU each, and a
    degree the model's heads allow."""
    if mode not in PARALLEL_MODES:
        raise ParallelError(f"--parallel takes {' or '.join(PARALLEL_MODES)}, got {mode!r}")
    ranks = world_size()
    if ranks < 2:
        raise ParallelError(
            f"--parallel {mode} needs several processes: launch with `torchrun --nproc_per_node N -m director.frontends.cli make ...` (N GPUs)"
        )
    if mode == "ulysses" and num_heads % ranks:
        raise ParallelError(f"--parallel ulysses splits the {num_heads} attention heads: the process count must divide {num_heads}, got {ranks}")
    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if available < int(os.environ.get("LOCAL_WORLD_SIZE", ranks)):
        raise ParallelError(
            f"--parallel {mode} needs one CUDA GPU per torchrun process: {os.environ.get('LOCAL_WORLD_SIZE', ranks)} processes, {available} GPU(s) here"
        )


def context_parallel_config(mode: str, degree: int):
    from diffusers import ContextParallelConfig

    return ContextParallelConfig(ulysses_degree=degree) if mode == "ulysses" else ContextParallelConfig(ring_degree=degree)


def join_process_group() -> torch.device:
    """Join torchrun's process group (NCCL, once); returns this rank's GPU."""
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl")
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    torch.cuda.set_device(device)
    return device


def enable_context_parallel(pipe, mode: str) -> torch.device:
    """Shard both experts' attention over torchrun's ranks; returns this rank's GPU."""
    import torch.distributed as dist

    device = join_process_group()
    for name in ("transformer", "transformer_2"):
        model = getattr(pipe, name, None)
        if model is None:
            continue
        if mode == "ring" and model.attn_processors and _uses_default_attention(model):
            model.set_attention_backend(RING_ATTENTION)
        model.enable_parallelism(config=context_parallel_config(mode, dist.get_world_size()))
    return device


def _uses_default_attention(model) -> bool:
    processor = next(iter(model.attn_processors.values()))
    return getattr(processor, "_attention_backend", None) is None
