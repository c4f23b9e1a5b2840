"""Every option of a story run, in one JSON-native model.

The command line's `make` flags, the LangGraph run context, batch job lines and the studio's
form are all this model: a field added here is an option everywhere. Field names are the long
options' names (`max_attempts` is `--max-attempts`); `description` is the help text, and
`json_schema_extra` says how the command line shows it (`metavar`, `group`).
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from director.planning.base import DEFAULT_SHOTS, PLANNERS
from generator.backends import BACKENDS
from generator.options import CACHES, PARALLEL_MODES, SPEEDS, VRAM_TIERS


#: The groups of settings, as the command line's help and the studio's form show them.
GROUPS = {"story": None, "critic": "critic", "memory": "memory models and reference images", "wan": "wan and tiny backends"}
#: Bounds that keep a typo from asking for terabytes: 30 s clips at 16 fps, 4K sides, seeds numpy and torch take.
MAX_FRAMES, MAX_SIDE, MAX_SEED = 481, 4096, 2**32 - 1


def _cli(metavar: str | None = None, group: str = "story", files: bool = False) -> dict:
    """How the command line shows a field; `files`: its value names files or folders on this
    machine (a front end that takes settings from others confines them, as the studio does)."""
    return {"metavar": metavar, "group": group, "files": files}


class RunSettings(BaseModel):
    """How to make a story: planner, generator, memory models, critic."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    shots: int = Field(DEFAULT_SHOTS, ge=2, le=60, description=f"number of shots to plan (2-60, default {DEFAULT_SHOTS})", json_schema_extra=_cli("N"))
    seed: int = Field(0, ge=0, le=MAX_SEED, description="base seed, 0 to 2^32-1: same logline and seed, same script and film (default 0)", json_schema_extra=_cli("N"))
    planner: Literal[PLANNERS] = Field("auto", description="auto | openai | offline | local: auto uses an LLM when one is configured, else offline; local runs the bundled SmolLM2-135M through llama.cpp", json_schema_extra=_cli("NAME"))
    llm_model: str | None = Field(None, description="LLM model name for --planner openai/auto (or STORYMEM_LLM_MODEL)", json_schema_extra=_cli("NAME"))
    llm_base_url: str | None = Field(None, description="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1 (or OPENAI_BASE_URL)", json_schema_extra=_cli("URL"))
    backend: Literal[BACKENDS] = Field("auto", description="auto | preview | tiny | toy | wan: auto picks wan on a CUDA GPU, else the preview animatic; toy is a small model trained here", json_schema_extra=_cli("NAME"))
    size: str | None = Field(None, pattern=r"^\d+x\d+$", description="frame size WxH (default: the backend's own, 832x480 for preview and wan)", json_schema_extra=_cli("WxH"))
    frames: int | None = Field(None, ge=6, le=MAX_FRAMES, description=f"frames per generated clip, 6 to {MAX_FRAMES} (default: the backend's own, 81 = 5 s at 16 fps)", json_schema_extra=_cli("N"))
    continuation: Literal["mi2v", "mm2v"] = Field("mi2v", description="how a 'continue' shot is conditioned: mi2v (last frame) or mm2v (last 5 frames)", json_schema_extra=_cli("MODE"))
    no_sound: bool = Field(False, description="a silent film: no narration, dialogue or music (story.srt then has a cue per shot with its prompt)", json_schema_extra=_cli())
    sound: Literal["all", "narration", "dialogue", "music"] = Field("all", description="which parts of the soundtrack to make: narration | dialogue | music | all (default all)", json_schema_extra=_cli("PARTS"))
    voice: Literal["auto", "piper", "espeak", "openai"] = Field("auto", description="speech engine: piper (storymem[voice]), espeak (espeak-ng), openai (an OpenAI-compatible /v1/audio/speech at --llm-base-url); auto: $STORYMEM_VOICE when set, else piper, else espeak-ng", json_schema_extra=_cli("ENGINE"))
    music_dir: str | None = Field(None, description="a folder of music tracks in mood folders (calm/, tender/, nostalgic/, happy/, energetic/) instead of the bundled library", json_schema_extra=_cli("FOLDER", files=True))
    max_attempts: int = Field(3, ge=1, description="attempts per shot before the best one is kept (default 3)", json_schema_extra=_cli("N", "critic"))
    checkpoint_db: str | None = Field(None, description="LangGraph checkpoints in PostgreSQL (postgresql://USER@HOST:PORT/DB) instead of the folder's state.sqlite, so another host can resume the story", json_schema_extra=_cli("URL", "critic"))
    critic: Literal["on", "scores", "off"] = Field("on", description="on: judge every attempt and retry weak ones; scores: measure and record what it would do, keep the first attempt; off: keep the first attempt unjudged (ablations)", json_schema_extra=_cli("MODE", "critic"))
    critic_judge: Literal["auto", "llm", "rules"] = Field("auto", description="who decides on each attempt when --critic is on: llm (the LLM of --llm-base-url / OPENAI_API_KEY, scores as evidence, the rules as guard rails and fallback), rules (fixed thresholds), auto (llm when --planner auto/openai has an endpoint, else rules)", json_schema_extra=_cli("JUDGE", "critic"))
    critic_vision: Literal["auto", "on", "off"] = Field("auto", description="whether the LLM judge sees frames (keyframes, previous shot's last frame, memory thumbnails): auto (when the endpoint takes images, probed once), on (refused if it does not), off (scores and text only)", json_schema_extra=_cli("MODE", "critic"))
    keep_takes: int | None = Field(None, ge=0, description="takes no version keeps to leave per shot; older ones are deleted (default: keep all)", json_schema_extra=_cli("N", "critic"))
    reference: list[str] = Field(default_factory=list, description="a reference image for the initial memory (repeatable); in a script, give characters reference_images instead", json_schema_extra=_cli("IMAGE", "memory", files=True))
    embedder: str = Field("auto", description="memory image embedder: auto (CLIP ViT-B-32 when its weights are local), clip, clip:MODEL[@TAG], colour-structure", json_schema_extra=_cli("NAME", "memory"))
    clip_checkpoint: str | None = Field(None, description="a local open_clip checkpoint file for --embedder clip", json_schema_extra=_cli("FILE", "memory", files=True))
    quality_scorer: str = Field("auto", description="frame quality scorer: auto (HPSv3 when its weights are local), hpsv3, brisque, heuristic", json_schema_extra=_cli("NAME", "memory"))
    quality_threshold: float | None = Field(None, allow_inf_nan=False, description="quality gate for keyframes and the critic (default: the scorer's own, 3.0 for HPSv3)", json_schema_extra=_cli("X", "memory"))
    hpsv3_checkpoint: str | None = Field(None, description="HPSv3.safetensors (or its folder) for --quality-scorer hpsv3", json_schema_extra=_cli("PATH", "memory", files=True))
    memory_size: int = Field(10, ge=1, le=64, description="memory bank capacity M, sink included (default 10, StoryMem's)", json_schema_extra=_cli("M", "memory"))
    no_memory: bool = Field(False, description="ablation: every shot generated with empty memory (independent shots, the paper's baseline); keyframes are still chosen and recorded", json_schema_extra=_cli(None, "memory"))
    no_sink: bool = Field(False, description="ablation: no permanent sink entries, the memory is only the most recent keyframes", json_schema_extra=_cli(None, "memory"))
    no_quality_gate: bool = Field(False, description="ablation: keyframes are chosen without the quality gate (every frame may enter memory)", json_schema_extra=_cli(None, "memory"))
    no_semantic_selection: bool = Field(False, description="ablation: keyframes evenly spaced in the shot instead of chosen by embedding novelty, no deduplication against memory", json_schema_extra=_cli(None, "memory"))
    model: str = Field("Wan-AI/Wan2.2-I2V-A14B-Diffusers", description="Wan I2V model: hub id or local diffusers folder", json_schema_extra=_cli("ID_OR_FOLDER", "wan", files=True))
    t2v_model: str = Field("Wan-AI/Wan2.2-T2V-A14B-Diffusers", description="Wan T2V model for first shots, or 'none' (first shot by M2V with empty memory)", json_schema_extra=_cli("ID_OR_FOLDER", "wan", files=True))
    lora: list[str] = Field(default_factory=list, description="LoRA file or folder (StoryMem's, ours, lightx2v/Lightning or kohya Wan), optionally PATH:WEIGHT or PATH:HIGH,LOW (per-expert weights); repeatable to stack", json_schema_extra=_cli("PATH[:W|:HIGH,LOW]", "wan", files=True))
    steps: int | None = Field(None, ge=1, description="sampling steps (default: the --speed preset's, 40; 4 for tiny; fast is distilled for its 4)", json_schema_extra=_cli("N", "wan"))
    dtype: Literal["bfloat16", "float16", "float32"] | None = Field(None, description="bfloat16 | float16 | float32 (default: bfloat16 for wan, float32 for tiny)", json_schema_extra=_cli("TYPE", "wan"))
    offload: Literal["none", "model", "group"] | None = Field(None, description="none | model | group: CPU offload so 14B experts fit 24-48 GB cards (default: the --vram tier's, else model for wan, none for tiny; on CPU only group applies, CPU to CPU)", json_schema_extra=_cli("MODE", "wan"))
    attention: str | None = Field(None, description="diffusers attention backend, e.g. flash or sage", json_schema_extra=_cli("NAME", "wan"))
    compile: bool = Field(False, description="torch.compile the repeated transformer blocks", json_schema_extra=_cli(None, "wan"))
    speed: Literal[SPEEDS] = Field("quality", description="quality: the published sampler (40 UniPC steps, CFG 3.5: 80 transformer passes a shot); balanced: the same with a first-block feature cache; fast: 4 distilled steps, CFG 1 (4 passes), needs --distill-lora", json_schema_extra=_cli("PRESET", "wan"))
    distill_lora: str | None = Field(None, description="step-distillation LoRA for --speed fast, on both experts beside any --lora: lightx2v's Wan2.2-I2V-A14B 4-step files (a folder with high/low-noise files, or PATH[:W|:HIGH,LOW])", json_schema_extra=_cli("PATH", "wan", files=True))
    guidance: float | None = Field(None, ge=1.0, le=30.0, allow_inf_nan=False, description="CFG scale (default: the preset's, 3.5; 1 for fast); 1 runs no unconditional pass", json_schema_extra=_cli("X", "wan"))
    shift: float | None = Field(None, gt=0.0, le=100.0, allow_inf_nan=False, description="sampler shift for M2V shots (default: the preset's, 4; 5 for fast)", json_schema_extra=_cli("X", "wan"))
    cache: Literal[CACHES] | None = Field(None, description="diffusers feature cache on both experts: none | first-block | mag | taylorseer (default: the preset's; first-block for balanced); emptied before every shot", json_schema_extra=_cli("NAME", "wan"))
    cache_threshold: float | None = Field(None, ge=0.0, le=10.0, allow_inf_nan=False, description="first-block / mag cache threshold (default 0.05 / 0.06; 0 reuses nothing)", json_schema_extra=_cli("X", "wan"))
    cache_interval: int | None = Field(None, ge=1, le=100, description="taylorseer: a full computation every N steps (default 5; 1 reuses nothing)", json_schema_extra=_cli("N", "wan"))
    mag_ratios: str | None = Field(None, description="JSON file of MagCache ratios per expert, {\"transformer\": [...], \"transformer_2\": [...]}, calibrated for the checkpoint and sampler; needed by --cache mag", json_schema_extra=_cli("FILE", "wan", files=True))
    vram: Literal[VRAM_TIERS] | None = Field(None, description="GPU memory to fit, in GiB; picks the placement and prints it: 80 all on the GPU; 48 model offload; 24 model offload + fp8 weights + VAE tiling; 16 group offload + fp8 + VAE tiling", json_schema_extra=_cli("GIB", "wan"))
    fp8: bool = Field(False, description="store transformer weights in float8 (diffusers' layerwise casting), compute in --dtype: half their memory", json_schema_extra=_cli(None, "wan"))
    vae_tiling: bool = Field(False, description="VAE decodes in tiles: lower peak memory at the decode", json_schema_extra=_cli(None, "wan"))
    parallel: Literal[PARALLEL_MODES] | None = Field(None, description="one shot over several GPUs (diffusers' context parallelism; memory frames split with the video): launch with torchrun --nproc_per_node N; ulysses needs N to divide 40", json_schema_extra=_cli("MODE", "wan"))

    @field_validator("size")
    @classmethod
    def _even_size(cls, size: str | None) -> str | None:
        if size is not None:
            width, height = (int(v) for v in size.split("x"))
            if width < 16 or height < 16 or width % 2 or height % 2:
                raise ValueError(f"needs even sides of at least 16 pixels, got {size}")
            if width > MAX_SIDE or height > MAX_SIDE:
                raise ValueError(f"needs sides of at most {MAX_SIDE} pixels, got {size}")
        return size

    def clip_format(self) -> dict[str, int]:
        """The clip format asked for (width, height, num_frames); empty keys take the backend's own."""
        clip_format: dict[str, int] = {}
        if self.size is not None:
            width, height = (int(v) for v in self.size.split("x"))
            clip_format.update(width=width, height=height)
        if self.frames is not None:
            clip_format["num_frames"] = self.frames
        return clip_format


