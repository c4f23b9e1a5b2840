"""Training the toy M2V model from nothing: the VAE for reconstruction, then the transformer with M2V.

Both stages draw from `generator.toy_data`. The transformer stage is the project's M2V
objective (`generator.train.objective`): memory latents in front of the target's, the condition
built by `build_condition` (the pipeline's own), the memory's rotary positions shifted negative,
flow matching on the target frames only, MI2V conditioning half of the time. Memory frames come
from other clips of the target's identity, so reading memory is the only way to get the
identity right. Samples are drawn from a pool of clips encoded once by the trained VAE; its
characters come in pairs (one character, two hues), so memory can show a character recoloured:
a colour prompt then wins over memory, and after a recolour the latest look wins (`draw_memory`).
The character covers a tenth of the frame: its pixels (VAE) and latent cells (flow loss) weigh more.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from generator.base import ShotMode
from generator.pipeline import KNOWN_VIDEO_LATENTS, WanM2VPipeline, build_condition
from generator.train.objective import flow_matching_loss, noised, predict, shifted_sigma, Batch
from generator.toy_data import DIRECTIONS, HUES, Identity, draw_clip, prompt_for, random_identity, start_for

Report = Callable[[str], None]


@dataclass
class ToyTrainConfig:
    """Every knob of a toy run; the record beside the weights keeps them. The defaults are the
    shipped weights' recipe."""

    seed: int = field(default=0, metadata={"help": "seeds the data, the initial weights and the training order"})
    vae_levels: int = field(default=2, metadata={"help": "the VAE's spatial halvings: 2 = 4x (an 8x8 latent a frame, the shipped VAE), 3 = Wan's 8x (4x4)"})
    vae_steps: int = field(default=1200, metadata={"help": "VAE reconstruction steps (before the transformer)"})
    vae_batch: int = field(default=8, metadata={"help": "clips a VAE step (twice as many single frames every other step)"})
    vae_lr: float = field(default=2e-3, metadata={"help": "the VAE's peak learning rate (one-cycle)"})
    vae_character_weight: float = field(default=3.0, metadata={"help": "extra weight of the character's pixels in the VAE loss (it covers a tenth of the frame)"})
    identities_per_pool: int = field(default=384, metadata={"help": "characters (in hue pairs) whose clips make the transformer's training pool"})
    clips_per_identity: int = field(default=4, metadata={"help": "clips drawn of each character (memory comes from its other clips)"})
    steps: int = field(default=5750, metadata={"help": "transformer steps"})
    batch: int = field(default=16, metadata={"help": "clips a transformer step"})
    lr: float = field(default=1.5e-3, metadata={"help": "the transformer's peak learning rate"})
    max_memory: int = field(default=4, metadata={"help": "most memory entries a step gives its samples (drawn from 1 to this)"})
    no_memory_probability: float = field(default=0.15, metadata={"help": "share of steps whose samples have no memory (T2V)"})
    mi2v_probability: float = field(default=0.5, metadata={"help": "share of samples trained as MI2V (continuing from a previous last frame)"})
    colour_prompt_probability: float = field(default=0.2, metadata={"help": "share of prompts that name the colour (half of those against memory)"})
    recolour_probability: float = field(default=0.3, metadata={"help": "share of samples whose memory shows the character's other hue first and its own look last"})
    shift: float = field(default=2.0, metadata={"help": "the flow schedule's shift, as the sampler's"})
    flow_character_weight: float = field(default=4.0, metadata={"help": "extra weight of the latent cells the character covers in the flow loss"})
    processes: int = field(default=2, metadata={"help": "transformer training processes, one a core: each takes its share of every batch (DistributedDataParallel over gloo)"})
    threads: int = field(default=1, metadata={"help": "torch threads a process (one: on a shared machine a second one mostly spins)"})

    def problem(self) -> str | None:
        """What makes this config untrainable, in the command line's words (None when it trains)."""
        if self.vae_levels not in (2, 3):
            return f"--vae-levels must be 2 (4x space, the shipped VAE) or 3 (Wan's 8x), not {self.vae_levels}"
        least = {"vae_steps": 1, "vae_batch": 1, "steps": 1, "batch": 1, "max_memory": 1, "threads": 1, "processes": 1,
                 "identities_per_pool": 2, "clips_per_identity": 2}  # memory comes from a character's other clips
        for name, low in least.items():
            if getattr(self, name) < low:
                return f"--{name.replace('_', '-')} must be at least {low}, not {getattr(self, name)}"
        if self.batch % self.processes:
            return f"--batch ({self.batch}) must split evenly between --processes ({self.processes})"
        for name in ("vae_lr", "lr", "shift"):
            if not getattr(self, name) > 0:
                return f"--{name.replace('_', '-')} must be above 0, not {getattr(self, name)}"
        for name in ("no_memory_probability", "mi2v_probability", "colour_prompt_probability", "recolour_probability"):
            if not 0 <= getattr(self, name) <= 1:
                return f"--{name.replace('_', '-')} is a share: between 0 and 1, not {getattr(self, name)}"
        for name in ("vae_character_weight", "flow_character_weight"):
            if not getattr(self, name) >= 0:
                return f"--{name.replace('_', '-')} must be 0 or more, not {getattr(self, name)}"
        return None


