"""What a director run works with: its settings, and the components they name.

The heavy parts (generator, memory bank, vision models, critic, planner) live in a `Components`
bundle that `load_components` builds from the settings, once, before anything is written;
`director.api` passes it to the graph as the run's context. LangGraph's server and Studio send
JSON instead: `DirectorContext` is the plain `RunSettings` plus the story folder, and
`components_of` loads what it names. Generators and vision models are cached per process by
their loaders, so a server or a worker loads each model once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, PrivateAttr

from director.planning.base import Planner, PromptRefiner
from director.planning.planner import make_planner
from director.critic.rules import Critic
from director.critic.scales import gates
from director.critic.judge import LLMJudge, make_judge
from director.run.backend_limits import ablation_warning
from director.settings import RunSettings
from director.folder.workspace import Workspace
from generator.backends import BACKENDS
from generator.base import Generator, ShotMode
from memory.bank import MemoryBank
from memory.select import SelectionConfig
from memory.vision import ImageEmbedder, QualityScorer, load_embedder, load_quality_scorer


class SettingsError(ValueError):
    """Settings that cannot work (a missing file, an unknown model name); one readable line."""


@dataclass
class Components:
    """The live objects a run works with; loaded once, then shared by every node."""

    workspace: Workspace
    generator: Generator
    bank: MemoryBank
    embedder: ImageEmbedder
    scorer: QualityScorer
    critic: Critic = field(default_factory=Critic)
    judge: LLMJudge | None = None  # the LLM critic; None: the rules decide
    planner: Planner | None = None
    continuation: ShotMode = ShotMode.MI2V
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    use_memory: bool = True  # False: the --no-memory ablation, every shot generated with empty memory
    sound: Any = None  # director.sound.soundtrack.SoundPlan; None: a silent film (--no-sound)
    notes: list[str] = field(default_factory=list)  # what was chosen and why, for the user


#: The toy critic's consistency margin under the colour-structure embedder (measured: benchmarks/toy_memory.py).
TOY_CONSISTENCY_MARGIN = 0.05


def render_of(generator: Generator) -> dict[str, Any]:
    """How a generator renders (recorded in run.json: shots of one story must match)."""
    return {"backend": generator.name, "size": f"{generator.width}x{generator.height}", "frames": generator.num_frames, "fps": generator.fps}


def run_record(components: Components, settings: RunSettings, warned: dict[str, Any]) -> dict[str, Any]:
    """What run.json records of how a story is made (a database URL may hold a password: not recorded)."""
    return {"render": render_of(components.generator), "planner": getattr(components.planner, "name", None),
            "settings": settings.model_dump(mode="json", exclude={"reference", "checkpoint_db"}), "warnings": warned, "scores": gates(components)}


def run_notes(components: Components, planner_note: str | None, scripted: bool) -> list[str]:
    """What a run says it chose and why: planner, backend, critic, generator, ablations."""
    notes = list(components.notes)
    if planner_note:
        notes[0] = planner_note
    if scripted:  # nothing to plan; a configured LLM still refines prompts the critic rejects
        refines = isinstance(components.planner, PromptRefiner)
        notes[0] = "planner: none (script given)" + ("; the LLM refines prompts the critic rejects" if refines else "")
    return notes


#: Backends whose frames are flat drawings, which no natural-image quality scorer can judge: the
#: critic does not gate their quality. The toy's 32x32 blurs score 0 on BRISQUE, so its keyframes are
#: not gated either (unless --quality-threshold asks); the animatic's go through memory/gate.py.
DRAWN = ("preview", "toy")


def make_critic(backend: str, scorer: QualityScorer, embedder: ImageEmbedder, max_attempts: int, quality_threshold: float | None) -> Critic:
    """The critic's gates for these models: no quality gate on the animatic's or the toy's flat
    drawings, and no consistency or prompt gate with an embedder that sees only colour and layout,
    except on the toy, whose identities are exactly colour and layout."""
    semantic = callable(getattr(embedder, "embed_texts", None))
    gate = scorer.threshold if quality_threshold is None else quality_threshold
    return Critic(
        max_attempts=max_attempts,
        quality_threshold=None if backend in DRAWN else gate,
        consistency_margin=0.15 if semantic else (TOY_CONSISTENCY_MARGIN if backend == "toy" else None),
        prompt_margin=0.03 if semantic else None,
    )


def open_bank(workspace: Workspace, source: str | None = None, settings: RunSettings | None = None) -> MemoryBank:
    """The story's memory bank, its edits logged in events.jsonl (with `source`, e.g. "user").
    A new bank takes its capacity and sink from `settings`, else from the run's recorded settings
    (--memory-size, --no-sink); a saved bank keeps its own."""
    from director.run.ablations import bank_policy

    who = {"source": source} if source else {}
    policy = bank_policy(settings if settings is not None else RunSettings.model_construct(**workspace.load_run().get("settings", {})))
    return MemoryBank.load(workspace.memory_dir, **policy, on_event=lambda event: workspace.log(event.pop("event"), **who, **event))


def parse_loras(specs: list[str], flag: str = "--lora") -> list[tuple[str, float | tuple[float, float]]]:
    """`PATH`, `PATH:WEIGHT` or `PATH:HIGH,LOW` (per-expert weights: high-noise, low-noise), split on
    the last colon, so Windows drives and odd names work."""
    loras = []
    for spec in specs:
        path, _, weight = (spec, "", "") if Path(spec).exists() or ":" not in spec else spec.rpartition(":")
        try:
            weights = tuple(float(w) for w in weight.split(",")) if weight else (1.0,)
            if len(weights) > 2 or not all(math.isfinite(w) for w in weights):
                raise ValueError(weight)
        except ValueError:
            raise SettingsError(f"{flag} takes PATH, PATH:WEIGHT or PATH:HIGH,LOW (weights for the high- and low-noise experts), got {spec!r}") from None
        loras.append((path, weights[0] if len(weights) == 1 else weights))
        if not Path(path).exists():
            raise SettingsError(f"{flag} file not found: {path}")
    return loras


def generator_options(backend: str, settings: RunSettings) -> dict[str, Any]:
    """The loader options `settings` give a backend: the animatic takes none; `tiny` runs the same
    pipeline as `wan` on its own small model, so it takes every option but the model's name."""
    if backend == "preview":
        return {}
    if backend == "toy":  # its own trained weights and sampler: only the step count is open
        return {"steps": settings.steps} if settings.steps else {}
    from generator.models import TIER_PLACEMENTS, Placement
    from generator.speed import SPEED_PRESETS, CacheSpec, read_mag_ratios

    preset = SPEED_PRESETS[settings.speed]
    sampler = replace(preset.sampler, guidance=settings.guidance or preset.sampler.guidance,
                      shift=settings.shift or preset.sampler.shift)
    loras = parse_loras(settings.lora)
    if settings.distill_lora:  # under the StoryMem LoRA: the distillation is the base sampler's
        loras = parse_loras([settings.distill_lora], "--distill-lora") + loras
    options: dict[str, Any] = {"steps": settings.steps} if settings.steps else {}
    if preset.sampler.sigmas is not None:
        options["steps"] = None  # the distillation's own steps, on tiny too
    ratios = read_mag_ratios(settings.mag_ratios) if settings.mag_ratios else {}
    cache = CacheSpec(settings.cache or preset.cache, settings.cache_threshold, settings.cache_interval, ratios)
    tier = TIER_PLACEMENTS[settings.vram] if settings.vram else Placement(offload="model" if backend == "wan" else "none")
    placement = replace(tier, offload=settings.offload or tier.offload, fp8=settings.fp8 or tier.fp8,
                        vae_tiling=settings.vae_tiling or tier.vae_tiling)
    options.update(loras=loras, attention=settings.attention, compile=settings.compile, sampler=sampler, cache=cache,
                   offload=placement)
    if backend == "wan":
        options.update(
            model=settings.model,
            t2v_model=None if settings.t2v_model == "none" else settings.t2v_model,
            dtype=settings.dtype or "bfloat16",
            parallel=settings.parallel,
        )
    else:
        options.update(dtype=settings.dtype or "float32")
    return options


