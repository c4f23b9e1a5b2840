"""The LLM planner: logline -> story bible -> scenes -> shots, one small structured call per step.

Small steps keep each answer short enough for small local models and let code check every step.
The response models' field descriptions and examples are the instructions the model sees (through
the JSON schema); the templates in `prompts/` give the task. Whatever the model answers, code
enforces the script's rules:

- the shot count is exactly the one asked for: the scene plan's shot counts are adjusted to add up
  (trimming the longest scenes, topping up the shortest), extra shots in a scene are dropped from its
  end, and a scene that came back short is padded by splitting its last shot into a continuation;
- the first shot of a scene is a cut; "True"/"False" transitions read as StoryMem's cut flag;
- ids are `{scene:02d}_{k:02d}`, seeds are `seed + index`;
- every character a prompt mentions gets their full description in it, word for word.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict

from director.llm import StructuredLLM
from director.planning.language import english_reading
from director.planning.llm_schema import (
    MAX_CHARACTERS, MAX_SCENES, CharacterSpec, RefinedPrompt, SceneOutline, SceneSpec, ShotList, ShotSpec, StoryBible,
)
from director.planning.plan_check import PlanCheckError, Problem, check_cast, check_scenes, check_shots
from director.story import Character, Scene, Shot, Story
from prompts.schema import render

log = logging.getLogger(__name__)


class LLMPlanner:
    """Plans a `Story` with any client that has `generate(schema, messages)` (normally `LLMClient`).

    Every step's answer goes through the plan checks (`director.planning.plan_check`): a failing
    answer is sent back with the reasons for `plan_repairs` rounds, then `PlanCheckError` names the
    check and the model.
    """

    name = "openai"

    def __init__(self, client: StructuredLLM, plan_repairs: int = 1) -> None:
        self.client = client
        self.plan_repairs = plan_repairs

    @property
    def model(self) -> str:
        settings = getattr(self.client, "settings", None)
        return getattr(settings, "model", None) or type(self.client).__name__

    def plan(self, logline: str, shots: int, seed: int) -> Story:
        if shots < 1:
            raise ValueError(f"a story needs at least one shot, got {shots}")
        reading = english_reading(logline)
        bible = self._checked(
            _with_items(StoryBible, "characters", 1, MAX_CHARACTERS),
            "plan_story.md",
            lambda answer: check_cast(reading, _characters(answer.characters), answer.title),
            logline=logline,
            shots=shots,
            max_characters=MAX_CHARACTERS,
        )
        characters = _characters(bible.characters)
        context = _bible_text(bible.title, bible.overview, bible.style, characters)
        max_scenes = max(1, min(MAX_SCENES, (shots + 1) // 2, shots))
        outline = self._checked(
            _with_items(SceneOutline, "scenes", 1, max_scenes),
            "plan_scenes.md",
            lambda answer: check_scenes(reading, _scenes(answer.scenes[:max_scenes]), bible.title),
            bible=context,
            logline=logline,
            shots=shots,
            max_scenes=max_scenes,
        )
        specs = outline.scenes[:max_scenes]
        counts = _allocate([spec.shots for spec in specs], shots)
        scenes = _scenes(specs)
        scene_list = "\n".join(f"{_scene_line(s)} ({c} shots)" for s, c in zip(scenes, counts))
        planned: list[Shot] = []
        for scene, count in zip(scenes, counts):
            previous = f"The shot before this scene: {planned[-1].prompt}\n" if planned else ""
            answer = self._checked(
                _with_items(ShotList, "shots", count, count),
                "plan_shots.md",
                lambda answer, scene=scene, count=count: check_shots(
                    [(f"{scene.number:02d}_{k:02d}", _with_descriptions(s.prompt, s.characters, characters)[0]) for k, s in enumerate(_fit(answer.shots, count), 1)],
                    scene,
                    characters,
                ),
                bible=context,
                logline=logline,
                scenes=scene_list,
                count=count,
                number=scene.number,
                setting=scene.setting,
                time_of_day=scene.time_of_day,
                purpose=scene.purpose,
                previous=previous,
            )
            for k, spec in enumerate(_fit(answer.shots, count), 1):
                prompt, names = _with_descriptions(spec.prompt, spec.characters, characters)
                opens_scene = k == 1
                planned.append(
                    Shot(
                        id=f"{scene.number:02d}_{k:02d}",
                        scene=scene.number,
                        prompt=prompt,
                        camera=spec.camera.strip(),
                        transition="cut" if opens_scene else spec.transition,
                        reason="opens the scene" if opens_scene and spec.transition != "cut" else spec.reason.strip(),
                        characters=names,
                        seed=seed + len(planned),
                        lines=spec.lines,
                    )
                )
        return Story(
            title=bible.title.strip() or logline[:80],
            logline=logline,
            overview=bible.overview.strip(),
            style=bible.style.strip(),
            characters=characters,
            scenes=scenes,
            shots=planned,
        )

    def refine_prompt(self, shot: Shot, story: Story, critique: str) -> str:
        """A rewritten prompt for `shot` that answers the critic; the character descriptions stay verbatim."""
        scene = story.scene(shot.scene)
        answer = self._ask(
            RefinedPrompt,
            "refine_shot.md",
            bible=_bible_text(story.title, story.overview, story.style, story.characters),
            number=scene.number,
            setting=scene.setting,
            time_of_day=scene.time_of_day,
            purpose=scene.purpose,
            prompt=shot.prompt,
            critique=critique.strip(),
        )
        prompt, _ = _with_descriptions(answer.prompt.strip(), shot.characters, story.characters)
        return prompt

    def _ask(self, schema: type[BaseModel], template: str, **values: Any) -> Any:
        return self.client.generate(schema, self._messages(template, **values))

    @staticmethod
    def _messages(template: str, **values: Any) -> list[dict[str, Any]]:
        return [
            {"role": "system", "content": render("director.md")},
            {"role": "user", "content": render(template, **values)},
        ]

    def _checked(self, schema: type[BaseModel], template: str, check: Callable[[Any], list[Problem]], **values: Any) -> Any:
        """One step's answer that passes `check`: a failing one goes back to the model with the reasons."""
        messages = self._messages(template, **values)
        answer = self.client.generate(schema, messages)
        problems = check(answer)
        for round_ in range(self.plan_repairs):
            if not problems:
                break
            log.info("%s's %s failed the plan check (%s); repair round %d", self.model, schema.__name__, "; ".join(map(str, problems)), round_ + 1)
            messages = [
                *messages,
                {"role": "assistant", "content": answer.model_dump_json(exclude_unset=True)},
                {"role": "user", "content": render("plan_repair.md", problems="\n".join(f"- {p}" for p in problems), logline=values.get("logline", ""))},
            ]
            answer = self.client.generate(schema, messages)
            problems = check(answer)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            rounds = f"after {self.plan_repairs} repair round{'s' if self.plan_repairs != 1 else ''}"
            raise PlanCheckError(f"the plan by {self.model} failed the {problems[0].check} check {rounds}: {problems[0].detail}{more}", problems[0].check)
        return answer


