"""A backend that ignores memory says so: memory ablations on the preview animatic warn when the
run starts, and eval marks a comparison that differs only in memory as not measuring it (the
side-by-side case is in test_evaluate)."""

from __future__ import annotations

from director.api import RunSettings, make_story
from director.run.backend_limits import ablation_warning, comparison_note


def test_memory_ablations_on_the_preview_backend_warn():
    assert ablation_warning("preview", ["--no-memory", "--critic off"]) == (
        "warning: the preview backend does not condition on memory, so --no-memory changes no frame; use --backend tiny or wan to measure memory"
    )
    assert "--memory-size 4" in ablation_warning("preview", ["--memory-size 4"])
    assert ablation_warning("tiny", ["--no-memory"]) is None  # the real pipeline conditions on memory
    assert ablation_warning("preview", ["--critic scores"]) is None  # not a memory ablation


def test_eval_marks_a_memory_comparison_on_preview():
    note = comparison_note(("a", "preview", []), ("b", "preview", ["--no-memory"]))
    assert note == "a and b: made with the preview backend, which does not condition on memory: this comparison does not measure memory"
    assert comparison_note(("a", "tiny", []), ("b", "tiny", ["--no-memory"])) is None
    assert comparison_note(("a", "preview", ["--critic off"]), ("b", "preview", [])) is None  # the difference is not memory


def test_a_run_says_it_when_it_starts(tmp_path):
    notes = []
    settings = RunSettings(backend="preview", planner="offline", embedder="colour-structure", quality_scorer="heuristic", shots=2, size="64x48", frames=17, no_memory=True)
    make_story(tmp_path / "s", logline="A fox crosses a frozen river.", settings=settings, on_event=lambda e: notes.append(e.get("note")))
    assert ablation_warning("preview", ["--no-memory"]) in notes
