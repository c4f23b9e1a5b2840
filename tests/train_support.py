"""What the training tests share: the synthetic data they train on, the trainer's progress record,
and one torch thread per process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from director.frontends.cli import main

ROOT = Path(__file__).resolve().parents[1]


def progress_of(checkpoint: Path) -> dict:
    """The trainer's progress record as accelerate saved it in a checkpoint."""
    return torch.load(checkpoint / "custom_checkpoint_0.pkl", weights_only=False)


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Two shared cores: one torch thread per process is several times faster than two here."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def synthetic_data(tmp_path_factory) -> Path:
    """Two synthetic groups of two clips each (17 frames at 64x48), made through the CLI."""
    out = tmp_path_factory.mktemp("train") / "data"
    assert main(["train", "prepare", "--synthetic", "2", "--clips-per-group", "2", "--out", str(out)]) == 0
    return out
