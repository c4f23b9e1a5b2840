"""The M2V LoRA trainer: peft adapters on the Wan experts, trained with accelerate.

One process or many (`accelerate launch`: DDP, or FSDP2 with `--fsdp` / an accelerate FSDP config,
which shards each expert per `WanTransformerBlock`; see `make_accelerator`). Each optimiser step
trains one expert on its own timestep range (`generator.train.objective`);
the LoRA of each trained expert is saved in the format `generator.lora` loads, so
`storymem make --lora OUT` uses the result.

The output folder holds the LoRA files, `train_config.json`, and `checkpoints/step-N/` (accelerate's
`save_state`: optimiser, scheduler, RNG states and the progress, plus the LoRA at that step), with
validation renders beside them in `checkpoints/validation/` (not with a latent cache: the VAE is
not loaded then). Running the same command again resumes
from the newest complete checkpoint: same step count, optimiser state and data order.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs, DistributedType, FullyShardedDataParallelPlugin, gather_object, set_seed
from diffusers.optimization import get_scheduler
from diffusers.training_utils import cast_training_params
from peft import LoraConfig, get_peft_model_state_dict, set_peft_model_state_dict
from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict
from torch.distributed.tensor import DTensor
from tqdm import tqdm

from generator.lora import HIGH_NOISE_FILE, LOW_NOISE_FILE, save_lora
from generator.models import ModelNotFoundError, load_m2v_pipeline, resolve_model
from generator.pipeline import WanM2VPipeline
from generator.train.cache import CachedSamples, LatentSample, build_cache, find_cache
from generator.train.config import TrainConfig, TrainInputError
from generator.train.data import ClipSamples, SampleOptions, VideoReader, first_item, load_clips, validation_memory
from generator.train.objective import HIGH, LOW, Batch, cached_batch, choose_expert, encode_batch, sample_timestep, step_loss

ADAPTER = "storymem"
SINGLE_FILE = "lora.safetensors"
#: Options that must match for a rerun on the same output folder to resume it.
RESUME_KEYS = ("data", "model", "expert", "rank", "alpha", "rslora", "target_modules", "gradient_accumulation",
               "width", "height", "num_frames", "max_memory", "mi2v_probability", "caption_dropout", "seed", "shift", "fsdp")

VideoWriter = Callable[[np.ndarray, int, Path], None]


@dataclass
class TrainSummary:
    out: Path
    steps: int
    resumed_from: int
    loss: float | None  # mean loss of the last optimiser step
    first_loss: float | None
    eval_loss_start: float | None  # loss on fixed samples, noise and timesteps, before and after this run
    eval_loss_end: float | None
    seconds: float
    steps_run: int
    lora_files: list[Path]
    skipped: dict[str, int] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)  # per step: loss, expert, sample indices
    processes: str = "1 process"  # how many and how they were joined (accelerate's distributed type)
    cached: bool = False  # trained from the latent cache (no VAE, no text encoder, no validation renders)

    def describe(self) -> str:
        rate = self.steps_run / self.seconds if self.seconds > 0 else 0.0
        lines = [f"trained {self.steps} steps ({self.steps_run} in this run on {self.processes}, {rate:.3f} steps/s), loss={_fmt(self.loss)} "
                 f"(first step {_fmt(self.first_loss)}); fixed-sample loss {_fmt(self.eval_loss_start)} -> {_fmt(self.eval_loss_end)}"]
        if self.cached:
            lines.append("data: the latent cache (VAE and text encoder not loaded; no validation renders)")
        if self.resumed_from:
            lines.append(f"resumed from step {self.resumed_from}")
        if self.skipped:
            names = ", ".join(f"{k} ({v}x)" for k, v in sorted(self.skipped.items()))
            lines.append(f"skipped {sum(self.skipped.values())} clip read(s) that failed to decode: {names}")
        lines.append("lora: " + ", ".join(str(p) for p in self.lora_files))
        return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


class Progress:
    """The run's position and history, saved in every checkpoint (accelerate's custom state)."""

    def __init__(self):
        self.step = 0
        self.history: list[dict[str, Any]] = []  # per optimiser step: loss, expert, samples seen
        self.skipped: dict[str, int] = {}

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "history": self.history, "skipped": self.skipped}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step, self.history, self.skipped = state["step"], state["history"], state["skipped"]


class Experts(torch.nn.Module):
    """The trained experts as one module, so accelerate wraps (DDP/FSDP) and checkpoints them together."""

    def __init__(self, experts: dict[str, torch.nn.Module]):
        super().__init__()
        self.experts = torch.nn.ModuleDict(experts)

    def forward(self, expert: str, **kwargs: Any) -> Any:
        return self.experts[expert](**kwargs)


def default_size(model: str) -> tuple[int, int, int]:
    if model == "tiny":
        from generator.tiny import TINY_FRAMES, TINY_HEIGHT, TINY_WIDTH

        return TINY_WIDTH, TINY_HEIGHT, TINY_FRAMES
    return 832, 480, 81


def make_accelerator(config: TrainConfig) -> Accelerator:
    """accelerate's Accelerator for this run. `config.fsdp` (or `accelerate launch --use_fsdp` / an
    accelerate FSDP config) shards the experts with FSDP2: one unit per `WanTransformerBlock` and the
    rest in the root, frozen base and float32 LoRA parameters side by side (FSDP2 only asks the
    trainable ones to share a dtype). accelerate 1.15 applies FSDP only to accelerator devices: CPU
    processes are MULTI_CPU and `prepare` wraps them in DDP whatever the plugin, so FSDP asked for on
    CPU (or in one process) is refused rather than silently run as DDP."""
    plugin = None
    if config.fsdp:
        plugin = FullyShardedDataParallelPlugin(fsdp_version=2, auto_wrap_policy="transformer_based_wrap",
                                                transformer_cls_names_to_wrap=["WanTransformerBlock"],
                                                state_dict_type="SHARDED_STATE_DICT", reshard_after_forward=True)
    wanted = config.fsdp or os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"
    accelerator = Accelerator(
        gradient_accumulation_steps=config.gradient_accumulation,
        mixed_precision="bf16" if torch.cuda.is_available() else "no",
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=config.expert == "both")],
        fsdp_plugin=plugin,
    )
    if wanted and accelerator.distributed_type != DistributedType.FSDP:
        raise TrainInputError(f"FSDP needs `accelerate launch` on several GPUs; this run is {accelerator.distributed_type.value} "
                              f"with {accelerator.num_processes} process(es), where accelerate 1.15 would use DDP instead")
    if wanted and accelerator.state.fsdp_plugin.fsdp_version != 2:
        raise TrainInputError("FSDP1 is not supported: set fsdp_version: 2 in the accelerate config, or pass --fsdp")
    return accelerator


def check_model(model: str) -> None:
    """A `--model` that cannot be found fails here, before anything is loaded or written."""
    if model == "tiny":
        return
    try:
        resolve_model(model)
    except ModelNotFoundError as error:
        raise TrainInputError(str(error)) from None


def load_pipeline(model: str, accelerator: Accelerator) -> WanM2VPipeline:
    """The M2V pipeline on this process's device: bf16 transformers on an accelerator, float32 on CPU."""
    dtype = "bfloat16" if accelerator.device.type == "cuda" else "float32"
    with accelerator.main_process_first():
        if model == "tiny":
            from generator.tiny import ensure_tiny_model

            model = str(ensure_tiny_model() / "i2v")
        try:
            return load_m2v_pipeline(model, dtype=dtype, offload="none", device=str(accelerator.device))
        except ModelNotFoundError as error:
            raise TrainInputError(str(error)) from None


