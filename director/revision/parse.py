"""From an instruction to typed edits: by the configured LLM, or by the offline reader (`reader.py`).

Both give the same `Edit`s for the same instruction, so what applies them never knows which read it.
"""

from __future__ import annotations

from director.revision.edits import Edit, EditList, RevisionError
from director.revision.reader import EXAMPLES, read_instruction
from director.story import Story
from prompts.schema import render

__all__ = ["EXAMPLES", "parse_offline", "parse_with_llm"]


def parse_offline(instruction: str, story: Story) -> list[Edit]:
    """Typed edits for an instruction in everyday words; a one-line RevisionError otherwise."""
    return read_instruction(instruction, story)


def parse_with_llm(client, instruction: str, story: Story) -> list[Edit]:
    """Typed edits from an OpenAI-compatible model with structured output (`director.llm`)."""
    if not instruction.strip():
        raise RevisionError("the instruction is empty: say what to change, e.g. " + EXAMPLES)
    shots = "\n".join(
        f"{number}. [scene {shot.scene}, {shot.transition}] {shot.prompt}" for number, shot in enumerate(story.shots, start=1)
    )
    characters = "\n".join(f"- {c.name}: {c.description}" for c in story.characters) or "- (none)"
    messages = [
        {"role": "system", "content": render("director.md")},
        {"role": "user", "content": render("revise.md", title=story.title, characters=characters, shots=shots, count=len(story.shots), scenes=len(story.scenes), instruction=instruction.strip())},
    ]
    return client.generate(EditList, messages).edits
