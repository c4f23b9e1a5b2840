"""Checks made before a run writes anything: each failure is one readable line (a `CheckError`,
exit status 2 on the command line) and leaves the disk as it was.

- the story folder: a folder (or a path one can be made at) that can be written, not under /proc or /sys;
- reference images, from `--reference` and from a script's characters: decoded, not trusted by name;
- a script's shots name only characters the script defines;
- the LLM endpoint answers, when a plan will be asked of it (one quick request);
- the options make sense for the backend: `wan` needs a CUDA device, `preview` takes no Wan options,
  `tiny` builds its own model so it takes no `--model`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from director.errors import UsageError
from director.folder.checkpoints import check_checkpoint_db
from director.planning.base import check_logline
from director.planning.language import check_english
from director.settings import RunSettings
from director.story import Story, load_script, slugify

#: Where no story folder can live: kernel interfaces that look like folders.
SYSTEM_ROOTS = (Path("/proc"), Path("/sys"), Path("/dev"))
#: Options only the Wan pipeline (the `wan` and `tiny` backends) takes.
WAN_OPTIONS = ("model", "t2v_model", "lora", "steps", "dtype", "offload", "attention", "compile", "speed", "distill_lora",
               "guidance", "shift", "cache", "cache_threshold", "cache_interval", "mag_ratios", "vram", "fp8",
               "vae_tiling", "parallel")
#: Seconds the LLM endpoint has to answer the reachability check.
LLM_CHECK_TIMEOUT = 3.0


class CheckError(ValueError):
    """Input that cannot work, found before anything was written; one readable line."""


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def changed_options(settings: RunSettings, names: Iterable[str]) -> list[str]:
    """The options among `names` that differ from their defaults (what the user asked for)."""
    defaults = RunSettings()
    return [name for name in names if getattr(settings, name) != getattr(defaults, name)]


# --- the story folder ------------------------------------------------------------------------------


def check_out_folder(out: str | Path) -> None:
    """`out` is, or can become, a writable folder outside the kernel's interfaces."""
    text = str(out)
    if not text.strip():
        raise CheckError("--out is empty: name a folder for the story")
    if "\x00" in text:
        raise CheckError(f"--out {text!r} contains a NUL character")
    path = Path(out).expanduser()
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError) as error:
        raise CheckError(f"--out {out}: cannot be resolved ({error.__class__.__name__})") from None
    for system in SYSTEM_ROOTS:
        if resolved == system or resolved.is_relative_to(system):
            raise CheckError(f"--out {out} is under {system}, a kernel interface, not a place for files; choose another folder")
    try:
        if resolved.exists() and not resolved.is_dir():
            raise CheckError(f"--out {out} is a file, not a folder; choose a folder (it is made if missing)")
        existing = resolved
        while not existing.exists():
            existing = existing.parent
    except OSError as error:  # a name too long, a loop of links
        raise CheckError(f"--out {out}: cannot be used ({error.strerror or error.__class__.__name__})") from None
    if not existing.is_dir():
        raise CheckError(f"--out {out} cannot be made: {existing} is a file, not a folder")
    try:
        longest = os.pathconf(existing, "PC_NAME_MAX")
    except (OSError, ValueError):
        longest = 255
    for part in resolved.parts:
        if len(os.fsencode(part)) > longest:
            raise CheckError(f"--out has a name of {len(os.fsencode(part))} bytes ({part[:24]}...); this file system takes at most {longest}")
    if len(os.fsencode(str(resolved))) + 64 > 4096:  # room for takes/<shot>/t001.analysis.npz
        raise CheckError(f"--out is {len(os.fsencode(str(resolved)))} bytes long; choose a shorter path")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise CheckError(f"--out {out} cannot be written: {existing} is not writable by this user")
    if existing == resolved:
        for name in ("shots", "takes", "versions", "memory", "report"):
            inner = resolved / name
            if inner.exists() and not inner.is_dir():
                raise CheckError(f"--out {out} holds a file named {name!r} where storymem keeps a folder; move it or choose another folder")


# --- images and scripts ----------------------------------------------------------------------------


