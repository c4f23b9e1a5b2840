"""Seconds per transformer pass and per shot, and peak memory, per speed preset and VRAM tier, M=0 and 10.

On a CUDA GPU: a full-size Wan2.2-I2V-A14B expert with random bf16 weights (no download; built on
the meta device, float32 where from_pretrained keeps float32), 832x480, 81 frames. Each tier's
placement is applied to the expert (fp8 layerwise storage, group offload on a CUDA stream) and a
pass is timed; a shot's transformer time is passes x s/pass (computed from the measured pass,
VAE not included), the preset's passes being 80 (quality: 40 steps with CFG) or 4 (fast). Model
offload adds one expert transfer per switch, computed from the measured host-to-device bandwidth.
A feature cache's skip rate depends on real activations, so `balanced` is not timed on random
weights.

On CPU (no CUDA): the tiny model through the whole M2V pipeline (64x48, 17 frames), every preset
and tier measured end to end; peak VRAM does not apply. Tiny timings say how the code paths
compare, not what a GPU will do.

Run: python benchmarks/m2v_gpu.py [--steps 3 --attention flash]
     torchrun --nproc_per_node N benchmarks/m2v_gpu.py --parallel ulysses   (GPUs: context parallel)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import torch

# Wan2.2-I2V-A14B transformer (each expert), as in its diffusers config.
A14B_I2V = dict(
    patch_size=(1, 2, 2), num_attention_heads=40, attention_head_dim=128, in_channels=36, out_channels=16,
    text_dim=4096, freq_dim=256, ffn_dim=13824, num_layers=40, cross_attn_norm=True,
    qk_norm="rms_norm_across_heads", eps=1e-6, image_dim=None, added_kv_proj_dim=None, rope_max_seq_len=1024,
)
HEIGHT, WIDTH, FRAMES, TEXT_TOKENS = 480, 832, 81, 512
PRESET_PASSES = {"quality": 80, "fast": 4}  # published: 40 steps x CFG; distilled: 4 steps, no CFG
HEADER = f"{'preset':>8} {'tier':>4} {'M':>3} {'s/pass':>8} {'s/shot':>8} {'x quality':>9} {'peak GiB':>9}"


def build_transformer(device: torch.device):
    from diffusers import WanTransformer3DModel

    from generator.rope import install_memory_rope

    with torch.device("meta"):
        model = WanTransformer3DModel(**A14B_I2V)
    # Cast while still on meta: materialising float32 first would take 57 GB before the bf16 copy.
    model = model.to(torch.bfloat16).to_empty(device=device)
    keep_fp32 = set(model._keep_in_fp32_modules)
    with torch.no_grad():
        for name, param in model.named_parameters():
            # By parameter name, as from_pretrained does: catches `scale_shift_table`, which is no module.
            if keep_fp32 & set(name.split(".")):
                param.data = param.data.float()
            param.normal_(0.0, 0.02)
    install_memory_rope(model)  # fresh float32 rotary tables (meta buffers carry no values)
    return model.eval()


def time_passes(model, num_memory: int, passes: int, device: torch.device) -> tuple[float, float]:
    """Mean seconds per conditional pass (after one warm-up) and peak GiB allocated."""
    from generator.rope import set_memory_frames

    latent_frames = (FRAMES - 1) // 4 + 1 + num_memory
    g = torch.Generator(device=device).manual_seed(0)
    hidden = torch.randn(1, 36, latent_frames, HEIGHT // 8, WIDTH // 8, generator=g, device=device, dtype=torch.bfloat16)
    text = torch.randn(1, TEXT_TOKENS, 4096, generator=g, device=device, dtype=torch.bfloat16)
    set_memory_frames(model, num_memory)
    torch.cuda.reset_peak_memory_stats(device)
    times = []
    with torch.inference_mode():
        for step in range(passes + 1):
            torch.cuda.synchronize(device)
            start = time.perf_counter()
            model(hidden_states=hidden, timestep=torch.tensor([999 - step * 25], device=device),
                  encoder_hidden_states=text, return_dict=False)
            torch.cuda.synchronize(device)
            if step:
                times.append(time.perf_counter() - start)
    return sum(times) / len(times), torch.cuda.max_memory_allocated(device) / 2**30


def host_to_device_gib_s(device: torch.device) -> float:
    block = torch.empty(2**30, dtype=torch.uint8, pin_memory=True)
    torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(4):
        block.to(device, non_blocking=True)
    torch.cuda.synchronize(device)
    return 4 / (time.perf_counter() - start)


def gpu(args) -> None:
    from generator.models import TIER_PLACEMENTS

    device = torch.device("cuda", torch.cuda.current_device())
    if args.parallel:
        from generator.parallel import join_process_group

        device = join_process_group()
    start = time.perf_counter()
    model = build_transformer(device)
    if args.attention:
        model.set_attention_backend(args.attention)
    if args.parallel:
        from generator.parallel import enable_context_parallel

        enable_context_parallel(SimpleNamespace(transformer=model), args.parallel)
    bandwidth = host_to_device_gib_s(device)
    expert_gib = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**30
    print(f"{torch.cuda.get_device_name(device)}: A14B expert {expert_gib:.1f} GiB bf16, built in {time.perf_counter() - start:.0f}s; "
          f"{WIDTH}x{HEIGHT}, {FRAMES} frames, {args.steps} timed passes; host-to-device {bandwidth:.1f} GiB/s"
          + (f"; {args.parallel} over {torch.distributed.get_world_size()} GPUs" if args.parallel else ""))
    print("s/shot = passes x s/pass (computed from the measured pass; transformer only, VAE not included)")
    print(HEADER)
    quality: dict[int, float] = {}  # the published sampler, all on the GPU: the ratios' base
    tiers = ["80"] if args.parallel else list(TIER_PLACEMENTS)
    for tier in tiers:
        placement = TIER_PLACEMENTS[tier]
        if placement.fp8 and not getattr(model, "_fp8_on", False):
            model.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=torch.bfloat16)
            model._fp8_on = True
        if placement.offload == "group":
            model.to("cpu")
            model.enable_group_offload(onload_device=device, offload_device=torch.device("cpu"),
                                       offload_type="leaf_level", use_stream=True)
        swap = expert_gib / (2 if placement.fp8 else 1) / bandwidth if placement.offload == "model" else 0.0
        for num_memory in args.memory:
            seconds, peak = time_passes(model, num_memory, args.steps, device)
            for preset, passes in PRESET_PASSES.items():
                shot = passes * seconds + 2 * swap  # model offload: the two experts swap in once each a shot
                quality.setdefault(num_memory, shot)
                print(f"{preset:>8} {tier:>4} {num_memory:>3} {seconds:>8.2f} {shot:>8.1f} "
                      f"{shot / quality[num_memory]:>9.3f} {peak:>9.1f}")
    print(" balanced: a feature cache's skips depend on real activations; time it with real weights (make --speed balanced)")


def tiny_distill_lora(folder: Path) -> Path:
    """A random lightx2v-format LoRA at the tiny model's sizes, so `fast` runs with its LoRA as on GPU."""
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(0)
    state = {}
    for block in range(2):
        for name, (fan_in, fan_out) in {"self_attn.q": (24, 24), "self_attn.k": (24, 24), "self_attn.v": (24, 24),
                                        "self_attn.o": (24, 24), "cross_attn.q": (24, 24), "cross_attn.k": (24, 24),
                                        "cross_attn.v": (24, 24), "cross_attn.o": (24, 24), "ffn.0": (24, 32),
                                        "ffn.2": (32, 24)}.items():
            prefix = f"diffusion_model.blocks.{block}.{name}"
            state[f"{prefix}.lora_down.weight"] = 0.01 * torch.randn(4, fan_in, generator=g)
            state[f"{prefix}.lora_up.weight"] = 0.01 * torch.randn(fan_out, 4, generator=g)
            state[f"{prefix}.alpha"] = torch.tensor(4.0)
    path = folder / "tiny_distill.safetensors"
    save_file(state, str(path))
    return path