@dataclass
class ToyTrainResult:
    config: ToyTrainConfig
    vae_loss: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    figures: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"config": asdict(self.config), "vae_loss_first_last": [self.vae_loss[0], self.vae_loss[-1]] if self.vae_loss else None,
                "loss_first_last": [self.loss[0], self.loss[-1]] if self.loss else None, "seconds": self.seconds, "cpu_seconds": self.cpu_seconds, "figures": self.figures}


def _pixels(frames: np.ndarray) -> torch.Tensor:
    """uint8 (B, T, H, W, 3) to the VAE's (B, 3, T, H, W) in [-1, 1]."""
    return torch.from_numpy(frames).float().permute(0, 4, 1, 2, 3) / 127.5 - 1.0


def _character_mask(x: torch.Tensor) -> torch.Tensor:
    """(B, 1, T, H, W) 1 where a pixel is saturated (the character; the backdrop is grey)."""
    return (x.amax(dim=1, keepdim=True) - x.amin(dim=1, keepdim=True) > 0.5).float()


def _latent_cells(mask: torch.Tensor, latent_shape: tuple[int, int, int]) -> torch.Tensor:
    """A pixel mask (B, 1, T, H, W) on the latent grid (F, h, w): a cell counts when any of its pixels
    does (latent frame 0 is pixel frame 0, each later one the 4 frames it encodes)."""
    first = torch.nn.functional.adaptive_max_pool3d(mask[:, :, :1], (1, *latent_shape[1:]))
    rest = torch.nn.functional.adaptive_max_pool3d(mask[:, :, 1:], (latent_shape[0] - 1, *latent_shape[1:]))
    return torch.cat([first, rest], dim=2)


def recoloured(identity: Identity, rng: np.random.Generator) -> Identity:
    """The same character (shape, pattern, backdrop) in another hue: what a revision or a wrong keyframe shows."""
    return replace(identity, hue=str(rng.choice([h for h in HUES if h != identity.hue])))


def _random_clip(rng: np.random.Generator, identity: Identity | None = None) -> tuple[np.ndarray, str]:
    identity = identity or random_identity(rng)
    direction = str(rng.choice(list(DIRECTIONS)))
    return draw_clip(identity, direction, start_for(direction, rng)), direction


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