def trained_experts(pipe: WanM2VPipeline, expert: str) -> list[str]:
    if pipe.transformer_2 is None or pipe.config.boundary_ratio is None:
        if expert == "low":
            raise TrainInputError("--expert low needs a two-expert model (Wan2.2-I2V-A14B); this one has one transformer")
        return [HIGH]
    return {"high": [HIGH], "low": [LOW], "both": [HIGH, LOW]}[expert]


def add_lora(model: torch.nn.Module, config: TrainConfig) -> None:
    """Freeze the expert, inject a trainable peft LoRA (float32 parameters) on the target modules."""
    model.requires_grad_(False)
    lora = LoraConfig(r=config.rank, lora_alpha=config.alpha if config.alpha is not None else config.rank,
                      use_rslora=config.rslora, target_modules=list(config.target_modules), init_lora_weights=True)
    model.add_adapter(lora, adapter_name=ADAPTER)
    cast_training_params(model, dtype=torch.float32)
    if config.gradient_checkpointing:
        model.enable_gradient_checkpointing()
    model.train()


def lora_filenames(pipe: WanM2VPipeline) -> dict[str, str]:
    if pipe.transformer_2 is None:
        return {HIGH: SINGLE_FILE}
    return {HIGH: HIGH_NOISE_FILE, LOW: LOW_NOISE_FILE}