# --- the one reader of the settings' type hints, for every front end -----------------------------


@dataclass(frozen=True)
class SettingField:
    """One setting as a front end shows it: a `--flag`, a form input."""

    name: str
    flag: str
    kind: type  # bool, int, float, str or list (a repeatable option of str)
    choices: tuple[str, ...] | None  # a Literal's values
    optional: bool  # None (the backend's or model's own value) is allowed
    default: Any
    help: str
    group: str
    metavar: str | None
    files: bool  # names files or folders on this machine


def setting_fields() -> list[SettingField]:
    """Every `RunSettings` field, read once from its type hints and `json_schema_extra`."""
    fields = []
    for name, info in RunSettings.model_fields.items():
        annotation, extra = info.annotation, info.json_schema_extra or {}
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in typing.get_args(annotation)
        base = args[0] if optional and len(args) == 1 else annotation
        choices = tuple(typing.get_args(base)) if typing.get_origin(base) is Literal else None
        kind = list if typing.get_origin(base) is list else (base if base in (bool, int, float) else str)
        fields.append(SettingField(name, "--" + name.replace("_", "-"), kind, choices, optional, info.get_default(call_default_factory=True),
                                   info.description or "", extra.get("group", "story"), extra.get("metavar"), bool(extra.get("files"))))
    return fields