def cpu(args) -> None:
    import numpy as np

    from generator.base import ShotMode, ShotRequest
    from generator.models import TIER_PLACEMENTS
    from generator.speed import SPEED_PRESETS, CacheSpec
    from generator.wan import WanGenerator

    print(f"no CUDA GPU: tiny random Wan2.2 (2 blocks, 64x48, 17 frames) through the whole M2V pipeline on CPU, "
          f"{torch.get_num_threads()} threads, median of {args.repeats} shots; peak VRAM does not apply. Tiny timings "
          "compare code paths only.")
    print(HEADER)
    rng = np.random.RandomState(0)
    memory = [rng.randint(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(10)]
    folder = Path(tempfile.mkdtemp(prefix="m2v-bench-"))
    distill = tiny_distill_lora(folder)
    rows = [(preset, "80") for preset in SPEED_PRESETS] + [("fast", tier) for tier in list(TIER_PLACEMENTS)[1:]]
    quality: dict[int, float] = {}
    for preset_name, tier in rows:
        preset = SPEED_PRESETS[preset_name]
        sampler = preset.sampler if preset.sampler.sigmas is not None else replace(preset.sampler, steps=args.cpu_steps)
        loras = [(str(distill), 1.0)] if preset.needs_distill_lora else []
        gen = WanGenerator.tiny(steps=None, sampler=sampler, cache=CacheSpec(preset.cache), loras=loras,
                                offload=TIER_PLACEMENTS[tier])
        durations: list[float] = []
        for model in (gen.pipe.transformer, gen.pipe.transformer_2):
            model.register_forward_pre_hook(lambda *a: durations.append(-time.perf_counter()))
            model.register_forward_hook(lambda *a: durations.append(durations.pop() + time.perf_counter()))
        for index, num_memory in enumerate([args.memory[0]] + args.memory):
            request = ShotRequest("b", "a fox in the snow", ShotMode.M2V, 1, memory=memory[:num_memory],
                                  num_frames=gen.num_frames, width=gen.width, height=gen.height)
            shots, passes = [], []
            for _ in range(1 if index == 0 else args.repeats):
                durations.clear()
                start = time.perf_counter()
                gen.generate(request)
                shots.append(time.perf_counter() - start)
                passes.append(sum(durations) / len(durations))
            if index == 0:
                continue  # the first call warms up (prompt encode, memory latents, one-off allocations)
            shot, per_pass = statistics.median(shots), statistics.median(passes)
            quality.setdefault(num_memory, shot)
            print(f"{preset_name:>8} {tier:>4} {num_memory:>3} {per_pass:>8.4f} {shot:>8.3f} "
                  f"{shot / quality[num_memory]:>9.3f} {'n/a':>9}")
    print(f" quality and balanced at {args.cpu_steps} steps here (published: 40); fast: the distillation's 4. "
          "Tiers on CPU: 48 and 24 cannot offload by model (CUDA only); 24 and 16 store weights in fp8 (casting costs "
          "CPU time that a GPU hides); balanced's cache skips depend on real activations.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3, help="timed passes per configuration on GPU")
    parser.add_argument("--cpu-steps", type=int, default=10, help="published-sampler steps at tiny size on CPU")
    parser.add_argument("--repeats", type=int, default=5, help="shots per configuration on CPU (median reported)")
    parser.add_argument("--attention", default=None, help="diffusers attention backend, e.g. flash, _native_cudnn")
    parser.add_argument("--memory", type=int, nargs="+", default=[0, 10])
    parser.add_argument("--parallel", choices=("ulysses", "ring"), help="context parallel over torchrun's GPUs")
    args = parser.parse_args()
    if torch.cuda.is_available():
        gpu(args)
    elif args.parallel:
        print("m2v_gpu: --parallel needs CUDA GPUs (one per torchrun process); see tests/test_parallel.py for CPU")
        return 2
    else:
        cpu(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
