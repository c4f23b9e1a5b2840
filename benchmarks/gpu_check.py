"""The GPU check: does the real Wan path work end to end, and how fast, in one short run.

On a CUDA GPU it builds full-size Wan2.2-I2V-A14B experts (two 14B transformers), the UMT5-XXL text
encoder and the Wan VAE from their configs with random weights (bf16; nothing is downloaded), writes a
random LoRA in StoryMem's format (rank 128, both experts) and one in lightx2v's 4-step format, plans a
3-shot story with the offline planner, and films it through `director.api.make_story` with
`--backend wan` once per row below. Each row's line is printed (and appended to OUT/gpu_check.md) as
soon as it is measured; a row that fails or runs out of memory is a row with its error. It exits 0
whatever the rows say, so a stopped run still reports what it measured.

Rows: `--speed fast` with M = 0 (--no-memory) and M = 10 (ten reference images: MR2V) on --vram 80 and
--vram 24; `--speed quality` for one step (the shot time extrapolated to the published 40 steps, marked
`~`); the StoryMem LoRA stacked on the distillation LoRA; fp8 storage with both LoRAs.
Per row, seconds per shot: the whole shot, the transformer passes, the VAE decode, the text encoder and
the director's own time (everything of the run after the first shot starts that is not the generator:
scoring, memory, critic, files, the film); peak GPU memory, peak host memory (RSS) and whether any
decoded frame was NaN. Frames: 33 a shot at 832x480 by default (9 latent frames; `--frames 81` for the
published length), so the table fits in about 9 minutes on an H100.

`--cpu-smoke`: the same rows and code on the tiny model's shapes on CPU (`--backend tiny`), in well
under 2 minutes; the test suite runs it so this script cannot rot between lent GPUs.

Run: python benchmarks/gpu_check.py [--out runs/gpu_check] [--frames 33] [--rows fast-80-M0 ...]
     python benchmarks/gpu_check.py --cpu-smoke
"""

from __future__ import annotations

import argparse
import datetime
import gc
import sys
import shutil
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere in the checkout
    sys.path.insert(0, str(ROOT))

LOGLINE = "A lighthouse keeper befriends a stray fox during a winter storm."
SHOTS = 3
MEMORY_FRAMES = 10


@dataclass(frozen=True)
class ModelSpec:
    """The shapes of one model set: the random weights are built from these configs."""

    name: str
    backend: str
    transformer: dict
    vae: dict
    text_encoder: dict
    lora_rank: int
    distill_rank: int
    size: str | None  # None: the backend's own


A14B = ModelSpec(
    name="Wan2.2-I2V-A14B (random bf16 weights)",
    backend="wan",
    transformer=dict(
        patch_size=(1, 2, 2), num_attention_heads=40, attention_head_dim=128, in_channels=36, out_channels=16,
        text_dim=4096, freq_dim=256, ffn_dim=13824, num_layers=40, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", eps=1e-6, image_dim=None, added_kv_proj_dim=None, rope_max_seq_len=1024,
    ),
    vae={},  # AutoencoderKLWan's defaults are Wan2.1's VAE, the one Wan2.2-A14B uses
    text_encoder=dict(d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64, vocab_size=256384,
                      relative_attention_num_buckets=32, feed_forward_proj="gated-gelu", pad_token_id=0,
                      eos_token_id=1),
    lora_rank=128,
    distill_rank=64,
    size="832x480",
)
TINY = ModelSpec(
    name="tiny Wan2.2 shapes (random float32 weights, CPU)",
    backend="tiny",
    transformer=dict(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=36, out_channels=16,
        text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32, image_dim=None,
    ),
    vae=dict(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True]),
    text_encoder=dict(d_model=32, d_kv=8, d_ff=32, num_layers=2, num_heads=4, relative_attention_num_buckets=8,
                      pad_token_id=0, eos_token_id=1),
    lora_rank=4,
    distill_rank=4,
    size=None,
)


@dataclass(frozen=True)
class Row:
    """One configuration of the table: `make` options on top of the common ones."""

    name: str
    options: dict
    memory: int  # memory frames each shot is conditioned on (0: --no-memory; 10: ten reference images)
    loras: tuple[str, ...] = ()  # "storymem": the StoryMem-format LoRA; the distillation LoRA goes with --speed fast
    extrapolate_to: int | None = None  # measured at options["steps"], reported at this many steps


