"""Train the toy M2V model from nothing (VAE, then transformer) and print its figures.

    python benchmarks/train_toy.py --out DIR [--seed 0] [--vae-steps N] [--steps N] ...   (--help: every knob)

Writes DIR/toy.safetensors and DIR/toy.json (command, seed, checksum, losses, wall and CPU
seconds). The shipped weights (generator/toy_weights/) were made by the command their JSON names.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import fields
from pathlib import Path

from generator.train.toy import ToyTrainConfig, train_toy


def main(argv: list[str] | None = None) -> int:
    defaults = ToyTrainConfig()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="The defaults are the shipped weights' recipe (14-17 minutes on a 2-core machine; --processes 1: about 21).")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="where toy.safetensors and toy.json go")
    for f in fields(ToyTrainConfig):
        default = getattr(defaults, f.name)
        parser.add_argument("--" + f.name.replace("_", "-"), type=type(default), default=default, metavar=type(default).__name__.upper(),
                            help=f"{f.metadata['help']} (default: {default})")
    args = parser.parse_args(argv)
    config = ToyTrainConfig(**{f.name: getattr(args, f.name) for f in fields(ToyTrainConfig)})
    if problem := config.problem():  # before anything is written
        parser.error(problem)
    started = time.perf_counter()
    result = train_toy(config, args.out, report=lambda line: print(f"[{time.perf_counter() - started:7.1f}s] {line}", flush=True))
    record_path = args.out / "toy.json"
    record = json.loads(record_path.read_text())
    record["command"] = "python benchmarks/train_toy.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    record_path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"weights: {args.out / 'toy.safetensors'} ({record['bytes'] / 1e6:.2f} MB, sha256 {record['sha256'][:16]}...)")
    print(f"vae loss {result.vae_loss[0]:.4f} -> {result.vae_loss[-1]:.4f}; transformer loss {result.loss[0]:.4f} -> {sum(result.loss[-50:]) / len(result.loss[-50:]):.4f} (last 50)")
    print("seconds (wall): " + ", ".join(f"{k} {v}" for k, v in result.seconds.items()))
    print("CPU seconds:    " + ", ".join(f"{k} {v}" for k, v in result.cpu_seconds.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
