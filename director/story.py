"""The story script: characters, scenes and shots, as pydantic models.

Field descriptions double as the LLM planner's instructions (they end up in the JSON schema),
so write them for a screenwriter. `from_storymem` / `to_storymem` convert to and from the
script format of StoryMem's reference code and ST-Bench.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

Transition = Literal["cut", "continue"]
#: Music moods, as the bundled library files them; "none" is silence.
Mood = Literal["calm", "tender", "nostalgic", "happy", "energetic", "none"]
NARRATOR = "narrator"


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


#: Text that must say something; surrounding whitespace is dropped.
NonBlankText = Annotated[str, AfterValidator(_not_blank)]


class Character(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="Short name used in every prompt.", examples=["the keeper"])
    description: str = Field(
        min_length=1,
        description="Fixed visual description repeated verbatim in every shot prompt the character is in: "
        "age, build, face, hair, clothes, one distinctive detail.",
        examples=["an old lighthouse keeper with a grey beard and a navy wool coat"],
    )
    reference_images: list[str] = Field(
        default_factory=list,
        description="Optional image files of the character; they become the initial memory (MR2V).",
    )


class MusicCue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mood: Mood = Field(description="The music under the scene: calm, tender, nostalgic (the saddest), happy, energetic, or none for silence.")
    intensity: float = Field(default=0.5, ge=0, le=1, description="How present the music is, 0.2 (barely there) to 1 (full).")


class Line(BaseModel):
    model_config = ConfigDict(extra="forbid")

    speaker: str = Field(
        default=NARRATOR, min_length=1, max_length=60,
        description="Who is heard: 'narrator' for a voice-over, else a character's name exactly as in characters.",
    )
    text: NonBlankText = Field(
        max_length=400,
        description="The words spoken, plain speech only (no stage directions). Short enough to say inside the shot: "
        "about 2.5 words a second of the shot's duration.",
    )


class Voice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    speaker: str = Field(min_length=1, description="'narrator' or a character's name.")
    variant: int = Field(default=0, ge=0, description="Speaker id of a multi-speaker voice (the engine's first voice is 0).")
    speed: float = Field(default=1.0, ge=0.5, le=2.0, description="Speaking rate factor, 1 normal.")
    pitch: float = Field(default=1.0, ge=0.5, le=2.0, description="Pitch factor: below 1 deeper, above 1 higher.")


class Scene(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: int = Field(ge=1, description="1-based scene number, in story order.")
    setting: str = Field(min_length=1, description="Where the scene happens, visually.", examples=["a lighthouse on a rocky island"])
    time_of_day: str = Field(
        default="day", description="Lighting time: dawn, morning, day, dusk, evening or night.", examples=["night"]
    )
    purpose: str = Field(default="", description="What the scene does for the story, in one line.")
    music: MusicCue | None = Field(default=None, description="The music bed under this scene.")


class Shot(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Stable shot id; never renumbered when shots are added or removed.",
        examples=["01_02"],
    )
    scene: int = Field(ge=1, description="Number of the scene this shot belongs to.")
    prompt: NonBlankText = Field(
        description="1-4 self-contained sentences for the video model: every character named with their "
        "full visual description, the action, the place, the light, the camera.",
    )
    camera: str = Field(default="", description="Shot type and camera movement.", examples=["medium shot, slow push-in"])
    duration: float = Field(default=5.0, gt=0, le=30, description="Seconds on screen (the generator makes about 5 s).")
    transition: Transition = Field(
        default="cut",
        description="'cut' for a hard cut; 'continue' when the same action carries on in the same place "
        "from the previous shot's last frame. The first shot of a scene is always a cut.",
    )
    reason: str = Field(default="", description="One line: why this transition.")
    characters: list[str] = Field(default_factory=list, description="Names of the characters in the shot.")
    first_frame_prompt: str | None = Field(default=None, description="Optional description of the opening frame.")
    seed: int = Field(default=0, ge=0, description="Sampling seed; the same seed gives the same shot.")
    time_of_day: str | None = Field(default=None, description="This shot's lighting time when it differs from its scene's; usually left out.")
    lines: list[Line] = Field(default_factory=list, description="What is heard during the shot: narration or dialogue, often none.")


class Story(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, description="Title of the film.")
    logline: str = Field(default="", description="The one-line idea the story grew from.")
    overview: str = Field(default="", description="The whole story in 2-4 sentences.")
    style: str = Field(default="", description="Visual style shared by every shot.", examples=["cinematic, soft film grain"])
    characters: list[Character] = Field(default_factory=list)
    scenes: list[Scene] = Field(min_length=1)
    shots: list[Shot] = Field(min_length=1)
    voices: list[Voice] = Field(default_factory=list, description="One voice per speaker, kept across revisions; the director fills it in.")

    @model_validator(mode="after")
    def _check_structure(self) -> Story:
        names = [c.name for c in self.characters]
        if len(set(names)) != len(names):
            raise ValueError(f"character names must be unique, got {names}")
        numbers = [s.number for s in self.scenes]
        if numbers != sorted(set(numbers)):
            raise ValueError(f"scene numbers must be unique and increasing, got {numbers}")
        ids = [s.id for s in self.shots]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"shot ids must be unique, repeated: {duplicates}")
        previous_scene = None
        for index, shot in enumerate(self.shots):
            if shot.scene not in numbers:
                raise ValueError(f"shot {shot.id} refers to scene {shot.scene}, which does not exist")
            if previous_scene is not None and shot.scene < previous_scene:
                raise ValueError(f"shot {shot.id} is out of scene order (scene {shot.scene} after {previous_scene})")
            if shot.scene != previous_scene and shot.transition != "cut":
                raise ValueError(f"shot {shot.id} opens scene {shot.scene}, so its transition must be 'cut'")
            previous_scene = shot.scene
        return self

    @property
    def slug(self) -> str:
        return slugify(self.title)

    def fingerprint(self) -> str:
        """Content hash of the script: two runs with the same fingerprint make the same film."""
        data = self.model_dump(mode="json")
        for shot in data["shots"]:  # fields added later count only when set, so older scripts keep their hash
            if shot.get("time_of_day") is None:
                shot.pop("time_of_day", None)
            if not shot.get("lines"):
                shot.pop("lines", None)
        for scene in data["scenes"]:
            if scene.get("music") is None:
                scene.pop("music", None)
        if not data.get("voices"):
            data.pop("voices", None)
        canonical = json.dumps(data, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def scene(self, number: int) -> Scene:
        return next(s for s in self.scenes if s.number == number)

    def time_of(self, shot: Shot) -> str:
        """The shot's lighting time: its own when set, else its scene's."""
        return shot.time_of_day or self.scene(shot.scene).time_of_day

    def shot_index(self, shot_id: str) -> int:
        return next(i for i, s in enumerate(self.shots) if s.id == shot_id)

    def number_in_scene(self, shot_id: str) -> int:
        """1-based position of a shot inside its scene."""
        index = self.shot_index(shot_id)
        scene = self.shots[index].scene
        return sum(1 for s in self.shots[: index + 1] if s.scene == scene)


class ScriptError(ValueError):
    """A script that cannot be loaded; the message is one readable line."""


def slugify(text: str, max_length: int = 48) -> str:
    """A folder name: the text's ASCII letters ("Siobhán" -> "siobhan"), plus a short hash of the
    whole text when letters of another script are lost, so two Japanese loglines never share one."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")
    if any(c.isalnum() and not unicodedata.normalize("NFKD", c).encode("ascii", "ignore") for c in text):
        digest = hashlib.sha256(text.strip().encode()).hexdigest()[:8]
        return f"{slug[: max_length - 9].rstrip('-') or 'story'}-{digest}"
    return slug[:max_length].rstrip("-") or "story"