ROWS = (
    Row("fast-80-M0", {"speed": "fast", "vram": "80"}, memory=0),
    Row("fast-80-M10", {"speed": "fast", "vram": "80"}, memory=MEMORY_FRAMES),
    Row("fast-24-M0", {"speed": "fast", "vram": "24"}, memory=0),
    Row("fast-24-M10", {"speed": "fast", "vram": "24"}, memory=MEMORY_FRAMES),
    Row("quality-80-M10", {"speed": "quality", "vram": "80", "steps": 1}, memory=MEMORY_FRAMES, extrapolate_to=40),
    Row("fast+lora-80-M10", {"speed": "fast", "vram": "80"}, memory=MEMORY_FRAMES, loras=("storymem",)),
    Row("fast+lora-fp8-M10", {"speed": "fast", "vram": "80", "fp8": True}, memory=MEMORY_FRAMES, loras=("storymem",)),
)
COLUMNS = ("row", "s/shot", "transformer", "vae", "text", "director", "GPU GiB", "host GiB", "NaN", "note")


# --- random weights from config ----------------------------------------------------------------------


def _randomise(module: torch.nn.Module) -> None:
    """Small normal weights everywhere (norm scales at 1), so activations stay finite like a trained model's."""
    with torch.no_grad():
        for name, param in module.named_parameters():
            if param.dim() == 1 and "norm" in name:
                param.fill_(1.0)
            elif name.endswith("bias"):
                param.zero_()
            else:
                param.normal_(0.0, 0.02)


def build_transformer(spec: ModelSpec, dtype: torch.dtype, device: torch.device):
    """One expert on `device`, built on the meta device first so full size never exists in float32."""
    from diffusers import WanTransformer3DModel

    with torch.device("meta"):
        model = WanTransformer3DModel(**spec.transformer)
    keep_fp32 = set(model._keep_in_fp32_modules or [])
    for name, param in model.named_parameters():  # cast on meta (free), by name as from_pretrained keeps them
        if not keep_fp32 & set(name.split(".")):
            param.data = param.data.to(dtype)
    model = model.to_empty(device=device)
    _randomise(model)
    return model.eval()


def build_pipeline(spec: ModelSpec, dtype: torch.dtype, device: torch.device):
    """A `WanM2VPipeline` with random weights of `spec`'s shapes, as `from_pretrained` would return it."""
    from diffusers import AutoencoderKLWan
    from transformers import UMT5Config, UMT5EncoderModel

    from generator.pipeline import BOUNDARY_RATIO, M2V_SHIFT, WanM2VPipeline, flow_unipc_scheduler
    from generator.tiny import build_tokenizer

    torch.manual_seed(0)
    with torch.device("meta"):
        text_encoder = UMT5EncoderModel(UMT5Config(**spec.text_encoder))
    text_encoder = text_encoder.to(dtype).to_empty(device=device)
    _randomise(text_encoder)
    vae = AutoencoderKLWan(**spec.vae).to(device)  # float32, as Wan runs its VAE
    return WanM2VPipeline(
        tokenizer=build_tokenizer(), text_encoder=text_encoder.eval(), vae=vae.eval(),
        scheduler=flow_unipc_scheduler(M2V_SHIFT), transformer=build_transformer(spec, dtype, device),
        transformer_2=build_transformer(spec, dtype, device), boundary_ratio=BOUNDARY_RATIO,
    )


