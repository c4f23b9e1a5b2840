"""Options of a LoRA training run, as data (the CLI's `storymem train` flags map onto them).

Kept free of heavy imports: the command line reads the defaults for its help on every start.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The paper's LoRA targets: self and cross attention q/k/v/o and both FFN linears of every block.
DEFAULT_TARGETS = ("attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0",
                   "attn2.to_q", "attn2.to_k", "attn2.to_v", "attn2.to_out.0", "ffn.net.0.proj", "ffn.net.2")
EXPERT_CHOICES = ("high", "low", "both")


class TrainInputError(ValueError):
    """Training input a user can fix (no clips, a missing or unreadable video, bad options)."""


@dataclass
class TrainConfig:
    """Every option of a training run (the CLI's flags map onto these)."""

    data: str
    out: str
    model: str = "tiny"
    steps: int = 1000
    expert: str = "both"
    rank: int = 128
    alpha: float | None = None  # None: alpha = rank (with rsLoRA: scale sqrt(rank), as the paper's)
    rslora: bool = True
    target_modules: tuple[str, ...] = DEFAULT_TARGETS
    learning_rate: float = 1e-4
    warmup_steps: int = 0
    gradient_accumulation: int = 1
    gradient_checkpointing: bool = True
    max_grad_norm: float = 1.0
    width: int | None = None  # None: the model's default size (tiny 64x48x17, Wan 832x480x81)
    height: int | None = None
    num_frames: int | None = None
    max_memory: int = 10
    mi2v_probability: float = 0.5
    caption_dropout: float = 0.1
    shift: float | None = None  # None: the model's M2V sampling shift
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    validate_every: int = 500  # 0: no validation renders
    validation_steps: int = 20
    eval_samples: int = 4
    num_workers: int = 2
    use_cache: bool = True  # train from the data set's latent cache when it has one
    seed: int = 0
    fsdp: bool = False  # shard the experts with FSDP2 (accelerate launch on several GPUs)

    def check(self) -> None:
        if self.expert not in EXPERT_CHOICES:
            raise TrainInputError(f"unknown --expert '{self.expert}'; choose one of: {', '.join(EXPERT_CHOICES)}")
        for name in ("steps", "rank", "gradient_accumulation", "checkpoint_every", "keep_checkpoints", "validation_steps"):
            if getattr(self, name) < 1:
                raise TrainInputError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("warmup_steps", "validate_every", "eval_samples", "num_workers"):
            if getattr(self, name) < 0:
                raise TrainInputError(f"--{name.replace('_', '-').replace('num-workers', 'workers')} must be 0 or more, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise TrainInputError(f"--learning-rate must be positive, got {self.learning_rate}")