def lora_state(transformer: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The expert's whole LoRA (peft's keys), also when FSDP2 shards it: each sharded tensor is
    all-gathered (`DTensor.full_tensor`, a collective: every process calls this, in the same order)."""
    state = get_peft_model_state_dict(transformer, adapter_name=ADAPTER)
    return {k: (v.full_tensor() if isinstance(v, DTensor) else v).detach().cpu() for k, v in state.items()}


def save_loras(pipe: WanM2VPipeline, experts: list[str], folder: Path, write: bool = True) -> list[Path]:
    """Each trained expert's adapter in `folder`, written beside and then renamed over (atomic per file).
    Every process calls it (under FSDP the LoRA is gathered from the shards); only `write` ones write."""
    states = {expert: lora_state(getattr(pipe, expert)) for expert in experts}
    if not write:
        return []
    names = lora_filenames(pipe)
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / ".saving"
    shutil.rmtree(staging, ignore_errors=True)
    paths = []
    for expert in experts:
        temp = save_lora(getattr(pipe, expert), staging / names[expert], ADAPTER, state=states[expert])
        os.replace(temp, folder / names[expert])
        paths.append(folder / names[expert])
    shutil.rmtree(staging, ignore_errors=True)
    return paths


@contextmanager
def unsharded(model: torch.nn.Module, sharded: bool) -> Iterator[None]:
    """Under FSDP2 the pipeline calls the experts directly, not through the wrapped root: gather the
    root's own parameters (patch and condition embedders, head) for the while; the blocks gather
    theirs in their own forward hooks, so every process must run the same calls."""
    if not sharded:
        yield
        return
    model.unshard()
    try:
        yield
    finally:
        model.reshard()


def checkpoints(out: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints (renamed into place after saving), oldest first."""
    found = []
    for path in (out / "checkpoints").glob("step-*"):
        if path.is_dir() and path.name[5:].isdigit():
            found.append((int(path.name[5:]), path))
    return sorted(found)


def _resume_config(out: Path, config: TrainConfig) -> None:
    """Write the run's options, or check that a rerun on the same folder has the same ones."""
    path = out / "train_config.json"
    current = {k: v for k, v in asdict(config).items() if k in RESUME_KEYS}
    current["target_modules"] = list(current["target_modules"])
    if path.is_file():
        saved = json.loads(path.read_text())
        changed = [k for k in RESUME_KEYS if saved.get(k) != current.get(k)]
        if changed and checkpoints(out):
            raise TrainInputError(f"{out} holds a run with different {', '.join(changed)}; use another --out or the same options")
    out.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(".train_config.json.tmp")
    temp.write_text(json.dumps(current, indent=2))
    os.replace(temp, path)