def write_model_folder(spec: ModelSpec, folder: Path) -> Path:
    """A diffusers folder holding only model_index.json: `--model` accepts it, and `random_weights`
    builds what it names (the weights themselves would be 70 GB of noise on disk)."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_index.json").write_text(json.dumps({
        "_class_name": "WanImageToVideoPipeline", "boundary_ratio": 0.9, "expand_timesteps": False,
        "tokenizer": ["transformers", "T5TokenizerFast"], "text_encoder": ["transformers", "UMT5EncoderModel"],
        "vae": ["diffusers", "AutoencoderKLWan"], "scheduler": ["diffusers", "UniPCMultistepScheduler"],
        "transformer": ["diffusers", "WanTransformer3DModel"], "transformer_2": ["diffusers", "WanTransformer3DModel"],
        "image_encoder": [None, None], "image_processor": [None, None],
    }))
    return folder


def _lora_shapes(spec: ModelSpec) -> dict[str, tuple[int, int]]:
    """(in, out) of every module a Wan LoRA adapts, by its original name."""
    dim = spec.transformer["num_attention_heads"] * spec.transformer["attention_head_dim"]
    ffn = spec.transformer["ffn_dim"]
    shapes = {f"{branch}.{p}": (dim, dim) for branch in ("self_attn", "cross_attn") for p in "qkvo"}
    return {**shapes, "ffn.0": (dim, ffn), "ffn.2": (ffn, dim)}


def write_loras(spec: ModelSpec, folder: Path) -> dict[str, Path]:
    """A random StoryMem-format LoRA (peft keys of the original names, rsLoRA) and a lightx2v-format
    distillation LoRA (lora_down/lora_up/alpha), one file per expert each, at `spec`'s sizes."""
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(0)
    layers = spec.transformer["num_layers"]
    made = {}
    for kind, rank in (("storymem", spec.lora_rank), ("distill", spec.distill_rank)):
        target = folder / kind
        target.mkdir(parents=True, exist_ok=True)
        for expert in ("high_noise", "low_noise"):
            state = {}
            for block in range(layers):
                for module, (fan_in, fan_out) in _lora_shapes(spec).items():
                    down = (1e-3 * torch.randn(rank, fan_in, generator=generator)).to(torch.bfloat16)
                    up = (1e-3 * torch.randn(fan_out, rank, generator=generator)).to(torch.bfloat16)
                    if kind == "storymem":
                        state[f"base_model.model.blocks.{block}.{module}.lora_A.weight"] = down
                        state[f"base_model.model.blocks.{block}.{module}.lora_B.weight"] = up
                    else:
                        prefix = f"diffusion_model.blocks.{block}.{module}"
                        state.update({f"{prefix}.lora_down.weight": down, f"{prefix}.lora_up.weight": up,
                                      f"{prefix}.alpha": torch.tensor(float(rank))})
            save_file(state, str(target / f"{expert}_lora.safetensors"))
        made[kind] = target
    return made


@contextmanager
def random_weights(spec: ModelSpec, device: torch.device):
    """While inside, every I2V pipeline storymem loads is `spec` with random weights on `device`: the
    rest of loading (sampler, LoRAs, fp8, offload, caches) is storymem's own."""
    import generator.models as models

    real = models._from_pretrained

    def load(loader, model, **kwargs):
        if getattr(loader, "__self__", None) is models.WanM2VPipeline:
            dtype = kwargs.get("dtype", {}).get("default", torch.float32)
            return build_pipeline(spec, dtype, device)
        return real(loader, model, **kwargs)

    with mock.patch.object(models, "_from_pretrained", load):
        yield


# --- what a row measures -------------------------------------------------------------------------------


class HostPeak:
    """Peak resident memory of this process while running, sampled from /proc (GiB)."""

    def __init__(self, interval: float = 0.05):
        self.interval, self.peak, self._stop = interval, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_gib())
            self._stop.wait(self.interval)

    def __enter__(self) -> "HostPeak":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_gib())


def _rss_gib() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("nan")