def check_image(path: str | Path, what: str) -> None:
    """`path` is an image PIL can decode in full (a .png that is text is refused here, not at shot 1)."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise CheckError(f"{what} not found: {path}")
    try:
        with Image.open(path) as picture:
            picture.load()
            width, height = picture.size
    except Exception as error:  # PIL raises many kinds for broken files: all mean "not an image"
        raise CheckError(f"{what} {path} is not an image this tool can read ({type(error).__name__})") from None
    if width < 1 or height < 1:
        raise CheckError(f"{what} {path} has no pixels ({width}x{height})")


def check_references(settings: RunSettings, story: Story | None) -> None:
    for image in settings.reference:
        check_image(image, "--reference image")
    for c_index, character in enumerate(story.characters if story else []):
        for i, image in enumerate(character.reference_images):
            check_image(image, f"characters.{c_index}.reference_images.{i}: image")


def check_character_names(story: Story) -> None:
    """Every name a shot lists is one of the script's characters (the names prompts and memory use)."""
    known = [c.name for c in story.characters]
    for shot in story.shots:
        for name in shot.characters:
            if name not in known:
                close = [k for k in known if k.casefold() == name.casefold()]
                hint = f"did you mean {close[0]!r}?" if close else (f"characters are: {', '.join(repr(k) for k in known)}" if known else "the script defines no characters")
                raise CheckError(f"shot {shot.id} names the character {name!r}, which is not in characters; {hint}")


# --- the LLM endpoint ------------------------------------------------------------------------------


def _shown(url: str) -> str:
    """A URL without any user:password part (never print credentials)."""
    if "@" not in url:
        return url
    try:
        parts = urlsplit(url)
        return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1])) if "@" in parts.netloc else url
    except ValueError:  # not even a URL: show none of it
        return "(the URL given)"


def check_llm_endpoint(settings: RunSettings, timeout: float = LLM_CHECK_TIMEOUT) -> tuple[RunSettings, str | None]:
    """When the settings pick an LLM endpoint for planning, it must answer one quick request (any
    HTTP answer will do: an endpoint that wants a key still answers). `--planner openai` with a
    silent endpoint is refused; `auto` plans offline instead and says why (the returned settings
    and note)."""
    if settings.planner not in ("openai", "auto"):
        return settings, None
    import httpx2

    from director.llm import LLMSettings

    llm = LLMSettings.resolve(settings.llm_model, settings.llm_base_url)
    if llm is None:
        return settings, None  # no endpoint configured: make_planner says so (or falls back to offline)
    try:
        httpx2.get(llm.endpoint + "/models", timeout=timeout, follow_redirects=False)
    except httpx2.TimeoutException:
        problem = f"no answer within {timeout:g} s"
    except httpx2.HTTPError as error:  # connection refused, unknown host, bad URL...
        problem = type(error).__name__
    except Exception as error:  # a URL httpx cannot even parse (InvalidURL, UnsupportedProtocol...)
        problem = f"not a usable URL ({type(error).__name__})"
    else:
        return settings, None
    if settings.planner == "auto":
        note = f"planner: offline (auto: the LLM endpoint {_shown(llm.endpoint)} does not answer: {problem})"
        return settings.model_copy(update={"planner": "offline"}), note
    raise CheckError(f"the LLM endpoint {_shown(llm.endpoint)} does not answer ({problem}); start the server, fix --llm-base-url, or use --planner offline")


# --- backends --------------------------------------------------------------------------------------


def check_backend_options(backend: str, settings: RunSettings) -> None:
    """Options the chosen backend cannot take are refused, not ignored."""
    if backend == "preview":
        given = changed_options(settings, WAN_OPTIONS)
        if given:
            options = ", ".join(flag(name) for name in given)
            raise CheckError(f"the preview animatic takes no Wan options ({options}); use --backend tiny or wan for them, or leave them out")
    elif backend == "toy":
        given = changed_options(settings, tuple(name for name in WAN_OPTIONS if name != "steps"))
        if given:
            raise CheckError(f"--backend toy runs its own trained toy model and sampler, so {', '.join(flag(n) for n in given)} cannot apply; only --steps can")
    elif backend == "tiny":
        given = changed_options(settings, ("model", "t2v_model"))
        if given:
            raise CheckError(f"--backend tiny builds its own small random model, so {', '.join(flag(n) for n in given)} cannot apply; use --backend wan")