class _Clock:
    """Wall and CPU seconds of a stage, the training processes' CPU included (the machine is
    shared: CPU seconds are the fair figure)."""

    def __init__(self):
        self.wall, self.cpu = time.perf_counter(), self._cpu()

    @staticmethod
    def _cpu() -> float:
        times = os.times()  # children: the spawned training processes, once joined
        return times.user + times.system + times.children_user + times.children_system

    def read(self) -> tuple[float, float]:
        return round(time.perf_counter() - self.wall, 1), round(self._cpu() - self.cpu, 1)


def train_vae(pipe: WanM2VPipeline, config: ToyTrainConfig, result: ToyTrainResult, report: Report) -> None:
    """Reconstruction: single frames (the memory path and each clip's first latent) and whole clips,
    with noise on the latents so the decoder forgives a sampler's small errors."""
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    vae = pipe.vae.train()
    optimiser = torch.optim.Adam(vae.parameters(), lr=config.vae_lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, config.vae_lr, total_steps=config.vae_steps, pct_start=0.1)
    for step in range(config.vae_steps):
        clips = np.stack([_random_clip(rng)[0] for _ in range(config.vae_batch)])
        if step % 2 == 0:  # single frames, twice as many (the cheap path)
            clips = np.concatenate([clips[:, :1], np.stack([_random_clip(rng)[0][:1] for _ in range(config.vae_batch)])])
        x = _pixels(clips)
        z = vae.encode(x).latent_dist.mode()
        z = z + 0.05 * torch.randn_like(z)
        y = vae.decode(z).sample
        # The character covers a tenth of the frame: weigh its pixels up, or the backdrop wins and colour is lost.
        weight = 1.0 + config.vae_character_weight * _character_mask(x)
        error = (y - x).pow(2) + 0.1 * (y - x).abs()
        loss = (weight * error).mean() / weight.mean() + 1e-5 * z.pow(2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        result.vae_loss.append(loss.item())
        if (step + 1) % 50 == 0 or step == 0:
            report(f"vae step {step + 1}/{config.vae_steps}: loss {_mean(result.vae_loss[-50:]):.4f}")
    vae.eval()


@torch.no_grad()
def set_latent_statistics_from_data(pipe: WanM2VPipeline, config: ToyTrainConfig) -> None:
    """The pipeline normalises latents by the VAE's per-channel mean and std: measure them on toy clips."""
    from generator.toy import set_latent_statistics

    rng = np.random.default_rng(config.seed + 1)
    z = pipe.vae.encode(_pixels(np.stack([_random_clip(rng)[0] for _ in range(64)]))).latent_dist.mode()
    set_latent_statistics(pipe, z.mean(dim=(0, 2, 3, 4)), z.std(dim=(0, 2, 3, 4)).clamp(min=1e-3))


@torch.no_grad()
def vae_figures(pipe: WanM2VPipeline, config: ToyTrainConfig) -> dict[str, float]:
    """Reconstruction of fresh clips through the pipeline's own encode and decode: mean absolute
    difference (grey levels) and the character's median hue error (degrees)."""
    from generator.toy_data import HUES, clip_hue_error

    rng = np.random.default_rng(config.seed + 4)
    identities = [random_identity(rng) for _ in range(16)]
    frames = np.stack([_random_clip(rng, identity)[0] for identity in identities])
    decoded = pipe.decode_latents(pipe._vae_encode(_pixels(frames)), output_type="np")
    decoded = np.clip(np.round(np.asarray(decoded) * 255.0), 0, 255).astype(np.uint8)
    return {"vae_abs_diff": round(float(np.abs(decoded.astype(np.float32) - frames).mean()), 2),
            "vae_hue_error": round(float(np.median([clip_hue_error(d, HUES[i.hue]) for d, i in zip(decoded, identities)])), 1)}


@dataclass
class Pool:
    """Clips encoded once: per clip its latents, its MI2V condition latents, identity and direction."""

    video: torch.Tensor  # (N, 16, F, h, w), normalised
    character: torch.Tensor  # (N, 1, F, h, w): 1 on the latent cells the character covers
    mi2v: torch.Tensor  # (N, 16, F, h, w): [first frame, zeros...] encoded, as encode_condition_video
    zeros: torch.Tensor  # (16, F, h, w): the M2V condition (all-zero video)
    identity: list[int]  # index into `identities`
    direction: list[str]
    identities: list[Identity]  # in pairs: 2k and 2k + 1 are one character in two hues

    @cached_property
    def clips_of(self) -> dict[int, list[int]]:
        by_identity: dict[int, list[int]] = {}
        for clip, owner in enumerate(self.identity):
            by_identity.setdefault(owner, []).append(clip)
        return by_identity


def draw_memory(rng: np.random.Generator, pool: Pool, clip: int, num_memory: int, config: ToyTrainConfig) -> tuple[list[int], str | None]:
    """A training sample's memory (pool clips whose first frames it shows, oldest first) and the
    colour its prompt names (None: the prompt says only the motion).

    Memory shows the target's character in other clips; with a colour prompt, half the time it
    shows the character's sibling (another hue) and the prompt wins; with `recolour_probability`
    its oldest entries show the sibling and the latest the target: the latest look wins, as after a
    revision recolours a shot."""
    owner = pool.identity[clip]
    colour, earlier = None, 0  # earlier: how many of the oldest entries show the sibling
    if rng.random() < config.colour_prompt_probability or num_memory == 0 and rng.random() < 0.5:
        colour = pool.identities[owner].hue
        if num_memory and rng.random() < 0.5:
            earlier = num_memory
    elif num_memory >= 2 and rng.random() < config.recolour_probability:
        earlier = int(rng.integers(1, num_memory))
    own, theirs = [c for c in pool.clips_of[owner] if c != clip], pool.clips_of[owner ^ 1]
    picks = [*rng.choice(theirs, size=earlier, replace=len(theirs) < earlier),
             *rng.choice(own, size=num_memory - earlier, replace=len(own) < num_memory - earlier)]
    return [int(c) for c in picks], colour


@torch.no_grad()
def build_pool(pipe: WanM2VPipeline, config: ToyTrainConfig, report: Report) -> Pool:
    """Encode the pool's clips through the pipeline's own encoders (`_vae_encode`, the condition video's layout)."""
    rng = np.random.default_rng(config.seed + 2)
    identities = []
    for _ in range(config.identities_per_pool // 2):  # in pairs: a character, and the same one recoloured
        identity = random_identity(rng)
        identities += [identity, recoloured(identity, rng)]
    clips, owner, directions = [], [], []
    for index, identity in enumerate(identities):
        for _ in range(config.clips_per_identity):
            frames, direction = _random_clip(rng, identity)
            clips.append(frames)
            owner.append(index)
            directions.append(direction)
    videos, conditions, characters = [], [], []
    for begin in range(0, len(clips), 64):
        chunk = np.stack(clips[begin:begin + 64])
        videos.append(pipe._vae_encode(_pixels(chunk)))
        characters.append(_latent_cells(_character_mask(_pixels(chunk)), tuple(videos[-1].shape[2:])))
        x = _pixels(chunk)
        x[:, :, 1:] = 0.0  # the first frame, then zeros in [-1, 1] pixel space, as encode_condition_video pads
        conditions.append(pipe._vae_encode(x))
    zeros = pipe._vae_encode(torch.zeros(1, 3, clips[0].shape[0], clips[0].shape[1], clips[0].shape[2]))[0]
    report(f"pool: {len(clips)} clips of {len(identities)} identities encoded")
    return Pool(torch.cat(videos), torch.cat(characters), torch.cat(conditions), zeros, owner, directions, identities)


def train_transformer(pipe: WanM2VPipeline, pool: Pool, config: ToyTrainConfig, result: ToyTrainResult, report: Report) -> None:
    """Full training of the toy expert with the M2V flow-matching objective, batched by memory count.
    With `processes` > 1 each process takes its share of every batch (the same draws in each) and
    DistributedDataParallel averages their gradients, so every process makes the same update."""
    pipe.vae.requires_grad_(False)
    pipe.text_encoder.requires_grad_(False)
    with torch.no_grad():  # every prompt training can draw: a motion, with no colour or any hue
        texts = [prompt_for(d, c) for d in DIRECTIONS for c in (None, *HUES)]
        prompts = {t: pipe.encode_prompt(prompt=t, do_classifier_free_guidance=False, max_sequence_length=512, device="cpu")[0][0] for t in texts}
    if config.processes == 1:
        result.loss += _train_share(pipe.transformer, pool, config, prompts, report)
    else:
        result.loss += _train_distributed(pipe.transformer, pool, config, prompts, report)
    pipe.transformer.eval()


def _train_share(transformer: torch.nn.Module, pool: Pool, config: ToyTrainConfig, prompts: dict[str, torch.Tensor],
                 report: Report, rank: int = 0) -> list[float]:
    """The training loop of one process: every step draws the whole batch (the same in every
    process) and trains on the samples `rank`, `rank + processes`, ...; returns the batch losses."""
    distributed = config.processes > 1
    rng = np.random.default_rng(config.seed + 3)
    generator = torch.Generator().manual_seed(config.seed + 3)
    transformer.train()
    model = torch.nn.parallel.DistributedDataParallel(transformer) if distributed else transformer
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, config.lr, total_steps=config.steps, pct_start=0.05)
    losses: list[float] = []
    for step in range(config.steps):
        num_memory = 0 if rng.random() < config.no_memory_probability else int(rng.integers(1, config.max_memory + 1))
        x0s, conditions, texts, clips = [], [], [], []
        for _ in range(config.batch):
            clip = int(rng.integers(len(pool.identity)))
            clips.append(clip)
            picks, colour = draw_memory(rng, pool, clip, num_memory, config)
            # memory: other clips' first latents (each an image encoded alone, as encode_memory encodes keyframes)
            memory = torch.stack([pool.video[c, :, 0] for c in picks], dim=1) if num_memory else pool.video.new_zeros(16, 0, *pool.video.shape[3:])
            mi2v = rng.random() < config.mi2v_probability
            condition_video = pool.mi2v[clip] if mi2v else pool.zeros
            mode = ShotMode.MI2V if mi2v else ShotMode.M2V
            conditions.append(build_condition(memory[None], condition_video[None], KNOWN_VIDEO_LATENTS[mode], 4))
            x0s.append(torch.cat([memory[None], pool.video[clip][None]], dim=2))
            texts.append(prompt_for(pool.direction[clip], colour))
        sigma = shifted_sigma(torch.rand(config.batch, generator=generator), config.shift).clamp(min=1e-3)
        noise = torch.randn(torch.cat(x0s).shape, generator=generator)
        share = slice(rank, None, config.processes)
        batch = Batch(x0=torch.cat(x0s[share]), condition=torch.cat(conditions[share]), prompt_embeds=torch.stack([prompts[t] for t in texts[share]]),
                      image_embeds=None, num_memory=num_memory)
        prediction = predict(model, transformer, batch, noised(batch.x0, noise[share], sigma[share]), sigma[share])
        weight = 1.0 + config.flow_character_weight * pool.character[clips[share]] if config.flow_character_weight else None
        loss = flow_matching_loss(prediction, noise[share], batch.x0, num_memory, weight)
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        value = loss.detach()
        if distributed:  # the batch's loss: the mean of the shares'
            torch.distributed.all_reduce(value)
            value /= config.processes
        losses.append(value.item())
        if (step + 1) % 100 == 0 or step == 0:
            report(f"transformer step {step + 1}/{config.steps}: loss {_mean(losses[-100:]):.4f}")
    return losses


def _train_distributed(transformer: torch.nn.Module, pool: Pool, config: ToyTrainConfig, prompts: dict[str, torch.Tensor],
                       report: Report) -> list[float]:
    """Run `_train_share` in `processes` spawned processes; relay rank 0's progress and take its weights."""
    import queue as queues
    import tempfile

    import torch.multiprocessing as mp

    messages = mp.get_context("spawn").Queue()
    with tempfile.TemporaryDirectory() as rendezvous:
        workers = mp.spawn(_worker, args=(transformer, pool, config, prompts, Path(rendezvous) / "store", messages),
                           nprocs=config.processes, join=False)
        result, finished = None, False
        while not finished:
            finished = workers.join(timeout=0.2)  # raises when a worker failed
            while True:
                try:
                    kind, value = messages.get(timeout=0.5 if finished else 0.01)
                except queues.Empty:
                    break
                if kind == "report":
                    report(value)
                else:
                    result = value
    if result is None:
        raise RuntimeError("the training processes ended without sending their weights")
    losses, weights = result
    transformer.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    return losses


def _worker(rank: int, transformer: torch.nn.Module, pool: Pool, config: ToyTrainConfig, prompts: dict[str, torch.Tensor],
            rendezvous: Path, messages) -> None:
    """One spawned training process: joins the group at `rendezvous`, trains its share, and (rank 0)
    sends its progress lines and, at the end, its losses and weights on `messages`."""
    torch.set_num_threads(config.threads)
    # torch.multiprocessing hands every process the same shared-memory weights: train a copy of one's own
    transformer = copy.deepcopy(transformer)
    torch.distributed.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=config.processes)
    try:
        report = (lambda line: messages.put(("report", line))) if rank == 0 else (lambda line: None)
        losses = _train_share(transformer, pool, config, prompts, report, rank)
        if rank == 0:  # numpy arrays travel by value: the weights outlive this process
            messages.put(("done", (losses, {k: v.detach().numpy().copy() for k, v in transformer.state_dict().items()})))
    finally:
        torch.distributed.destroy_process_group()