@dataclass
class Clock:
    """Seconds spent in the generator's parts during one row, timed with the device synchronised."""

    device: torch.device
    parts: dict[str, float] = field(default_factory=lambda: {"generate": 0.0, "transformer": 0.0, "vae": 0.0, "text": 0.0})
    first_shot: float | None = None
    shots: int = 0
    nan: bool = False

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def time_module(self, module: torch.nn.Module, part: str) -> None:
        starts: list[float] = []

        def before(*_):
            self.sync()
            starts.append(time.perf_counter())

        def after(*_):
            self.sync()
            self.parts[part] += time.perf_counter() - starts.pop()

        module.register_forward_pre_hook(before)
        module.register_forward_hook(after)

    def time_decode(self, vae) -> None:
        decode = vae.decode

        def timed(*args, **kwargs):
            self.sync()
            start = time.perf_counter()
            out = decode(*args, **kwargs)
            self.sync()
            self.parts["vae"] += time.perf_counter() - start
            sample = out[0] if isinstance(out, tuple) else out.sample
            self.nan |= bool(torch.isnan(sample).any())
            return out

        vae.decode = timed

    def instrument(self, generator) -> None:
        pipe = generator.pipe
        for model in (pipe.transformer, pipe.transformer_2):
            self.time_module(model, "transformer")
        self.time_module(pipe.text_encoder, "text")
        self.time_decode(pipe.vae)
        generate = generator.generate

        def timed(request):
            if self.first_shot is None:
                self.first_shot = time.perf_counter()
            start = time.perf_counter()
            result = generate(request)
            self.parts["generate"] += time.perf_counter() - start
            self.shots += 1
            return result

        generator.generate = timed


# --- the run -------------------------------------------------------------------------------------------


def plan_script(folder: Path) -> Path:
    """The 3-shot story every row films: planned offline, as a preview `make --review` plans it."""
    from director.api import RunSettings, make_story

    settings = RunSettings(backend="preview", planner="offline", shots=SHOTS, critic="off")
    result = make_story(folder, logline=LOGLINE, settings=settings, review=True)
    return result.script


def write_references(folder: Path, size: tuple[int, int], count: int) -> list[str]:
    """`count` distinct reference images: the initial memory of an M = 10 row (MR2V)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for index in range(count):
        image = np.zeros((size[1], size[0], 3), dtype=np.uint8) + rng.integers(0, 256, 3, dtype=np.uint8)
        image[size[1] // 4: 3 * size[1] // 4, size[0] // 4: 3 * size[0] // 4] = rng.integers(0, 256, 3, dtype=np.uint8)
        path = folder / f"reference_{index:02d}.png"
        Image.fromarray(image).save(path)
        paths.append(str(path))
    return paths


def row_settings(spec: ModelSpec, row: Row, model_folder: Path, loras: dict[str, Path], references: list[str], frames: int):
    from director.api import RunSettings

    options = dict(
        backend=spec.backend, planner="offline", shots=SHOTS, frames=frames, size=spec.size,
        critic="off", max_attempts=1, embedder="colour-structure", quality_scorer="heuristic",
        no_memory=row.memory == 0, reference=references[: row.memory], **row.options,
    )
    if spec.backend == "wan":
        options.update(model=str(model_folder), t2v_model="none")
    if row.options.get("speed") == "fast":
        options["distill_lora"] = str(loras["distill"])
    options["lora"] = [str(loras[name]) for name in row.loras]
    return RunSettings(**options)


def measure(row: Row, settings, script: Path, out: Path, device: torch.device) -> dict:
    """Film the script once with `settings`; the row's figures per shot."""
    import generator.backends as backends
    from director.api import make_story

    clock = Clock(device)
    real_build = backends._build

    def build(*args, **kwargs):  # instrument the generator the run loads, once it is loaded
        generator = real_build(*args, **kwargs)
        clock.instrument(generator)
        return generator

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    notes: list[str] = []  # what loading chose (placement, LoRA formats and scales), kept beside the story
    with HostPeak() as host, mock.patch.object(backends, "_build", build):
        make_story(out / row.name, script=script, settings=settings, on_event=lambda e: notes.append(e.get("note", "")))
        end = time.perf_counter()
    (out / f"{row.name}.notes.txt").write_text("\n".join(n for n in notes if n) + "\n", encoding="utf-8")
    shots = max(clock.shots, 1)
    generate = clock.parts["generate"]
    director = (end - clock.first_shot - generate) if clock.first_shot is not None else float("nan")
    scale = (row.extrapolate_to / settings.steps) if row.extrapolate_to else 1.0
    per_shot = {part: seconds / shots for part, seconds in clock.parts.items()}
    return {
        "s/shot": per_shot["generate"] + (scale - 1.0) * per_shot["transformer"],
        "transformer": per_shot["transformer"] * scale,
        "vae": per_shot["vae"],
        "text": per_shot["text"],
        "director": director / shots,
        "GPU GiB": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan"),
        "host GiB": host.peak,
        "NaN": "yes" if clock.nan else "no",
        "shots": clock.shots,
        "note": f"~ extrapolated from {settings.steps} to {row.extrapolate_to} steps" if row.extrapolate_to else "",
    }


