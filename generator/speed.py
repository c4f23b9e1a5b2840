"""Speed presets: which sampler runs, and which diffusers feature cache skips transformer work.

A preset is data: `quality` is StoryMem's published sampler (40 UniPC flow steps, shift 4, CFG
3.5: 80 transformer passes a shot); `fast` is the lightx2v / Lightning step-distilled sampler (4
flow-matching Euler steps at the distillation's own sigmas and shift 5, CFG 1: 4 passes), which
needs the distillation LoRA on both experts; `balanced` is the published sampler with a first-block
feature cache. Caches are diffusers' own (`enable_cache`); their state is reset before every shot,
so no feature computed under one shot's memory is reused in another.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from diffusers import FirstBlockCacheConfig, FlowMatchEulerDiscreteScheduler, MagCacheConfig, TaylorSeerCacheConfig

from generator.options import CACHES
from generator.pipeline import DEFAULT_GUIDANCE, DEFAULT_STEPS, M2V_SHIFT, flow_unipc_scheduler



@dataclass(frozen=True)
class Sampler:
    """How a shot is sampled. `sigmas` (before the shift) fix a distilled model's own schedule."""

    steps: int
    guidance: float
    shift: float
    solver: str = "unipc"  # "unipc" (UniPC flow, as Wan publishes) or "euler" (flow-matching Euler)
    sigmas: tuple[float, ...] | None = None

    @property
    def passes_per_step(self) -> int:
        return 2 if self.guidance > 1.0 else 1

    def scheduler(self, base=None):
        if self.solver == "euler":
            return FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=self.shift)
        return flow_unipc_scheduler(self.shift, base)

    def timesteps(self) -> list[float]:
        """The timesteps this sampler visits (the experts switch at boundary_ratio x 1000)."""
        scheduler = self.scheduler()
        if self.sigmas is not None:
            scheduler.set_timesteps(sigmas=list(self.sigmas))
        else:
            scheduler.set_timesteps(self.steps)
        return [float(t) for t in scheduler.timesteps]

    def describe(self) -> str:
        cfg = f"CFG {self.guidance:g}" + (" (no unconditional pass)" if self.guidance <= 1.0 else "")
        return f"{self.steps} {self.solver} steps, shift {self.shift:g}, {cfg}, {self.steps * self.passes_per_step} transformer passes"


#: StoryMem's published sampler (design.md 2.3).
PUBLISHED = Sampler(DEFAULT_STEPS, DEFAULT_GUIDANCE, M2V_SHIFT)
#: lightx2v's Wan2.2-I2V-A14B 4-step distillation: timesteps 1000/750/500/250 shifted by 5, no CFG;
#: the experts switch after 2 steps (shifted t = 1000, 937.5 | 833.3, 625).
DISTILLED_4STEP = Sampler(4, 1.0, 5.0, solver="euler", sigmas=(1.0, 0.75, 0.5, 0.25))


@dataclass(frozen=True)
class SpeedPreset:
    sampler: Sampler
    cache: str = "none"
    needs_distill_lora: bool = False


SPEED_PRESETS = {
    "quality": SpeedPreset(PUBLISHED),
    "balanced": SpeedPreset(PUBLISHED, cache="first-block"),
    "fast": SpeedPreset(DISTILLED_4STEP, needs_distill_lora=True),
}


#: diffusers' own defaults.
DEFAULT_THRESHOLDS = {"first-block": 0.05, "mag": 0.06}


@dataclass(frozen=True)
class CacheSpec:
    """A diffusers feature cache. `threshold` is FirstBlockCache's / MagCache's (0 never skips);
    `interval` is TaylorSeer's refresh interval (1 computes every step); MagCache needs `mag_ratios`
    per expert, calibrated for the checkpoint and sampler (diffusers' `MagCacheConfig(calibrate=True)`)."""

    name: str = "none"
    threshold: float | None = None
    interval: int | None = None
    mag_ratios: dict[str, list[float]] = field(default_factory=dict)

    def config(self, expert: str, expert_steps: int):
        if self.name == "first-block":
            return FirstBlockCacheConfig(threshold=DEFAULT_THRESHOLDS["first-block"] if self.threshold is None else self.threshold)
        if self.name == "mag":
            ratios = self.mag_ratios.get(expert)
            if not ratios:
                raise ValueError(f"--cache mag needs calibrated ratios for {expert} (--mag-ratios FILE)")
            return MagCacheConfig(threshold=DEFAULT_THRESHOLDS["mag"] if self.threshold is None else self.threshold,
                                  num_inference_steps=expert_steps, mag_ratios=list(ratios))
        if self.name == "taylorseer":
            # Lite mode: blocks are skipped and the output projection predicted (diffusers' default
            # patterns look for modules named "...attn", which Wan's attn1 / attn2 are not).
            return TaylorSeerCacheConfig(cache_interval=5 if self.interval is None else self.interval,
                                         disable_cache_before_step=3, taylor_factors_dtype=torch.float32,
                                         use_lite_mode=True)
        raise ValueError(f"unknown cache {self.name!r}; choose one of: {', '.join(CACHES)}")

    def describe(self) -> str:
        if self.name == "none":
            return "no feature cache"
        if self.name == "taylorseer":
            knob = f"interval {self.interval or 5}"
        else:
            knob = f"threshold {self.threshold if self.threshold is not None else DEFAULT_THRESHOLDS[self.name]:g}"
        return f"diffusers {self.name} cache ({knob}) on both experts, emptied before every shot"


def read_mag_ratios(path: str | Path) -> dict[str, list[float]]:
    """A JSON file {"transformer": [...], "transformer_2": [...]} of MagCache ratios."""
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or not all(isinstance(v, list) and v for v in data.values()):
        raise ValueError(f"{path}: expected {{\"transformer\": [ratios...], \"transformer_2\": [...]}}")
    return {k: [float(x) for x in v] for k, v in data.items()}


def expert_steps(sampler: Sampler, boundary_ratio: float | None, experts: Sequence[str]) -> dict[str, int]:
    """How many of the sampler's steps each expert runs (MagCache counts steps per expert)."""
    timesteps = sampler.timesteps()
    if boundary_ratio is None or len(experts) == 1:
        return {experts[0]: len(timesteps)}
    high = sum(t >= boundary_ratio * 1000 for t in timesteps)
    return {"transformer": high, "transformer_2": len(timesteps) - high}


def enable_cache(pipe, cache: CacheSpec, sampler: Sampler) -> None:
    """Put the cache on every expert (each keeps its own state, per CFG branch)."""
    if cache.name == "none":
        return
    experts = [name for name in ("transformer", "transformer_2") if getattr(pipe, name, None) is not None]
    counts = expert_steps(sampler, pipe.config.boundary_ratio, experts)
    for name in experts:
        getattr(pipe, name).enable_cache(cache.config(name, counts[name]))