def train_toy(config: ToyTrainConfig, out: Path, report: Report = print) -> ToyTrainResult:
    """Train the toy model from nothing and write `out/toy.safetensors` and `out/toy.json`."""
    from safetensors.torch import save_file

    from generator.toy import RECORD_FILE, WEIGHTS_FILE, build_pipeline, file_sha256, state_dict

    if problem := config.problem():
        raise ValueError(problem)
    torch.set_num_threads(config.threads)
    result = ToyTrainResult(config)
    pipe = build_pipeline(config.seed, config.vae_levels)
    total = _Clock()
    clock = _Clock()
    train_vae(pipe, config, result, report)
    set_latent_statistics_from_data(pipe, config)
    result.seconds["vae"], result.cpu_seconds["vae"] = clock.read()
    result.figures.update(vae_figures(pipe, config))
    report(f"vae reconstruction: mean abs difference {result.figures['vae_abs_diff']} grey levels, character hue error {result.figures['vae_hue_error']} degrees")
    clock = _Clock()
    pool = build_pool(pipe, config, report)
    result.seconds["pool"], result.cpu_seconds["pool"] = clock.read()
    clock = _Clock()
    train_transformer(pipe, pool, config, result, report)
    result.seconds["transformer"], result.cpu_seconds["transformer"] = clock.read()
    result.seconds["total"], result.cpu_seconds["total"] = total.read()
    out.mkdir(parents=True, exist_ok=True)
    weights = out / WEIGHTS_FILE.name
    save_file(state_dict(pipe), str(weights) + ".part")
    os.replace(str(weights) + ".part", weights)
    record = {"sha256": file_sha256(weights), "bytes": weights.stat().st_size, **result.to_dict()}
    (out / (RECORD_FILE.name + ".part")).write_text(json.dumps(record, indent=2) + "\n")
    os.replace(out / (RECORD_FILE.name + ".part"), out / RECORD_FILE.name)
    return result