def check_speed_options(backend: str, settings: RunSettings) -> None:
    """What a speed preset, cache or parallel launch needs is there, before any model loads."""
    if backend == "preview":
        return
    if settings.speed == "fast":
        if not settings.distill_lora:
            raise CheckError("--speed fast needs the step-distillation LoRA: pass --distill-lora PATH (lightx2v's Wan2.2-I2V-A14B "
                             "4-step LoRA, e.g. a folder holding its high_noise and low_noise .safetensors)")
        if settings.steps is not None:
            raise CheckError(f"--speed fast runs the distillation's own 4 steps; leave out --steps {settings.steps} (or use --speed quality)")
    elif settings.distill_lora:
        raise CheckError("--distill-lora is for --speed fast (4 distilled steps, CFG 1); add --speed fast or pass the file with --lora")
    cache = settings.cache or ("first-block" if settings.speed == "balanced" else "none")
    if cache == "mag":
        if not settings.mag_ratios:
            raise CheckError("--cache mag needs ratios calibrated for this checkpoint and sampler: --mag-ratios FILE "
                             "(JSON per expert, from diffusers' MagCacheConfig(calibrate=True)); or use --cache first-block")
        from generator.speed import read_mag_ratios

        try:
            read_mag_ratios(settings.mag_ratios)
        except (OSError, ValueError) as error:
            raise CheckError(f"--mag-ratios {settings.mag_ratios}: {str(error).splitlines()[0] if str(error) else type(error).__name__}") from None
    if settings.parallel:
        if backend != "wan":
            raise CheckError(f"--parallel splits a Wan A14B shot over several CUDA GPUs; it needs --backend wan (got {backend})")
        from generator.parallel import ParallelError, check_parallel

        try:
            check_parallel(settings.parallel)
        except ParallelError as error:
            raise CheckError(str(error)) from None


def check_wan_device(settings: RunSettings) -> None:
    """`wan` needs its local model folders to exist and a CUDA device; found before any hub access."""
    from generator.backends import BackendError
    from generator.models import _HUB_ID, ModelNotFoundError, resolve_model

    for model in (settings.model, settings.t2v_model):
        if model != "none" and (not _HUB_ID.match(model) or Path(model).expanduser().exists()):
            try:
                resolve_model(model)  # a local folder: no network involved
            except ModelNotFoundError as error:
                raise BackendError(str(error)) from None
    import torch

    if not torch.cuda.is_available():
        raise CheckError(
            f"--backend wan needs a CUDA GPU and torch {torch.__version__} finds none on this machine; "
            "use --backend tiny (the same pipeline, small random model, on CPU) or --backend preview (the animatic)"
        )


def check_story_request(logline: str | None, script: str | Path | Story | None, out: str | Path | None, settings: RunSettings) -> tuple[Story | None, str | None, Path]:
    """What `make` was asked for, checked: the logline or the script (read and checked), the
    checkpoint database, and the folder (default `runs/<slug>`). Returns the story, logline, folder."""
    if logline is not None and script is not None:
        raise UsageError("give a logline or a script, not both")
    logline = check_logline(logline) if logline is not None else None
    story = load_script(script) if isinstance(script, (str, Path)) else script
    check_story_inputs(settings, story)  # character names; reference images decoded
    check_checkpoint_db(settings.checkpoint_db)  # unreachable: one line now, before anything is written
    if logline is None and story is None and out is None:
        raise UsageError("give a logline, a script, or the folder of a story to resume")
    out = Path(out) if out is not None else Path("runs") / slugify(story.title if story else logline)
    check_out_folder(out)
    return story, logline, out


def check_story_inputs(settings: RunSettings, story: Story | None) -> None:
    """A script's character names, and every reference image decoded."""
    if story is not None:
        check_character_names(story)
    check_references(settings, story)


def check_plannable(logline: str | None, planner: object) -> None:
    """A logline the offline planner cannot read (another language or script): one line now, before anything is written."""
    if logline is not None and getattr(planner, "name", "") == "offline":
        check_english(logline)