def format_row(name: str, figures: dict | None, error: str | None = None) -> str:
    if error is not None:
        return f"| {name} | " + " | ".join(["-"] * (len(COLUMNS) - 2)) + f" | ERROR {error} |"
    cells = [name]
    for column in COLUMNS[1:-1]:
        value = figures[column]
        cells.append(f"{value:.2f}" if isinstance(value, float) else str(value))
    mark = "~" if figures["note"] else ""
    cells[1] = mark + cells[1]
    cells.append(figures["note"] or f"{figures['shots']} shots")
    return "| " + " | ".join(cells) + " |"


def release() -> None:
    """Forget the loaded generator between rows: each row loads its own configuration."""
    import generator.backends as backends

    backends._LOADED.clear()
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_rows(rows, spec: ModelSpec, work: Path, frames: int, device: torch.device, emit) -> list[str]:
    """Measure each row, emitting its table line as soon as it is known (errors included); each row's
    story is left in `work/stories/<row>/`, what loading chose in `work/stories/<row>.notes.txt`."""
    script = plan_script(work / "plan")
    size = tuple(int(v) for v in spec.size.split("x")) if spec.size else (64, 48)
    references = write_references(work / "references", size, MEMORY_FRAMES)
    loras = write_loras(spec, work / "loras")
    model_folder = write_model_folder(spec, work / "model")
    lines = []
    with random_weights(spec, device):
        for row in rows:
            try:
                settings = row_settings(spec, row, model_folder, loras, references, frames)
                line = format_row(row.name, measure(row, settings, script, work / "stories", device))
            except KeyboardInterrupt:
                raise
            except BaseException as error:  # an OOM or a failure is a row of the table, not the end of it
                first = (str(error).strip().splitlines() or [""])[0][:160]
                line = format_row(row.name, None, f"{type(error).__name__}: {first}")
                traceback.print_exc(file=sys.stderr)
            finally:
                release()
            lines.append(line)
            emit(line)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu-smoke", action="store_true", help="the same rows on the tiny model on CPU")
    parser.add_argument("--out", type=Path, default=None, help="where gpu_check.md (appended) and work/ (each row's story, replaced) go (default runs/gpu_check)")
    parser.add_argument("--frames", type=int, default=None, help="frames a shot (default 33 on GPU, the tiny model's 17 on CPU)")
    parser.add_argument("--rows", nargs="+", choices=[row.name for row in ROWS], help="only these rows")
    args = parser.parse_args(argv)

    smoke = args.cpu_smoke or not torch.cuda.is_available()
    spec = TINY if smoke else A14B
    device = torch.device("cpu") if smoke else torch.device("cuda", torch.cuda.current_device())
    frames = args.frames or (17 if smoke else 33)
    out = args.out or ROOT / "runs" / ("gpu_check_smoke" if smoke else "gpu_check")
    out.mkdir(parents=True, exist_ok=True)
    table = out / "gpu_check.md"
    rows = [row for row in ROWS if not args.rows or row.name in args.rows]

    import diffusers

    card = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (smoke: tiny shapes)"
    if not args.cpu_smoke and smoke:
        print("gpu_check: no CUDA GPU here: running the CPU smoke (tiny shapes) instead", flush=True)
    header = [
        f"## {card}, {datetime.date.today().isoformat()}: {spec.name}, {spec.size or '64x48'}, {frames} frames, "
        f"{SHOTS}-shot offline-planned script; torch {torch.__version__}, diffusers {diffusers.__version__}",
        "seconds per shot; transformer, vae, text: the generator's parts; director: the run's own time after the first "
        "shot starts (scoring, memory, files, film); ~ = extrapolated",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]

    def emit(line: str) -> None:
        print(line, flush=True)
        with table.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    for line in header:
        emit(line)
    started = time.perf_counter()
    shutil.rmtree(out / "work", ignore_errors=True)  # the last run's stories and random LoRAs
    run_rows(rows, spec, out / "work", frames, device, emit)
    emit(f"({len(rows)} rows in {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
