"""The LLM planner's answer schemas: one small model per step (story bible, scene outline, shots,
a refined prompt). Their field descriptions and examples, taken from the story model's, are the
instructions the model sees; the plan check reads them too, to spot an answer that echoes them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from director.story import Character, Line, MusicCue, NonBlankText, Scene, Shot, Story, guess_time_of_day

MAX_CHARACTERS = 4
MAX_SCENES = 6
TIMES = ("dawn", "morning", "day", "dusk", "evening", "night")

_CHARACTER = Character.model_fields
_SCENE = Scene.model_fields
_SHOT = Shot.model_fields
_STORY = Story.model_fields


class CharacterSpec(BaseModel):
    name: str = Field(min_length=1, max_length=40, description=_CHARACTER["name"].description, examples=_CHARACTER["name"].examples)
    description: str = Field(
        min_length=1, max_length=240, description=_CHARACTER["description"].description, examples=_CHARACTER["description"].examples
    )


class StoryBible(BaseModel):
    title: str = Field(min_length=1, max_length=80, description=_STORY["title"].description)
    overview: str = Field(max_length=600, description=_STORY["overview"].description)
    style: str = Field(max_length=160, description=_STORY["style"].description, examples=_STORY["style"].examples)
    characters: list[CharacterSpec] = Field(description=f"The main characters, at most {MAX_CHARACTERS}.")


TimeOfDay = Literal["dawn", "morning", "day", "dusk", "evening", "night"]


class SceneSpec(BaseModel):
    setting: str = Field(min_length=1, max_length=160, description=_SCENE["setting"].description, examples=_SCENE["setting"].examples)
    time_of_day: TimeOfDay = Field(description=_SCENE["time_of_day"].description, examples=_SCENE["time_of_day"].examples)
    purpose: str = Field(max_length=200, description=_SCENE["purpose"].description)
    shots: int = Field(ge=1, le=60, description="How many shots the scene gets.")
    music: MusicCue | None = Field(default=None, description=_SCENE["music"].description)

    @field_validator("time_of_day", mode="before")
    @classmethod
    def _known_time(cls, value: Any) -> Any:
        """'afternoon' or 'under the stars' become one of the six lighting times instead of an error."""
        if isinstance(value, str) and value.strip().lower() not in TIMES:
            return guess_time_of_day(value)
        return value.strip().lower() if isinstance(value, str) else value


class SceneOutline(BaseModel):
    scenes: list[SceneSpec] = Field(min_length=1, description="The scenes, in story order.")


class ShotSpec(BaseModel):
    prompt: NonBlankText = Field(min_length=1, max_length=700, description=_SHOT["prompt"].description)
    camera: str = Field(max_length=80, description=_SHOT["camera"].description, examples=_SHOT["camera"].examples)
    transition: Literal["cut", "continue"] = Field(description=_SHOT["transition"].description)
    reason: str = Field(max_length=160, description=_SHOT["reason"].description)
    characters: list[str] = Field(description=_SHOT["characters"].description)
    lines: list[Line] = Field(default_factory=list, max_length=4, description=_SHOT["lines"].description)

    @field_validator("transition", mode="before")
    @classmethod
    def _cut_flag(cls, value: Any) -> Any:
        """StoryMem scripts say cut=True/False, often as strings: "False" means a continuation."""
        text = str(value).strip().lower()
        if text in ("true", "cut", "hard cut"):
            return "cut"
        if text in ("false", "continue", "continuation"):
            return "continue"
        return value


class ShotList(BaseModel):
    shots: list[ShotSpec] = Field(min_length=1, description="The scene's shots, in order.")


class RefinedPrompt(BaseModel):
    prompt: NonBlankText = Field(min_length=1, max_length=700, description=_SHOT["prompt"].description)
