"""What a backend cannot do, said where it matters.

The preview animatic draws each shot from its prompt and ignores the memory it is given, so a
memory ablation run on it changes no frame of the film and an evaluation against it reads +0.0%
everywhere. A run says so when it starts, and `eval` marks such a comparison as not measuring memory.
"""

from __future__ import annotations

from collections.abc import Sequence

from generator.backends import MEMORYLESS

#: The ablation flags that act through memory (`director.run.ablations.names` spells them).
MEMORY_FLAGS = ("--no-memory", "--no-sink", "--no-quality-gate", "--no-semantic-selection", "--memory-size")


def memory_ablations(ablations: Sequence[str]) -> list[str]:
    return [a for a in ablations if a.split()[0] in MEMORY_FLAGS]


def ablation_warning(backend: str, ablations: Sequence[str]) -> str | None:
    """One warning line when memory ablations run on a backend that ignores memory."""
    used = memory_ablations(ablations)
    if not used or backend not in MEMORYLESS:
        return None
    return f"warning: the {backend} backend does not condition on memory, so {' '.join(used)} changes no frame; use --backend tiny or wan to measure memory"


def comparison_note(story: tuple[str, str, Sequence[str]], baseline: tuple[str, str, Sequence[str]]) -> str | None:
    """For two stories (folder, backend, ablations) compared in eval: a note when the difference
    between them is memory but a backend that ignores memory made either."""
    (folder, backend, ablations), (base_folder, base_backend, base_ablations) = story, baseline
    if sorted(memory_ablations(ablations)) == sorted(memory_ablations(base_ablations)):
        return None
    blind = sorted({b for b in (backend, base_backend) if b in MEMORYLESS})
    if not blind:
        return None
    return f"{folder} and {base_folder}: made with the {' and '.join(blind)} backend, which does not condition on memory: this comparison does not measure memory"