def train_lora(config: TrainConfig, read_video: VideoReader, write_video: VideoWriter, probe: Callable[[Path], int],
               fps: int = 16) -> TrainSummary:
    """Train (or resume) an M2V LoRA; see the module docstring. Bad input raises `TrainInputError`
    before any step and before the output folder is written."""
    started = time.perf_counter()
    config.check()
    check_model(config.model)
    width, height, num_frames = default_size(config.model)
    options = SampleOptions(
        width=config.width or width, height=config.height or height, num_frames=config.num_frames or num_frames,
        max_memory=config.max_memory, mi2v_probability=config.mi2v_probability, caption_dropout=config.caption_dropout,
        seed=config.seed,
    )
    clips = load_clips(config.data, probe=probe, min_frames=options.num_frames)
    cache = find_cache(Path(config.data), clips, config.model, options) if config.use_cache else None
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise TrainInputError(f"--out {out} is a file")

    accelerator = make_accelerator(config)
    set_seed(config.seed)  # the same LoRA initialisation on every process
    pipe = load_pipeline(config.model, accelerator)
    experts = trained_experts(pipe, config.expert)
    dtype = pipe.transformer.dtype
    for module in (pipe.text_encoder, pipe.vae, pipe.transformer, pipe.transformer_2):
        if module is not None:
            module.requires_grad_(False)
    for name in experts:
        add_lora(getattr(pipe, name), config)
    if cache is not None:
        if pipe.transformer.config.image_dim is not None:
            raise TrainInputError("a latent cache holds no CLIP image tokens: train this model with --no-cache")
        pipe.register_modules(text_encoder=None, vae=None)  # everything they would compute is in the cache
    boundary = pipe.config.boundary_ratio if pipe.transformer_2 is not None else None
    shift = config.shift if config.shift is not None else float(pipe.scheduler.config.flow_shift)

    if accelerator.is_main_process:  # sharded or not, as this launch runs: DDP and FSDP checkpoints differ
        _resume_config(out, replace(config, fsdp=accelerator.is_fsdp2))
    accelerator.wait_for_everyone()

    model = Experts({name: getattr(pipe, name) for name in experts})
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate)
    scheduler = get_scheduler("constant_with_warmup", optimizer, num_warmup_steps=config.warmup_steps * accelerator.num_processes,
                              num_training_steps=config.steps * accelerator.num_processes)
    length = config.steps * config.gradient_accumulation * accelerator.num_processes
    samples = CachedSamples(clips, options, length, cache) if cache else ClipSamples(clips, options, length, read_video)
    loader = torch.utils.data.DataLoader(samples, batch_size=1, shuffle=False, collate_fn=first_item,
                                         num_workers=config.num_workers)
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    parameters = [p for p in model.parameters() if p.requires_grad]  # FSDP2 replaces them with sharded ones
    if accelerator.distributed_type == DistributedType.FSDP and len(experts) > 1:
        # torch's sharded optimiser loader starts every parameter's Adam state (a zero-lr step) and then
        # wants all of them in the checkpoint, but an expert not yet drawn has none: start them all
        # here the same way (its side effect), so any checkpoint resumes. Adam then counts one more step.
        get_optimizer_state_dict(model, optimizer.optimizer)
    progress = Progress()
    accelerator.register_for_checkpointing(progress)
    _register_lora_state_hooks(accelerator, pipe, experts)

    resumed_from = 0
    found = checkpoints(out)
    if found:
        accelerator.load_state(str(found[-1][1]))
        resumed_from = progress.step
    eval_start = _fixed_loss(pipe, model, experts, samples, config, boundary, shift, accelerator, dtype)

    sharded = accelerator.distributed_type == DistributedType.FSDP
    bar = tqdm(total=config.steps, initial=progress.step, unit="step", desc="train", file=sys.stderr,
               disable=not accelerator.is_main_process, dynamic_ncols=True)
    remaining = accelerator.skip_first_batches(loader, progress.step * config.gradient_accumulation)
    validation = None
    steps_run, losses, seen, skipped = 0, [], [], []
    step_started = time.perf_counter()
    for sample in (remaining if progress.step < config.steps else []):
        with accelerator.accumulate(model):
            rng = np.random.default_rng([config.seed, progress.step, 3])
            expert = choose_expert(experts, boundary, shift, rng)
            generator = torch.Generator().manual_seed(config.seed * 1_000_003 + sample.index)
            sigma = sample_timestep(expert, boundary, shift, generator)
            batch = to_batch(pipe, sample, accelerator.device, dtype)
            with accelerator.autocast():
                loss = step_loss(lambda **kwargs: model(expert, **kwargs), getattr(pipe, expert), batch, sigma, generator)
            accelerator.backward(loss)
            if accelerator.sync_gradients:
                accelerator.clip_grad_norm_(parameters, config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
        losses.append(loss.detach())
        seen.append(sample.index)
        skipped += sample.skipped
        if not accelerator.sync_gradients:
            continue

        step_loss_value = accelerator.reduce(torch.stack(losses).mean(), "mean").item()
        gathered = gather_object([{"seen": seen, "skipped": skipped}])
        for name in (name for part in gathered for name in part["skipped"]):
            progress.skipped[name] = progress.skipped.get(name, 0) + 1
        progress.step += 1
        progress.history.append({"step": progress.step, "loss": step_loss_value, "expert": expert,
                                 "samples": sorted(i for part in gathered for i in part["seen"])})
        losses, seen, skipped = [], [], []
        steps_run += 1
        rate = steps_run / (time.perf_counter() - step_started)
        bar.set_postfix_str(f"loss={step_loss_value:.4f} {rate:.2f} steps/s expert={expert}", refresh=False)
        bar.update(1)
        if progress.step % config.checkpoint_every == 0 or progress.step == config.steps:
            _save_checkpoint(accelerator, out, progress.step, config.keep_checkpoints)
        if config.validate_every and not cache and progress.step % config.validate_every == 0 and (accelerator.is_main_process or sharded):
            validation = validation or validation_memory(clips, read_video, options.width, options.height)
            with unsharded(model, sharded):
                _render_validation(pipe, validation, options, config, out / "checkpoints" / "validation" / f"step-{progress.step:06d}.mp4",
                                   write_video, fps, accelerator.is_main_process)
        if progress.step >= config.steps:
            break
    bar.close()

    eval_end = _fixed_loss(pipe, model, experts, samples, config, boundary, shift, accelerator, dtype)
    files = save_loras(pipe, experts, out, accelerator.is_main_process)
    accelerator.wait_for_everyone()
    history = progress.history
    return TrainSummary(
        out=out, steps=progress.step, resumed_from=resumed_from, loss=history[-1]["loss"] if history else None,
        first_loss=history[0]["loss"] if history else None, eval_loss_start=eval_start, eval_loss_end=eval_end,
        seconds=time.perf_counter() - started, steps_run=steps_run, lora_files=files, skipped=dict(progress.skipped),
        history=list(history),
        processes="1 process" if accelerator.num_processes == 1 else f"{accelerator.num_processes} processes, {accelerator.distributed_type.value}",
        cached=cache is not None,
    )


def to_batch(pipe: WanM2VPipeline, sample: Any, device: torch.device, dtype: torch.dtype) -> Batch:
    """Latents of a sample: from the cache, or through the pipeline's encoders."""
    if isinstance(sample, LatentSample):
        return cached_batch(sample.video, sample.memory, sample.video_condition, sample.mi2v, sample.prompt_embeds, device, dtype)
    return encode_batch(pipe, sample.target, sample.memory, sample.context, sample.caption, device, dtype)


def cache_latents(data: str | Path, model: str, read_video: VideoReader, width: int | None = None, height: int | None = None,
                  num_frames: int | None = None) -> Path:
    """Encode a data set's clips into its latent cache with `model`'s VAE and text encoder
    (`generator.train.cache`); the size defaults to the model's, as training's does."""
    check_model(model)
    default_width, default_height, default_frames = default_size(model)
    options = SampleOptions(width=width or default_width, height=height or default_height, num_frames=num_frames or default_frames)
    clips = load_clips(data)
    pipe = load_pipeline(model, Accelerator(cpu=not torch.cuda.is_available()))
    return build_cache(pipe, clips, Path(data), options, read_video, model)


def _register_lora_state_hooks(accelerator: Accelerator, pipe: WanM2VPipeline, experts: list[str]) -> None:
    """Checkpoints hold the LoRA weights only (not the frozen 14B experts), in our LoRA file format.
    Under FSDP accelerate saves and restores the sharded model itself (frozen weights included: its
    `save_fsdp_model` runs before these hooks); the LoRA files beside it are gathered from the shards."""
    names = lora_filenames(pipe)
    sharded = accelerator.distributed_type == DistributedType.FSDP

    def save_hook(models: list, weights: list, output_dir: str) -> None:
        for expert in experts:
            state = lora_state(getattr(pipe, expert))  # every process: a collective under FSDP
            if accelerator.is_main_process:
                save_lora(getattr(pipe, expert), Path(output_dir) / names[expert], ADAPTER, state=state)
        weights.clear()

    def load_hook(models: list, input_dir: str) -> None:
        from safetensors.torch import load_file

        if sharded:
            return  # accelerate's load_fsdp_model restores the shards
        for expert in experts:
            state = load_file(str(Path(input_dir) / names[expert]))
            state = {k.removeprefix("transformer."): v for k, v in state.items()}
            result = set_peft_model_state_dict(getattr(pipe, expert), state, adapter_name=ADAPTER)
            if result.unexpected_keys:
                raise TrainInputError(f"checkpoint {input_dir} does not fit this model: {result.unexpected_keys[0]}")
        models.clear()

    accelerator.register_save_state_pre_hook(save_hook)
    accelerator.register_load_state_pre_hook(load_hook)


def _save_checkpoint(accelerator: Accelerator, out: Path, step: int, keep: int) -> None:
    """accelerate's save_state into a staging folder, renamed into place when complete."""
    staging = out / "checkpoints" / f".step-{step:06d}"
    if accelerator.is_main_process:
        shutil.rmtree(staging, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(staging))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        final = out / "checkpoints" / f"step-{step:06d}"
        shutil.rmtree(final, ignore_errors=True)
        os.replace(staging, final)
        for _, old in checkpoints(out)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


@torch.no_grad()
def _fixed_loss(pipe: WanM2VPipeline, model: torch.nn.Module, experts: list[str], samples: ClipSamples, config: TrainConfig, boundary: float | None,
                shift: float, accelerator: Accelerator, dtype: torch.dtype) -> float | None:
    """Mean loss over the first `eval_samples` samples with fixed noise and timesteps (comparable across a run)."""
    count = min(config.eval_samples, len(samples))
    if count == 0:
        return None
    total = 0.0
    for index in range(count):
        sample = samples[index]
        expert = experts[index % len(experts)]
        generator = torch.Generator().manual_seed(10_000 + index)
        sigma = sample_timestep(expert, boundary, shift, generator)
        batch = to_batch(pipe, sample, accelerator.device, dtype)
        with accelerator.autocast():  # through the wrapped model: under FSDP only its forward gathers the shards
            total += step_loss(lambda **kwargs: model(expert, **kwargs), getattr(pipe, expert), batch, sigma, generator).item()
    return total / count


def _render_validation(pipe: WanM2VPipeline, validation: tuple[list[np.ndarray], str], options: SampleOptions,
                       config: TrainConfig, path: Path, write_video: VideoWriter, fps: int, write: bool = True) -> None:
    """A fixed memory set and prompt rendered with the LoRA as it stands (seed fixed, so renders compare).
    Under FSDP every process renders (the blocks gather their shards collectively); `write` ones save it."""
    memory, prompt = validation
    frames = pipe(prompt, memory=memory, height=options.height, width=options.width, num_frames=options.num_frames,
                  num_inference_steps=config.validation_steps, generator=torch.Generator().manual_seed(config.seed)).frames[0]
    if not write:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(np.clip(np.round(np.asarray(frames) * 255.0), 0, 255).astype(np.uint8), fps, path)