def follow_parallel_story(settings: RunSettings) -> int:
    """A torchrun rank > 0 under --parallel: load the same Wan generator and run the shots rank 0
    sends, writing nothing (the story folder is rank 0's). Returns the number of shots served."""
    from generator.backends import load_generator
    from generator.options import default_cache_dir
    from generator.parallel import serve_shots

    options = generator_options("wan", settings)
    return serve_shots(load_generator("wan", cache_dir=default_cache_dir(), clip_format=settings.clip_format(), **options))


def load_components(settings: RunSettings, workspace: Workspace, planner: Planner | None = None) -> Components:
    """Every model a run needs, loaded (or taken from the per-process caches) before anything is
    written: a model that cannot load fails here, with the folder untouched."""
    from director.run.ablations import critic_for, names as ablation_names, selection_config
    from director.run.checks import check_backend_options, check_speed_options, check_wan_device
    from generator.backends import load_generator, resolve_backend
    from generator.options import default_cache_dir

    backend, backend_note = resolve_backend(settings.backend)
    check_backend_options(backend, settings)  # options the backend cannot take are refused, not ignored
    check_speed_options(backend, settings)  # a preset's missing file, a parallel launch without GPUs: before any load
    options = generator_options(backend, settings)
    if backend == "wan":
        check_wan_device(settings)  # no CUDA device: said now, before any hub access
    if backend == "tiny" and options["offload"].offload == "model":
        backend_note += "; model offload does nothing there (tiny runs on CPU)"
    if planner is None:
        planner, planner_note = make_planner(settings.planner, settings.llm_model, settings.llm_base_url)
    else:
        planner_note = f"planner: {getattr(planner, 'name', type(planner).__name__)} (given)"
    try:
        judge, judge_note = make_judge(settings)  # the vision probe, before any model loads
    except ValueError as error:
        raise SettingsError(str(error)) from None
    try:
        from director.sound.soundtrack import prepare_sound

        sound = prepare_sound(settings)  # a bad --music-dir or a missing engine: said before any generation
    except ValueError as error:
        raise SettingsError(str(error)) from None
    try:
        embedder = load_embedder(settings.embedder, checkpoint=settings.clip_checkpoint)
        scorer = load_quality_scorer(settings.quality_scorer, checkpoint=settings.hpsv3_checkpoint)
    except ValueError as error:
        raise SettingsError(str(error)) from None
    try:
        generator = load_generator(backend, cache_dir=default_cache_dir(), clip_format=settings.clip_format(), **options)
    except Exception as error:
        if not options.get("loras") or (isinstance(error, ValueError) and type(error).__name__ != "LoraFormatError"):
            raise  # not about the LoRA (a missing model says so itself)
        first = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        raise SettingsError(f"--lora could not be applied to the {backend} model ({type(error).__name__}{': ' + first if first else ''})") from None
    return Components(
        workspace=workspace,
        generator=generator,
        bank=open_bank(workspace, settings=settings),
        embedder=embedder,
        scorer=scorer,
        critic=critic_for(settings, make_critic(backend, scorer, embedder, settings.max_attempts, settings.quality_threshold)),
        planner=planner,
        continuation=ShotMode(settings.continuation),
        selection=selection_config(settings, embedder, gated=backend != "toy"),
        use_memory=not settings.no_memory,
        judge=judge,
        sound=sound,
        notes=[planner_note, backend_note, judge_note] + list(getattr(generator, "notes", [])) + (sound.notes if sound else [])
        + ([f"ablation: {' '.join(ablations)}"] if (ablations := ablation_names(settings)) else [])
        + [w for w in [ablation_warning(generator.name, ablations)] if w],
    )


class DirectorContext(RunSettings):
    """The context LangGraph's server and Studio send: the settings and the story folder, as JSON.
    A run started here passes its live `Components` as the context instead."""

    model_config = ConfigDict(extra="forbid")

    out: str = Field("runs/studio", description="the story folder")
    backend: Literal[BACKENDS] = Field("preview", description="auto | preview | tiny | wan: the server defaults to the animatic; ask for wan explicitly")
    _components: Components | None = PrivateAttr(None)


#: What a graph node finds in its runtime context.
RunContext = Components | DirectorContext


def components_of(context: RunContext) -> Components:
    """A run's live components: the ones passed in, or those the JSON settings name, loaded on the
    first node that asks (once per run: the loaders cache models per process)."""
    if isinstance(context, Components):
        return context
    if context._components is None:
        settings = RunSettings.model_validate(context.model_dump(exclude={"out"}))
        context._components = load_components(settings, Workspace(Path(context.out)))
    return context._components
