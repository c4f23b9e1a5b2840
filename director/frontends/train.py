"""`storymem train`: the command line of `director.api.train_lora` and `prepare_training_data`."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path
from typing import Any

EPILOG = """\
examples:
  storymem train prepare --synthetic 8 --out data/shapes
      8 groups of procedurally drawn clips (a shape with its own colours per group) and a manifest
  storymem train prepare my_videos/ --out data/mine --cache --model Wan-AI/Wan2.2-I2V-A14B-Diffusers
      a manifest of my_videos/<group>/<clip>.mp4 (captions in <clip>.txt beside each clip), and a
      cache of VAE latents and text embeddings: training then loads neither
  storymem train data/shapes --model tiny --steps 200 --out loras/shapes
      train a LoRA on the tiny random model (CPU, seconds per step)
  storymem make "..." --backend tiny --lora loras/shapes
      use it
  accelerate launch --multi_gpu --num_processes 8 -m director.frontends.cli train data/mine \\
      --model Wan-AI/Wan2.2-I2V-A14B-Diffusers --expert high --steps 20000 --out loras/mine-high
      several GPUs (DDP), one expert per run
  accelerate launch --multi_gpu --num_processes 8 -m director.frontends.cli train data/mine \\
      --model Wan-AI/Wan2.2-I2V-A14B-Diffusers --fsdp --expert both --steps 20000 --out loras/mine
      several GPUs with FSDP2: each expert sharded per transformer block (or `accelerate launch
      --use_fsdp --fsdp_version 2 ...` with your own FSDP config); the LoRA is gathered to save it.
      GPUs only: on CPU accelerate runs DDP, so --fsdp there stops with exit 2