def describe_validation_error(error: ValidationError) -> str:
    """One line naming the first failing field, e.g. `shots.2.prompt: must not be empty`."""
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"]) or "script"
    message = first["msg"].removeprefix("Value error, ")
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{location}: {message}{more}"


# --- StoryMem / ST-Bench script format ---------------------------------------------------------

_TIME_WORDS = [
    ("night", ("night", "midnight", "moonlit", "moonlight", "starry", "stars")),
    ("dusk", ("dusk", "sunset", "twilight")),
    ("dawn", ("dawn", "sunrise")),
    ("evening", ("evening",)),
    ("morning", ("morning",)),
]


def guess_time_of_day(text: str) -> str:
    words = set(re.findall(r"[a-z]+", text.lower()))
    for time, keys in _TIME_WORDS:
        if words.intersection(keys):
            return time
    return "day"


def _as_cut(value: Any, where: str) -> bool:
    """StoryMem's `cut` flags, written by LLMs as booleans or as "True"/"False" strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ScriptError(f"{where}: expected true or false, got {value!r}")


def from_storymem(data: dict[str, Any]) -> Story:
    """Build a Story from StoryMem's `{story_name, story_overview, scenes: [...]}` format.

    The first shot of a scene is always a cut in that format, whatever its flag says.
    """
    if not isinstance(data, dict) or "scenes" not in data:
        raise ScriptError("not a StoryMem script: missing 'scenes'")
    scenes, shots = [], []
    for s_index, raw in enumerate(data["scenes"]):
        where = f"scenes.{s_index}"
        prompts = raw.get("video_prompts")
        if not isinstance(prompts, list) or not prompts:
            raise ScriptError(f"{where}.video_prompts: must be a non-empty list")
        cuts = raw.get("cut", [True] * len(prompts))
        if not isinstance(cuts, list) or len(cuts) != len(prompts):
            raise ScriptError(f"{where}.cut: has {len(cuts) if isinstance(cuts, list) else 'no'} entries for {len(prompts)} video_prompts")
        firsts = raw.get("first_frame_prompt")
        if firsts is not None and (not isinstance(firsts, list) or len(firsts) != len(prompts)):
            raise ScriptError(f"{where}.first_frame_prompt: has a different length from video_prompts ({len(prompts)})")
        number = int(raw.get("scene_num", s_index + 1))
        scenes.append(Scene(number=number, setting=_first_clause(prompts[0]), time_of_day=guess_time_of_day(" ".join(prompts))))
        for k, prompt in enumerate(prompts):
            cut = _as_cut(cuts[k], f"{where}.cut.{k}") or k == 0
            shots.append(
                Shot(
                    id=f"{number:02d}_{k + 1:02d}",
                    scene=number,
                    prompt=str(prompt),
                    transition="cut" if cut else "continue",
                    first_frame_prompt=firsts[k] if firsts else None,
                    seed=len(shots),
                )
            )
    overview = str(data.get("story_overview", ""))
    title = str(data.get("story_name") or "Untitled story")
    try:
        return Story(title=title, logline=_first_sentence(overview) or title, overview=overview, scenes=scenes, shots=shots)
    except ValidationError as error:
        raise ScriptError(describe_validation_error(error)) from None


def to_storymem(story: Story) -> dict[str, Any]:
    scenes = []
    for scene in story.scenes:
        shots = [s for s in story.shots if s.scene == scene.number]
        if not shots:
            continue
        entry: dict[str, Any] = {
            "scene_num": scene.number,
            "video_prompts": [s.prompt for s in shots],
            "cut": [s.transition == "cut" for s in shots],
        }
        if any(s.first_frame_prompt for s in shots):
            entry["first_frame_prompt"] = [s.first_frame_prompt or "" for s in shots]
        scenes.append(entry)
    return {"story_name": story.title, "story_overview": story.overview, "scenes": scenes}


def _first_sentence(text: str) -> str:
    match = re.match(r"(.+?[.!?])(\s|$)", text.strip())
    return (match.group(1) if match else text).strip()


def _first_clause(text: str) -> str:
    return re.split(r"[.,;:]", text.strip(), maxsplit=1)[0].strip() or text.strip()


# --- Loading and saving ---------------------------------------------------------------------


def parse_script(data: Any) -> Story:
    """Our own JSON or StoryMem's, told apart by their keys."""
    if isinstance(data, dict) and ("story_name" in data or _has_video_prompts(data)):
        return from_storymem(data)
    try:
        return Story.model_validate(data)
    except ValidationError as error:
        raise ScriptError(describe_validation_error(error)) from None


def _has_video_prompts(data: dict[str, Any]) -> bool:
    scenes = data.get("scenes")
    return isinstance(scenes, list) and any(isinstance(s, dict) and "video_prompts" in s for s in scenes)


def load_script(path: str | Path) -> Story:
    """Read a script file; reference image paths in it are relative to the file and must exist."""
    path = Path(path)
    if not path.is_file():
        raise ScriptError(f"script file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ScriptError(f"{path} is not valid JSON: {error}") from None
    except RecursionError:
        raise ScriptError(f"{path} is nested too deeply to be a script") from None
    story = parse_script(data)
    for c_index, character in enumerate(story.characters):
        for i, image in enumerate(character.reference_images):
            resolved = (path.parent / image).resolve()
            if not resolved.is_file():
                raise ScriptError(f"characters.{c_index}.reference_images.{i}: image not found: {image}")
            character.reference_images[i] = str(resolved)
    return story


def story_json_schema() -> dict[str, Any]:
    return Story.model_json_schema()
