"""What a director run needs: JSON-native settings, and the components they name.

LangGraph's server and Studio send a run's context as JSON, so `DirectorContext` holds only
settings. The heavy parts (generator, memory bank, vision models, critic, planner) live in a
`Components` bundle: the CLI and tests build it themselves and pass it in; a run that arrives
without one (Studio) gets it built from the settings on first use. Generators and vision models
are cached per process by their loaders, so a server or a batch worker loads them once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from director.run.critic import Critic
from director.planning.planner import Planner, make_planner
from director.run.workspace import Workspace
from generator.base import Generator, ShotMode
from memory.bank import MemoryBank
from memory.select import SelectionConfig
from memory.vision import ImageEmbedder, QualityScorer, load_embedder, load_quality_scorer


@dataclass
class Components:
    """The live objects a run works with; loaded once, then shared by every node."""

    workspace: Workspace
    generator: Generator
    bank: MemoryBank
    embedder: ImageEmbedder
    scorer: QualityScorer
    critic: Critic = field(default_factory=Critic)
    planner: Planner | None = None
    continuation: ShotMode = ShotMode.MI2V
    selection: SelectionConfig = field(default_factory=SelectionConfig)


def make_critic(backend: str, scorer: QualityScorer, embedder: ImageEmbedder, max_attempts: int, quality_threshold: float | None) -> Critic:
    """The critic's gates for these models: no quality gate on the animatic's cards, and no
    consistency or prompt gate with an embedder that sees only colour and layout."""
    semantic = callable(getattr(embedder, "embed_texts", None))
    gate = scorer.threshold if quality_threshold is None else quality_threshold
    return Critic(
        max_attempts=max_attempts,
        quality_threshold=None if backend == "preview" else gate,
        consistency_margin=0.15 if semantic else None,
        prompt_margin=0.03 if semantic else None,
    )


def open_bank(workspace: Workspace) -> MemoryBank:
    """The story's memory bank, its edits logged in events.jsonl."""
    return MemoryBank.load(workspace.memory_dir, on_event=lambda event: workspace.log(event.pop("event"), **event))


@dataclass
class DirectorContext:
    """Run settings; `components` is filled from them on first use when not passed in."""

    out: str = "runs/studio"
    backend: str = "preview"
    planner: str = "auto"
    embedder: str = "auto"
    quality_scorer: str = "auto"
    max_attempts: int = 3
    continuation: str = "mi2v"
    quality_threshold: float | None = None
    components: Any = None  # a prebuilt `Components` (the CLI, tests, batch workers)

    def resolve(self) -> Components:
        if self.components is None:
            from generator.backends import load_generator, resolve_backend

            backend, _ = resolve_backend(self.backend)
            embedder, scorer = load_embedder(self.embedder), load_quality_scorer(self.quality_scorer)
            workspace = Workspace(Path(self.out))
            workspace.root.mkdir(parents=True, exist_ok=True)
            self.components = Components(
                workspace=workspace,
                generator=load_generator(backend),
                bank=open_bank(workspace),
                embedder=embedder,
                scorer=scorer,
                critic=make_critic(backend, scorer, embedder, self.max_attempts, self.quality_threshold),
                planner=make_planner(self.planner)[0],
                continuation=ShotMode(self.continuation),
                selection=SelectionConfig(quality_threshold=self.quality_threshold),
            )
        return self.components