DATA is a manifest (JSONL: {"clip": "clips/a.mp4", "group": "g1", "caption": "..."}, paths
relative to it), a folder holding manifest.jsonl, or a folder of group folders. Each step trains
one expert on its own timestep range, on a target clip with 1..--max-memory memory frames from
other clips of its group, MI2V half of the time. OUT gets the LoRA files, checkpoints/ and
validation renders; running the same command again resumes from the last checkpoint.
"""


def _defaults() -> dict[str, Any]:
    from generator.train.config import TrainConfig

    return {f.name: f.default for f in fields(TrainConfig) if f.name not in ("data", "out")}


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a size looks like 832x480, got {text!r}") from None
    return width, height


def add_parser(commands: Any) -> None:
    d = _defaults()
    parser = commands.add_parser(
        "train",
        help="train your own M2V LoRA (or `train prepare` a data set)",
        description="Train a memory-to-video LoRA on Wan experts: `storymem train DATA --out LORA_DIR`, or make a data "
        "set first with `storymem train prepare VIDEOS --out DATA` / `--synthetic N --out DATA`.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("data", metavar="DATA", help="the data set, or the word `prepare` to make one")
    parser.add_argument("videos", nargs="?", metavar="VIDEOS", help="for prepare: a folder of group folders of videos")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="the LoRA folder (train) or data folder (prepare)")
    parser.add_argument("--size", type=_size, metavar="WxH", help="video size (default: the model's, tiny 64x48, Wan 832x480)")
    parser.add_argument("--frames", type=int, metavar="N", help="frames per clip, 4k+1 (default: the model's, tiny 17, Wan 81)")
    parser.add_argument("--seed", type=int, default=d["seed"], help="data order, noise and LoRA initialisation (prepare: the drawing)")

    prepare = parser.add_argument_group("prepare")
    prepare.add_argument("--synthetic", type=int, metavar="N", help="draw N clip groups instead of reading VIDEOS")
    prepare.add_argument("--clips-per-group", type=int, default=3, metavar="N", help="clips per synthetic group (default 3)")
    prepare.add_argument("--cache", action="store_true", help="also encode VAE latents and text embeddings with --model, so training loads neither")

    train = parser.add_argument_group("training")
    train.add_argument("--model", default=d["model"], metavar="NAME", help="tiny, a local diffusers Wan I2V folder or a hub id (Wan2.2-I2V-A14B: two experts; Wan2.1-I2V-14B: one)")
    train.add_argument("--steps", type=int, default=d["steps"], help=f"optimiser steps (default {d['steps']})")
    train.add_argument("--expert", default=d["expert"], choices=("high", "low", "both"), help="which expert(s) to train, each on its own timestep range (default both)")
    train.add_argument("--rank", type=int, default=d["rank"], help=f"LoRA rank (default {d['rank']}, the paper's)")
    train.add_argument("--alpha", type=float, default=d["alpha"], help="LoRA alpha (default: the rank)")
    train.add_argument("--no-rslora", dest="rslora", action="store_false", help="scale alpha/rank instead of rsLoRA's alpha/sqrt(rank)")
    train.add_argument("--target-modules", type=lambda s: tuple(s.split(",")), default=d["target_modules"], metavar="A,B",
                       help="modules to adapt (default: attn1/attn2 to_q,to_k,to_v,to_out.0, ffn.net.0.proj, ffn.net.2)")
    train.add_argument("--learning-rate", type=float, default=d["learning_rate"], help=f"AdamW learning rate (default {d['learning_rate']}; the paper used 1e-5 over 20K steps)")
    train.add_argument("--warmup-steps", type=int, default=d["warmup_steps"], help="linear warm-up steps")
    train.add_argument("--gradient-accumulation", type=int, default=d["gradient_accumulation"], metavar="N", help="micro-batches per optimiser step")
    train.add_argument("--no-gradient-checkpointing", dest="gradient_checkpointing", action="store_false", help="faster, more memory")
    train.add_argument("--max-memory", type=int, default=d["max_memory"], metavar="M", help="memory frames per sample are drawn from 1..M (default 10)")
    train.add_argument("--mi2v-probability", type=float, default=d["mi2v_probability"], metavar="P", help="share of MI2V samples (default 0.5)")
    train.add_argument("--caption-dropout", type=float, default=d["caption_dropout"], metavar="P", help="share of empty captions (default 0.1)")
    train.add_argument("--shift", type=float, default=d["shift"], help="timestep shift (default: the model's M2V sampling shift, 4.0)")
    train.add_argument("--checkpoint-every", type=int, default=d["checkpoint_every"], metavar="K", help=f"steps between checkpoints (default {d['checkpoint_every']})")
    train.add_argument("--keep-checkpoints", type=int, default=d["keep_checkpoints"], metavar="N", help="newest checkpoints kept")
    train.add_argument("--validate-every", type=int, default=d["validate_every"], metavar="K", help="steps between validation renders, 0 for none")
    train.add_argument("--validation-steps", type=int, default=d["validation_steps"], metavar="N", help="sampling steps of a validation render")
    train.add_argument("--no-cache", dest="use_cache", action="store_false", help="read the videos even when DATA has a latent cache")
    train.add_argument("--fsdp", action="store_true", help="shard the experts over the GPUs with FSDP2 (under accelerate launch on several GPUs)")
    train.add_argument("--workers", type=int, default=d["num_workers"], metavar="N", help="data loader processes (default 2)")


def run(args: argparse.Namespace) -> int:
    from director import api

    size = {"width": args.size[0], "height": args.size[1]} if args.size else {}
    frames = {"num_frames": args.frames} if args.frames else {}
    if args.data == "prepare":
        extra = {"seed": args.seed, "clips_per_group": args.clips_per_group} if args.synthetic else {}
        clips = api.prepare_training_data(args.out, args.videos, synthetic=args.synthetic, cache_model=args.model if args.cache else None,
                                          **size, **frames, **extra)
        groups = len({clip.group for clip in clips})
        cache = f", latent cache {args.out / 'cache'} ({args.model})" if args.cache else ""
        print(f"data: {args.out} ({len(clips)} clips in {groups} groups, manifest {args.out / 'manifest.jsonl'}{cache})")
        print(f"next: storymem train {args.out} --model tiny --steps 100 --out loras/<name>")
        return 0
    if args.videos is not None:
        raise api.UsageError(f"unexpected argument {args.videos!r}: `storymem train DATA --out DIR` takes one DATA")
    summary = api.train_lora(
        args.data, args.out, model=args.model, steps=args.steps, expert=args.expert, rank=args.rank, alpha=args.alpha,
        rslora=args.rslora, target_modules=args.target_modules, learning_rate=args.learning_rate,
        warmup_steps=args.warmup_steps, gradient_accumulation=args.gradient_accumulation,
        gradient_checkpointing=args.gradient_checkpointing, max_memory=args.max_memory,
        mi2v_probability=args.mi2v_probability, caption_dropout=args.caption_dropout, shift=args.shift,
        checkpoint_every=args.checkpoint_every, keep_checkpoints=args.keep_checkpoints, validate_every=args.validate_every,
        validation_steps=args.validation_steps, use_cache=args.use_cache, num_workers=args.workers, seed=args.seed, fsdp=args.fsdp, **size, **frames,
    )
    if summary.lora_files:  # the main process reports (under accelerate launch there are several)
        print(summary.describe())
        backend = "--backend tiny" if args.model == "tiny" else f"--backend wan --model {args.model}"
        print(f"use it: storymem make \"...\" {backend} --lora {args.out}")
    return 0