def describe_settings_error(error: ValidationError) -> str:
    """The first problem of invalid settings as one line, in the command line's words
    (`--max-attempts must be at least 1, got 0`); every front end reports settings this way."""
    problem = error.errors()[0]
    name = ".".join(str(part) for part in problem["loc"]) or "settings"
    if problem["type"] == "extra_forbidden":
        return f"unknown option {name!r}"
    field = next((f for f in setting_fields() if f.name == name), None)
    flag, value = "--" + name.replace("_", "-"), problem.get("input")
    kind, context = problem["type"], problem.get("ctx", {})
    if kind == "literal_error" and field is not None:
        return f"unknown {name.replace('_', ' ')} {value!r}; choose one of: {', '.join(field.choices)}"
    if kind in ("greater_than_equal", "less_than_equal") and field is not None:
        bounds = {type(m).__name__: m for m in RunSettings.model_fields[name].metadata}
        if "Ge" in bounds and "Le" in bounds:
            return f"{flag} must be between {bounds['Ge'].ge} and {bounds['Le'].le}, got {value}"
        return f"{flag} must be at least {context.get('ge')}, got {value}" if "ge" in context else f"{flag} must be at most {context.get('le')}, got {value}"
    if kind == "string_pattern_mismatch" and name == "size":
        return f"--size must look like 832x480, got {value!r}"
    return f"{flag} {problem['msg'].removeprefix('Value error, ')}"
