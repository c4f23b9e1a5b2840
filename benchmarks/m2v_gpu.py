"""Full-size Wan2.2-I2V-A14B expert: seconds per denoising step and peak memory, M=0 vs M=10.

Random weights (no download): the architecture is built on the meta device and materialised in
bfloat16 on CUDA, with diffusers' float32 modules (rope, time embedder, norms) kept float32 as
`from_pretrained` keeps them. 480p, 81 frames (21 latent frames), CFG (two calls per step).
Run: python benchmarks/m2v_gpu.py [--steps 3 --attention flash]
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

# Wan2.2-I2V-A14B transformer (each expert), as in its diffusers config.
A14B_I2V = dict(
    patch_size=(1, 2, 2), num_attention_heads=40, attention_head_dim=128, in_channels=36, out_channels=16,
    text_dim=4096, freq_dim=256, ffn_dim=13824, num_layers=40, cross_attn_norm=True,
    qk_norm="rms_norm_across_heads", eps=1e-6, image_dim=None, added_kv_proj_dim=None, rope_max_seq_len=1024,
)
HEIGHT, WIDTH, FRAMES, TEXT_TOKENS = 480, 832, 81, 512


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


def time_steps(model, num_memory: int, steps: int, device: torch.device) -> tuple[float, float]:
    from generator.rope import set_memory_frames

    latent_frames = (FRAMES - 1) // 4 + 1 + num_memory
    g = torch.Generator(device=device).manual_seed(0)
    hidden = torch.randn(1, 36, latent_frames, HEIGHT // 8, WIDTH // 8, generator=g, device=device,
                         dtype=torch.bfloat16)
    text = torch.randn(1, TEXT_TOKENS, 4096, generator=g, device=device, dtype=torch.bfloat16)
    negative = torch.randn(1, TEXT_TOKENS, 4096, generator=g, device=device, dtype=torch.bfloat16)
    set_memory_frames(model, num_memory)
    torch.cuda.reset_peak_memory_stats(device)
    times = []
    with torch.inference_mode():
        for step in range(steps + 1):  # first step is warm-up
            t = torch.tensor([999 - step * 25], device=device)
            torch.cuda.synchronize(device)
            start = time.perf_counter()
            for embeds in (text, negative):
                model(hidden_states=hidden, timestep=t, encoder_hidden_states=embeds, return_dict=False)
            torch.cuda.synchronize(device)
            if step:
                times.append(time.perf_counter() - start)
    return sum(times) / len(times), torch.cuda.max_memory_allocated(device) / 2**30


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--attention", default=None, help="diffusers attention backend, e.g. flash, _native_cudnn")
    parser.add_argument("--memory", type=int, nargs="+", default=[0, 10])
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("m2v_gpu: needs a CUDA GPU (full-size Wan2.2-I2V-A14B expert); skipped.")
        return 0

    device = torch.device("cuda")
    start = time.perf_counter()
    model = build_transformer(device)
    if args.attention:
        model.set_attention_backend(args.attention)
    params = sum(p.numel() for p in model.parameters()) / 1e9
    print(f"{torch.cuda.get_device_name(device)}: A14B expert {params:.2f}B params, bf16, built in "
          f"{time.perf_counter() - start:.0f}s; {WIDTH}x{HEIGHT}, {FRAMES} frames, CFG, {args.steps} timed steps")
    print(f"{'M':>3} {'tokens':>7} {'s/step':>8} {'ratio':>6} {'peak GiB':>9}")
    base = None
    for num_memory in args.memory:
        seconds, peak = time_steps(model, num_memory, args.steps, device)
        tokens = ((FRAMES - 1) // 4 + 1 + num_memory) * (HEIGHT // 16) * (WIDTH // 16)
        base = base or seconds
        print(f"{num_memory:>3} {tokens:>7} {seconds:>8.2f} {seconds / base:>6.2f} {peak:>9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