def _with_items(model: type[BaseModel], field: str, low: int, high: int) -> type[BaseModel]:
    """`model` whose JSON schema asks for low..high items in `field`.

    Only the schema says so (servers with grammars or strict mode then produce the right count);
    validation stays lenient so that code can trim or pad instead of spending a repair round.
    """

    def bound(schema: dict[str, Any]) -> None:
        schema["properties"][field].update(minItems=low, maxItems=high)

    config = ConfigDict(**model.model_config, json_schema_extra=bound)
    return type(model.__name__, (model,), {"model_config": config, "__module__": __name__})


def _allocate(wanted: list[int], total: int) -> list[int]:
    """Shot counts per scene adding up to `total`: trim the longest scenes, top up the shortest."""
    counts = [max(1, n) for n in wanted[:total]]
    while sum(counts) > total:
        longest = max(range(len(counts)), key=lambda i: (counts[i], i))
        counts[longest] -= 1
    while sum(counts) < total:
        shortest = min(range(len(counts)), key=lambda i: (counts[i], i))
        counts[shortest] += 1
    return counts


def _fit(shots: list[ShotSpec], count: int) -> list[ShotSpec]:
    """Exactly `count` shots: drop extras from the end, or split the last shot into a continuation."""
    shots = list(shots[:count])
    while len(shots) < count:
        shots.append(shots[-1].model_copy(update={"transition": "continue", "reason": "the action of the previous shot carries on", "lines": []}))
    return shots


def _scenes(specs: list[SceneSpec]) -> list[Scene]:
    return [
        Scene(number=n, setting=spec.setting.strip(), time_of_day=spec.time_of_day, purpose=spec.purpose.strip(), music=spec.music)
        for n, spec in enumerate(specs, 1)
    ]


def _characters(specs: list[CharacterSpec]) -> list[Character]:
    """The bible's characters, blank and repeated names dropped, at most MAX_CHARACTERS."""
    characters: list[Character] = []
    seen: set[str] = set()
    for spec in specs:
        name, description = spec.name.strip(), spec.description.strip()
        if name and description and name.lower() not in seen:
            seen.add(name.lower())
            characters.append(Character(name=name, description=description))
    return characters[:MAX_CHARACTERS]


def _with_descriptions(prompt: str, names: list[str], characters: list[Character]) -> tuple[str, list[str]]:
    """The prompt with each present character's full description, and the canonical names present.

    A character is present when the model listed it or the prompt names it. A missing description
    goes right after the first mention of the name, or in a closing sentence when the prompt never
    names the character.
    """
    listed = {name.strip().lower() for name in names}
    present: list[str] = []
    for character in characters:
        mention = re.search(rf"\b{re.escape(character.name)}\b", prompt, flags=re.IGNORECASE)
        if not mention and character.name.lower() not in listed:
            continue
        present.append(character.name)
        if character.description.lower() in prompt.lower():
            continue
        if mention:
            head, tail = prompt[: mention.end()], prompt[mention.end() :]
            comma = "" if not tail or tail[0] in ",.;:!?" else ","
            prompt = f"{head}, {character.description}{comma}{tail}"
        else:
            prompt = f"{prompt.rstrip()} With {character.name}, {character.description}."
    return prompt, present


def _bible_text(title: str, overview: str, style: str, characters: list[Character]) -> str:
    lines = [f"Film: {title}", f"Story: {overview}", f"Visual style: {style}"]
    if characters:
        lines.append("Characters (repeat these descriptions word for word):")
        lines += [f"- {c.name}: {c.description}" for c in characters]
    return "\n".join(lines)


def _scene_line(scene: Scene) -> str:
    purpose = f": {scene.purpose}" if scene.purpose else ""
    return f"{scene.number}. {scene.setting}, {scene.time_of_day}{purpose}"
